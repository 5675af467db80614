"""Call recordings at rest (privacy.record_audio): encrypted, 0600, under data_dir/recordings (0700).

Asterisk writes NAME.wav in its own spool while the call goes on; once the call has ended the call log
seals it here (AES-256-GCM, the install's key, bound to the recording's name: a file renamed to another
call's name does not open) as NAME.wav.sealed, and deletes the clear spool file. The dashboard decrypts
on the fly for logged-in staff; the retention purge deletes the sealed file with its call row, and any
recording (sealed or still in the spool) that no call row names once it is old enough.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path

from standardiste.config import DeploymentConfig
from standardiste.privacy.crypto import FieldCipher

log = logging.getLogger(__name__)

SUFFIX = ".wav.sealed"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def recordings_dir(deployment: DeploymentConfig) -> Path:
    return Path(deployment.data_dir) / "recordings"


def valid_name(name: str | None) -> bool:
    return bool(name) and _NAME.match(name or "") is not None


def _context(name: str) -> str:
    return f"recording:{name}"


class RecordingVault:
    def __init__(self, directory: Path, cipher: FieldCipher) -> None:
        self.directory = Path(directory)
        self.cipher = cipher

    def path(self, name: str) -> Path | None:
        if not valid_name(name):
            return None
        return self.directory / f"{name}{SUFFIX}"

    def has(self, name: str | None) -> bool:
        path = self.path(name or "")
        return path is not None and path.is_file()

    def seal_file(self, source: Path, name: str) -> Path | None:
        """Encrypts `source` (Asterisk's clear WAV) as NAME.wav.sealed, 0600, then deletes `source`.
        An existing sealed file (a transfer appended to the recording) is replaced by the longer one."""
        target = self.path(name)
        if target is None or not source.is_file():
            return None
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            self.directory.chmod(0o700)
        sealed = self.cipher.encrypt_bytes(source.read_bytes(), _context(name))
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(sealed)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(target)
        source.unlink()
        return target

    def seal_bytes(self, data: bytes, name: str) -> Path | None:
        """Encrypts audio held in memory (a caller's spoken name: `name_audio_key`) as NAME.wav.sealed."""
        target = self.path(name)
        if target is None:
            return None
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            self.directory.chmod(0o700)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.cipher.encrypt_bytes(data, _context(name)))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(target)
        return target

    def open(self, name: str | None) -> bytes | None:
        """The clear WAV, or None (no such recording). DecryptionError for a wrong key or a moved file."""
        path = self.path(name or "")
        if path is None or not path.is_file():
            return None
        return self.cipher.decrypt_bytes(path.read_bytes(), _context(name or ""))

    def reseal(self, old: FieldCipher, new: FieldCipher) -> int:
        """Key rotation: every recording re-encrypted under `new` (each file replaced atomically)."""
        done = 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            clear = old.decrypt_bytes(path.read_bytes(), _context(name))
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(new.encrypt_bytes(clear, _context(name)))
            tmp.replace(path)
            done += 1
        return done


def name_audio_key(call_id: str) -> str:
    """The sealed file's name for the audio of a call's spoken name (kept with the call, purged with it)."""
    return "name-" + re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:120]


def delete_recording(sealed_dir: Path | None, name: str, spool_dir: Path | None = None) -> int:
    """Deletes a recording, sealed or still in Asterisk's spool; the number of files deleted."""
    if not valid_name(name):
        return 0
    deleted = 0
    for path in (
        Path(sealed_dir) / f"{name}{SUFFIX}" if sealed_dir else None,
        Path(spool_dir) / f"{name}.wav" if spool_dir else None,
    ):
        if path is not None and path.is_file():
            path.unlink()
            deleted += 1
    return deleted


def orphans(known: set[str], now: dt.datetime, min_age: dt.timedelta, *dirs: Path | None) -> list[Path]:
    """Recordings no call row names, older than `min_age` (a live call's file has no row yet)."""
    out: list[Path] = []
    cutoff = (now - min_age).timestamp()
    for directory in dirs:
        if directory is None or not Path(directory).is_dir():
            continue
        for path in Path(directory).iterdir():
            if not path.is_file():
                continue
            name = path.name.removesuffix(SUFFIX).removesuffix(".wav")
            if name == path.name or name in known:
                continue
            if path.stat().st_mtime < cutoff:
                out.append(path)
    return out
