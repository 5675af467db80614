"""What a conversation may use: the practice's settings (a snapshot taken at call start),
understanding, the agenda and the inbox. Built once per call by whoever runs the call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from standardiste.agenda.model import Agenda, Inbox
from standardiste.clock import Clock, SystemClock
from standardiste.config import PracticeConfig
from standardiste.understanding.types import Understander


@dataclass(frozen=True, slots=True)
class ConversationServices:
    practice: PracticeConfig
    understander: Understander
    agenda: Agenda
    inbox: Inbox
    # False when the active recogniser cannot understand open French (keypad or grammars only).
    open_speech: bool = True
    # Whether a human can take a transfer right now (AMI watch); None: unknown, try anyway.
    reception_available: bool | None = None
    # privacy.record_audio: the call is recorded, so the caller is told first, before anything else.
    recording_notice: bool = False
    # The server's clock (pinned in tests); the dialogue otherwise goes by its events' times.
    clock: Clock = field(default_factory=SystemClock)
    # The caller's spoken name as kept by the session (WAV bytes; None before it is said, or on a text
    # channel): decoded again against the candidates' names when they are known (identity/voice.py).
    spoken_name: Callable[[], bytes | None] | None = None
    # The kept spoken name read again by the open recogniser, keeping what its confidence gate dropped
    # (identity/voice.py open_reader): only when the name turn came back empty; looked up, never filed.
    name_reader: Callable[[bytes], str] | None = None
