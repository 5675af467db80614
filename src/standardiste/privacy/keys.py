"""The encryption key, kept apart from the data it protects.

The key file (privacy.key_file; default "<data_dir>-keys/encryption.key", in production
/etc/standardiste/encryption.key, made at install by `standardiste privacy init-key`, root:standardiste
0640) holds the urlsafe base64 of 32 random bytes; when the service makes it itself, 0600 in a 0700
directory. A key file readable by every user is narrowed, or refused. A copy of data_dir (a backup, a
stolen disk image of /var/lib) is then only ciphertexts.

Installs from before this module kept the key in data_dir/secrets.toml: the first start moves it to
the key file and removes it from secrets.toml.

Rotation (`standardiste privacy rotate-key`): a new key is written to "<key file>.new", every sealed
value is re-sealed under it in one transaction, then the old key is kept as "<key file>.old" and the
new one takes the key file's name. A crash between the commit and the rename leaves the new key in
"<key file>.new": the start-up check (WrongKey) says so, and renaming it by hand finishes the rotation.
"""

from __future__ import annotations

import base64
import os
import secrets
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from standardiste.config import ConfigError, DeploymentConfig, Secrets
from standardiste.privacy.crypto import FieldCipher

if TYPE_CHECKING:
    from standardiste.privacy.reseal import ResealReport
    from standardiste.storage.db import Database

KEY_FILE_NAME = "encryption.key"


def default_key_file(data_dir: Path) -> Path:
    data = Path(data_dir).resolve()
    return data.parent / f"{data.name}-keys" / KEY_FILE_NAME


def key_file(deployment: DeploymentConfig) -> Path:
    return deployment.privacy.key_file or default_key_file(deployment.data_dir)


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def write_key(path: Path, key: str) -> None:
    """Writes a key file atomically: 0600 in a 0700 directory."""
    FieldCipher(key)  # refuses a malformed key before it replaces anything
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.chmod(0o600)
    tmp.replace(path)


def read_key(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"{path}: clé de chiffrement illisible / unreadable key ({err.strerror})") from None
    try:
        FieldCipher(key)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path}: clé de chiffrement invalide / invalid key ({err})") from None
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:  # readable by every user of the machine: narrow it, or refuse to use it
        try:
            path.chmod(mode & 0o770)
        except OSError:
            raise ConfigError(
                f"{path}: clé lisible par tous (chmod o-rwx) / key readable by every user"
            ) from None
    return key


def _legacy_key(data_dir: Path) -> str | None:
    path = Path(data_dir) / "secrets.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    key = data.get("encryption_key")
    return key if isinstance(key, str) and key else None


def _strip_legacy_key(data_dir: Path) -> None:
    path = Path(data_dir) / "secrets.toml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.lstrip().startswith("encryption_key")]
    tmp = path.with_name("secrets.toml.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(kept))
    tmp.replace(path)


def load_or_create_key(deployment: DeploymentConfig) -> str:
    """The install's key: read from the key file, moved there from an old secrets.toml, or created."""
    path = key_file(deployment)
    legacy = _legacy_key(deployment.data_dir)
    if path.exists():
        key = read_key(path)
        if legacy is not None:
            if legacy != key:
                raise ConfigError(
                    f"{deployment.data_dir}/secrets.toml et {path} portent deux clés différentes ; garder "
                    "celle qui ouvre les données / two different keys: keep the one that opens the data"
                )
            _strip_legacy_key(deployment.data_dir)
        return key
    key = legacy or new_key()
    write_key(path, key)
    if legacy is not None:
        _strip_legacy_key(deployment.data_dir)
    return key


def cipher_for(deployment: DeploymentConfig, secrets_: Secrets | None = None) -> FieldCipher:
    """The install's cipher. A key given in `secrets_` (tests) wins over the key file."""
    key = secrets_.encryption_key if secrets_ is not None and secrets_.encryption_key else None
    try:
        return FieldCipher(key or load_or_create_key(deployment))
    except ValueError as err:  # refuse to run rather than store health data in clear
        raise ConfigError(f"clé de chiffrement invalide / invalid encryption key ({err})") from None


def ensure_private_dir(path: Path) -> None:
    """data_dir: created 0700, and narrowed to 0700 when an older version left it 0755."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def rotate_key(db: Database, deployment: DeploymentConfig) -> ResealReport:
    """A new key; every sealed value and recording re-encrypted under it (module docstring: the order)."""
    from standardiste.privacy.recordings import RecordingVault, recordings_dir
    from standardiste.privacy.reseal import reseal

    path = key_file(deployment)
    old_key = load_or_create_key(deployment)
    fresh = new_key()
    pending = path.with_name(path.name + ".new")
    write_key(pending, fresh)
    old, new = FieldCipher(old_key), FieldCipher(fresh)
    report = reseal(db, old, new)
    if report.failed:
        pending.unlink()
        return report
    write_key(path.with_name(path.name + ".old"), old_key)
    report.rows["recordings"] = RecordingVault(recordings_dir(deployment), old).reseal(old, new)
    report.rows["voice_messages"] = _reseal_voice_messages(Path(deployment.data_dir) / "messages", old, new)
    pending.replace(path)
    return report


def _reseal_voice_messages(directory: Path, old: FieldCipher, new: FieldCipher) -> int:
    """The fallback message box's encrypted WAVs (pbx/messages.py), each replaced atomically."""
    from standardiste.pbx.messages import ENCRYPTED_SUFFIX, decrypt_file, encrypt_file

    done = 0
    for path in sorted(directory.glob(f"*{ENCRYPTED_SUFFIX}")) if directory.is_dir() else []:
        name = path.name[: -len(ENCRYPTED_SUFFIX)]
        data = decrypt_file(old, path)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(encrypt_file(new, data, name))
        tmp.replace(path)
        done += 1
    return done
