"""Read-only lookups for the IT integration routes (FastAGI `caller`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from standardiste.agenda.model import AppointmentStatus
from standardiste.agenda.sealed import patients_with_phone
from standardiste.agenda.tables import AppointmentRow, PatientRow
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

ACTIVE = (AppointmentStatus.BOOKED.value, AppointmentStatus.CONFIRMED.value)


def caller_lookup(
    db: Database, phone_e164: str, now: dt.datetime, cipher: FieldCipher | None = None
) -> tuple[bool, dt.datetime | None]:
    """Is this number a known patient's, and when is that patient's next appointment?

    Phones are encrypted at rest: the lookup goes through their blind index, nothing is decrypted."""
    with db.session() as s:
        patient_ids = list(s.scalars(select(PatientRow.id).where(patients_with_phone(cipher, phone_e164))))
        if not patient_ids:
            return False, None
        start = s.scalar(
            select(AppointmentRow.start)
            .where(
                AppointmentRow.patient_id.in_(patient_ids),
                AppointmentRow.start > now,
                AppointmentRow.status.in_(ACTIVE),
            )
            .order_by(AppointmentRow.start)
            .limit(1)
        )
        return True, start
