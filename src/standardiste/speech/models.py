"""Speech models on disk: where they live, which one is active, and a verified, atomic install.

The French Vosk model is not shipped with Standardiste: `standardiste models install` fetches it
from its publisher or takes a local zip/folder (offline sites), checks it against known checksums,
and unpacks it next to the other caches. A half-finished install never looks installed: files go
to a temporary folder that is renamed into place only once verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from standardiste.config import DeploymentConfig


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    url: str
    zip_size: int | None
    zip_md5: str | None
    final_mdl_sha256: str | None
    final_mdl_size: int | None
    description: str


CATALOG: dict[str, ModelSpec] = {
    "vosk-model-small-fr-0.22": ModelSpec(
        name="vosk-model-small-fr-0.22",
        url="https://alphacephei.com/vosk/models/vosk-model-small-fr-0.22.zip",
        zip_size=42_233_323,
        zip_md5="8873b1234503f6edd55f54bfff31cf3e",
        final_mdl_sha256="580d99752e3f6f31fb4a03403b0b2a3a78b9665937e2823668b46d9c9ce1a1a1",
        final_mdl_size=15_978_979,
        description="Vosk français, petit modèle (Apache-2.0, ~68 Mo)",
    ),
}
DEFAULT_MODEL = "vosk-model-small-fr-0.22"

Progress = Callable[[str, int, int | None], None]  # (step, done, total)


class ModelError(Exception):
    """An install that cannot be done; the message says why and what to do, in French and English."""


# --- locations ---


def cache_root() -> Path:
    return Path(os.environ.get("STANDARDISTE_CACHE") or Path.home() / ".cache" / "standardiste")


def default_models_dir() -> Path:
    """Where `models install` puts models: shared by every checkout and config (like the venv)."""
    return cache_root() / "models"


def search_dirs(deployment: DeploymentConfig) -> list[Path]:
    """Folders searched for a model named in the config: the deployment's data dir first."""
    dirs = [deployment.data_dir / "models", default_models_dir()]
    out: list[Path] = []
    for d in dirs:
        if d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def is_model_dir(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() and (path / "conf").is_dir()


def find_vosk_model(deployment: DeploymentConfig) -> Path | None:
    """The configured Vosk model's folder, if installed. A setting with a '/' is taken as a path."""
    setting = deployment.speech.vosk_model
    if "/" in setting or setting.startswith("~"):
        path = Path(setting).expanduser()
        return path if is_model_dir(path) else None
    for folder in search_dirs(deployment):
        if is_model_dir(folder / setting):
            return folder / setting
    return None


@dataclass(frozen=True, slots=True)
class InstalledModel:
    name: str
    path: Path
    size_bytes: int
    active: bool
    known: bool  # in the catalogue (checksums known)


def list_models(deployment: DeploymentConfig) -> list[InstalledModel]:
    active = find_vosk_model(deployment)
    seen: list[InstalledModel] = []
    folders = [d / n for d in search_dirs(deployment) if d.is_dir() for n in sorted(os.listdir(d))]
    if active is not None and active not in folders:
        folders.append(active)
    for path in folders:
        if not path.is_dir() or path.name.startswith(".") or not is_model_dir(path):
            continue
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        seen.append(
            InstalledModel(
                name=path.name,
                path=path,
                size_bytes=size,
                active=active is not None and path.resolve() == active.resolve(),
                known=path.name in CATALOG,
            )
        )
    return seen


# --- checks ---


def file_digest(path: Path, algorithm: str, progress: Progress | None = None, step: str = "") -> str:
    digest = hashlib.new(algorithm)
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(step, done, total)
    return digest.hexdigest()


def verify_zip(path: Path, spec: ModelSpec, progress: Progress | None = None) -> None:
    size = path.stat().st_size
    if spec.zip_size is not None and size != spec.zip_size:
        raise ModelError(
            f"{path.name} : taille {size} octets, attendu {spec.zip_size} (fichier tronqué ou autre modèle). "
            f"/ size {size} bytes, expected {spec.zip_size}."
        )
    if spec.zip_md5 is not None:
        md5 = file_digest(path, "md5", progress, "vérification (md5)")
        if md5 != spec.zip_md5:
            raise ModelError(
                f"{path.name} : somme md5 {md5} différente de celle attendue {spec.zip_md5} ; fichier "
                f"corrompu ou modifié, installation refusée. / md5 mismatch, refusing to install."
            )


def verify_model_dir(path: Path, spec: ModelSpec | None, progress: Progress | None = None) -> None:
    """Check a model folder: Vosk layout, and am/final.mdl's size and sha256 when known."""
    if not is_model_dir(path):
        raise ModelError(
            f"{path} n'est pas un modèle Vosk (am/final.mdl ou conf/ manque). / not a Vosk model folder."
        )
    if spec is None:
        return
    mdl = path / "am" / "final.mdl"
    if spec.final_mdl_size is not None and mdl.stat().st_size != spec.final_mdl_size:
        raise ModelError(
            f"{mdl} : taille {mdl.stat().st_size} octets, attendu {spec.final_mdl_size} ; "
            "ce n'est pas le modèle attendu, installation refusée. / am/final.mdl size mismatch, refused."
        )
    if spec.final_mdl_sha256 is not None:
        sha = file_digest(mdl, "sha256", progress, "vérification (sha256)")
        if sha != spec.final_mdl_sha256:
            raise ModelError(
                f"{mdl} : sha256 {sha} différent de celui attendu {spec.final_mdl_sha256} ; "
                "modèle corrompu ou modifié, installation refusée. / am/final.mdl sha256 mismatch, refused."
            )


# --- install ---


def download(url: str, dest: Path, timeout_s: float = 10.0, progress: Progress | None = None) -> None:
    """Fetch `url` into `dest`; fails within `timeout_s` when the site cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress("téléchargement", done, total)
    except (TimeoutError, urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ModelError(
            f"Téléchargement impossible depuis {url} ({reason}). Ce serveur n'a peut-être pas accès à "
            "Internet : copiez le fichier zip du modèle sur le serveur puis lancez "
            "« standardiste models install --from CHEMIN/vers/le-modele.zip ». "
            f"/ Download failed ({reason}); install from a local copy with --from."
        ) from err


def _safe_extract(archive: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for member in archive.infolist():
        target = (dest / member.filename).resolve()
        if not target.is_relative_to(root):
            raise ModelError(f"archive refusée : chemin dangereux {member.filename!r} / unsafe path in zip")
    archive.extractall(dest)


def _model_root(folder: Path) -> Path:
    """The model folder inside an unpacked archive (the zip holds one top-level folder)."""
    if is_model_dir(folder):
        return folder
    children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith("__MACOSX")]
    for child in children:
        if is_model_dir(child):
            return child
    raise ModelError("l'archive ne contient pas de modèle Vosk (am/final.mdl) / no Vosk model in the archive")


def install_model(
    name: str = DEFAULT_MODEL,
    source: Path | None = None,
    dest_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    timeout_s: float = 10.0,
    force: bool = False,
    catalog: dict[str, ModelSpec] | None = None,
) -> Path:
    """Install model `name` (from `source` zip/folder, else its official URL); returns its folder.

    Checks: zip size + md5 (zip source or download), am/final.mdl size + sha256 (always, when the
    model is in the catalogue). The install is atomic: a temporary folder renamed into place.
    """
    spec = (catalog if catalog is not None else CATALOG).get(name)
    dest_dir = dest_dir or default_models_dir()
    target = dest_dir / name
    if is_model_dir(target) and not force:
        if progress:
            progress(f"déjà installé : {target}", 1, 1)
        return target
    if source is None and spec is None:
        raise ModelError(
            f"modèle inconnu {name!r} : donnez --from ZIP_OU_DOSSIER / unknown model, use --from"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest_dir))
    try:
        if source is not None and source.is_dir():
            verify_model_dir(source, spec, progress)
            staged = work / name
            shutil.copytree(source, staged, symlinks=False)
        else:
            if source is None:
                assert spec is not None
                archive = work / f"{name}.zip"
                download(spec.url, archive, timeout_s, progress)
            elif source.is_file():
                archive = source
            else:
                raise ModelError(f"{source} introuvable / not found")
            if spec is not None:
                verify_zip(archive, spec, progress)
            unpacked = work / "unpacked"
            try:
                with zipfile.ZipFile(archive) as zf:
                    if progress:
                        progress("décompression", 0, None)
                    _safe_extract(zf, unpacked)
            except zipfile.BadZipFile as err:
                raise ModelError(f"{archive} n'est pas un zip valide / not a valid zip: {err}") from err
            staged = _model_root(unpacked)
            verify_model_dir(staged, spec, progress)
        return put_in_place(staged, target, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def put_in_place(staged: Path, target: Path, progress: Progress | None = None) -> Path:
    """Move a verified model folder to `target`, replacing any older copy; a crash leaves one whole copy."""
    final_tmp = target.parent / f".{target.name}.installing"
    shutil.rmtree(final_tmp, ignore_errors=True)
    os.replace(staged, final_tmp)
    if target.exists():
        old = target.parent / f".{target.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(final_tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(final_tmp, target)
    if progress:
        progress(f"installé : {target}", 1, 1)
    return target
