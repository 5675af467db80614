"""Whisper off the critical path (issue 14): at a time question, PocketSphinx's complete answer is acted on
before Whisper's transcript; that transcript still goes through the safety net, and when it raises urgency
the reply is interrupted and it answers the question then asked. Without Asterisk: the doubles of
test_session_endpointing.py, and a stream whose grammar words come at once and Whisper's later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallStarted,
    Expect,
    Expectation,
    Hangup,
    Heard,
    NoInput,
    Say,
    Transfer,
)
from standardiste.speech.types import Transcript
from standardiste.telephony.endpointing import EndpointSettings, SpeculationBudget, raises_urgency
from standardiste.telephony.session import CallSession, SessionSettings
from tests.unit.test_session_endpointing import LONG_S, ClockDetector
from tests.unit.test_telephony_session import VOICED, FakeLeg, FakeSynth, Script

WHISPER_S = 0.4
PROPOSAL = "Je vous propose quatorze heures trente avec le docteur, cela vous convient-il ?" * 2


class TwoSpeedStream:
    """PocketSphinx's words at once (provisional), Whisper's `WHISPER_S` later (the arbitrated result)."""

    supports_provisional = True

    def __init__(self, grammar_text: str, whisper_text: str) -> None:
        self.grammar_partial = grammar_text
        self.grammar_text = grammar_text
        self.whisper_text = whisper_text
        self.finished_at: list[float] = []

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        return None

    async def accept(self, pcm: bytes) -> Transcript | None:
        return None

    async def pad_grammar_tail(self) -> None:
        return None

    async def peek(self) -> Transcript:
        await asyncio.sleep(WHISPER_S)
        return Transcript(self.whisper_text, False, 0.9)

    async def finish(self, provisional: Callable[[Transcript], None] | None = None) -> Transcript:
        if provisional is not None:
            provisional(Transcript(self.grammar_text, True, 0.8))
        await asyncio.sleep(WHISPER_S)
        self.finished_at.append(time.monotonic())
        return Transcript(self.whisper_text, True, 0.9, self.whisper_text)

    async def close(self) -> None:
        return None


class TwoSpeedRecognizer:
    name = "fake-two-speed"
    open_vocabulary = True
    understands_french = True

    def __init__(self, stream: TwoSpeedStream) -> None:
        self.stream_obj = stream

    def describe(self) -> str:
        return "faux"

    async def stream(self, sample_rate: int = 16000) -> TwoSpeedStream:
        return self.stream_obj


def booking(final: Callable[[], list[Action]] | None = None) -> Callable[[CallerEvent], list[Action]]:
    """Asks the time; proposes it (a long prompt callers may not cut); an emergency goes to a human."""

    def react(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted):
            return [Say("À quelle heure ?", expect=Expectation(Expect.TIME, timeout_s=3.0))]
        if isinstance(event, Heard) and "poitrine" in event.text:
            return [Transfer(priority=True, reason="emergency")]
        if isinstance(event, Heard) and final is not None:
            return final()
        if isinstance(event, Heard):
            yes_no = Expectation(Expect.YES_NO, timeout_s=0.3)
            return [Say(PROPOSAL, expect=yes_no, interruptible=False)]
        assert isinstance(event, NoInput)
        return [Hangup("fin")]

    return react


async def _call(
    whisper_text: str, final: Callable[[], list[Action]] | None = None
) -> tuple[CallSession, FakeLeg, Script, TwoSpeedStream, list[float]]:
    """One spoken time answer; returns the session, leg, conversation, stream and when each Heard came."""
    leg = FakeLeg(frame_s=0.01)
    stream = TwoSpeedStream("quatorze heures trente", whisper_text)
    heard_at: list[float] = []
    react = booking(final)

    def timed(event: CallerEvent) -> list[Action]:
        if isinstance(event, Heard):
            heard_at.append(time.monotonic())
        return react(event)

    script = Script(timed)
    session = CallSession(
        call_id="call-1",
        leg=leg,
        conversation=script,
        recognizer=TwoSpeedRecognizer(stream),  # type: ignore[arg-type]
        synthesizer=FakeSynth(),
        turn_detector=ClockDetector(),
        settings=SessionSettings(
            gap_s=0.05,
            endpointing=EndpointSettings(short_ms=250, long_ms=int(LONG_S * 1000)),
            speculation_budget=SpeculationBudget(2),
            urgent=raises_urgency,
        ),
    )
    task = asyncio.create_task(session.run())
    async with asyncio.timeout(3):
        while leg.on_frame is None or not leg.played:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    for _ in range(10):
        leg.send([VOICED])
        await asyncio.sleep(0.02)
    async with asyncio.timeout(8):
        while not task.done() and not leg.transfers:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    if leg.transfers:
        session.hung_up()  # the reception took the call; the caller hangs up there
    await asyncio.wait_for(task, 3)
    return session, leg, script, stream, heard_at


async def test_the_reply_starts_before_whisper_and_whisper_agreeing_changes_nothing() -> None:
    session, leg, script, stream, heard_at = await _call("quatorze heures trente")
    heard = [e for e in script.events if isinstance(e, Heard)]
    assert [h.text for h in heard] == ["quatorze heures trente"]
    assert session.optimistic_answers == 1 and session.optimistic_corrections == 0
    assert heard_at[0] < stream.finished_at[0]  # the dialogue had the answer before Whisper's transcript
    assert leg.stops == 0 and leg.played[-1] == len(PROPOSAL)  # the proposal played whole
    assert session.record.turns_ended_early == 1


async def test_whisper_hearing_an_emergency_interrupts_the_reply_and_answers_the_question() -> None:
    # PocketSphinx forced the sound into a time; Whisper heard what the caller said.
    session, leg, script, _stream, _ = await _call("j'ai mal à la poitrine depuis ce matin")
    heard = [e.text for e in script.events if isinstance(e, Heard)]
    assert heard == ["quatorze heures trente", "j'ai mal à la poitrine depuis ce matin"]
    assert session.optimistic_corrections == 1
    assert leg.stops >= 1 and leg.played[-1] < len(PROPOSAL)  # the proposal was cut, not callers' to cut
    assert leg.transfers == [True]  # the emergency path ran


async def test_whisper_disagreeing_on_the_slot_keeps_the_optimistic_answer() -> None:
    session, leg, script, _stream, _ = await _call("quatorze heures quarante")
    assert [e.text for e in script.events if isinstance(e, Heard)] == ["quatorze heures trente"]
    assert session.optimistic_answers == 1 and session.optimistic_corrections == 0
    assert leg.stops == 0


async def test_nothing_final_is_done_before_whisper_has_been_heard() -> None:
    # The reply to the optimistic answer would end the call: Whisper's transcript is awaited first.
    _session, leg, script, _stream, _ = await _call(
        "je saigne énormément de la poitrine", final=lambda: [Say("Au revoir."), Hangup("fin")]
    )
    assert [e.text for e in script.events if isinstance(e, Heard)][
        -1
    ] == "je saigne énormément de la poitrine"
    assert leg.hangups == 0 and leg.transfers == [True]


async def test_questions_outside_the_optimistic_kinds_wait_for_whisper() -> None:
    from standardiste.telephony.endpointing import may_answer_optimistically

    assert may_answer_optimistically(Expect.TIME, "quatorze heures trente")
    assert not may_answer_optimistically(Expect.TIME, "quatorze heures")  # minutes may follow
    assert not may_answer_optimistically(Expect.YES_NO, "oui")  # a confirmation needs both recognisers
    assert not may_answer_optimistically(Expect.PHONE, "zéro six douze trente quatre cinquante six")
    assert raises_urgency("je saigne énormément") and not raises_urgency("mardi dix heures quinze")
