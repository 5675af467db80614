"""The embedded agenda's tables: patients, appointments and their history, holds, slot occupancy, requests.

All datetimes are stored as naive UTC (`UtcDateTime`) so that SQLite and PostgreSQL behave the same;
the agenda converts to the practice's timezone at its boundary.

Exclusivity is enforced by `agenda_slot_units`: one row per practitioner and 5-minute grid unit covered
by a booked appointment or a live hold; its primary key (practitioner_id, unit_start) makes two
overlapping bookings impossible whatever the isolation level or the backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from standardiste.storage.db import Base

UNIT_MINUTES = 5  # occupancy grid; every duration and opening time must be a multiple of it


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetime in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        # defensive: raw SQLite text
        stored: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return stored.replace(tzinfo=dt.UTC)


class SealedText(TypeDecorator[str]):
    """An identity column: a FieldCipher ciphertext (see agenda/sealed.py), or clear text in old rows.

    A date given directly (tools, tests writing clear rows) is stored as its ISO text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, dt.date):
            return value.isoformat()
        text: str | None = value  # text already (clear or sealed), or None
        return text

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)


class PatientRow(Base):
    __tablename__ = "agenda_patients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Identity columns are encrypted (agenda_0002); search goes through the blind indexes below.
    last_name: Mapped[str] = mapped_column(SealedText)
    first_name: Mapped[str] = mapped_column(SealedText)
    birth_date: Mapped[str] = mapped_column(SealedText)
    phone: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    civility: Mapped[str | None] = mapped_column(SealedText, nullable=True)  # agenda_0004; sealed
    # Keyed HMAC of the ISO birth date and of the E.164 phone; NULL for rows written in clear.
    birth_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AppointmentRow(Base):
    __tablename__ = "agenda_appointments"
    __table_args__ = (
        Index("ix_agenda_appointments_practitioner_start", "practitioner_id", "start"),
        Index("ix_agenda_appointments_patient_start", "patient_id", "start"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(ForeignKey("agenda_patients.id"))
    appointment_type: Mapped[str] = mapped_column(String(64))
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy declarative


class AppointmentHistoryRow(Base):
    __tablename__ = "agenda_appointment_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    appointment_id: Mapped[str] = mapped_column(
        ForeignKey("agenda_appointments.id", ondelete="CASCADE", name="fk_agenda_history_appointment"),
        index=True,
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))  # the source (phone, staff...) or a staff username
    action: Mapped[str] = mapped_column(String(16))  # booked, moved, cancelled, confirmed, status
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class HoldRow(Base):
    __tablename__ = "agenda_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(64))
    appointment_type: Mapped[str] = mapped_column(String(64))
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    holder: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class SlotUnitRow(Base):
    __tablename__ = "agenda_slot_units"
    __table_args__ = (CheckConstraint("(appointment_id IS NULL) <> (hold_id IS NULL)", name="one_owner"),)

    practitioner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_start: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    appointment_id: Mapped[str | None] = mapped_column(
        ForeignKey("agenda_appointments.id", ondelete="CASCADE"), nullable=True, index=True
    )
    hold_id: Mapped[str | None] = mapped_column(
        ForeignKey("agenda_holds.id", ondelete="CASCADE"), nullable=True, index=True
    )
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RequestRow(Base):
    __tablename__ = "agenda_requests"
    __table_args__ = (Index("ix_agenda_requests_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # What the request is about (a RequestKind), sealed like the notes and extras (agenda_0003).
    kind: Mapped[str] = mapped_column(SealedText)
    # Caller identity and own words: encrypted (agenda_0002).
    caller_name: Mapped[str] = mapped_column(SealedText)
    birth_date: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    callback_number: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    callback_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    details: Mapped[str] = mapped_column(SealedText)
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notes: Mapped[str] = mapped_column(SealedText, default="")  # staff notes, sealed
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    call_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    practitioner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"sealed": ...} with a key
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
