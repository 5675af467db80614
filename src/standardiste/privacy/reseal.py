"""Re-seals every sealed column of every store: after an upgrade, and to rotate the key.

Every clinical or identifying value is a FieldCipher ciphertext bound to "<table>.<column>:<row id>"
(AEAD associated data), and each blind index has its own key per "table.column". Resealing opens each
value with the old cipher (values still in clear, or sealed by older versions with looser bindings,
are read too), seals it again with the new cipher and recomputes the blind indexes. One transaction:
a failure leaves the database exactly as it was.

- `standardiste privacy reseal`: same key; seals columns written in clear by older versions (staff notes,
  request kinds and extras, outcome details, reminder numbers), rebinds transcripts to their call and
  moves blind indexes to per-column keys.
- `standardiste privacy rotate-key`: a new key (see privacy/keys.py for the order of the file moves).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from standardiste.agenda.names import normalise_phone
from standardiste.agenda.sealed import (
    BIRTH_DATE,
    CALLBACK,
    PHONE,
    index,
    is_sealed,
    is_sealed_json,
    open_json,
    open_text,
    seal,
    seal_json,
)
from standardiste.agenda.tables import PatientRow, RequestRow
from standardiste.calllog.store import CALLER_INDEX, TRANSCRIPT_CONTEXT, open_transcript
from standardiste.calllog.tables import CallRow
from standardiste.dashboard.audit import safe_detail, safe_target
from standardiste.dashboard.tables import AuditEntry
from standardiste.privacy.crypto import DecryptionError, FieldCipher
from standardiste.reminders.store import DETAILS_COLUMN, PHONE_COLUMN
from standardiste.reminders.tables import ReminderAttemptRow, ReminderJobRow
from standardiste.storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class ResealReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows resealed
    failed: list[str] = field(default_factory=list)  # "table id: reason" (nothing was written then)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


class _Failed(Exception):
    pass


def reseal(db: Database, old: FieldCipher, new: FieldCipher) -> ResealReport:
    """Opens everything with `old`, seals it with `new` (the same cipher to reseal in place).

    All or nothing: a value that does not open (wrong key) fails the whole run and writes nothing."""
    report = ResealReport()
    try:
        with db.session() as s:
            for name, work in _TABLES:
                report.rows[name] = work(s, old, new, report)
            if report.failed:
                raise _Failed()
    except _Failed:
        report.rows = {}
    return report


def _text(
    _s: Session, row: Any, column: str, table: str, row_id: str, old: FieldCipher, new: FieldCipher
) -> str | None:
    value = open_text(old, getattr(row, column), f"{table}.{column}", row_id)
    setattr(row, column, seal(new, value, f"{table}.{column}", row_id))
    return value


def _json(row: Any, column: str, table: str, row_id: str, old: FieldCipher, new: FieldCipher) -> Any:
    value = open_json(old, getattr(row, column), f"{table}.{column}", row_id)
    setattr(row, column, seal_json(new, value, f"{table}.{column}", row_id))
    return value


def _guard(report: ResealReport, table: str, row_id: str, work: Callable[[], None]) -> int:
    try:
        work()
        return 1
    except (DecryptionError, ValueError) as err:
        report.failed.append(f"{table} {row_id}: {err}")
        return 0


def _patients(s: Session, old: FieldCipher, new: FieldCipher, report: ResealReport) -> int:
    done = 0
    for row in s.scalars(select(PatientRow)).all():

        def work(row: PatientRow = row) -> None:
            t = "agenda_patients"
            for column in ("last_name", "first_name"):
                _text(s, row, column, t, row.id, old, new)
            if row.civility is not None:
                _text(s, row, "civility", t, row.id, old, new)
            born = dt.date.fromisoformat(_text(s, row, "birth_date", t, row.id, old, new) or "")
            phone = open_text(old, row.phone, f"{t}.phone", row.id)
            e164 = normalise_phone(phone) if phone else None
            row.phone = seal(new, e164 or phone, f"{t}.phone", row.id)
            row.birth_index = index(new, born, BIRTH_DATE)
            row.phone_index = index(new, e164, PHONE)

        done += _guard(report, "agenda_patients", row.id, work)
    return done


def _requests(s: Session, old: FieldCipher, new: FieldCipher, report: ResealReport) -> int:
    done = 0
    for row in s.scalars(select(RequestRow)).all():

        def work(row: RequestRow = row) -> None:
            t = "agenda_requests"
            for column in ("caller_name", "details", "kind", "notes"):
                _text(s, row, column, t, row.id, old, new)
            born = _text(s, row, "birth_date", t, row.id, old, new)
            if born:
                dt.date.fromisoformat(born)
            callback = _text(s, row, "callback_number", t, row.id, old, new)
            row.callback_index = index(new, normalise_phone(callback) if callback else None, CALLBACK)
            _json(row, "extra", t, row.id, old, new)

        done += _guard(report, "agenda_requests", row.id, work)
    return done


def _calls(s: Session, old: FieldCipher, new: FieldCipher, report: ResealReport) -> int:
    done = 0
    for row in s.scalars(select(CallRow)).all():

        def work(row: CallRow = row) -> None:
            t = "calllog_calls"
            caller = _text(s, row, "caller_id", t, row.id, old, new)
            e164 = normalise_phone(caller) if caller else None
            row.caller_index = new.blind_index(e164, CALLER_INDEX) if e164 else None
            if row.transcript:
                clear = (
                    open_transcript(old, row.transcript, row.id)
                    if row.transcript_encrypted
                    else row.transcript
                )
                row.transcript = new.encrypt(clear, f"{TRANSCRIPT_CONTEXT}:{row.id}")
                row.transcript_encrypted = 1
            for column in ("path", "actions", "outcome_details"):
                _json(row, column, t, row.id, old, new)

        done += _guard(report, "calllog_calls", row.id, work)
    return done


def _reminders(s: Session, old: FieldCipher, new: FieldCipher, report: ResealReport) -> int:
    done = 0
    for job in s.scalars(select(ReminderJobRow)).all():

        def work_job(job: ReminderJobRow = job) -> None:
            job.phone = seal(
                new, open_text(old, job.phone, PHONE_COLUMN, job.job_id), PHONE_COLUMN, job.job_id
            )

        done += _guard(report, "reminder_jobs", job.job_id, work_job)
    for attempt in s.scalars(select(ReminderAttemptRow)).all():

        def work_attempt(a: ReminderAttemptRow = attempt) -> None:
            details = open_json(old, a.details, DETAILS_COLUMN, str(a.id))
            a.details = seal_json(new, details or {}, DETAILS_COLUMN, str(a.id))

        done += _guard(report, "reminder_attempts", str(attempt.id), work_attempt)
    return done


def _audit(s: Session, old: FieldCipher, new: FieldCipher, report: ResealReport) -> int:
    """Entries written before the audit log stopped copying note text and search terms: scrubbed."""
    done = 0
    for entry in s.scalars(select(AuditEntry)).all():
        target, detail = safe_target(entry.target), safe_detail(entry.detail)
        if (target, detail) != (entry.target, entry.detail):
            entry.target, entry.detail = target, detail
            done += 1
    return done


_TABLES: list[tuple[str, Callable[[Session, FieldCipher, FieldCipher, ResealReport], int]]] = [
    ("agenda_patients", _patients),
    ("agenda_requests", _requests),
    ("calllog_calls", _calls),
    ("reminders", _reminders),
    ("audit_log", _audit),
]


def clear_values_left(db: Database) -> list[str]:
    """ "table id column" for every value still in clear in a sealed column (for `privacy check`)."""
    out: list[str] = []
    with db.session() as s:
        for row in s.scalars(select(RequestRow)).all():
            for column in ("caller_name", "details", "kind", "notes"):
                if getattr(row, column) and not is_sealed(getattr(row, column)):
                    out.append(f"agenda_requests {row.id} {column}")
            if row.extra and not is_sealed_json(row.extra):
                out.append(f"agenda_requests {row.id} extra")
        for call in s.scalars(select(CallRow)).all():
            if call.outcome_details and not is_sealed_json(call.outcome_details):
                out.append(f"calllog_calls {call.id} outcome_details")
        for job in s.scalars(select(ReminderJobRow)).all():
            if job.phone and not is_sealed(job.phone):
                out.append(f"reminder_jobs {job.job_id} phone")
    return out


def scrub_free_space(db: Database) -> None:
    """SQLite keeps old page images (the clear values before a reseal, erased rows) in free pages and in
    the write-ahead log: rewrite the file and empty the log. PostgreSQL: VACUUM is the DBA's job."""
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def needs_reseal(db: Database, cipher: FieldCipher) -> bool:
    """Whether data written by an older version is there: blind indexes under the old shared key, or
    columns it wrote in clear. A few one-row queries; False when the key opens nothing (check_key says so)."""
    with db.session() as s:
        try:
            patient = s.scalars(
                select(PatientRow).where(PatientRow.phone_index.is_not(None)).limit(1)
            ).first()
            if patient is not None:
                phone = open_text(cipher, patient.phone, "agenda_patients.phone", patient.id)
                if index(cipher, phone, PHONE) != patient.phone_index:
                    return True
            call = s.scalars(select(CallRow).where(CallRow.caller_index.is_not(None)).limit(1)).first()
            if call is not None:
                caller = normalise_phone(
                    open_text(cipher, call.caller_id, "calllog_calls.caller_id", call.id)
                )
                if caller and cipher.blind_index(caller, CALLER_INDEX) != call.caller_index:
                    return True
        except DecryptionError:
            return False
        clear_kind = s.scalars(
            select(RequestRow.id).where(~RequestRow.kind.startswith("v1:")).limit(1)
        ).first()
        clear_phone = s.scalars(
            select(ReminderJobRow.job_id)
            .where(ReminderJobRow.phone.is_not(None), ~ReminderJobRow.phone.startswith("v1:"))
            .limit(1)
        ).first()
        oldest = s.scalars(
            select(CallRow.outcome_details)
            .where(CallRow.outcome_details.is_not(None))
            .order_by(CallRow.started_at)
            .limit(1)
        ).first()
    return (
        clear_kind is not None
        or clear_phone is not None
        or (oldest is not None and not is_sealed_json(oldest))
    )


def reseal_if_needed(db: Database, cipher: FieldCipher) -> ResealReport | None:
    """At start: data from an older version is resealed before the first call (lookups by phone would
    otherwise miss rows indexed under the old shared key)."""
    if not needs_reseal(db, cipher):
        return None
    report = reseal(db, cipher, cipher)
    if report.failed:
        log.error("reseal at start failed (%d values): run `standardiste privacy reseal`", len(report.failed))
    else:
        scrub_free_space(db)
        log.warning("data from an older version resealed at start: %s", report.rows)
    return report


__all__ = [
    "ResealReport",
    "clear_values_left",
    "needs_reseal",
    "reseal",
    "reseal_if_needed",
    "scrub_free_space",
]
