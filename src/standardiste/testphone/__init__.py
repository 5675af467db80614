"""SIP test phones (pjsua2) and audio checks, for tests, benchmarks and `standardiste call`."""

from standardiste.testphone.audio import Match, find_reference, first_sound, sound_segments
from standardiste.testphone.phone import (
    ANSWER_NOW,
    BUSY,
    NEVER_ANSWER,
    AnswerMode,
    AnswerPolicy,
    CallState,
    PhoneCall,
    PhoneError,
    TestPhone,
    read_wav,
    shutdown_phones,
    write_wav,
)

__all__ = [
    "ANSWER_NOW",
    "BUSY",
    "NEVER_ANSWER",
    "AnswerMode",
    "AnswerPolicy",
    "CallState",
    "Match",
    "PhoneCall",
    "PhoneError",
    "TestPhone",
    "find_reference",
    "first_sound",
    "read_wav",
    "shutdown_phones",
    "sound_segments",
    "write_wav",
]
