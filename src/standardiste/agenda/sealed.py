"""Caller identities at rest: sealing and opening the agenda's identity columns.

Each identifying value is a FieldCipher ciphertext whose authenticated context is "<table>.<column>:<row id>",
so a value copied to another column or row does not decrypt. Equality search (birth date, phone) goes through
blind indexes (keyed HMAC, see FieldCipher.blind_index); name matching runs on the few decrypted candidates.

Without a cipher (tests, tools that do not care) values are written in clear and their index is NULL. Rows
written in clear (before agenda_0002, or without a key) stay readable: `open_text` returns a value that is not
a ciphertext as it is, and lookups also match clear rows whose index is NULL.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from standardiste.agenda.model import Patient, PatientIdentity
from standardiste.agenda.names import normalise_phone
from standardiste.agenda.tables import PatientRow, RequestRow
from standardiste.privacy.crypto import DecryptionError, FieldCipher
from standardiste.storage.db import Database

__all__ = ["DecryptionError", "FieldCipher"]

_SEALED_PREFIX = "v1:"
# Blind indexes are keyed per "table.column" (FieldCipher.blind_index): never comparable across tables.
PHONE = "agenda_patients.phone"
BIRTH_DATE = "agenda_patients.birth_date"
CALLBACK = "agenda_requests.callback_number"


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(_SEALED_PREFIX)


def seal(cipher: FieldCipher | None, value: str | None, column: str, row_id: str) -> str | None:
    if cipher is None or value is None:
        return value
    return cipher.encrypt(value, f"{column}:{row_id}")


def open_text(cipher: FieldCipher | None, stored: str | None, column: str, row_id: str) -> str | None:
    """The clear value; DecryptionError (never garbage) for a wrong key, or a sealed value and no key."""
    if stored is None or not is_sealed(stored):
        return stored
    if cipher is None:
        raise DecryptionError(f"{column} est chiffré et aucune clé n'est donnée / encrypted and no key given")
    return cipher.decrypt(stored, f"{column}:{row_id}")


def seal_json(cipher: FieldCipher | None, value: Any, column: str, row_id: str) -> Any:
    """A JSON column's value sealed as {"sealed": ciphertext} (bound to its column and row)."""
    if cipher is None or value is None:
        return value
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return {"sealed": cipher.encrypt(text, f"{column}:{row_id}")}


def open_json(cipher: FieldCipher | None, stored: Any, column: str, row_id: str) -> Any:
    """The clear JSON value of a column written by seal_json (or in clear by older versions)."""
    if not is_sealed_json(stored):
        return stored
    if cipher is None:
        raise DecryptionError(f"{column} est chiffré et aucune clé n'est donnée / encrypted and no key given")
    return json.loads(cipher.decrypt(stored["sealed"], f"{column}:{row_id}") or "null")


def is_sealed_json(stored: Any) -> bool:
    return isinstance(stored, dict) and set(stored) == {"sealed"} and is_sealed(stored["sealed"])


def open_date(
    cipher: FieldCipher | None, stored: str | dt.date | None, column: str, row_id: str
) -> dt.date | None:
    if stored is None or isinstance(stored, dt.date):
        return stored
    text = open_text(cipher, stored, column, row_id)
    return dt.date.fromisoformat(text) if text else None


def index(cipher: FieldCipher | None, value: str | dt.date | None, purpose: str) -> str | None:
    """Blind index of a normalised value (ISO date, E.164 phone); None without a cipher."""
    if cipher is None or value is None:
        return None
    text = value.isoformat() if isinstance(value, dt.date) else value
    return cipher.blind_index(text, purpose)


def matches(
    cipher: FieldCipher | None,
    index_column: InstrumentedAttribute[str | None],
    clear_column: InstrumentedAttribute[str | None],
    value: str | dt.date,
    purpose: str,
) -> ColumnElement[bool]:
    """WHERE clause: the blind index matches, or (a row written in clear) the clear value does."""
    text = value.isoformat() if isinstance(value, dt.date) else value
    clear = and_(index_column.is_(None), clear_column == text)
    blind = index(cipher, text, purpose)
    return or_(index_column == blind, clear) if blind is not None else clear


