"""`standardiste pbx start|status|stop` and `standardiste call` on a real Asterisk."""

from __future__ import annotations

import argparse
import asyncio
import tomllib
from pathlib import Path

import pytest

from standardiste.cli import call as call_cli
from standardiste.cli import pbx as pbx_cli
from standardiste.config import load_config
from standardiste.pbx import deployment_instance, free_asterisk_config
from standardiste.testphone import TestPhone

pytestmark = pytest.mark.asterisk


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="standardiste")
    sub = parser.add_subparsers(dest="command", required=True)
    pbx_cli.register(sub)
    call_cli.register(sub)
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture
def config_file(tmp_path: Path, asterisk_root: Path) -> Path:
    demo = (Path(__file__).resolve().parents[2] / "src/standardiste/data/demo.toml").read_text()
    ports = free_asterisk_config()
    demo = demo.replace('data_dir = "var/demo"', f'data_dir = "{tmp_path / "data"}"')
    demo = demo.replace("sip_port = 5060", f"sip_port = {ports.sip_port}")
    demo = demo.replace("http_port = 8088", f"http_port = {ports.http_port}")
    demo = demo.replace("ami_port = 5038", f"ami_port = {ports.ami_port}")
    path = tmp_path / "standardiste.toml"
    path.write_text(demo)
    assert tomllib.loads(demo)["deployment"]["asterisk"]["sip_port"] == ports.sip_port
    yield path
    pbx = deployment_instance(load_config(path).deployment)
    pbx.stop_sync()
    pbx.remove()


def test_pbx_start_status_stop(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("pbx", "status", "--config", str(config_file)) == 3
    assert "ne tourne pas" in capsys.readouterr().out
    assert _run("pbx", "start", "--config", str(config_file)) == 0
    out = capsys.readouterr().out
    assert "Asterisk tourne" in out and "phones.json" in out
    # Secrets were generated for this install, never defaults.
    secrets_file = config_file.parent / "data" / "secrets.toml"
    assert secrets_file.exists() and oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    # Starting twice is harmless.
    assert _run("pbx", "start", "--config", str(config_file)) == 0
    assert _run("pbx", "status", "--config", str(config_file)) == 0
    out = capsys.readouterr().out
    assert "ARI répond" in out and "non connecté" in out
    assert _run("pbx", "stop", "--config", str(config_file)) == 0
    assert _run("pbx", "status", "--config", str(config_file)) == 3


def test_call_command_prints_both_ways(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("pbx", "start", "--config", str(config_file)) == 0
    pbx = deployment_instance(load_config(config_file).deployment)

    async def reception_answers() -> None:
        async with TestPhone(pbx.reception) as reception:
            incoming = await reception.wait_incoming(20)
            await incoming.play_pcm(__import__("standardiste.testphone.audio").testphone.audio.chirps(1.5))
            await incoming.wait_disconnected(30)

    import threading

    # The reception answers (no controller: the call falls back to it) and says something.
    thread = threading.Thread(target=lambda: asyncio.run(reception_answers()))
    thread.start()
    capsys.readouterr()
    code = _run(
        "call",
        "--config",
        str(config_file),
        "--after",
        "2",
        "--dtmf",
        "1",
        "--seconds",
        "4",
        "--no-transcript",
    )
    thread.join(30)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Décroché" in out
    assert "→ envoyé  : touche 1" in out
    assert "← entendu" in out
