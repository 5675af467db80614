"""CallSession logic without Asterisk: a scripted Conversation and a fake call leg.

Doubles (each says why): the CallLeg stands for Asterisk (the real one is exercised in
tests/integration/test_voice_loop.py); the turn detector double marks voiced frames with a
first byte of 1 so that barge-in and end-of-turn timing are deterministic here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence

import pytest

from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallerHungUp,
    CallStarted,
    Expect,
    Expectation,
    Hangup,
    Heard,
    Keypad,
    NoInput,
    Outcome,
    OutcomeKind,
    Say,
    Transfer,
    TransferFailed,
    Utterance,
)
from standardiste.speech.turn import EndOfTurn, SpeechStarted, TurnEvent
from standardiste.speech.types import FRAME_BYTES, Transcript
from standardiste.telephony.session import CallSession, SessionRecord, SessionSettings

VOICED = b"\x01" + b"\x00" * (FRAME_BYTES - 1)
QUIET = b"\x00" * FRAME_BYTES


class FakeLeg:
    """Stands for Asterisk: plays at 20 ms per frame (scaled), records what happened."""

    def __init__(self, frame_s: float = 0.002) -> None:
        self.channel_id = "chan-1"
        self.media_lost = asyncio.Event()
        self.frame_s = frame_s
        self.on_frame: Callable[[bytes], None] | None = None
        self.played: list[int] = []  # frames played per prompt
        self.stops = 0
        self.transfers: list[bool] = []
        self.hangups = 0
        self.closed = 0
        self.answered = 0
        self.media_opens = 0
        self._stop = asyncio.Event()
        self.playing = asyncio.Event()

    async def answer(self) -> None:
        self.answered += 1

    async def open_media(self, on_frame: Callable[[bytes], None]) -> None:
        self.media_opens += 1
        self.on_frame = on_frame

    async def play(self, pcm: bytes, on_first_frame: Callable[[], None] | None = None) -> bool:
        self._stop.clear()
        self.playing.set()
        n = len(pcm) // FRAME_BYTES
        sent = 0
        try:
            for i in range(n):
                if self._stop.is_set():
                    return False
                if i == 0 and on_first_frame:
                    on_first_frame()
                sent += 1
                await asyncio.sleep(self.frame_s)
            return True
        finally:
            self.played.append(sent)
            self.playing.clear()

    async def stop_playback(self) -> None:
        self.stops += 1
        self._stop.set()

    async def transfer(self, priority: bool = False) -> None:
        self.transfers.append(priority)

    async def hangup(self) -> None:
        self.hangups += 1

    async def close(self) -> None:
        self.closed += 1

    def send(self, frames: Sequence[bytes]) -> None:
        assert self.on_frame is not None
        for f in frames:
            self.on_frame(f)


class FakeDetector:
    """Voiced = first byte 1. Speech starts at the first voiced frame; ends after 3 quiet frames."""

    def __init__(self) -> None:
        self.speaking = False
        self.quiet = 0

    def feed(self, frame: bytes, t: float) -> list[TurnEvent]:
        if frame[0] == 1:
            self.quiet = 0
            if not self.speaking:
                self.speaking = True
                return [SpeechStarted(at=t, detected_at=t)]
            return []
        if self.speaking:
            self.quiet += 1
            if self.quiet >= 3:
                self.speaking = False
                return [EndOfTurn(at=t, reason="silence", speech_started_at=t, last_speech_at=t)]
        return []

    def tick(self, now: float) -> list[TurnEvent]:
        return []


class FakeStream:
    def __init__(self, text: str) -> None:
        self.text = text
        self.fed = 0
        self.grammars: list[list[str] | None] = []
        self.closed = False

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        self.grammars.append(list(phrases) if phrases else None)

    async def accept(self, pcm: bytes) -> Transcript | None:
        self.fed += 1
        return None

    async def finish(self) -> Transcript:
        return Transcript(self.text if self.fed else "", True, 0.9)

    async def close(self) -> None:
        self.closed = True


class FakeRecognizer:
    """Stands for Vosk (tested for real in the integration tests)."""

    def __init__(self, text: str = "quels sont vos horaires", french: bool = True) -> None:
        self.name = "fake"
        self.open_vocabulary = french
        self.understands_french = french
        self.stream_obj = FakeStream(text)

    def describe(self) -> str:
        return "faux"

    async def stream(self, sample_rate: int = 16000) -> FakeStream:
        return self.stream_obj


class FakeSynth:
    """Each character is one frame of audio: prompt length is predictable."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def synthesize(self, text: str) -> bytes:
        self.texts.append(text)
        return QUIET * len(text)


