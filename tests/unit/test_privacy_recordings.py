"""Retention of call recordings (privacy.record_audio): a purged call's WAV goes with its row.

Real SQLite database and real files in tmp_path; the WAV files are written here (Asterisk writes
them in the integration test tests/integration/test_call_recording.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from standardiste.calllog.store import CallLogStore, recording_file
from standardiste.calllog.tables import CallRow
from standardiste.privacy.retention import purge
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def _record(call_id: str, age_days: int, recording: str | None) -> SessionRecord:
    start = NOW - dt.timedelta(days=age_days)
    return SessionRecord(
        call_id=call_id,
        channel_id=call_id,
        caller_id="+33612345678",
        direction="inbound",
        recognizer="keypad",
        started_at=start,
        ended_at=start + dt.timedelta(minutes=1),
        recording=recording,
    )


async def test_purge_deletes_old_recordings_only(tmp_path: Path) -> None:
    rec_dir = tmp_path / "recording"
    rec_dir.mkdir()
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    store = CallLogStore(db, recordings_dir=rec_dir)
    for name in ("appel-old", "appel-new", "unrelated"):
        (rec_dir / f"{name}.wav").write_bytes(b"RIFF")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    await store.call_ended(_record("old", 91, "appel-old"))
    await store.call_ended(_record("old-missing-file", 95, "appel-gone"))  # file already deleted by hand
    await store.call_ended(_record("old-bad-name", 95, "../secret"))  # never follows a path out of the dir
    await store.call_ended(_record("new", 1, "appel-new"))
    await store.call_ended(_record("unrecorded", 92, None))

    entry = store.get_sync("new")
    assert entry is not None and entry.recording == "appel-new"
    assert store.recording_path(entry) == rec_dir / "appel-new.wav"

    report = purge(db, retention_days=90, now=NOW, recordings_dir=rec_dir)

    assert report.calls == 4 and report.recordings == 1
    assert not (rec_dir / "appel-old.wav").exists()
    assert (rec_dir / "appel-new.wav").exists() and (rec_dir / "unrelated.wav").exists()
    assert outside.exists()
    with db.session() as s:
        assert list(s.scalars(select(CallRow.id))) == ["new"]
    db.dispose()


async def test_purge_without_recordings_dir_keeps_working(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    await CallLogStore(db).call_ended(_record("old", 91, "appel-old"))
    report = purge(db, retention_days=90, now=NOW)
    assert report.calls == 1 and report.recordings == 0
    db.dispose()


def test_recording_file_refuses_foreign_names(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    assert recording_file(tmp_path, "a") == tmp_path / "a.wav"
    for name in ("../a", "a.wav", "", None, "a/b", "x" * 200):
        assert recording_file(tmp_path, name) is None
    assert recording_file(None, "a") is None
    assert recording_file(tmp_path, "missing") is None
