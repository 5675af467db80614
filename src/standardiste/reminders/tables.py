"""The reminders' tables.

- `reminder_jobs`: the desired schedule, one row per (kind, appointment). It is the database
  outbox for Redis: every change bumps `version` and clears `synced`; a drainer copies unsynced
  rows into the APScheduler job store when Redis answers. Claims are conditional updates on it.
- `reminder_attempts`: one row per call placed; unique (job_id, version) so that a scheduled
  version is dialled at most once, whatever the number of controller processes.
- `reminder_fence`: the highest leader fence seen; a deposed leader's claims are refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from standardiste.storage.db import Base


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetime in Python, naive UTC in the database (same behaviour on SQLite and PostgreSQL)."""

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
        stored: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return stored.replace(tzinfo=dt.UTC)


class ReminderJobRow(Base):
    __tablename__ = "reminder_jobs"
    __table_args__ = (
        Index("ix_reminder_jobs_state_run_at", "state", "run_at"),
        Index("ix_reminder_jobs_synced", "synced"),
    )

    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "reminder" | "follow_up"
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # scheduled | removed | queued (claimed) | calling | done
    state: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    synced: Mapped[bool] = mapped_column(Boolean, default=False)
    fence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    appointment_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    appointment_end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The number to call: a FieldCipher ciphertext bound to this job (reminders_0002); clear without a key.
    phone: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ReminderAttemptRow(Base):
    __tablename__ = "reminder_attempts"
    __table_args__ = (UniqueConstraint("job_id", "version", name="uq_reminder_attempts_job_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    appointment_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    fence: Mapped[int] = mapped_column(BigInteger)
    node: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # confirmed | cancelled | rescheduled | no_answer | busy | voicemail | wrong_person | failed | ...
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReminderFenceRow(Base):
    __tablename__ = "reminder_fence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fence: Mapped[int] = mapped_column(BigInteger)
