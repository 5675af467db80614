"""The practice's patients a heard name is matched against: those sharing the caller's number and/or
the birth date given, never the whole file.

Identities are sealed at rest (agenda/sealed.py): phone and birth date are found through their blind
indexes and only those few rows are decrypted. The embedded SQL agenda and the external agendas (CalDAV,
FHIR: agenda/external.py keeps their patients in the same tables) expose `db` and `cipher`; any other
agenda answers through the Agenda interface's `find_patient`, which needs a name and a birth date.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import select

from standardiste.agenda.model import Agenda, Patient, PatientIdentity
from standardiste.agenda.names import normalise_phone
from standardiste.agenda.sealed import patient_of, patients_born, patients_with_phone
from standardiste.agenda.tables import PatientRow
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

# A number shared by more patients than this (a care home, a switchboard) does not narrow anything.
MAX_PER_PHONE = 12


class PatientDirectory(Protocol):
    def candidates(
        self, phone: str | None, birth_date: dt.date | None, heard: tuple[str, str] | None = None
    ) -> list[Patient]:
        """Patients with this phone (E.164) or born that day; `heard` (last, first) helps agendas that
        can only look a patient up by name and birth date."""
        ...


class SqlPatientDirectory:
    def __init__(self, db: Database, cipher: FieldCipher | None) -> None:
        self.db = db
        self.cipher = cipher

    def candidates(
        self, phone: str | None, birth_date: dt.date | None, heard: tuple[str, str] | None = None
    ) -> list[Patient]:
        phone = normalise_phone(phone)
        if phone is None and birth_date is None:
            return []
        with self.db.sessions() as session:
            rows: dict[str, PatientRow] = {}
            if phone is not None:
                by_phone = session.scalars(
                    select(PatientRow).where(patients_with_phone(self.cipher, phone)).limit(MAX_PER_PHONE + 1)
                ).all()
                if len(by_phone) <= MAX_PER_PHONE:
                    rows.update((r.id, r) for r in by_phone)
            if birth_date is not None:
                where = patients_born(self.cipher, birth_date)
                rows.update((r.id, r) for r in session.scalars(select(PatientRow).where(where)).all())
            return [patient_of(row, self.cipher) for row in rows.values()]


class LookupDirectory:
    """An agenda that only answers `find_patient`: the heard name and the birth date give one patient."""

    def __init__(self, agenda: Agenda) -> None:
        self.agenda = agenda

    def candidates(
        self, phone: str | None, birth_date: dt.date | None, heard: tuple[str, str] | None = None
    ) -> list[Patient]:
        if heard is None or birth_date is None or not heard[0] or not heard[1]:
            return []
        found = self.agenda.find_patient(
            PatientIdentity(heard[0], heard[1], birth_date, normalise_phone(phone))
        )
        return [found] if found is not None else []


def directory_for(agenda: Agenda) -> PatientDirectory:
    db, cipher = getattr(agenda, "db", None), getattr(agenda, "cipher", None)
    if isinstance(db, Database):
        return SqlPatientDirectory(db, cipher if isinstance(cipher, FieldCipher) else None)
    return LookupDirectory(agenda)
