"""Model install/list: verified, atomic, clear refusals; from a folder, a zip, or a (local) web server.

The real French model cannot be downloaded here, so the archives are built by the tests. With the
real checksums a fake model is refused (as it must be); the success path runs with the expected
checksums monkeypatched to the fake model's own values, which exercises the same verification code.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from standardiste.cli import models as models_cli
from standardiste.config import DeploymentConfig, SpeechConfig
from standardiste.speech import models as M

NAME = "vosk-model-small-fr-0.22"


def make_model_dir(root: Path, payload: bytes = b"fake acoustic model") -> Path:
    (root / "am").mkdir(parents=True)
    (root / "conf").mkdir()
    (root / "graph").mkdir()
    (root / "am" / "final.mdl").write_bytes(payload)
    (root / "conf" / "model.conf").write_text("--min-active=200\n")
    (root / "graph" / "Gr.fst").write_bytes(b"\0" * 100)
    return root


def make_zip(path: Path, model_dir: Path, top: str = NAME) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(model_dir.rglob("*")):
            if f.is_file():
                zf.write(f, f"{top}/{f.relative_to(model_dir)}")
    return path


def spec_for(model_dir: Path, zip_path: Path | None = None) -> M.ModelSpec:
    mdl = model_dir / "am" / "final.mdl"
    return M.ModelSpec(
        name=NAME,
        url="http://127.0.0.1:9/unused.zip",
        zip_size=zip_path.stat().st_size if zip_path else None,
        zip_md5=hashlib.md5(zip_path.read_bytes()).hexdigest() if zip_path else None,
        final_mdl_sha256=hashlib.sha256(mdl.read_bytes()).hexdigest(),
        final_mdl_size=mdl.stat().st_size,
        description="test",
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("STANDARDISTE_CACHE", str(root))
    return root


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


def test_fake_folder_is_refused_with_the_real_checksums(tmp_path: Path, cache: Path) -> None:
    source = make_model_dir(tmp_path / "src")
    with pytest.raises(M.ModelError, match="installation refusée"):
        M.install_model(NAME, source)
    assert not (M.default_models_dir() / NAME).exists()
    assert leftovers(M.default_models_dir()) == []


def test_same_size_wrong_content_is_refused_by_sha256(tmp_path: Path, cache: Path) -> None:
    source = make_model_dir(tmp_path / "src", b"x" * M.CATALOG[NAME].final_mdl_size)  # type: ignore[operator]
    with pytest.raises(M.ModelError, match="sha256"):
        M.install_model(NAME, source)


def test_folder_install_with_matching_checksums(tmp_path: Path, cache: Path) -> None:
    source = make_model_dir(tmp_path / "src")
    catalog = {NAME: spec_for(source)}
    steps: list[str] = []
    path = M.install_model(NAME, source, catalog=catalog, progress=lambda s, d, t: steps.append(s))
    assert path == M.default_models_dir() / NAME
    assert (path / "am" / "final.mdl").read_bytes() == b"fake acoustic model"
    assert any("sha256" in s for s in steps) and any("installé" in s for s in steps)
    assert leftovers(M.default_models_dir()) == []
    # Already there: nothing to do; --force reinstalls atomically.
    assert M.install_model(NAME, source, catalog=catalog) == path
    (source / "am" / "final.mdl").write_bytes(b"newer model")
    with pytest.raises(M.ModelError):
        M.install_model(NAME, source, catalog=catalog, force=True)
    assert (path / "am" / "final.mdl").read_bytes() == b"fake acoustic model"  # old one kept intact
    M.install_model(NAME, source, catalog={NAME: spec_for(source)}, force=True)
    assert (path / "am" / "final.mdl").read_bytes() == b"newer model"
    assert leftovers(M.default_models_dir()) == []


def test_zip_install_checks_size_and_md5(tmp_path: Path, cache: Path) -> None:
    source = make_model_dir(tmp_path / "src")
    archive = make_zip(tmp_path / "model.zip", source)
    with pytest.raises(M.ModelError, match="taille"):
        M.install_model(NAME, archive)  # real catalogue: 42,233,323 bytes expected
    good = spec_for(source, archive)
    bad_md5 = dataclasses.replace(good, zip_md5="0" * 32)
    with pytest.raises(M.ModelError, match="md5"):
        M.install_model(NAME, archive, catalog={NAME: bad_md5})
    path = M.install_model(NAME, archive, catalog={NAME: good})
    assert M.is_model_dir(path)
    assert leftovers(M.default_models_dir()) == []


def test_zip_with_unsafe_paths_or_garbage_is_refused(tmp_path: Path, cache: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.txt", "no")
    with pytest.raises(M.ModelError, match="dangereux"):
        M.install_model("other-model", evil)
    assert not (tmp_path / "escape.txt").exists()
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip")
    with pytest.raises(M.ModelError, match="zip"):
        M.install_model("other-model", garbage)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(M.ModelError, match="pas de modèle"):
        M.install_model("other-model", empty)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "www"
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_installs(tmp_path: Path, cache: Path, web_root: tuple[Path, str]) -> None:
    folder, base = web_root
    source = make_model_dir(tmp_path / "src")
    archive = make_zip(folder / "model.zip", source)
    spec = dataclasses.replace(spec_for(source, archive), url=f"{base}/model.zip")
    seen: list[tuple[str, int, int | None]] = []
    path = M.install_model(NAME, None, catalog={NAME: spec}, progress=lambda *a: seen.append(a))
    assert M.is_model_dir(path)
    assert any(step == "téléchargement" and total == archive.stat().st_size for step, _, total in seen)


def test_unreachable_site_fails_fast_with_advice(tmp_path: Path, cache: Path) -> None:
    spec = dataclasses.replace(M.CATALOG[NAME], url=f"http://127.0.0.1:{_free_port()}/m.zip")
    with pytest.raises(M.ModelError, match="--from"):
        M.install_model(NAME, None, catalog={NAME: spec}, timeout_s=2)
    assert leftovers(M.default_models_dir()) == []


def test_find_and_list_models(tmp_path: Path, cache: Path) -> None:
    deployment = DeploymentConfig(data_dir=tmp_path / "data")
    assert M.find_vosk_model(deployment) is None
    assert M.list_models(deployment) == []
    make_model_dir(tmp_path / "data" / "models" / NAME)
    make_model_dir(M.default_models_dir() / "vosk-model-fr-0.22")
    assert M.find_vosk_model(deployment) == tmp_path / "data" / "models" / NAME
    listed = {m.name: m for m in M.list_models(deployment)}
    assert listed[NAME].active and listed[NAME].known
    assert not listed["vosk-model-fr-0.22"].active
    by_path = DeploymentConfig(
        data_dir=tmp_path / "data",
        speech=SpeechConfig(vosk_model=str(M.default_models_dir() / "vosk-model-fr-0.22")),
    )
    assert M.find_vosk_model(by_path) == M.default_models_dir() / "vosk-model-fr-0.22"


def cli_main(argv: list[str]) -> int:
    # Only this command's parser: the full CLI imports every other command module.
    parser = argparse.ArgumentParser()
    models_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_install_and_list(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_model_dir(tmp_path / "src")
    assert cli_main(["models", "install", "--from", str(source)]) == 1
    assert "installation refusée" in capsys.readouterr().err
    assert cli_main(["models", "install", "--from", str(source), "--if-available"]) == 0
    assert cli_main(["models", "install", "--from", str(tmp_path / "missing.zip"), "--if-available"]) == 0
    monkeypatch.setattr(M, "CATALOG", {NAME: spec_for(source)})
    monkeypatch.chdir(tmp_path)
    assert cli_main(["models", "install", "--from", str(source)]) == 0
    assert "installé et vérifié" in capsys.readouterr().out
    assert cli_main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert f"* {NAME}" in out and "Reconnaissance active : vosk:" in out
