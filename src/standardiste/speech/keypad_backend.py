"""The recogniser used when nothing on this server understands spoken French: callers use the keypad."""

from __future__ import annotations

from collections.abc import Sequence

from standardiste.speech.types import SAMPLE_RATE, Transcript


class KeypadOnlyStream:
    """Accepts audio and never hears anything: every turn ends with an empty final transcript."""

    def __init__(self) -> None:
        self._closed = False

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        return None

    async def accept(self, pcm: bytes) -> Transcript | None:
        if self._closed:
            raise RuntimeError("recognition stream is closed")
        return None

    async def finish(self) -> Transcript:
        return Transcript(text="", final=True, confidence=None)

    async def close(self) -> None:
        self._closed = True


class KeypadOnlyRecognizer:
    name = "keypad"
    open_vocabulary = False
    understands_french = False

    def __init__(self, reason: str = "") -> None:
        self.reason = reason

    def describe(self) -> str:
        text = (
            "Aucune reconnaissance vocale du français n'est installée : les appelants utilisent "
            "le clavier de leur téléphone (touche 1 : horaires, touche 0 : le secrétariat)."
        )
        return f"{text} {self.reason}".strip()

    async def stream(self, sample_rate: int = SAMPLE_RATE) -> KeypadOnlyStream:
        return KeypadOnlyStream()
