"""Adaptive end of turn inside CallSession (telephony.endpointing), without Asterisk. No timed asserts: how
each turn ended (short window "complete" or the long window) is what the session records.

Doubles: the call leg (tests/unit/test_telephony_session.py's FakeLeg) and a turn detector that marks
voiced frames with a first byte of 1 and ends a turn on its long window by the clock, as the real one does
when the phone sends nothing in silence. The recognition stream's `peek` stands for the Whisper pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallStarted,
    Expect,
    Expectation,
    Hangup,
    Heard,
    Say,
)
from standardiste.speech.turn import EndOfTurn, SpeechStarted, TurnEvent
from standardiste.speech.types import Transcript
from standardiste.telephony.endpointing import EndpointSettings, SpeculationBudget
from standardiste.telephony.session import CallSession, SessionSettings
from tests.unit.test_telephony_session import VOICED, FakeLeg, FakeSynth, Script

LONG_S = 0.7
PADS: list[int] = []  # pad_grammar_tail calls of each _turn


class ClockDetector:
    """Voiced = first byte 1; the turn ends after LONG_S without voiced frames (checked on tick)."""

    def __init__(self) -> None:
        self.speech_started_at: float | None = None
        self.last_voiced_at: float | None = None

    def feed(self, frame: bytes, t: float) -> list[TurnEvent]:
        if frame[0] != 1:
            return self.tick(t)
        self.last_voiced_at = t
        if self.speech_started_at is None:
            self.speech_started_at = t
            return [SpeechStarted(at=t, detected_at=t)]
        return []

    def tick(self, now: float) -> list[TurnEvent]:
        if self.last_voiced_at is not None and now - (self.last_voiced_at + 0.02) >= LONG_S:
            return [self._end(now, "silence")]
        return []

    def end_turn(self, now: float) -> EndOfTurn | None:
        return self._end(now, "complete") if self.last_voiced_at is not None else None

    def _end(self, now: float, reason: str) -> EndOfTurn:
        assert self.speech_started_at is not None and self.last_voiced_at is not None
        event = EndOfTurn(now, reason, self.speech_started_at, self.last_voiced_at)  # type: ignore[arg-type]
        self.speech_started_at = self.last_voiced_at = None
        return event


class PeekStream:
    """The open recogniser: `peek` says what the turn so far holds; `finish` the whole turn."""

    def __init__(self, text: str, grammar_partial: str = "", peek_s: float = 0.05) -> None:
        self.text = text
        self.peeks = 0
        self.grammar_partial = grammar_partial  # the grammar recogniser's running hypothesis
        self.peek_s = peek_s
        self.pads = 0

    async def pad_grammar_tail(self) -> None:
        self.pads += 1

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        return None

    async def accept(self, pcm: bytes) -> Transcript | None:
        return None

    async def peek(self) -> Transcript:
        self.peeks += 1
        await asyncio.sleep(self.peek_s)  # a decode off the event loop
        return Transcript(self.text, False, 0.9)

    async def finish(self) -> Transcript:
        return Transcript(self.text, True, 0.9)

    async def close(self) -> None:
        return None


class PeekRecognizer:
    name = "fake-open"
    open_vocabulary = True
    understands_french = True

    def __init__(self, text: str, grammar_partial: str = "", peek_s: float = 0.05) -> None:
        self.stream_obj = PeekStream(text, grammar_partial, peek_s)

    def describe(self) -> str:
        return "faux"

    async def stream(self, sample_rate: int = 16000) -> PeekStream:
        return self.stream_obj


def yes_no_then_bye(event: CallerEvent) -> list[Action]:
    return ask_then_bye(Expect.YES_NO)(event)


def ask_then_bye(kind: Expect) -> Callable[[CallerEvent], list[Action]]:
    def handle(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted):
            return [Say("Votre réponse ?", expect=Expectation(kind, timeout_s=3.0))]
        return [Hangup("fin")]

    return handle


async def _turn(
    text: str,
    pauses: Sequence[float] = (),
    grammar_partial: str = "",
    peek_s: float = 0.05,
    kind: Expect = Expect.YES_NO,
) -> tuple[int, int, list[CallerEvent]]:
    """One spoken turn (10 voiced frames, then the given pauses each followed by 5 voiced frames, then
    nothing): turns ended early, speculative passes, the conversation's events."""
    leg = FakeLeg()
    script = Script(ask_then_bye(kind))
    recognizer = PeekRecognizer(text, grammar_partial, peek_s)
    session = CallSession(
        call_id="call-1",
        leg=leg,
        conversation=script,
        recognizer=recognizer,  # type: ignore[arg-type]
        synthesizer=FakeSynth(),
        turn_detector=ClockDetector(),
        settings=SessionSettings(
            gap_s=0.05,
            endpointing=EndpointSettings(short_ms=250, long_ms=int(LONG_S * 1000)),
            speculation_budget=SpeculationBudget(2),
        ),
    )
    task = asyncio.create_task(session.run())
    async with asyncio.timeout(3):
        while leg.on_frame is None or not leg.played:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    for _ in range(10):
        leg.send([VOICED])
        await asyncio.sleep(0.02)
    for pause in pauses:
        await asyncio.sleep(pause)
        for _ in range(5):
            leg.send([VOICED])
            await asyncio.sleep(0.02)
    async with asyncio.timeout(3):
        while not any(isinstance(e, Heard) for e in script.events):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    record = await asyncio.wait_for(task, 3)
    PADS.append(recognizer.stream_obj.pads)
    return record.turns_ended_early, recognizer.stream_obj.peeks, script.events


