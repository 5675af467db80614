"""Writes and reads call log rows. Transcripts go through here only, encrypted when a cipher is given.

Database work runs in a worker thread: the event loop (live calls) never waits on disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select

from standardiste.agenda.names import normalise_phone
from standardiste.agenda.sealed import open_json, seal_json
from standardiste.calllog.tables import CallRow
from standardiste.dialogue.messages import Utterance
from standardiste.privacy.crypto import DecryptionError, FieldCipher
from standardiste.privacy.recordings import RecordingVault, name_audio_key
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

# Authenticated contexts are "<table>.<column>:<call id>": a value moved elsewhere won't decrypt.
TRANSCRIPT_CONTEXT = "calllog_calls.transcript"  # older transcripts lack the call id (still read)
CALLER_CONTEXT = "calllog_calls.caller_id"
CALLER_INDEX = "calllog_calls.caller_id"  # the blind index's own key (never comparable to another table's)


@dataclass(frozen=True, slots=True)
class CallEntry:
    """A call as the dashboard or a test reads it (transcript in clear)."""

    id: str
    direction: str
    caller_id: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str
    outcome: str | None
    outcome_details: dict[str, Any] | None
    path: list[str]
    actions: list[dict[str, Any]]
    transcript: list[Utterance]
    recognizer: str
    greeting_ms: float | None
    barge_ins: int
    recording: str | None = None  # the audio recording's name (privacy.record_audio)
    node: str = ""  # the cluster node that handled it (docs/scale.md); "" on a single server


class CallLogStore:
    def __init__(
        self,
        db: Database,
        cipher: FieldCipher | None = None,
        recordings_dir: Path | None = None,
        vault: RecordingVault | None = None,
        seal_delay_s: float = 15.0,
        node: str = "",
    ) -> None:
        self.db = db
        self.node = node  # this process's cluster node name, written on every call it handles
        self.cipher = cipher
        # Where Asterisk writes call recordings (host path); None: recordings are not reachable here.
        self.recordings_dir = recordings_dir
        # Where ended calls' recordings are kept, encrypted (data_dir/recordings); None: left in the spool.
        self.vault = vault
        self.seal_delay_s = seal_delay_s  # after the call's end, before its recording is sealed
        # One writer thread: writes never compete with each other (SQLite) nor take the threads
        # that conversations run on.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calllog")

    # --- the CallLogSink protocol the call session uses ---

    async def call_started(self, record: SessionRecord) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer, self._write, record)

    async def call_ended(self, record: SessionRecord) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._write, record)
        name_audio = getattr(record, "name_audio", None)
        if name_audio and self.vault is not None:
            # The caller's spoken name (identity by voice): sealed with the call, purged with it.
            await loop.run_in_executor(self._writer, self._seal_name_audio, record.call_id, name_audio)
        if record.recording and self.vault is not None:
            # Asterisk finishes the file (header, last frames) once the bridge is gone: seal it a little
            # later, from the writer thread.
            name = record.recording
            if self.seal_delay_s <= 0:
                await loop.run_in_executor(self._writer, self._seal_recording, name)
            else:
                loop.call_later(self.seal_delay_s, self._writer.submit, self._seal_recording, name)

    # --- reading ---

    async def get(self, call_id: str) -> CallEntry | None:
        return await asyncio.to_thread(self.get_sync, call_id)

    def get_sync(self, call_id: str) -> CallEntry | None:
        with self.db.session() as s:
            row = s.get(CallRow, call_id)
            return self._entry(row) if row is not None else None

    def recent_sync(self, limit: int = 50) -> list[CallEntry]:
        with self.db.session() as s:
            rows = s.scalars(select(CallRow).order_by(CallRow.started_at.desc()).limit(limit)).all()
            return [self._entry(r) for r in rows]

    def from_number_sync(self, number: str, limit: int = 50) -> list[CallEntry]:
        """Calls from this number, found by its blind index (the other rows are not decrypted)."""
        e164 = normalise_phone(number)
        if e164 is None:
            return []
        key = self.cipher.blind_index(e164, CALLER_INDEX) if self.cipher else None
        clear = and_(CallRow.caller_index.is_(None), CallRow.caller_id == e164)  # rows written in clear
        match = clear if key is None else or_(CallRow.caller_index == key, clear)
        with self.db.session() as s:
            rows = s.scalars(select(CallRow).where(match).order_by(CallRow.started_at.desc()).limit(limit))
            return [self._entry(r) for r in rows]

    # --- internals ---

    def _seal_caller(self, call_id: str, caller_id: str | None) -> tuple[str | None, str | None]:
        """(stored caller id, blind index); in clear without a key."""
        if self.cipher is None or caller_id is None:
            return caller_id, None
        e164 = normalise_phone(caller_id)
        index = self.cipher.blind_index(e164, CALLER_INDEX) if e164 else None
        return self.cipher.encrypt(caller_id, f"{CALLER_CONTEXT}:{call_id}"), index

    def _seal_json(self, value: list[Any], column: str, call_id: str) -> Any:
        if self.cipher is None:
            return value
        text = json.dumps(value, ensure_ascii=False)
        return {"sealed": self.cipher.encrypt(text, f"calllog_calls.{column}:{call_id}")}

    def _open_json(self, stored: Any, column: str, call_id: str) -> Any:
        if not isinstance(stored, dict) or "sealed" not in stored:
            return stored  # written in clear
        if self.cipher is None:
            raise ValueError(f"{column} is encrypted and no key was given")
        return json.loads(self.cipher.decrypt(stored["sealed"], f"calllog_calls.{column}:{call_id}") or "[]")

    def _open_caller(self, row: CallRow) -> str | None:
        stored = row.caller_id
        if stored is None or not stored.startswith("v1:"):
            return stored  # written in clear (no key, or before calllog_0002)
        if self.cipher is None:
            raise ValueError("caller id is encrypted and no key was given")
        return self.cipher.decrypt(stored, f"{CALLER_CONTEXT}:{row.id}")

    def _encode_transcript(self, transcript: list[Utterance], call_id: str) -> tuple[str, int]:
        text = json.dumps([{"speaker": u.speaker, "text": u.text} for u in transcript], ensure_ascii=False)
        if self.cipher is None:
            return text, 0
        sealed = self.cipher.encrypt(text, f"{TRANSCRIPT_CONTEXT}:{call_id}")
        assert sealed is not None
        return sealed, 1

    def _decode_transcript(self, stored: str | None, encrypted: int, call_id: str) -> list[Utterance]:
        if not stored:
            return []
        if encrypted:
            if self.cipher is None:
                raise ValueError("transcript is encrypted and no key was given")
            stored = open_transcript(self.cipher, stored, call_id) or "[]"
        return [Utterance(u["speaker"], u["text"]) for u in json.loads(stored)]

    def _write(self, record: SessionRecord) -> None:
        transcript, encrypted = self._encode_transcript(record.transcript, record.call_id)
        with self.db.session() as s:
            row = s.get(CallRow, record.call_id)
            if row is None:
                row = CallRow(id=record.call_id)
                s.add(row)
            row.channel_id = record.channel_id
            row.direction = record.direction
            row.caller_id, row.caller_index = self._seal_caller(record.call_id, record.caller_id)
            # Stored in UTC: SQLite keeps no offset, and readers take a naive time as UTC.
            row.started_at = _utc(record.started_at)
            row.ended_at = _utc(record.ended_at) if record.ended_at is not None else None
            row.end_reason = record.end_reason
            row.outcome = str(record.outcome.kind) if record.outcome else None
            # The outcome kind ("emergency", "booked") stays in clear for statistics; its details (which
            # emergency rule fired, what was asked) are sealed.
            details = dict(record.outcome.details) if record.outcome else None
            row.outcome_details = seal_json(
                self.cipher, details, "calllog_calls.outcome_details", record.call_id
            )
            # The path quotes what the caller said ("heard:...") and the actions what was said back
            # (names, dates): sealed like the transcript.
            row.path = self._seal_json(list(record.path), "path", record.call_id)
            row.actions = self._seal_json(list(record.actions), "actions", record.call_id)
            row.transcript = transcript
            row.transcript_encrypted = encrypted
            row.recognizer = record.recognizer
            row.greeting_ms = record.greeting_ms
            row.barge_ins = record.barge_ins
            row.recording = record.recording
            row.node = self.node

    def seal_pending_recordings(self, quiet_s: float = 60.0) -> int:
        """Recordings of ended calls still in the spool (the process stopped before sealing them)."""
        if self.vault is None or self.recordings_dir is None:
            return 0
        with self.db.session() as s:
            recorded = s.scalars(
                select(CallRow.recording).where(CallRow.recording.is_not(None), CallRow.ended_at.is_not(None))
            )
            names = [n for n in recorded if n is not None]  # the column is nullable; the query kept names
        sealed = 0
        for name in names:
            path = recording_file(self.recordings_dir, name)
            if path is not None and time.time() - path.stat().st_mtime >= quiet_s:
                self._seal_recording(name)
                sealed += 1
        return sealed

    def _seal_recording(self, name: str) -> None:
        """Asterisk's clear WAV -> the encrypted vault (never fails the call log's write)."""
        source = recording_file(self.recordings_dir, name)
        if source is None or self.vault is None:
            return
        try:
            self.vault.seal_file(source, name)
        except OSError as err:
            logging.getLogger(__name__).error("recording %s not sealed: %s", name, err.strerror)

    def _seal_name_audio(self, call_id: str, wav: bytes) -> None:
        if self.vault is None:
            return
        try:
            self.vault.seal_bytes(wav, name_audio_key(call_id))
        except OSError as err:
            logging.getLogger(__name__).error("spoken name of call %s not sealed: %s", call_id, err.strerror)

    def has_name_audio(self, call_id: str) -> bool:
        return self.vault is not None and self.vault.has(name_audio_key(call_id))

    def name_audio(self, call_id: str) -> bytes | None:
        """The caller's spoken name (WAV), decrypted on the fly; None when none was kept."""
        return self.vault.open(name_audio_key(call_id)) if self.vault is not None else None

    def _entry(self, row: CallRow) -> CallEntry:
        return CallEntry(
            id=row.id,
            direction=row.direction,
            caller_id=self._open_caller(row),
            started_at=row.started_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
            outcome=row.outcome,
            outcome_details=open_json(
                self.cipher, row.outcome_details, "calllog_calls.outcome_details", row.id
            ),
            path=list(self._open_json(row.path, "path", row.id) or []),
            actions=list(self._open_json(row.actions, "actions", row.id) or []),
            transcript=self._decode_transcript(row.transcript, row.transcript_encrypted, row.id),
            recognizer=row.recognizer,
            greeting_ms=row.greeting_ms,
            barge_ins=row.barge_ins,
            recording=row.recording,
            node=row.node or "",
        )

    def recording_path(self, entry: CallEntry) -> Path | None:
        """The host path of a call's recording still in Asterisk's spool (clear, not sealed yet)."""
        return recording_file(self.recordings_dir, entry.recording)

    def has_recording(self, entry: CallEntry) -> bool:
        return (self.vault is not None and self.vault.has(entry.recording)) or (
            self.recording_path(entry) is not None
        )

    def recording_audio(self, entry: CallEntry) -> bytes | None:
        """The call's WAV in clear: decrypted from the vault, or read from the spool (call just ended)."""
        if self.vault is not None and self.vault.has(entry.recording):
            return self.vault.open(entry.recording)
        path = self.recording_path(entry)
        return path.read_bytes() if path is not None else None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment


def open_transcript(cipher: FieldCipher, stored: str, call_id: str) -> str | None:
    """A sealed transcript bound to its call; those sealed before calllog_0004 were bound to the column only
    (`standardiste privacy reseal` rebinds them)."""
    try:
        return cipher.decrypt(stored, f"{TRANSCRIPT_CONTEXT}:{call_id}")
    except DecryptionError:
        return cipher.decrypt(stored, TRANSCRIPT_CONTEXT)


_RECORDING_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def recording_file(recordings_dir: Path | None, name: str | None) -> Path | None:
    """NAME.wav in the recordings dir, or None (no dir, no name, a name that is not ours, no file)."""
    if recordings_dir is None or not name or not _RECORDING_NAME.match(name):
        return None
    path = Path(recordings_dir) / f"{name}.wav"
    return path if path.is_file() else None
