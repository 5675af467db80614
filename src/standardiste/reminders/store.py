"""Database side of reminders: the desired schedule (outbox), claims fenced by the leader token, attempts.

Every method is one short transaction, synchronous (call it through asyncio.to_thread from async code).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from standardiste.agenda.sealed import open_json, open_text, seal, seal_json
from standardiste.privacy.crypto import FieldCipher
from standardiste.reminders.tables import ReminderAttemptRow, ReminderFenceRow, ReminderJobRow
from standardiste.storage.db import Database, affected_rows

PHONE_COLUMN = "reminder_jobs.phone"
DETAILS_COLUMN = "reminder_attempts.details"

SCHEDULED = "scheduled"
REMOVED = "removed"
QUEUED = "queued"
CALLING = "calling"
DONE = "done"

REMINDER = "reminder"
FOLLOW_UP = "follow_up"


def job_id_for(kind: str, appointment_id: str) -> str:
    """Idempotent job ids: one reminder job and one follow-up job per appointment."""
    return f"{kind}:{appointment_id}"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What should happen for one appointment and kind: run at `run_at`, or nothing (None)."""

    kind: str
    appointment_id: str
    run_at: dt.datetime | None
    appointment_start: dt.datetime
    appointment_end: dt.datetime
    phone: str | None = None
    attempt: int = 0

    @property
    def job_id(self) -> str:
        return job_id_for(self.kind, self.appointment_id)


@dataclass(frozen=True, slots=True)
class JobState:
    job_id: str
    appointment_id: str
    kind: str
    attempt: int
    state: str
    run_at: dt.datetime | None
    version: int
    synced: bool
    fence: int | None
    appointment_start: dt.datetime
    appointment_end: dt.datetime
    phone: str | None
    last_outcome: str | None

    @classmethod
    def of(cls, row: ReminderJobRow, cipher: FieldCipher | None = None) -> JobState:
        return cls(
            row.job_id,
            row.appointment_id,
            row.kind,
            row.attempt,
            row.state,
            row.run_at,
            row.version,
            row.synced,
            row.fence,
            row.appointment_start,
            row.appointment_end,
            open_text(cipher, row.phone, PHONE_COLUMN, row.job_id),
            row.last_outcome,
        )


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    id: int
    job_id: str
    version: int
    appointment_id: str
    kind: str
    attempt: int
    fence: int
    node: str
    due_at: dt.datetime
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, row: ReminderAttemptRow, cipher: FieldCipher | None = None) -> AttemptRecord:
        return cls(
            row.id,
            row.job_id,
            row.version,
            row.appointment_id,
            row.kind,
            row.attempt,
            row.fence,
            row.node,
            row.due_at,
            row.started_at,
            row.ended_at,
            row.outcome,
            dict(open_json(cipher, row.details, DETAILS_COLUMN, str(row.id)) or {}),
        )


class FencedOut(Exception):
    """A newer leader exists: this process must not start calls."""


