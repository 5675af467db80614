"""`standardiste understand`: stdin lines in, JSON lines out (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

INPUT = "\n".join(
    [
        "je voudrais un rendez-vous avec le docteur mare tin demain matin",
        "",
        "mon père a fait un infarctus il y a dix ans",
        "j'ai très mal à la poitrine",
        "mon numéro c'est le zéro six douze trente-quatre cinquante-six soixante-dix-huit",
    ]
)


# Runs the `understand` subcommand exactly as `standardiste` registers it, without importing the other
# commands' modules (built by other teams, not all importable at every commit).
RUNNER = (
    "import argparse, sys\nfrom standardiste.cli import understand\n"
    "from standardiste.config import ConfigError\n"
    "p = argparse.ArgumentParser(prog='standardiste'); understand.register(p.add_subparsers())\n"
    "a = p.parse_args(sys.argv[1:])\n"
    "try:\n    sys.exit(a.func(a))\n"
    "except ConfigError as e:\n    print(e, file=sys.stderr); sys.exit(2)\n"
)


def run(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"STANDARDISTE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "understand", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_understand_json_lines(tmp_path: Path) -> None:
    out = run(["--now", "2026-11-24T15:00:00+01:00"], INPUT, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 4  # the empty line is skipped
    for line in lines:
        assert set(line) >= {"text", "intent", "confidence", "urgency", "entities"}
    booking, history, chest, phone = lines
    assert booking["intent"] == "book_appointment" and booking["urgency"] == "normal"
    kinds = {e["entity"]: e for e in booking["entities"]}
    assert kinds["practitioner"]["value"] == "martin"
    assert kinds["date_time"]["value"] == "2026-11-25T08:00:00+01:00"
    start, end = kinds["date_time"]["start"], kinds["date_time"]["end"]
    assert booking["text"][start:end] == "demain matin"
    assert history["urgency"] == "normal"
    assert chest["intent"] == "emergency" and chest["urgency"] == "urgent"
    assert chest["emergency_rule"] == "chest_pain"
    assert phone["entities"][0] == {"entity": "phone", "value": "+33612345678", "start": 20, "end": 80}


def test_understand_with_practice_file(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[2] / "src" / "standardiste" / "data" / "demo.toml"
    text = (
        demo.read_text(encoding="utf-8")
        .replace('id = "benali"', 'id = "haddad"')
        .replace("Docteur Karim Benali", "Docteur Karim Haddad")
        .replace('"docteur benali", "karim benali", "monsieur benali"', '"docteur haddad"')
        .replace('practitioners = ["martin", "benali"]', 'practitioners = ["martin", "haddad"]')
    )
    practice = tmp_path / "cabinet.toml"
    practice.write_text(text, encoding="utf-8")
    out = run(
        ["--practice", str(practice), "--now", "2026-11-24T10:00"], "avec le docteur haddad\n", tmp_path
    )
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    assert line["entities"][0]["entity"] == "practitioner" and line["entities"][0]["value"] == "haddad"


def test_understand_bad_now_and_bad_practice(tmp_path: Path) -> None:
    out = run(["--now", "pas une date"], "bonjour\n", tmp_path)
    assert out.returncode != 0 and "--now" in out.stderr
    out = run(["--practice", str(tmp_path / "absent.toml")], "bonjour\n", tmp_path)
    assert out.returncode == 2 and "absent.toml" in out.stderr


def test_understand_is_a_standardiste_command() -> None:
    from standardiste.cli.main import COMMAND_MODULES

    assert "standardiste.cli.understand" in COMMAND_MODULES


def test_real_entry_point(tmp_path: Path) -> None:
    env = os.environ | {"STANDARDISTE_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-m", "standardiste", "understand", "--now", "2026-11-24T15:00"],
        input="quels sont vos horaires\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["intent"] == "ask_hours"
