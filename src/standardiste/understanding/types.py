"""What the assistant understood of one caller utterance."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# Below this classifier confidence the intent is reported as OUT_OF_SCOPE: ask a clarifying question.
LOW_CONFIDENCE = 0.45


class Intent(StrEnum):
    BOOK_APPOINTMENT = "book_appointment"
    CANCEL_APPOINTMENT = "cancel_appointment"
    RESCHEDULE_APPOINTMENT = "reschedule_appointment"
    CONFIRM_APPOINTMENT = "confirm_appointment"
    ASK_HOURS = "ask_hours"
    ASK_ADDRESS_ACCESS = "ask_address_access"
    ASK_PARKING = "ask_parking"
    ASK_DOCUMENTS_TO_BRING = "ask_documents_to_bring"
    ASK_PRICE_PAYMENT = "ask_price_payment"
    PRESCRIPTION_RENEWAL = "prescription_renewal"
    MEDICAL_CERTIFICATE = "medical_certificate"
    SICK_LEAVE = "sick_leave"
    TEST_RESULTS = "test_results"
    SPEAK_TO_HUMAN = "speak_to_human"
    EMERGENCY = "emergency"
    AFFIRM = "affirm"
    DENY = "deny"
    GIVE_IDENTITY = "give_identity"
    OUT_OF_SCOPE = "out_of_scope"


class Urgency(StrEnum):
    URGENT = "urgent"
    SOON = "soon"
    NORMAL = "normal"


class EntityKind(StrEnum):
    DATE_TIME = "date_time"
    PRACTITIONER = "practitioner"
    PATIENT_NAME = "patient_name"
    BIRTH_DATE = "birth_date"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity found in the text. `value` is resolved: ISO 8601 for date_time and birth_date,
    E.164 for phone, the practitioner's id, "Last First" words for patient_name."""

    entity: EntityKind
    value: str
    start: int
    end: int
    # Extra resolution details: for date_time, e.g. {"grain": "day", "part_of_day": "morning",
    # "range_end": "...", "asap": true}.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Understanding:
    text: str
    intent: Intent
    confidence: float
    urgency: Urgency
    entities: tuple[Entity, ...] = ()
    # Set when the emergency rule layer fired: which rule (e.g. "chest_pain").
    # Never cleared by the classifier.
    emergency_rule: str | None = None
    # The classifier's best guesses, best first (kept even when `intent` became OUT_OF_SCOPE).
    alternatives: tuple[tuple[Intent, float], ...] = ()
    # The safety net's level (see understanding/urgency.py and docs/safety.md): "vital" (with
    # emergency_rule: dial 15 and a human at once), "same_day" (seen today: a human or a same-day slot),
    # "check" (a distress cue, a red flag only in a hypothesis, or the classifier alone: ONE question),
    # None (nothing heard). `red_flag` names the flag behind it; `who` whom the red flag is about.
    safety_level: str | None = None
    red_flag: str | None = None
    who: str | None = None

    @property
    def needs_emergency_confirmation(self) -> bool:
        """No rule fired but the classifier or a distress cue says emergency: ask ONE yes/no question."""
        if self.emergency_rule is not None or self.urgency == Urgency.URGENT:
            return False
        return self.intent == Intent.EMERGENCY or self.safety_level == "check"

    @property
    def same_day(self) -> bool:
        """A same-day red flag: the caller must be seen today (a human, or a same-day slot)."""
        return self.safety_level == "same_day" and self.emergency_rule is None

    @property
    def low_confidence(self) -> bool:
        """Unsure what the caller wants: ask a clarifying question, never guess."""
        return self.intent == Intent.OUT_OF_SCOPE and self.confidence < LOW_CONFIDENCE

    def first(self, kind: EntityKind) -> Entity | None:
        return next((e for e in self.entities if e.entity == kind), None)

    def to_json(self) -> dict[str, Any]:
        return (
            {
                "text": self.text,
                "intent": str(self.intent),
                "confidence": round(self.confidence, 4),
                "urgency": str(self.urgency),
                "entities": [
                    {"entity": str(e.entity), "value": e.value, "start": e.start, "end": e.end}
                    | ({"extra": e.extra} if e.extra else {})
                    for e in self.entities
                ],
            }
            | ({"emergency_rule": self.emergency_rule} if self.emergency_rule else {})
            | (
                {"safety_level": self.safety_level, "red_flag": self.red_flag, "who": self.who}
                if self.safety_level
                else {}
            )
        )


class Understander(Protocol):
    """Turns a transcript into an Understanding. Pure, in-process, fast (p95 <= 10 ms)."""

    def parse(self, text: str, now: dt.datetime) -> Understanding: ...


__all__ = [
    "LOW_CONFIDENCE",
    "Entity",
    "EntityKind",
    "Intent",
    "Understander",
    "Understanding",
    "Urgency",
    "asdict",
]
