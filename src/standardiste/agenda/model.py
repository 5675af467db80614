"""The agenda's domain types and the connector interface every agenda backend implements.

The embedded SQL agenda is one implementation; CalDAV (and later FHIR) are others.
Times are timezone-aware datetimes in the practice's timezone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol


class AgendaError(Exception):
    """Base of agenda errors; the message is safe to log, never to read to a caller."""


class SlotTaken(AgendaError):
    """Someone else booked (or holds) the slot first."""


class SlotUnavailable(AgendaError):
    """The slot is outside hours, closed, too soon, too far, or the wrong length."""


class NotFound(AgendaError):
    pass


class InvalidRequest(AgendaError):
    """Bad input: unknown practitioner or type, a date in the past, ..."""


class BookingLimitReached(AgendaError):
    """This phone number already booked practice.booking.max_per_phone_per_day times today."""


class PartOfDay(StrEnum):
    MORNING = "morning"  # le matin
    LATE_MORNING = "late_morning"  # en fin de matinée
    NOON = "noon"
    AFTERNOON = "afternoon"  # l'après-midi
    LATE_AFTERNOON = "late_afternoon"  # en fin d'après-midi
    EVENING = "evening"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Source(StrEnum):
    PHONE = "phone"
    REMINDER_CALL = "reminder_call"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class SlotQuery:
    """What the caller asked for. Every field is optional: empty means 'the earliest slots'."""

    practitioner_id: str | None = None  # None: any practitioner who performs the type
    appointment_type: str | None = None  # None: the practice's default type
    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None
    part_of_day: PartOfDay | None = None
    asap: bool = False
    limit: int = 3


@dataclass(frozen=True, slots=True)
class Slot:
    practitioner_id: str
    appointment_type: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    last_name: str
    first_name: str
    birth_date: dt.date
    phone: str | None = None  # E.164
    civility: str | None = None  # "Madame" / "Monsieur" from the practice's file; None: unknown


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    last_name: str
    first_name: str
    birth_date: dt.date
    phone: str | None = None
    civility: str | None = None  # "Madame" / "Monsieur" as on the file; None: unknown, not said


@dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    practitioner_id: str
    patient: Patient
    appointment_type: str
    start: dt.datetime
    end: dt.datetime
    status: AppointmentStatus
    source: Source


@dataclass(frozen=True, slots=True)
class Hold:
    """A slot offered to a caller, kept from others for a short while."""

    id: str
    slot: Slot
    expires_at: dt.datetime


class Agenda(Protocol):
    def find_slots(self, query: SlotQuery, now: dt.datetime) -> list[Slot]: ...

    def hold(self, slot: Slot, holder: str, now: dt.datetime) -> Hold:
        """Raises SlotTaken if booked or held by another holder."""
        ...

    def release(self, hold_id: str) -> None: ...

    def book(
        self,
        slot: Slot,
        patient: PatientIdentity,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        """Atomic and exclusive; raises SlotTaken, SlotUnavailable, InvalidRequest."""
        ...

    def find_patient(self, identity: PatientIdentity) -> Patient | None: ...

    def upcoming(self, patient_id: str, now: dt.datetime) -> list[Appointment]: ...

    def get(self, appointment_id: str) -> Appointment: ...

    def cancel(self, appointment_id: str, source: Source, now: dt.datetime) -> Appointment: ...

    def move(
        self,
        appointment_id: str,
        new_slot: Slot,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        """Atomic: the original slot is kept if the new one fails."""
        ...

    def confirm(self, appointment_id: str, source: Source, now: dt.datetime) -> Appointment: ...


class RequestKind(StrEnum):
    PRESCRIPTION_RENEWAL = "prescription_renewal"
    MEDICAL_CERTIFICATE = "medical_certificate"
    SICK_LEAVE = "sick_leave"
    TEST_RESULTS = "test_results"
    CALLBACK = "callback"
    FOLLOW_UP_CONCERN = "follow_up_concern"


@dataclass(frozen=True, slots=True)
class RequestDraft:
    kind: RequestKind
    caller_name: str
    birth_date: dt.date | None
    callback_number: str | None
    details: str  # the caller's own words
    urgent: bool = False
    call_id: str | None = None
    practitioner_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class RequestStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Inbox(Protocol):
    def file(self, draft: RequestDraft, now: dt.datetime) -> str:
        """Stores the request; returns its id."""
        ...


AgendaEvent = Literal["booked", "moved", "cancelled", "confirmed"]


class AgendaListener(Protocol):
    """Told after each committed change (e.g. reminders schedule or remove their job)."""

    def on_appointment_changed(self, event: AgendaEvent, appointment: Appointment) -> None: ...
