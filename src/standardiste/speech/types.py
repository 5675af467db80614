"""Interfaces of the speech parts: recognisers (audio in, text out) and synthesisers (text in, audio out).

Audio everywhere inside the controller is 16 kHz, mono, signed 16-bit little-endian
("slin16"), in 20 ms frames of 640 bytes, unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 640


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    final: bool
    confidence: float | None = None
    # What the open recogniser heard, when `text` is another recogniser's answer or a grammar's
    # (speech.arbitrate): the dialogue checks it for red flags first.
    open_text: str | None = None


class RecognitionStream(Protocol):
    """One caller turn (or a whole call) of streaming recognition. Never blocks the event loop."""

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        """Restrict to these phrases (None: open vocabulary, where the backend has one)."""
        ...

    async def accept(self, pcm: bytes) -> Transcript | None:
        """Feed audio; returns a partial (final=False) or a final result at an endpoint, else None."""
        ...

    async def finish(self) -> Transcript:
        """End of turn: flush and return the final result; the stream is ready for the next turn."""
        ...

    async def close(self) -> None: ...


class Recognizer(Protocol):
    """A loaded recogniser shared by all calls of a process (one model, one stream per call)."""

    name: str  # e.g. "vosk:vosk-model-small-fr-0.22", "sphinx-fr-8k-grammar", "keypad"
    # True when it understands open French speech; False: grammars only (or nothing).
    open_vocabulary: bool
    understands_french: bool

    def describe(self) -> str:
        """One French sentence for logs and `doctor`: what callers can do with this recogniser."""
        ...

    async def stream(self, sample_rate: int = SAMPLE_RATE) -> RecognitionStream: ...


class Synthesizer(Protocol):
    async def synthesize(self, text: str) -> bytes:
        """French speech as slin16 (16 kHz mono s16le); cached prompts come back at once."""
        ...
