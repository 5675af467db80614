"""Retention: call details and transcripts are deleted after the configured period.

Appointments, patients and the requests inbox are the practice's records and are kept;
web sessions that expired are deleted too.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete

from standardiste.calllog.tables import CallRow
from standardiste.dashboard.tables import WebSession
from standardiste.storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    calls: int
    sessions: int


def purge(db: Database, retention_days: int, now: dt.datetime) -> PurgeReport:
    cutoff = now - dt.timedelta(days=retention_days)
    with db.session() as s:
        calls = s.execute(delete(CallRow).where(CallRow.started_at < cutoff)).rowcount or 0
        sessions = s.execute(delete(WebSession).where(WebSession.expires_at < now)).rowcount or 0
    if calls:
        log.info("retention: deleted %d calls older than %d days", calls, retention_days)
    return PurgeReport(calls, sessions)