class ReminderStore:
    def __init__(self, db: Database, cipher: FieldCipher | None = None) -> None:
        # Seals the number to call and the attempts' details (bound to their row); None: in clear.
        self.cipher = cipher
        self.db = db

    # -- the desired schedule (written by the agenda listener, any process) --------------------

    def put(self, spec: JobSpec, now: dt.datetime) -> JobState:
        """Create, move or remove (run_at None) a job. A job being called keeps its call; the change
        applies to its next run."""
        with self.db.session() as s:
            row = s.get(ReminderJobRow, spec.job_id, with_for_update=True)
            state = SCHEDULED if spec.run_at is not None else REMOVED
            if row is None:
                if spec.run_at is None:
                    return _absent(spec)
                row = ReminderJobRow(
                    job_id=spec.job_id,
                    appointment_id=spec.appointment_id,
                    kind=spec.kind,
                    version=0,
                    fence=None,
                    last_outcome=None,
                )
                s.add(row)
            elif (
                row.state == state
                and row.run_at == spec.run_at
                and row.attempt == spec.attempt
                and row.appointment_start == spec.appointment_start
                and open_text(self.cipher, row.phone, PHONE_COLUMN, row.job_id) == spec.phone
            ):
                return JobState.of(row, self.cipher)  # idempotent: the same change told twice
            row.attempt = spec.attempt
            row.state = state
            row.run_at = spec.run_at
            row.version = (row.version or 0) + 1
            row.synced = False
            row.appointment_start = spec.appointment_start
            row.appointment_end = spec.appointment_end
            row.phone = seal(self.cipher, spec.phone, PHONE_COLUMN, row.job_id)
            row.updated_at = now
            s.flush()
            return JobState.of(row, self.cipher)

    def remove_if_scheduled(self, job_id: str, now: dt.datetime) -> JobState | None:
        with self.db.session() as s:
            row = s.get(ReminderJobRow, job_id, with_for_update=True)
            if row is None or row.state != SCHEDULED:
                return None
            row.state = REMOVED
            row.version += 1
            row.synced = False
            row.updated_at = now
            return JobState.of(row, self.cipher)

    def get(self, job_id: str) -> JobState | None:
        with self.db.session() as s:
            row = s.get(ReminderJobRow, job_id)
            return JobState.of(row, self.cipher) if row else None

    def unsynced(self, limit: int = 500) -> list[JobState]:
        with self.db.session() as s:
            rows = s.scalars(
                select(ReminderJobRow)
                .where(ReminderJobRow.synced.is_(False))
                .order_by(ReminderJobRow.updated_at)
                .limit(limit)
            )
            return [JobState.of(r, self.cipher) for r in rows]

    def mark_synced(self, job_id: str, version: int) -> bool:
        with self.db.session() as s:
            result = s.execute(
                update(ReminderJobRow)
                .where(ReminderJobRow.job_id == job_id, ReminderJobRow.version == version)
                .values(synced=True)
            )
            return bool(affected_rows(result))

    def mark_synced_many(self, applied: list[tuple[str, int]]) -> int:
        """One transaction for a drained batch; a row changed meanwhile stays unsynced."""
        if not applied:
            return 0
        done = 0
        with self.db.session() as s:
            for job_id, version in applied:
                result = s.execute(
                    update(ReminderJobRow)
                    .where(ReminderJobRow.job_id == job_id, ReminderJobRow.version == version)
                    .values(synced=True)
                )
                done += affected_rows(result) or 0
        return done

    def count_unsynced(self) -> int:
        with self.db.session() as s:
            return int(
                s.scalar(
                    select(func.count()).select_from(ReminderJobRow).where(ReminderJobRow.synced.is_(False))
                )
                or 0
            )

    # -- leadership fencing -----------------------------------------------------------------------

    def raise_fence(self, fence: int) -> None:
        """A new leader announces its fence; a deposed leader's later claims then fail."""
        with self.db.session() as s:
            row = s.get(ReminderFenceRow, 1, with_for_update=True)
            if row is None:
                s.add(ReminderFenceRow(id=1, fence=fence))
            elif row.fence < fence:
                row.fence = fence
            else:  # equal only after Redis lost its counter: another node may hold the same number
                raise FencedOut(f"fence {fence} <= {row.fence}")

    @staticmethod
    def _check_fence(s: Session, fence: int) -> None:
        # A write first: it takes SQLite's write lock / the PostgreSQL row lock for the whole claim.
        result = s.execute(
            update(ReminderFenceRow)
            .where(ReminderFenceRow.id == 1, ReminderFenceRow.fence == fence)
            .values(fence=fence)
        )
        if not affected_rows(result):
            raise FencedOut(f"fence {fence} is not current")

    # -- claims and attempts (the leader only) ----------------------------------------------------

    def claim(self, job_id: str, now: dt.datetime, fence: int) -> JobState | None:
        """Atomically take a due job: scheduled -> queued. None: not due, changed, or taken already."""
        try:
            with self.db.session() as s:
                self._check_fence(s, fence)
                result = s.execute(
                    update(ReminderJobRow)
                    .where(
                        ReminderJobRow.job_id == job_id,
                        ReminderJobRow.state == SCHEDULED,
                        ReminderJobRow.run_at <= now,
                    )
                    .values(
                        state=QUEUED,
                        fence=fence,
                        synced=False,
                        version=ReminderJobRow.version + 1,
                        updated_at=now,
                    )
                )
                if not affected_rows(result):
                    return None
                row = s.get(ReminderJobRow, job_id)
                assert row is not None
                return JobState.of(row, self.cipher)
        except FencedOut:
            return None

    def release(self, job: JobState, now: dt.datetime) -> bool:
        """Give back a claimed job (e.g. leadership lost before dialling): queued -> scheduled."""
        with self.db.session() as s:
            result = s.execute(
                update(ReminderJobRow)
                .where(
                    ReminderJobRow.job_id == job.job_id,
                    ReminderJobRow.version == job.version,
                    ReminderJobRow.state == QUEUED,
                )
                .values(state=SCHEDULED, synced=False, version=ReminderJobRow.version + 1, updated_at=now)
            )
            return bool(affected_rows(result))

    def start_attempt(self, job: JobState, fence: int, node: str, now: dt.datetime) -> int | None:
        """The exactly-once point: records the attempt (unique per job version) before dialling."""
        try:
            with self.db.session() as s:
                self._check_fence(s, fence)
                result = s.execute(
                    update(ReminderJobRow)
                    .where(
                        ReminderJobRow.job_id == job.job_id,
                        ReminderJobRow.version == job.version,
                        ReminderJobRow.state == QUEUED,
                    )
                    .values(state=CALLING, updated_at=now)
                )
                if not affected_rows(result):
                    return None
                attempt = ReminderAttemptRow(
                    job_id=job.job_id,
                    version=job.version,
                    appointment_id=job.appointment_id,
                    kind=job.kind,
                    attempt=job.attempt,
                    fence=fence,
                    node=node,
                    due_at=job.run_at or now,
                    started_at=now,
                    ended_at=None,
                    outcome=None,
                    details={},
                )
                s.add(attempt)
                s.flush()
                return attempt.id
        except (FencedOut, IntegrityError):
            return None

    def finish_attempt(
        self,
        attempt_id: int | None,
        job: JobState,
        outcome: str,
        details: dict[str, Any],
        now: dt.datetime,
        retry_at: dt.datetime | None,
    ) -> JobState | None:
        """Records the outcome; schedules the retry (same job id, next attempt) or closes the job.
        A job changed meanwhile (appointment moved during the call) keeps its new schedule."""
        with self.db.session() as s:
            attempt = s.get(ReminderAttemptRow, attempt_id, with_for_update=True) if attempt_id else None
            if attempt is not None:
                attempt.outcome = outcome
                attempt.details = seal_json(self.cipher, details, DETAILS_COLUMN, str(attempt.id))
                attempt.ended_at = now
            row = s.get(ReminderJobRow, job.job_id, with_for_update=True)
            if row is None:
                return None
            row.last_outcome = outcome
            if row.version != job.version or row.state not in (QUEUED, CALLING):
                return JobState.of(row, self.cipher)
            if retry_at is not None:
                row.state = SCHEDULED
                row.attempt = job.attempt + 1
                row.run_at = retry_at
            else:
                row.state = DONE
            row.version += 1
            row.synced = False
            row.updated_at = now
            s.flush()
            return JobState.of(row, self.cipher)

    def due_scheduled(self, before: dt.datetime, limit: int = 1000) -> list[JobState]:
        with self.db.session() as s:
            rows = s.scalars(
                select(ReminderJobRow)
                .where(ReminderJobRow.state == SCHEDULED, ReminderJobRow.run_at <= before)
                .order_by(ReminderJobRow.run_at)
                .limit(limit)
            )
            return [JobState.of(r, self.cipher) for r in rows]

    def orphans(self, fence: int) -> list[JobState]:
        """Jobs claimed or being called by an older leader (dead or deposed)."""
        with self.db.session() as s:
            rows = s.scalars(
                select(ReminderJobRow).where(
                    ReminderJobRow.state.in_((QUEUED, CALLING)), ReminderJobRow.fence < fence
                )
            )
            return [JobState.of(r, self.cipher) for r in rows]

    def open_attempt(self, job: JobState) -> AttemptRecord | None:
        with self.db.session() as s:
            row = s.scalar(
                select(ReminderAttemptRow).where(
                    ReminderAttemptRow.job_id == job.job_id, ReminderAttemptRow.version == job.version
                )
            )
            return AttemptRecord.of(row, self.cipher) if row else None

    def attempts(self, appointment_id: str | None = None) -> list[AttemptRecord]:
        with self.db.session() as s:
            query = select(ReminderAttemptRow).order_by(ReminderAttemptRow.id)
            if appointment_id is not None:
                query = query.where(ReminderAttemptRow.appointment_id == appointment_id)
            return [AttemptRecord.of(r, self.cipher) for r in s.scalars(query)]

    def jobs(self) -> list[JobState]:
        with self.db.session() as s:
            return [
                JobState.of(r, self.cipher)
                for r in s.scalars(select(ReminderJobRow).order_by(ReminderJobRow.job_id))
            ]


def _absent(spec: JobSpec) -> JobState:
    return JobState(
        spec.job_id,
        spec.appointment_id,
        spec.kind,
        spec.attempt,
        REMOVED,
        None,
        0,
        True,
        None,
        spec.appointment_start,
        spec.appointment_end,
        spec.phone,
        None,
    )


def current_fence(db: Database) -> int:
    with db.session() as s:
        row = s.get(ReminderFenceRow, 1)
        return int(row.fence) if row else 0
