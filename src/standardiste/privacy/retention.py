"""Retention: what is deleted after the configured period, in every store.

- calls (details, transcripts) older than privacy.retention_days, with their recordings (sealed in
  data_dir/recordings, or still in Asterisk's spool);
- recordings that no call row names (a crash between the recording and the row, a row deleted by hand);
- reminder jobs that are over (done, removed) and attempts older than the period;
- audit entries older than privacy.audit_retention_days;
- expired web sessions;
- rotated log files (NAME.log.N, NAME.log.N.gz...) older than the period, in the log directories given.

Appointments, patients and the requests inbox are the practice's records and are kept (erase one
person with `standardiste privacy erase`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from standardiste.calllog.store import recording_file
from standardiste.calllog.tables import CallRow
from standardiste.dashboard.tables import AuditEntry, WebSession
from standardiste.privacy.recordings import delete_recording, name_audio_key, orphans
from standardiste.reminders.tables import ReminderAttemptRow, ReminderJobRow
from standardiste.storage.db import Database, affected_rows

log = logging.getLogger(__name__)

# A recording without a row is left this long (its call may still be going on).
ORPHAN_MIN_AGE = dt.timedelta(hours=6)
_ROTATED_LOG = re.compile(r"\.log\.\d+(\.gz)?$|\.log-\d{8}(\.gz)?$|\.\d+\.gz$")
_OVER = ("done", "removed")


@dataclass(frozen=True, slots=True)
class PurgeReport:
    calls: int
    sessions: int
    recordings: int = 0
    orphan_recordings: int = 0
    audit_entries: int = 0
    reminder_jobs: int = 0
    reminder_attempts: int = 0
    log_files: int = 0

    def summary(self) -> str:
        return (
            f"Effacés : {self.calls} appel(s), {self.recordings} enregistrement(s) "
            f"(+{self.orphan_recordings} sans appel), {self.audit_entries} entrée(s) d'audit, "
            f"{self.reminder_jobs} rappel(s) et {self.reminder_attempts} tentative(s), "
            f"{self.sessions} session(s), {self.log_files} journal(aux) ancien(s)."
        )


def purge(
    db: Database,
    retention_days: int,
    now: dt.datetime,
    recordings_dir: Path | None = None,
    *,
    sealed_dir: Path | None = None,
    audit_retention_days: int | None = None,
    log_dirs: Iterable[Path] = (),
    log_dir: Path | None = None,
) -> PurgeReport:
    """Delete what is older than the retention periods. `recordings_dir`: Asterisk's spool (clear WAVs
    of calls not sealed yet); `sealed_dir`: data_dir/recordings (privacy/recordings.py)."""
    cutoff = now - dt.timedelta(days=retention_days)
    audit_cutoff = now - dt.timedelta(days=audit_retention_days or retention_days)
    old = CallRow.started_at < cutoff
    with db.session() as s:
        recorded = s.scalars(select(CallRow.recording).where(old, CallRow.recording.is_not(None)))
        names = [n for n in recorded if n is not None]  # the column is nullable; the query kept names
        # The caller's spoken name (identity by voice) is kept beside the call's recording, sealed.
        names += [name_audio_key(call_id) for call_id in s.scalars(select(CallRow.id).where(old))]
        calls = affected_rows(s.execute(delete(CallRow).where(old))) or 0
        sessions = affected_rows(s.execute(delete(WebSession).where(WebSession.expires_at < now))) or 0
        audit = affected_rows(s.execute(delete(AuditEntry).where(AuditEntry.at < audit_cutoff))) or 0
        attempts = (
            affected_rows(s.execute(delete(ReminderAttemptRow).where(ReminderAttemptRow.started_at < cutoff)))
            or 0
        )
        jobs = (
            affected_rows(
                s.execute(
                    delete(ReminderJobRow).where(
                        ReminderJobRow.state.in_(_OVER), ReminderJobRow.updated_at < cutoff
                    )
                )
            )
            or 0
        )
        recorded = s.scalars(select(CallRow.recording).where(CallRow.recording.is_not(None)))
        known = {n for n in recorded if n is not None}
        known |= {name_audio_key(call_id) for call_id in s.scalars(select(CallRow.id))}
    # Files go once their rows are gone: a failure here leaves a file to retry, never a row pointing to
    # nothing.
    recordings = 0
    for name in names:
        try:
            if sealed_dir is not None:
                recordings += delete_recording(sealed_dir, name, recordings_dir)
            else:
                path = recording_file(recordings_dir, name)
                if path is not None:
                    path.unlink()
                    recordings += 1
        except OSError as err:
            log.error("retention: recording %s not deleted: %s", name, err)
    stray = 0
    for path in orphans(known, now, ORPHAN_MIN_AGE, sealed_dir, recordings_dir):
        try:
            path.unlink()
            stray += 1
        except OSError as err:
            log.error("retention: recording %s not deleted: %s", path, err)
    logs = _old_logs([*log_dirs, *([log_dir] if log_dir else [])], cutoff)
    if calls or audit or stray:
        log.info(
            "retention: deleted %d calls (%d recordings, %d without a call), %d audit entries",
            calls,
            recordings,
            stray,
            audit,
        )
    return PurgeReport(calls, sessions, recordings, stray, audit, jobs, attempts, logs)


def _old_logs(dirs: list[Path], cutoff: dt.datetime) -> int:
    deleted = 0
    for directory in dirs:
        if not Path(directory).is_dir():
            continue
        for path in Path(directory).rglob("*"):
            if (
                path.is_file()
                and _ROTATED_LOG.search(path.name)
                and path.stat().st_mtime < cutoff.timestamp()
            ):
                try:
                    path.unlink()
                    deleted += 1
                except OSError as err:
                    log.error("retention: log %s not deleted: %s", path, err)
    return deleted