class Script:
    """A scripted Conversation: a function from each event to the actions to take (pipecat-style)."""

    def __init__(self, react: Callable[[CallerEvent], list[Action]]) -> None:
        self.react = react
        self.events: list[CallerEvent] = []
        self._outcome: Outcome | None = None

    def handle(self, event: CallerEvent) -> list[Action]:
        self.events.append(event)
        return self.react(event)

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    @property
    def transcript(self) -> list[Utterance]:
        return [Utterance("caller", type(e).__name__) for e in self.events]


MENU = Expectation(Expect.CHOICE, phrases=("horaires", "secrétariat"), digits=1, timeout_s=0.3)


def menu_script(event: CallerEvent) -> list[Action]:
    if isinstance(event, CallStarted):
        return [Say("Bonjour, cabinet des Tilleuls.", expect=MENU)]
    if isinstance(event, Keypad) and event.digits == "1":
        return [Say("Ouvert du lundi au vendredi.", expect=MENU)]
    if isinstance(event, Heard):
        return [Say(f"Vous avez dit {event.text}.", expect=MENU)]
    if isinstance(event, NoInput | TransferFailed):
        return [Say("Je vous passe le secrétariat.", interruptible=False), Transfer()]
    if isinstance(event, Keypad) and event.digits == "0":
        return [Transfer()]
    if isinstance(event, Keypad):
        return [Say(f"Code {event.digits}.", expect=MENU)]
    return []


class Harness:
    def __init__(
        self,
        react: Callable[[CallerEvent], list[Action]] = menu_script,
        recognizer: FakeRecognizer | None = None,
        **settings: float,
    ) -> None:
        self.leg = FakeLeg()
        self.conversation = Script(react)
        self.recognizer = recognizer or FakeRecognizer()
        self.synth = FakeSynth()
        self.logged: list[tuple[str, SessionRecord]] = []
        opts = {"silence_timeout_s": 5.0, "inter_digit_timeout_s": 0.2, "gap_s": 0.05, **settings}
        self.session = CallSession(
            call_id="call-1",
            leg=self.leg,
            conversation=self.conversation,
            recognizer=self.recognizer,
            synthesizer=self.synth,
            turn_detector=FakeDetector(),
            settings=SessionSettings(**opts),  # type: ignore[arg-type]
            caller_id="0601020304",
            call_log=self,
        )
        self.task: asyncio.Task[SessionRecord] | None = None

    async def call_started(self, record: SessionRecord) -> None:
        self.logged.append(("start", record))

    async def call_ended(self, record: SessionRecord) -> None:
        self.logged.append(("end", record))

    def start(self) -> None:
        self.task = asyncio.create_task(self.session.run())

    async def until(self, cond: Callable[[], bool], limit_s: float = 3.0) -> None:
        async with asyncio.timeout(limit_s):
            while not cond():  # noqa: ASYNC110
                await asyncio.sleep(0.005)

    async def events_of(self, kind: type) -> list[CallerEvent]:
        return [e for e in self.conversation.events if isinstance(e, kind)]

    async def finish(self, limit_s: float = 3.0) -> SessionRecord:
        assert self.task is not None
        async with asyncio.timeout(limit_s):
            return await self.task


async def test_greeting_then_key1_hours_then_key0_transfer_and_hangup() -> None:
    h = Harness()
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    started = h.conversation.events[0]
    assert isinstance(started, CallStarted) and started.speech_available and started.caller_id == "0601020304"
    assert h.leg.answered == 1 and h.synth.texts[-1].startswith("Bonjour")
    assert h.recognizer.stream_obj.grammars[0] == ["horaires", "secrétariat"]
    h.session.digit("1")
    await h.until(lambda: len(h.leg.played) == 2)
    assert h.synth.texts[-1] == "Ouvert du lundi au vendredi."
    h.session.digit("0")
    await h.until(lambda: h.leg.transfers == [False])
    assert h.session.transferred
    h.session.hung_up()  # the call ends at reception
    record = await h.finish()
    assert record.end_reason == "transferred"
    assert record.path[:3] == ["answered", "CallStarted", "keypad:1"]
    assert "transfer:reception" in record.path
    assert record.greeting_ms is not None
    assert [kind for kind, _ in h.logged] == ["start", "end"]
    assert h.leg.closed == 1
    # No CallerHungUp after a transfer: the conversation had already handed over.
    assert not await h.events_of(CallerHungUp)


