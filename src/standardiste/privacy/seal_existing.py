"""Encrypts identities written in clear before encryption at rest (agenda_0002 / calllog_0002).

Alembic cannot do it: the key lives in the install's secrets.toml. Run once after upgrading
(`standardiste privacy encrypt-existing`); running it again changes nothing. Rows already sealed are
left alone; a row that fails (say, a clear birth date that is not a date) is reported, not half-written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from standardiste.agenda.inbox import RequestIdentity, seal_request
from standardiste.agenda.names import normalise_phone
from standardiste.agenda.sealed import BIRTH_DATE, index, is_sealed, seal, set_patient_phone
from standardiste.agenda.tables import PatientRow, RequestRow
from standardiste.calllog.store import CALLER_CONTEXT, TRANSCRIPT_CONTEXT
from standardiste.calllog.tables import CallRow
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class SealReport:
    patients: int = 0
    requests: int = 0
    calls: int = 0
    failed: list[str] = field(default_factory=list)  # "table id: reason"


def seal_existing(db: Database, cipher: FieldCipher) -> SealReport:
    report = SealReport()
    report.patients = _patients(db, cipher, report)
    report.requests = _requests(db, cipher, report)
    report.calls = _calls(db, cipher)
    return report


def _patients(db: Database, cipher: FieldCipher, report: SealReport) -> int:
    done = 0
    with db.session() as s:
        rows = s.scalars(select(PatientRow).where(PatientRow.birth_index.is_(None))).all()
        for row in rows:
            if is_sealed(row.last_name):
                continue
            try:
                born = dt.date.fromisoformat(row.birth_date)
            except ValueError:
                report.failed.append(f"agenda_patients {row.id}: date de naissance illisible")
                continue
            row.last_name = seal(cipher, row.last_name, "agenda_patients.last_name", row.id) or ""
            row.first_name = seal(cipher, row.first_name, "agenda_patients.first_name", row.id) or ""
            row.birth_date = seal(cipher, born.isoformat(), "agenda_patients.birth_date", row.id) or ""
            row.birth_index = index(cipher, born, BIRTH_DATE)
            set_patient_phone(row, normalise_phone(row.phone), cipher)
            done += 1
    return done


def _requests(db: Database, cipher: FieldCipher, report: SealReport) -> int:
    done = 0
    with db.session() as s:
        for row in s.scalars(select(RequestRow)).all():
            if is_sealed(row.caller_name) or is_sealed(row.details):
                continue
            try:
                born = dt.date.fromisoformat(row.birth_date) if row.birth_date else None
            except ValueError:
                report.failed.append(f"agenda_requests {row.id}: date de naissance illisible")
                continue
            clear = RequestIdentity(row.caller_name, born, normalise_phone(row.callback_number), row.details)
            seal_request(row, cipher, clear)
            done += 1
    return done


def _calls(db: Database, cipher: FieldCipher) -> int:
    done = 0
    with db.session() as s:
        for row in s.scalars(select(CallRow)).all():
            changed = False
            if row.caller_id is not None and not is_sealed(row.caller_id):
                e164 = normalise_phone(row.caller_id)
                row.caller_index = cipher.blind_index(e164, "phone") if e164 else None
                row.caller_id = cipher.encrypt(row.caller_id, f"{CALLER_CONTEXT}:{row.id}")
                changed = True
            if row.transcript and not row.transcript_encrypted:
                row.transcript = cipher.encrypt(row.transcript, TRANSCRIPT_CONTEXT)
                row.transcript_encrypted = 1
                changed = True
            for column in ("path", "actions"):
                value = getattr(row, column)
                if isinstance(value, list):  # clear JSON (sealed ones are {"sealed": ...})
                    text = json.dumps(value, ensure_ascii=False)
                    setattr(row, column, {"sealed": cipher.encrypt(text, f"calllog_calls.{column}:{row.id}")})
                    changed = True
            done += changed
    return done
