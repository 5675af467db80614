"""From an agenda change to the jobs it implies (pure)."""

from __future__ import annotations

import datetime as dt

from standardiste.agenda.model import AgendaEvent, Appointment, AppointmentStatus
from standardiste.config import PracticeConfig
from standardiste.reminders.policy import CallWindows, follow_up_time, reminder_time
from standardiste.reminders.store import FOLLOW_UP, REMINDER, JobSpec

ACTIVE = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED})


def wants_follow_up(practice: PracticeConfig, appointment_type: str) -> bool:
    return any(t.id == appointment_type and t.follow_up_call for t in practice.appointment_types)


def _spec(kind: str, appointment: Appointment, run_at: dt.datetime | None) -> JobSpec:
    return JobSpec(
        kind=kind,
        appointment_id=appointment.id,
        run_at=run_at,
        appointment_start=appointment.start,
        appointment_end=appointment.end,
        phone=appointment.patient.phone,
    )


def plan(
    event: AgendaEvent,
    appointment: Appointment,
    practice: PracticeConfig,
    windows: CallWindows,
    now: dt.datetime,
) -> list[JobSpec]:
    """The jobs to put after `event`. A 'confirmed' appointment needs no reminder call any more
    (handled by the caller: only a job not yet being called is removed)."""
    active = event in ("booked", "moved") and appointment.status in ACTIVE
    reminder_at = reminder_time(appointment.start, now, windows) if active else None
    if event == "confirmed":
        specs: list[JobSpec] = []
    else:
        specs = [_spec(REMINDER, appointment, reminder_at)]
    if wants_follow_up(practice, appointment.appointment_type) or event == "cancelled":
        follow_at = follow_up_time(appointment.end, now, windows) if active else None
        specs.append(_spec(FOLLOW_UP, appointment, follow_at))
    return specs