async def test_silence_gives_noinput_then_transfer() -> None:
    h = Harness()
    h.start()
    await h.until(lambda: bool(h.leg.transfers), limit_s=3)
    assert isinstance(h.conversation.events[1], NoInput)
    assert h.synth.texts[-1] == "Je vous passe le secrétariat."
    h.session.hung_up()
    await h.finish()


async def test_barge_in_stops_audio_and_speech_becomes_heard() -> None:
    h = Harness()
    h.leg.frame_s = 0.02  # a long greeting (30 chars * 20 ms)
    h.start()
    await h.until(lambda: h.leg.playing.is_set())
    await asyncio.sleep(0.1)
    h.leg.send([VOICED] * 5)
    await h.until(lambda: h.leg.stops >= 1, limit_s=1)
    h.leg.send([QUIET] * 4)
    heard = await _wait_for_event(h, Heard)
    assert heard.text == "quels sont vos horaires"
    assert h.leg.played[0] < len("Bonjour, cabinet des Tilleuls.")  # stopped early
    h.leg.frame_s = 0.002
    await h.until(lambda: len(h.leg.played) == 2)
    record = h.session.record
    assert record.barge_ins == 1
    assert len(record.reply_latencies_ms) == 1
    h.session.hung_up()
    await h.finish()


async def test_gap_in_audio_counts_as_silence_via_tick() -> None:
    """Phones send nothing in silence: the session must tick the detector on a timer."""

    class TickDetector(FakeDetector):
        def __init__(self) -> None:
            super().__init__()
            self.last: float | None = None

        def feed(self, frame: bytes, t: float) -> list[TurnEvent]:
            self.last = t
            return super().feed(frame, t)

        def tick(self, now: float) -> list[TurnEvent]:
            if self.speaking and self.last is not None and now - self.last > 0.2:
                self.speaking = False
                return [EndOfTurn(at=now, reason="silence", speech_started_at=now, last_speech_at=now)]
            return []

    h = Harness()
    h.session.detector = TickDetector()
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    h.leg.send([VOICED] * 3)  # then nothing at all
    heard = await _wait_for_event(h, Heard)
    assert heard.text == "quels sont vos horaires"
    h.session.hung_up()
    await h.finish()


async def test_hangup_mid_prompt_ends_cleanly_and_is_logged() -> None:
    h = Harness()
    h.leg.frame_s = 0.02
    h.start()
    await h.until(lambda: h.leg.playing.is_set())
    h.session.hung_up()
    record = await h.finish()
    assert record.end_reason == "caller_hung_up"
    assert isinstance(h.conversation.events[-1], CallerHungUp)
    assert h.leg.transfers == [] and h.leg.closed == 1
    assert h.recognizer.stream_obj.closed
    assert h.logged[-1][0] == "end" and h.logged[-1][1].ended_at is not None


async def test_conversation_error_transfers_to_reception() -> None:
    def broken(event: CallerEvent) -> list[Action]:
        if isinstance(event, Keypad):
            raise RuntimeError("bug")
        return menu_script(event)

    h = Harness(broken)
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    h.session.digit("5")
    record = await h.finish()
    assert h.leg.transfers == [False]
    assert record.end_reason == "internal_error"
    assert "fallback:reception" in record.path


async def test_synthesis_error_on_greeting_transfers() -> None:
    h = Harness()

    async def fail(text: str) -> bytes:
        raise OSError("espeak-ng missing")

    h.synth.synthesize = fail  # type: ignore[method-assign]
    h.start()
    record = await h.finish()
    assert h.leg.transfers == [False] and record.end_reason == "internal_error"


async def test_media_lost_transfers() -> None:
    h = Harness()
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    h.leg.media_lost.set()
    record = await h.finish()
    assert h.leg.transfers == [False] and record.end_reason == "internal_error"


