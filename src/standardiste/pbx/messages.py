"""Voice messages left in the fallback message box, filed in the staff inbox.

The dialplan (asterisk/extensions.conf, standardiste-transfer,message) records each message as
`msg-<epoch>-<channel unique id>.wav` in the instance's spool/standardiste-messages, and writes the
caller's number beside it in `msg-<epoch>-<channel unique id>.caller`: file names never carry the
number (they show up in listings, logs, backups and the inbox request), only that small file does,
and it is deleted with the clear WAV once the message is filed. (Names of the older form
`<epoch>-<number>-<id>.wav` are still imported, and filed under a name without the number.)
A message is finished once its file has not grown for QUIET_S seconds (Record writes every 20 ms
frame, silence included, until the caller hangs up or the longest message is reached).
`import_messages` (run every few seconds by `standardiste serve`) encrypts each finished WAV into
the data dir (AES-256-GCM with the install key, privacy.crypto.FieldCipher), files a CALLBACK
request in the inbox with the caller's number and the time, and deletes the clear file.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from standardiste.agenda.model import Inbox, RequestDraft, RequestKind

log = logging.getLogger(__name__)

_NAME = re.compile(r"^msg-(?P<epoch>\d{9,11})-(?P<uid>[0-9A-Za-z_.-]+)$")
_OLD_NAME = re.compile(r"^(?P<epoch>\d{9,11})-(?P<number>[0-9A-Za-z+]*)-(?P<uid>[0-9A-Za-z_.-]+)$")
ENCRYPTED_SUFFIX = ".wav.enc"
CALLER_SUFFIX = ".caller"  # beside the WAV: the caller's number as Asterisk saw it
MESSAGE_CONTEXT = "voicemail"  # authenticated with each file: a ciphertext moved elsewhere won't open
QUIET_S = 4.0  # a recording that has not grown for this long is over
MIN_MESSAGE_S = 1.0  # shorter: the caller hung up at the beep; still filed (they called), flagged


class Cipher(Protocol):
    def encrypt(self, plaintext: str | None, context: str = "") -> str | None: ...

    def decrypt(self, stored: str | None, context: str = "") -> str | None: ...


@dataclass(frozen=True, slots=True)
class PendingMessage:
    wav: Path
    left_at: dt.datetime  # UTC
    number: str  # as Asterisk saw it ("" when hidden)
    name: str  # the stored name: msg-<epoch>-<unique id>, never the number

    @property
    def caller_file(self) -> Path:
        return self.wav.with_name(self.wav.name.removesuffix(".wav") + CALLER_SUFFIX)


def read_caller(path: Path) -> str:
    """The number in a .caller file (digits, letters, '+' only: whatever else is dropped)."""
    try:
        text = path.read_text(encoding="ascii", errors="ignore")
    except OSError:
        return ""
    return re.sub(r"[^0-9A-Za-z+]", "", text)[:32]


def parse_name(path: Path) -> PendingMessage | None:
    """A recorded message's time, number (from its .caller file) and stored name; None: not ours."""
    stem = path.name.removesuffix(".wav")
    match = _NAME.match(stem)
    if match is not None:
        left_at = dt.datetime.fromtimestamp(int(match["epoch"]), dt.UTC)
        caller = path.with_name(stem + CALLER_SUFFIX)
        return PendingMessage(path, left_at, read_caller(caller), stem)
    old = _OLD_NAME.match(stem)
    if old is None:
        return None
    left_at = dt.datetime.fromtimestamp(int(old["epoch"]), dt.UTC)
    return PendingMessage(path, left_at, old["number"], f"msg-{old['epoch']}-{old['uid']}")


def pending(messages_dir: Path, now_s: float | None = None, quiet_s: float = QUIET_S) -> list[PendingMessage]:
    """Finished messages: files that have not grown for quiet_s seconds."""
    now_s = time.time() if now_s is None else now_s
    found: list[PendingMessage] = []
    if not messages_dir.is_dir():
        return found
    for wav in sorted(messages_dir.glob("*.wav")):
        message = parse_name(wav)
        if message is None:
            continue
        try:
            finished = now_s - wav.stat().st_mtime >= quiet_s
        except OSError:
            continue
        if finished:
            found.append(message)
    return found


def wav_seconds(data: bytes) -> float:
    import io

    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getnframes() / float(w.getframerate() or 8000)
    except (wave.Error, EOFError):
        return 0.0


def encrypt_file(cipher: Cipher, data: bytes, name: str) -> str:
    sealed = cipher.encrypt(base64.b64encode(data).decode("ascii"), f"{MESSAGE_CONTEXT}:{name}")
    assert sealed is not None
    return sealed


def decrypt_file(cipher: Cipher, path: Path) -> bytes:
    """The clear WAV of a stored message (dashboard, tests)."""
    name = path.name.removesuffix(ENCRYPTED_SUFFIX)
    clear = cipher.decrypt(path.read_text(encoding="ascii"), f"{MESSAGE_CONTEXT}:{name}")
    assert clear is not None
    return base64.b64decode(clear)


def french_number(number: str) -> str | None:
    """A callable number for the inbox (+33...), or None when the caller hid it or it is not a phone."""
    digits = re.sub(r"[^0-9+]", "", number)
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return "+33" + digits[1:]
    if re.fullmatch(r"\+\d{8,15}", digits):
        return digits
    return None


def import_messages(
    messages_dir: Path,
    store_dir: Path,
    inbox: Inbox,
    cipher: Cipher,
    timezone: str,
    now_s: float | None = None,
    quiet_s: float = QUIET_S,
) -> list[str]:
    """File every finished message; returns the inbox request ids. Safe to run repeatedly."""
    store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ids: list[str] = []
    for message in pending(messages_dir, now_s, quiet_s):
        try:
            data = message.wav.read_bytes()
        except OSError:
            continue
        seconds = wav_seconds(data)
        stored = store_dir / f"{message.name}{ENCRYPTED_SUFFIX}"
        tmp = stored.with_suffix(".tmp")
        tmp.write_text(encrypt_file(cipher, data, message.name), encoding="ascii")
        tmp.chmod(0o600)
        tmp.replace(stored)
        local = message.left_at.astimezone(ZoneInfo(timezone))
        number = french_number(message.number)
        said = "le message est vide (raccroché au bip)" if seconds < MIN_MESSAGE_S else f"{seconds:.0f} s"
        draft = RequestDraft(
            kind=RequestKind.CALLBACK,
            caller_name="(message vocal)",
            birth_date=None,
            callback_number=number,
            details=(
                f"Message vocal laissé le {local:%d/%m/%Y à %H:%M} ({said}) par "
                f"{number or message.number or 'un numéro masqué'}, quand personne ne pouvait répondre."
            ),
            call_id=None,
            extra={
                "voicemail": stored.name,
                "left_at": message.left_at.isoformat(),
                "duration_s": f"{seconds:.1f}",
                "caller_id": message.number,
            },
        )
        ids.append(inbox.file(draft, local))
        message.wav.unlink(missing_ok=True)
        message.caller_file.unlink(missing_ok=True)
        log.info(
            "voice message filed in the inbox", extra={"message": message.name, "seconds": round(seconds, 1)}
        )
    return ids