async def test_a_yes_ends_the_turn_on_the_short_window() -> None:
    early, peeks, events = await _turn("Oui.")
    assert early == 1 and peeks >= 1 and PADS[-1] == 1  # PocketSphinx hears the quiet tail again
    heard = next(e for e in events if isinstance(e, Heard))
    assert heard.text == "Oui."


async def test_a_complete_grammar_hypothesis_ends_the_turn_while_whisper_is_slow() -> None:
    # Whisper's pass takes 1 s (a loaded machine); PocketSphinx already heard "oui".
    early, _, _ = await _turn("Oui.", grammar_partial="oui", peek_s=1.0)
    assert early == 1


async def test_an_unfinished_answer_waits_for_the_long_window() -> None:
    early, peeks, _ = await _turn("Oui mais...")
    assert early == 0 and peeks >= 1 and PADS[-1] == 0


async def test_speech_resuming_after_a_pass_is_not_cut() -> None:
    # A pause of 0.2 s: a pass starts (0.3 s long), speech resumes before its verdict; then more speech:
    # one turn, ended on the short window only after the last words.
    early, peeks, events = await _turn("Oui.", pauses=[0.2], peek_s=0.3)
    assert len([e for e in events if isinstance(e, Heard)]) == 1
    assert peeks >= 1 and early == 1


async def test_a_phone_number_gets_one_late_pass_and_still_waits_for_the_long_window() -> None:
    # A phone number never ends early, but Whisper's pass runs inside the long window (late_pass_after_ms):
    # when the caller stays silent it is the final transcript, ready when the window ends.
    early, peeks, events = await _turn("06 12 34 56 78", kind=Expect.PHONE)
    assert early == 0 and peeks == 1
    assert any(isinstance(e, Heard) for e in events)


async def test_an_incomplete_grammar_hypothesis_gets_a_late_pass_that_can_end_the_turn() -> None:
    # PocketSphinx misheard ("en matin": no full time), Whisper's late pass holds the whole answer: the turn
    # ends then, before the long window.
    early, peeks, _ = await _turn("Onze heures quinze.", grammar_partial="en matin", kind=Expect.TIME)
    assert early == 1 and peeks == 1


class CountingEngine:
    """Stands for WhisperEngine (tested for real in tests/integration/test_whisper_recognition.py)."""

    def __init__(self) -> None:
        from standardiste.speech.whisper_backend import GateSettings

        self.gate = GateSettings()
        self.decodes = 0

    async def decode_async(self, pcm: bytes) -> object:
        from standardiste.speech.whisper_backend import Decoded

        self.decodes += 1
        return Decoded(f"{len(pcm)} octets", -0.1, 0.0, 3)


async def test_whisper_final_reuses_the_speculative_pass_when_only_silence_followed() -> None:
    import numpy as np

    from standardiste.speech.types import FRAME_BYTES
    from standardiste.speech.whisper_backend import WhisperStream

    engine = CountingEngine()
    stream = WhisperStream(engine)  # type: ignore[arg-type]
    tone = (np.sin(np.arange(FRAME_BYTES // 2) * 2 * np.pi * 220 / 16000) * 8000).astype("<i2").tobytes()
    silence = b"\x00" * FRAME_BYTES
    for _ in range(20):
        await stream.accept(tone)
    peeked = await stream.peek()
    for _ in range(10):
        await stream.accept(silence)
    final = await stream.finish()
    assert engine.decodes == 1 and stream.reused == 1
    assert peeked is not None and final.text == peeked.text
    # Speech after the pass: the whole turn is decoded again.
    for _ in range(20):
        await stream.accept(tone)
    await stream.peek()
    await stream.accept(tone)
    await stream.finish()
    assert engine.decodes == 3 and stream.reused == 1
    assert stream.decodes == 3 and stream.turns == 2  # logged at close: the CPU per turn of a call