async def test_multi_digit_entry_hash_and_timeout_and_star() -> None:
    code = Expectation(Expect.DIGITS, digits=4, timeout_s=2.0)

    def script(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted | Keypad):
            return [Say("Tapez votre code.", expect=code)]
        return []

    h = Harness(script)
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    for k in "12#":
        h.session.digit(k)
    await h.until(lambda: len(h.conversation.events) == 2)
    assert h.conversation.events[1] == Keypad("12", h.conversation.events[1].now)  # type: ignore[union-attr]
    await h.until(lambda: len(h.leg.played) == 2)
    for k in "1234":
        h.session.digit(k)
    await h.until(lambda: len(h.conversation.events) == 3)
    assert h.conversation.events[2].digits == "1234"  # type: ignore[union-attr]
    await h.until(lambda: len(h.leg.played) == 3)
    h.session.digit("7")  # then the inter-digit timeout (0.2 s)
    await h.until(lambda: len(h.conversation.events) == 4)
    assert h.conversation.events[3].digits == "7"  # type: ignore[union-attr]
    await h.until(lambda: len(h.leg.played) == 4)
    h.session.digit("*")
    await h.until(lambda: len(h.conversation.events) == 5)
    assert h.conversation.events[4].digits == "*"  # type: ignore[union-attr]
    h.session.hung_up()
    await h.finish()


async def test_key_during_prompt_interrupts_and_counts() -> None:
    h = Harness()
    h.leg.frame_s = 0.02
    h.start()
    await h.until(lambda: h.leg.playing.is_set())
    h.session.digit("1")
    await h.until(lambda: len(h.conversation.events) == 2)
    assert h.conversation.events[1].digits == "1"  # type: ignore[union-attr]
    assert h.leg.stops >= 1
    h.session.hung_up()
    await h.finish()


async def test_non_interruptible_prompt_keeps_keys_for_after() -> None:
    def script(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted):
            return [Say("Message important à écouter jusqu'au bout.", interruptible=False, expect=MENU)]
        return [Hangup("fin")]

    h = Harness(script)
    h.leg.frame_s = 0.01
    h.start()
    await h.until(lambda: h.leg.playing.is_set())
    h.session.digit("1")
    h.leg.send([VOICED] * 3)
    record = await h.finish()
    assert h.leg.played[0] == len("Message important à écouter jusqu'au bout.")  # not cut
    assert h.leg.stops == 0
    assert isinstance(h.conversation.events[1], Keypad)
    assert h.leg.hangups == 1 and record.end_reason == "assistant_hung_up"


async def test_keypad_only_recogniser_tells_the_conversation() -> None:
    h = Harness(recognizer=FakeRecognizer(french=False))
    h.start()
    await h.until(lambda: len(h.conversation.events) == 1)
    started = h.conversation.events[0]
    assert isinstance(started, CallStarted) and started.speech_available is False
    h.session.hung_up()
    await h.finish()


async def test_transfer_failed_brings_caller_back() -> None:
    def script(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted):
            return [Transfer()]
        if isinstance(event, TransferFailed):
            return [Say("Le secrétariat ne répond pas.", expect=MENU)]
        return [Hangup()]

    h = Harness(script)
    h.start()
    await h.until(lambda: h.session.transferred)
    h.session.returned("NOANSWER")
    await h.until(lambda: len(h.leg.played) == 1)
    assert isinstance(h.conversation.events[1], TransferFailed)
    assert h.leg.media_opens == 2
    h.session.digit("3")
    record = await h.finish()
    assert record.end_reason == "assistant_hung_up"
    assert "transfer_failed:NOANSWER" in record.path


async def test_cancel_hands_caller_to_reception() -> None:
    h = Harness()
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    assert h.task is not None
    h.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await h.task
    assert h.leg.transfers == [False]
    assert h.logged[-1][1].end_reason == "controller_stopped"


async def test_outcome_and_transcript_recorded() -> None:
    h = Harness()
    h.conversation._outcome = Outcome(OutcomeKind.ANSWERED, {"topic": "hours"})
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    h.session.hung_up()
    record = await h.finish()
    assert record.outcome is not None and record.outcome.kind == OutcomeKind.ANSWERED
    assert [u.text for u in record.transcript] == ["CallStarted", "CallerHungUp"]
    assert record.started_at <= record.ended_at  # type: ignore[operator]
    assert record.started_at.tzinfo is dt.UTC


