"""How reminders place calls: a Dialer turns a CallRequest into a CallResult (the call's outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from standardiste.agenda.model import Appointment
from standardiste.dialogue.messages import OutcomeKind

# Outcomes worth another try later (nobody spoke with the patient).
RETRYABLE = frozenset({OutcomeKind.NO_ANSWER, OutcomeKind.BUSY, OutcomeKind.FAILED})


@dataclass(frozen=True, slots=True)
class CallRequest:
    job_id: str
    appointment_id: str
    purpose: str  # "reminder" | "follow_up" (CallStarted.purpose)
    attempt: int
    phone: str | None
    appointment: Appointment | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    outcome: OutcomeKind
    details: dict[str, Any] = field(default_factory=dict)


class Dialer(Protocol):
    async def call(self, request: CallRequest) -> CallResult:
        """Places the call and returns once it is over. Must not raise for telephony failures:
        no answer, busy, unreachable are outcomes."""
        ...
