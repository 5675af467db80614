"""Shared helpers for the reminder tests (not a test module)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from standardiste.agenda.model import Appointment, PatientIdentity, Slot, Source
from standardiste.agenda.sql import SqlAgenda
from standardiste.dialogue.messages import OutcomeKind
from standardiste.reminders.dialer import CallRequest, CallResult

TZ = ZoneInfo("Europe/Paris")
# Tuesday 1 December 2026, 17:59:57: the J-1 18:00 reminder of a Wednesday appointment is 3 s away.
VIRTUAL_NOW = dt.datetime(2026, 12, 1, 17, 59, 57, tzinfo=TZ)
PATIENT = PatientIdentity("Durand", "Marie", dt.date(1980, 2, 3), "+33612345678")


def wednesday(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 2, hour, minute, tzinfo=TZ)


def book(
    agenda: SqlAgenda,
    start: dt.datetime,
    now: dt.datetime,
    practitioner: str = "martin",
    patient: PatientIdentity = PATIENT,
) -> Appointment:
    slot = Slot(practitioner, "consultation", start, start + dt.timedelta(minutes=20))
    return agenda.book(slot, patient, Source.PHONE, now)


class RecordingDialer:
    """A dialer double for the scheduling tests: they are about Redis, leases and the outbox, not
    telephony (test_reminders_asterisk places real calls). Records calls and their concurrency."""

    def __init__(
        self,
        outcome: OutcomeKind | Callable[[CallRequest], OutcomeKind] = OutcomeKind.CONFIRMED,
        duration_s: float = 0.0,
    ) -> None:
        self.outcome = outcome
        self.duration_s = duration_s
        self.calls: list[tuple[float, CallRequest]] = []
        self.active = 0
        self.max_active = 0

    async def call(self, request: CallRequest) -> CallResult:
        self.calls.append((time.monotonic(), request))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.duration_s:
                await asyncio.sleep(self.duration_s)
        finally:
            self.active -= 1
        outcome = self.outcome(request) if callable(self.outcome) else self.outcome
        return CallResult(outcome, {"double": True})

    def called(self, appointment_id: str) -> int:
        return sum(1 for _, r in self.calls if r.appointment_id == appointment_id)


async def wait_until(condition: Callable[[], bool], within_s: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()
