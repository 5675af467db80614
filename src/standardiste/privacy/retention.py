"""Retention: call details and transcripts are deleted after the configured period.

Appointments, patients and the requests inbox are the practice's records and are kept;
web sessions that expired are deleted too. A purged call's audio recording (privacy.record_audio)
is deleted with it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from standardiste.calllog.store import recording_file
from standardiste.calllog.tables import CallRow
from standardiste.dashboard.tables import WebSession
from standardiste.storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    calls: int
    sessions: int
    recordings: int = 0


def purge(
    db: Database, retention_days: int, now: dt.datetime, recordings_dir: Path | None = None
) -> PurgeReport:
    """Delete old calls (and, given Asterisk's recording dir, their recordings) and expired sessions."""
    cutoff = now - dt.timedelta(days=retention_days)
    old = CallRow.started_at < cutoff
    with db.session() as s:
        names = [n for n in s.scalars(select(CallRow.recording).where(old, CallRow.recording.is_not(None)))]
        calls = s.execute(delete(CallRow).where(old)).rowcount or 0
        sessions = s.execute(delete(WebSession).where(WebSession.expires_at < now)).rowcount or 0
    # Files go once their rows are gone: a failure here leaves a file to retry by hand, never a row
    # pointing to nothing.
    recordings = 0
    for name in names:
        path = recording_file(recordings_dir, name)
        if path is None:
            continue
        try:
            path.unlink()
            recordings += 1
        except OSError as err:
            log.error("retention: recording %s not deleted: %s", path, err)
    if calls:
        log.info(
            "retention: deleted %d calls (%d recordings) older than %d days",
            calls,
            recordings,
            retention_days,
        )
    return PurgeReport(calls, sessions, recordings)