async def _wait_for_event(h: Harness, kind: type) -> Heard:
    async with asyncio.timeout(3):
        while True:
            found = [e for e in h.conversation.events if isinstance(e, kind)]
            if found:
                return found[0]  # type: ignore[return-value]
            await asyncio.sleep(0.005)


async def test_slow_recogniser_does_not_delay_greeting() -> None:
    h = Harness()
    real_stream = h.recognizer.stream

    async def slow_stream(sample_rate: int = 16000) -> FakeStream:
        await asyncio.sleep(1.5)
        return await real_stream(sample_rate)

    h.recognizer.stream = slow_stream  # type: ignore[method-assign]
    h.start()
    await h.until(lambda: len(h.leg.played) == 1, limit_s=1.4)
    assert h.recognizer.stream_obj.grammars == []  # the greeting was played before the stream existed
    # The menu's grammar reaches the stream once it exists (then NoInput and the transfer follow).
    await h.until(lambda: bool(h.recognizer.stream_obj.grammars), limit_s=3)
    assert h.recognizer.stream_obj.grammars[0] == ["horaires", "secrétariat"]
    h.session.hung_up()
    await h.finish()


async def test_recogniser_failure_transfers_to_reception() -> None:
    h = Harness()

    async def broken(sample_rate: int = 16000) -> FakeStream:
        raise RuntimeError("model file corrupted")

    h.recognizer.stream = broken  # type: ignore[method-assign]
    h.start()
    await h.until(lambda: h.leg.playing.is_set())
    h.leg.send([VOICED] * 3 + [QUIET] * 4)  # the caller speaks: recognition is needed now
    record = await h.finish()
    assert h.leg.transfers == [False] and record.end_reason == "internal_error"


def _patient_script(event: CallerEvent) -> list[Action]:
    """Asks again after "not understood", and waits long enough for a late result."""
    ask = Expectation(Expect.OPEN, timeout_s=5.0)
    if isinstance(event, CallStarted):
        return [Say("Bonjour.", expect=ask)]
    if isinstance(event, Heard):
        return [Say("Pardon ?" if not event.text else f"Vous avez dit {event.text}.", expect=ask)]
    return [Transfer()]


async def test_overloaded_recogniser_turn_counts_as_not_understood() -> None:
    h = Harness(_patient_script, recognition_timeout_s=0.2)
    stream = h.recognizer.stream_obj
    real_finish = stream.finish

    async def slow_finish() -> Transcript:
        await asyncio.sleep(1.0)
        return await real_finish()

    stream.finish = slow_finish  # type: ignore[method-assign]
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    h.leg.send([VOICED] * 3 + [QUIET] * 4)
    heard = await _wait_for_event(h, Heard)
    assert heard.text == "" and heard.confidence == 0.0  # not understood, without waiting 1 s
    await asyncio.sleep(1.2)
    # The late result still counts (the caller has not spoken since): the answer to the question asked
    # again, so an emergency said while the server was overloaded is not lost.
    heards = [e for e in h.conversation.events if isinstance(e, Heard)]
    assert len(heards) == 2 and heards[1].text == stream.text
    h.session.hung_up()
    await h.finish()


@pytest.mark.parametrize("log_speech", [False, True])
async def test_logs_keep_no_words_unless_the_practice_asks(caplog, log_speech: bool) -> None:
    """privacy.log_transcripts off (default): what is said both ways stays out of the logs."""
    h = Harness(log_speech=log_speech)
    h.leg.frame_s = 0.02
    with caplog.at_level("INFO", logger="standardiste.telephony.session"):
        h.start()
        await h.until(lambda: h.leg.playing.is_set())
        h.leg.send([VOICED] * 5)
        await h.until(lambda: h.leg.stops >= 1, limit_s=1)
        h.leg.send([QUIET] * 4)
        await _wait_for_event(h, Heard)
        h.session.hung_up()
        await h.finish()
    logged = " ".join(str(r.__dict__) for r in caplog.records)
    assert ("quels sont vos horaires" in logged) is log_speech
    assert ("Bonjour, cabinet des Tilleuls." in logged) is log_speech
