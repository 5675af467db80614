"""What flows into a conversation (caller events) and out of it (actions).

The conversation is pure: it never touches Asterisk, audio or the network. The voice
session (telephony) and the text channel (simulate) both translate their world into
these events and carry out the actions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol


class Expect(StrEnum):
    """What kind of answer a question expects; drives recogniser grammars and keypad entry."""

    OPEN = "open"  # free speech: "Que puis-je faire pour vous ?"
    YES_NO = "yes_no"
    CHOICE = "choice"  # pick one of a few numbered options
    DATE_TIME = "date_time"
    DAY = "day"
    TIME = "time"
    PRACTITIONER = "practitioner"
    NAME = "name"
    BIRTH_DATE = "birth_date"
    PHONE = "phone"
    DIGITS = "digits"
    SATISFACTION = "satisfaction"  # 1 to 5


@dataclass(frozen=True, slots=True)
class Expectation:
    kind: Expect = Expect.OPEN
    # Phrases the recogniser may restrict itself to (grammar hint); empty: open vocabulary.
    phrases: tuple[str, ...] = ()
    # Keypad entry: how many digits make a complete answer ('#' ends earlier). 1: each key is an answer.
    digits: int = 1
    # Seconds of silence before the session reports NoInput.
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    now: dt.datetime
    caller_id: str | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    # Outbound calls: why we call ("reminder", "follow_up") and about which appointment.
    purpose: str | None = None
    appointment_id: str | None = None
    # The recogniser only understands grammars/keypad (e.g. no French model): prompts say so.
    speech_available: bool = True


@dataclass(frozen=True, slots=True)
class Heard:
    text: str
    now: dt.datetime
    confidence: float | None = None
    # The open recogniser's own words when `text` is a grammar's answer (speech.arbitrate); the
    # dialogue reads them first for red flags, at any question.
    open_text: str | None = None
    # The words came from a speech recogniser (the telephony session), not typed text: the dialogue
    # also listens for words that only SOUND like a red flag (understanding/soundalike.py).
    from_recognizer: bool = False


@dataclass(frozen=True, slots=True)
class Keypad:
    digits: str  # one key, or a multi-digit entry (without the terminating '#')
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class NoInput:
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """Nobody took the transfer (reception busy or not answering)."""

    now: dt.datetime
    reason: str = "no_answer"


CallerEvent = CallStarted | Heard | Keypad | NoInput | CallerHungUp | TransferFailed


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    # None: nothing is expected (a statement); the session goes on to the next action.
    expect: Expectation | None = None
    interruptible: bool = True  # barge-in allowed


@dataclass(frozen=True, slots=True)
class Transfer:
    target: str = "reception"
    priority: bool = False  # emergencies jump the queue
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str = ""


Action = Say | Transfer | Hangup


class OutcomeKind(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    CONFIRMED = "confirmed"
    REQUEST_FILED = "request_filed"
    ANSWERED = "answered"
    TRANSFERRED = "transferred"
    EMERGENCY_TRANSFERRED = "emergency_transferred"
    ABANDONED = "abandoned"
    # Outbound calls
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    WRONG_PERSON = "wrong_person"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), **self.details}


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: Literal["caller", "assistant"]
    text: str


class Conversation(Protocol):
    """One call's dialogue. `handle` is synchronous and may touch the agenda (run it off the event loop)."""

    def handle(self, event: CallerEvent) -> list[Action]: ...

    @property
    def outcome(self) -> Outcome | None: ...

    @property
    def transcript(self) -> list[Utterance]: ...