# --- patients -------------------------------------------------------------------------------------


def new_patient_row(identity: PatientIdentity, now: dt.datetime, cipher: FieldCipher | None) -> PatientRow:
    row_id = uuid.uuid4().hex
    row = PatientRow(id=row_id, created_at=now, birth_index=index(cipher, identity.birth_date, BIRTH_DATE))
    row.last_name = seal(cipher, identity.last_name.strip(), "agenda_patients.last_name", row_id) or ""
    row.first_name = seal(cipher, identity.first_name.strip(), "agenda_patients.first_name", row_id) or ""
    row.birth_date = seal(cipher, identity.birth_date.isoformat(), "agenda_patients.birth_date", row_id) or ""
    set_patient_phone(row, normalise_phone(identity.phone), cipher)
    row.civility = seal(cipher, civility_of(identity.civility), "agenda_patients.civility", row_id)
    return row


def civility_of(text: str | None) -> str | None:
    """ "Madame" / "Monsieur" from what a file holds (Mme, M., F, female, Monsieur...); None otherwise."""
    folded = (text or "").strip().lower().rstrip(".")
    if folded in ("madame", "mme", "mme.", "f", "female", "femme", "mrs", "ms", "mlle", "mademoiselle"):
        return "Madame"
    if folded in ("monsieur", "m", "mr", "h", "homme", "male"):
        return "Monsieur"
    return None


def set_patient_phone(row: PatientRow, phone_e164: str | None, cipher: FieldCipher | None) -> None:
    row.phone = seal(cipher, phone_e164, "agenda_patients.phone", row.id)
    row.phone_index = index(cipher, phone_e164, PHONE)


def patient_of(row: PatientRow, cipher: FieldCipher | None) -> Patient:
    birth = open_date(cipher, row.birth_date, "agenda_patients.birth_date", row.id)
    assert birth is not None  # NOT NULL column
    return Patient(
        row.id,
        open_text(cipher, row.last_name, "agenda_patients.last_name", row.id) or "",
        open_text(cipher, row.first_name, "agenda_patients.first_name", row.id) or "",
        birth,
        open_text(cipher, row.phone, "agenda_patients.phone", row.id),
        open_text(cipher, row.civility, "agenda_patients.civility", row.id),
    )


def patients_born(cipher: FieldCipher | None, birth_date: dt.date) -> ColumnElement[bool]:
    return matches(cipher, PatientRow.birth_index, PatientRow.birth_date, birth_date, BIRTH_DATE)


def patients_with_phone(cipher: FieldCipher | None, phone_e164: str) -> ColumnElement[bool]:
    return matches(cipher, PatientRow.phone_index, PatientRow.phone, phone_e164, PHONE)


class WrongKey(DecryptionError):
    """The install's key does not open the identities already stored."""


def check_key(db: Database, cipher: FieldCipher) -> None:
    """Fails fast (at start) when the key cannot open stored identities: with a wrong key the blind
    indexes would silently match nothing and the agenda would create duplicate patients."""
    with db.sessions() as session:
        patient = session.scalars(
            select(PatientRow).where(PatientRow.birth_index.is_not(None)).limit(1)
        ).first()
        request = session.scalars(
            select(RequestRow).where(RequestRow.details.startswith(_SEALED_PREFIX)).limit(1)
        ).first()
        try:
            if patient is not None:
                open_text(cipher, patient.last_name, "agenda_patients.last_name", patient.id)
            if request is not None:
                open_text(cipher, request.details, "agenda_requests.details", request.id)
        except DecryptionError:
            raise WrongKey(
                "la clé de chiffrement (privacy.key_file) n'ouvre pas les identités enregistrées ; "
                "restaurer la clé d'origine (sauvegarde, ou « .new » après une rotation interrompue) / the "
                "encryption key does not open the stored identities: restore the original key file"
            ) from None
