"""One call: audio in -> turn detection + recognition -> Conversation -> speech out, keypad at every step.

The session only talks to a `CallLeg` (answer, media, play, transfer, hang up), so its logic is
tested without Asterisk; `AriCallLeg` (leg.py) is the real one. Any internal error sends the
caller to reception; nothing here may drop a call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from standardiste import metrics
from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallerHungUp,
    CallStarted,
    Conversation,
    Expect,
    Expectation,
    Hangup,
    Heard,
    Keypad,
    NoInput,
    Outcome,
    Say,
    Transfer,
    TransferFailed,
    Utterance,
)
from standardiste.logs import call_id_var, coarse_reason, mask_phone
from standardiste.speech.audio import wav_bytes
from standardiste.speech.turn import EndOfTurn, SpeechStarted, TurnEvent
from standardiste.speech.types import FRAME_MS, RecognitionStream, Recognizer, Synthesizer, Transcript
from standardiste.telephony import endpointing
from standardiste.telephony.endpointing import EndpointSettings, SpeculationBudget, Step, TurnView
from standardiste.telephony.keypad import DigitCollector
from standardiste.telephony.media import trim_leading_quiet

log = logging.getLogger(__name__)
T = TypeVar("T")

FRAME_S = FRAME_MS / 1000
NAME_AUDIO_MAX_BYTES = 16_000 * 2 * 15  # a spoken name kept for the staff: 15 s at most


class CallLeg(Protocol):
    """The telephony side of one call, as the session needs it."""

    channel_id: str
    media_lost: asyncio.Event

    async def answer(self) -> None: ...

    async def open_media(self, on_frame: Callable[[bytes], None]) -> None:
        """Connect caller audio both ways; frames (640 bytes slin16) go to on_frame as they arrive."""
        ...

    async def play(self, pcm: bytes, on_first_frame: Callable[[], None] | None = None) -> bool:
        """Play slin16 to the caller at real time; False when stopped early or media is gone."""
        ...

    async def stop_playback(self) -> None: ...

    async def transfer(self, priority: bool = False, message_box: bool = False) -> None:
        """Hand the caller to reception (the dialplan's transfer extension), or to the message box."""
        ...

    async def hangup(self) -> None: ...

    async def close(self) -> None:
        """Release media resources (idempotent)."""
        ...


class TurnDetector(Protocol):
    """Per call: VAD + silence window over 20 ms slin16 frames (speech.turn.TurnDetector)."""

    def feed(self, frame: bytes, t: float) -> list[TurnEvent]: ...

    def tick(self, now: float) -> list[TurnEvent]: ...

    # Adaptive end of turn also reads `speech_started_at`, `last_voiced_at` and calls `end_turn(now)`
    # where the detector has them (speech.turn.TurnDetector); others keep the fixed window.


# --- what flows into the session's single input queue -------------------------------------------


@dataclass(frozen=True, slots=True)
class _Played:
    seq: int
    completed: bool


@dataclass(frozen=True, slots=True)
class _SpeechStarted:
    at: float  # monotonic arrival time of the first voiced frame


@dataclass(frozen=True, slots=True)
class _TurnEnded:
    transcript: Transcript
    at: float  # monotonic time when the end of turn was detected
    # Whisper's transcript raised urgency after an optimistic answer (PocketSphinx's words) was acted on:
    # it interrupts whatever is playing and answers the question then asked (telephony.endpointing).
    correction: bool = False


@dataclass(frozen=True, slots=True)
class _Digit:
    key: str


@dataclass(frozen=True, slots=True)
class _HungUp:
    pass


@dataclass(frozen=True, slots=True)
class _MediaLost:
    pass


@dataclass(frozen=True, slots=True)
class _Returned:
    """The transfer failed and the dialplan sent the caller back to us."""

    status: str


@dataclass(frozen=True, slots=True)
class _PeekRequest:
    """Recognise the turn so far (speculatively), then say whether it already answers the question."""

    complete: asyncio.Future[bool]
    kind: Expect
    phrases: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _EndedEarly:
    """The turn about to end ended on the short window (its end-of-turn time follows in the queue)."""


@dataclass(slots=True)
class _Speculation:
    """The adaptive end of turn's state for the turn in progress."""

    count: int = 0
    pending: asyncio.Future[bool] | None = None
    pending_for: float | None = None  # last voiced frame when the pending pass started
    complete: bool | None = None
    complete_for: float | None = None  # last voiced frame its verdict is about


_Input = _Played | _SpeechStarted | _TurnEnded | _Digit | _HungUp | _MediaLost | _Returned


class _CallerGone(Exception):
    pass


class _CallDone(Exception):
    """The call left us (transfer or hang-up done by us)."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    silence_timeout_s: float = 6.0
    inter_digit_timeout_s: float = 4.0
    max_turn_s: float = 15.0
    max_call_s: float = 1800.0
    # No frame for this long while the caller speaks: count it as silence (phones send nothing then).
    gap_s: float = 0.12
    preroll_frames: int = 15
    # Longest wait for the recogniser after the end of a turn before treating it as not understood.
    recognition_timeout_s: float = 3.0
    direction: str = "inbound"
    purpose: str | None = None  # outbound calls: why we call
    appointment_id: str | None = None
    # The phrases a question's recogniser grammar allows (grammar-only recognisers need one per
    # question kind); None: only the Expectation's own phrases.
    grammar_hint: Callable[[Expectation], list[str] | None] | None = None
    # Log the words said both ways (privacy.log_transcripts); off: lengths only.
    log_speech: bool = False
    # Adaptive end of turn (telephony.endpointing): None keeps the detector's fixed window.
    endpointing: EndpointSettings | None = None
    speculation_budget: SpeculationBudget | None = None  # shared by the process's calls
    # The safety net's verdict on a transcript (endpointing.raises_urgency with the practice's net). Set, and
    # with the adaptive end of turn: at time/day questions PocketSphinx's complete answer is acted on before
    # Whisper's transcript, which still goes through this net (endpointing.OPTIMISTIC). None: never.
    urgent: Callable[[str], bool] | None = None


@dataclass(slots=True)
class SessionRecord:
    """What the call log keeps about a call."""

    call_id: str
    channel_id: str
    caller_id: str | None
    direction: str
    recognizer: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    end_reason: str = ""
    outcome: Outcome | None = None
    path: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[Utterance] = field(default_factory=list)
    greeting_ms: float | None = None
    reply_latencies_ms: list[float] = field(default_factory=list)
    # From the end of the caller's last voiced frame to our reply's first frame (end of turn included).
    voice_to_voice_ms: list[float] = field(default_factory=list)
    turns_ended_early: int = 0  # turns ended on the short window (a complete answer)
    barge_ins: int = 0
    barge_in_ms: list[float] = field(default_factory=list)  # caller's first voiced frame -> our audio stopped
    recording: str | None = None  # name of the call's audio recording (privacy.record_audio), if any
    # The caller's last answer to a name question (WAV, 16 kHz), kept for the staff (identity by voice):
    # the call log seals it with the call (privacy/recordings.py name_audio_key); never logged.
    name_audio: bytes | None = field(default=None, repr=False)


class CallLogSink(Protocol):
    async def call_started(self, record: SessionRecord) -> None: ...

    async def call_ended(self, record: SessionRecord) -> None: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CallSession:
    def __init__(
        self,
        *,
        call_id: str,
        leg: CallLeg,
        conversation: Conversation,
        recognizer: Recognizer,
        synthesizer: Synthesizer,
        turn_detector: TurnDetector,
        settings: SessionSettings,
        caller_id: str | None = None,
        call_log: CallLogSink | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.call_id = call_id
        self.leg = leg
        self.conversation = conversation
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.detector = turn_detector
        self.settings = settings
        self.call_log = call_log
        self.clock = clock
        self.speech_available = bool(recognizer.understands_french)
        self.record = SessionRecord(
            call_id=call_id,
            channel_id=leg.channel_id,
            caller_id=caller_id,
            direction=settings.direction,
            recognizer=recognizer.name,
            started_at=clock(),
        )
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self._frames: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=500)
        self._stream: RecognitionStream | None = None
        self._stream_task: asyncio.Task[RecognitionStream] | None = None
        self._grammar_task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._play_seq = 0
        self._playing_interruptible = False
        self._turn_end_at: float | None = None
        self._voice_end_at: float | None = None  # end of the last voiced frame of the turn answered
        # Where the time of the turn being answered went (monotonic stamps and ms; "reply started" logs it).
        self._turn_timing: dict[str, float] = {}
        self._last_voice_end: float | None = None  # same, of the last turn the detector ended
        self._last_speech_start: float | None = None  # arrival of that turn's first voiced frame
        self._endpoint_kind: Expect = Expect.OPEN  # the question being answered, for endpointing
        self._endpoint_phrases: tuple[str, ...] | None = None
        self._answered_at: float | None = None
        self._gone = False
        self._deferred: list[_Input] = []
        self._transferred = False
        self._log_started: asyncio.Task[None] | None = None
        self._turns = 0  # caller turns ended so far
        self._name_turn: bytearray | None = None  # audio of a turn answering a name question
        self._turns_answered = 0  # of which a result (or a deadline) was reported
        # An optimistic answer's Whisper transcript not in yet: resolves with the correction, if any.
        self._final_pending: asyncio.Future[_TurnEnded | None] | None = None
        self.optimistic_answers = 0  # turns answered from PocketSphinx before Whisper
        self.optimistic_corrections = 0  # of which Whisper's transcript raised urgency
        self.done = asyncio.Event()

    # --- called by the controller (event loop) ---------------------------------------------------

    def _speech_extra(self, text: str) -> dict[str, Any]:
        return {"text": text} if self.settings.log_speech else {"chars": len(text)}

    def digit(self, key: str) -> None:
        self._inputs.put_nowait(_Digit(key))

    def hung_up(self) -> None:
        self._gone = True
        self._inputs.put_nowait(_HungUp())

    def returned(self, status: str) -> None:
        self._inputs.put_nowait(_Returned(status))

    @property
    def transferred(self) -> bool:
        return self._transferred

    # --- the call --------------------------------------------------------------------------------

    async def run(self) -> SessionRecord:
        token = call_id_var.set(self.call_id)
        direction = self.settings.direction
        metrics.CALLS_IN_PROGRESS.labels(direction=direction).inc()
        try:
            await self._run()
        finally:
            metrics.CALLS_IN_PROGRESS.labels(direction=direction).dec()
            self.record.ended_at = self.clock()
            self.record.transcript = list(
                getattr(self.conversation, "transcript", []) or self.record.transcript
            )
            self.record.outcome = getattr(self.conversation, "outcome", None)
            await self._cleanup()
            recording = getattr(self.leg, "recording", None)  # set by a recording leg (AriCallLeg)
            self.record.recording = recording if isinstance(recording, str) else None
            outcome = str(self.record.outcome.kind) if self.record.outcome else "none"
            metrics.CALLS.labels(direction=direction, outcome=outcome).inc()
            log.info(
                "call ended",
                extra={
                    "end_reason": self.record.end_reason,
                    # The outcome's details (emergency rule, callback number) only with transcripts on.
                    "outcome": (self.record.outcome.to_json() if self.settings.log_speech else outcome)
                    if self.record.outcome
                    else None,
                    "path": " > ".join(
                        p
                        if self.settings.log_speech or not p.startswith(("heard:", "keypad:"))
                        else p.split(":")[0]
                        for p in self.record.path
                    ),
                },
            )
            if self.call_log is not None:
                if self._log_started is not None:
                    await asyncio.gather(self._log_started, return_exceptions=True)
                try:
                    await self.call_log.call_ended(self.record)
                except Exception:
                    log.exception("call log write failed")
            self.done.set()
            call_id_var.reset(token)
        return self.record

    async def _run(self) -> None:
        log.info(
            "call started",
            extra={
                "caller_id": self.record.caller_id
                if self.settings.log_speech
                else mask_phone(self.record.caller_id),
                "recognizer": self.recognizer.name,
            },
        )
        if self.call_log is not None:
            # Written in the background: the greeting must not wait for the database.
            self._log_started = asyncio.create_task(self._write_started(self.call_log))
        try:
            watchdog = asyncio.timeout(self.settings.max_call_s)
            async with watchdog:
                await self._converse()
        except _CallDone:
            pass
        except _CallerGone:
            self.record.end_reason = self.record.end_reason or "caller_hung_up"
            await self._tell_hung_up()
        except asyncio.CancelledError:
            # Controller shutting down: the caller goes to reception rather than into silence.
            self.record.end_reason = "controller_stopped"
            await self._fallback_transfer()
            raise
        except TimeoutError:
            if not self._transferred:
                self.record.end_reason = "max_call_duration"
                await self._fallback_transfer()
        except Exception:
            if self._gone:  # the caller left while we were busy (e.g. during set-up)
                log.info("caller hung up during set-up", exc_info=True)
                self.record.end_reason = "caller_hung_up"
                await self._tell_hung_up()
                return
            log.exception("call session failed; transferring to reception")
            self.record.end_reason = "internal_error"
            await self._fallback_transfer()

    async def _write_started(self, sink: CallLogSink) -> None:
        try:
            await sink.call_started(self.record)
        except Exception:
            log.exception("call log write failed")

    async def _converse(self) -> None:
        # Answer first, then build everything else at once: the greeting must start quickly.
        await self.leg.answer()
        self._answered_at = time.monotonic()
        self.record.path.append("answered")
        started = CallStarted(
            call_id=self.call_id,
            now=self.clock(),
            caller_id=self.record.caller_id,
            direction="outbound" if self.settings.direction == "outbound" else "inbound",
            speech_available=self.speech_available,
            purpose=self.settings.purpose,
            appointment_id=self.settings.appointment_id,
        )
        media = asyncio.create_task(self.leg.open_media(self._on_frame))
        # A recogniser per call can take a while to create (Vosk: ~200 ms): the greeting does not wait.
        self._stream_task = asyncio.create_task(self.recognizer.stream())
        self._stream_task.add_done_callback(self._stream_created)
        first = await self._handle(started)
        first_say = next((a for a in first if isinstance(a, Say)), None)
        prefetch = asyncio.create_task(self.synthesizer.synthesize(first_say.text)) if first_say else None
        await media
        self._listener = asyncio.create_task(self._listen(), name=f"listen-{self.call_id}")
        self._listener.add_done_callback(self._listener_done)
        if prefetch is not None:
            await prefetch  # warms the cache; _act synthesises again from cache
        actions = first
        while True:
            event = await self._act(actions)
            actions = await self._handle(event)

    async def _handle(self, event: CallerEvent) -> list[Action]:
        self.record.path.append(_describe_event(event))
        t0 = time.monotonic()
        actions = await asyncio.to_thread(self.conversation.handle, event)
        if isinstance(event, Heard):
            self._turn_timing["understand_ms"] = round((time.monotonic() - t0) * 1000, 1)
        for action in actions:
            self.record.actions.append(_describe_action(action))
        return list(actions)

    # --- carrying out actions --------------------------------------------------------------------

    async def _act(self, actions: Sequence[Action]) -> CallerEvent:
        """Play/transfer/hang up; return the caller's answer to the last question asked."""
        expectation: Expectation | None = None
        early: _Input | None = None
        pending = self._final_pending
        if pending is not None and any(isinstance(a, Transfer | Hangup) for a in actions):
            # Nothing final on an answer Whisper has not heard yet: the net first.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.recognition_timeout_s):
                    if await asyncio.shield(pending) is not None:
                        # The correction waits in the inputs: it is the caller's answer now.
                        return await self._await_answer(Expectation(), None)
        for action in actions:
            if isinstance(action, Transfer):
                return await self._transfer(action)
            elif isinstance(action, Hangup):
                await self._hangup(action)
            elif isinstance(action, Say):
                if action.expect is not None:
                    expectation = action.expect
                if early is None and action.interruptible and self._deferred:
                    continue  # keys pressed during a statement we did not let them cut: as a barge-in
                if early is None:
                    early = await self._say(action, expectation)
        expectation = expectation or Expectation()
        return await self._await_answer(expectation, early)

    async def _say(self, say: Say, expectation: Expectation | None) -> _Input | None:
        """Play one prompt; returns the input that interrupted it (barge-in), if any."""
        if expectation is not None and self.settings.grammar_hint is not None:
            phrases = self.settings.grammar_hint(expectation)
        else:
            phrases = list(expectation.phrases) if expectation is not None and expectation.phrases else None
        self._endpoint_kind = expectation.kind if expectation is not None else Expect.OPEN
        self._endpoint_phrases = tuple(phrases) if phrases else None
        previous = self._grammar_task
        self._grammar_task = asyncio.create_task(self._apply_grammar(previous, phrases))
        if self._stream is not None and (previous is None or previous.done()):
            await self._grammar_task  # normally immediate; never delays the first prompt
        t0 = time.monotonic()
        pcm = trim_leading_quiet(await self.synthesizer.synthesize(say.text))
        if self._turn_end_at is not None and "synth_ms" not in self._turn_timing:
            self._turn_timing["synth_ms"] = round((time.monotonic() - t0) * 1000, 1)
            self._turn_timing["play_at"] = round(time.monotonic(), 4)
        self._play_seq += 1
        seq = self._play_seq
        self._playing_interruptible = say.interruptible
        log.info("saying", extra={**self._speech_extra(say.text), "interruptible": say.interruptible})
        play = asyncio.create_task(self._play(seq, pcm))
        try:
            while True:
                item = await self._inputs.get()
                if isinstance(item, _Played):
                    if item.seq == seq:
                        return None
                    continue
                if isinstance(item, _HungUp | _MediaLost):
                    raise _CallerGone() if isinstance(item, _HungUp) else RuntimeError("media lost")
                if isinstance(item, _TurnEnded) and item.correction:
                    await self.leg.stop_playback()  # an emergency heard late interrupts any prompt
                    return item
                if not say.interruptible:
                    # No barge-in: keys pressed now are kept for the question; speech is ignored.
                    if isinstance(item, _Digit):
                        self._deferred.append(item)
                    continue
                if isinstance(item, _SpeechStarted | _Digit):
                    t0 = time.monotonic()
                    await self.leg.stop_playback()
                    self.record.barge_ins += 1
                    extra: dict[str, Any] = {
                        "by": type(item).__name__.strip("_"),
                        "stop_ms": round((time.monotonic() - t0) * 1000, 1),
                    }
                    if isinstance(item, _SpeechStarted):
                        # From the arrival of the caller's first voiced frame to our audio stopped.
                        extra["speech_to_stop_ms"] = round((time.monotonic() - item.at) * 1000, 1)
                        self.record.barge_in_ms.append(extra["speech_to_stop_ms"])
                    log.info("barge-in", extra=extra)
                    return item
                # A turn that ends while we talk (started before the prompt) is an answer, too.
                if isinstance(item, _TurnEnded):
                    await self.leg.stop_playback()
                    return item
        finally:
            self._playing_interruptible = False
            if not play.done():
                play.cancel()
            await asyncio.gather(play, return_exceptions=True)

    async def _play(self, seq: int, pcm: bytes) -> None:
        completed = False
        try:
            completed = await self.leg.play(pcm, on_first_frame=self._first_frame_sent)
        finally:
            self._inputs.put_nowait(_Played(seq, completed))

    def _first_frame_sent(self) -> None:
        now = time.monotonic()
        if self.record.greeting_ms is None and self._answered_at is not None:
            self.record.greeting_ms = round((now - self._answered_at) * 1000, 1)
            metrics.GREETING_LATENCY.observe(now - self._answered_at)
            log.info("greeting started", extra={"answer_to_first_frame_ms": self.record.greeting_ms})
        elif self._turn_end_at is not None:
            ms = round((now - self._turn_end_at) * 1000, 1)
            metrics.TURN_LATENCY.observe(now - self._turn_end_at)
            self.record.reply_latencies_ms.append(ms)
            extra: dict[str, float] = {"end_of_turn_to_first_frame_ms": ms}
            if self._voice_end_at is not None:
                extra["voice_to_voice_ms"] = round((now - self._voice_end_at) * 1000, 1)
                self.record.voice_to_voice_ms.append(extra["voice_to_voice_ms"])
            # The turn's breakdown (bench/bench_end_of_turn.py): monotonic stamps are system-wide.
            extra.update(
                self._turn_timing, turn_end_at=round(self._turn_end_at, 4), first_frame_at=round(now, 4)
            )
            log.info("reply started", extra=extra)
        self._turn_end_at = None
        self._voice_end_at = None
        self._turn_timing = {}

    async def _await_answer(self, expect: Expectation, early: _Input | None) -> CallerEvent:
        keys = DigitCollector(expect.digits)
        silence_s = expect.timeout_s or self.settings.silence_timeout_s
        deadline = time.monotonic() + silence_s
        pending: list[_Input] = [*self._deferred, *([early] if early is not None else [])]
        self._deferred.clear()
        while True:
            if pending:
                item: _Input | None = pending.pop(0)
            else:
                item = await self._next(deadline - time.monotonic())
            if item is None:
                typed = keys.timeout()
                if typed:
                    self._turn_end_at = time.monotonic()  # a keypad entry is a turn too (latency metric)
                    return Keypad(typed, self.clock())
                return NoInput(self.clock())
            if isinstance(item, _HungUp):
                raise _CallerGone()
            if isinstance(item, _MediaLost):
                raise RuntimeError("media lost")
            if isinstance(item, _Played):
                continue
            if isinstance(item, _Digit):
                entry = keys.press(item.key)
                if entry is not None:
                    self._turn_end_at = time.monotonic()
                    return Keypad(entry, self.clock())
                deadline = time.monotonic() + self.settings.inter_digit_timeout_s
            elif isinstance(item, _SpeechStarted):
                # The caller is talking: wait for the end of the turn (the detector caps its length).
                deadline = time.monotonic() + self.settings.max_turn_s + 2.0
            elif isinstance(item, _TurnEnded):
                self._turn_end_at = item.at
                self._voice_end_at = self._last_voice_end
                self._turn_timing = {"heard_at": round(time.monotonic(), 4)}
                if self._voice_end_at is not None:
                    self._turn_timing["voice_end_at"] = round(self._voice_end_at, 4)
                if self._last_speech_start is not None:
                    self._turn_timing["speech_at"] = round(self._last_speech_start, 4)
                text = item.transcript.text.strip()
                # How long the recogniser took after the end of the turn (catching up, then finishing).
                recognition_s = time.monotonic() - item.at
                recognition_ms = round(recognition_s * 1000, 1)
                metrics.RECOGNIZER_SECONDS.labels(backend=self.recognizer.name).observe(recognition_s)
                log.info(
                    "heard",
                    extra={
                        **self._speech_extra(text),
                        "confidence": item.transcript.confidence,
                        "recognition_ms": recognition_ms,
                    },
                )
                return Heard(
                    text,
                    self.clock(),
                    item.transcript.confidence,
                    item.transcript.open_text,
                    from_recognizer=True,
                )

    async def _next(self, wait_s: float) -> _Input | None:
        if wait_s <= 0:
            return None if self._inputs.empty() else self._inputs.get_nowait()
        try:
            async with asyncio.timeout(wait_s):
                return await self._inputs.get()
        except TimeoutError:
            return None

    async def _transfer(self, action: Transfer) -> CallerEvent:
        """Hand the caller to the dialplan; we stay until the call ends, or comes back (no answer)."""
        log.info(
            "transferring",
            extra={
                "target": action.target,
                "priority": action.priority,
                "reason": action.reason if self.settings.log_speech else coarse_reason(action.reason),
            },
        )
        self.record.end_reason = "transferred"
        self.record.path.append(f"transfer:{action.target}")
        await self.leg.stop_playback()
        # Marked before the request: Asterisk's StasisEnd for this transfer can reach the controller
        # before the HTTP answer does, and must not be taken for the caller hanging up.
        self._transferred = True
        try:
            if action.target == "message":  # the voice message box (the inbox may be down: filed later)
                await self.leg.transfer(priority=False, message_box=True)
            else:
                await self.leg.transfer(priority=action.priority)
        except BaseException:
            self._transferred = False
            raise
        while True:
            item = await self._inputs.get()
            if isinstance(item, _HungUp):
                raise _CallDone()
            if isinstance(item, _Returned):
                log.info("transfer failed, caller back", extra={"status": item.status})
                self._transferred = False
                self.record.end_reason = ""
                self.record.path.append(f"transfer_failed:{item.status}")
                await self.leg.open_media(self._on_frame)
                return TransferFailed(self.clock(), reason=item.status.lower() or "no_answer")

    async def _hangup(self, action: Hangup) -> None:
        self.record.end_reason = "assistant_hung_up"
        self.record.path.append("hangup")
        await self.leg.hangup()
        raise _CallDone()

    async def _fallback_transfer(self) -> None:
        if self._gone or self._transferred:
            return
        self.record.path.append("fallback:reception")
        try:
            await self.leg.stop_playback()
        except Exception:
            log.debug("stop before fallback failed", exc_info=True)
        try:
            await self.leg.transfer(priority=False)
        except Exception:
            log.exception("fallback transfer failed; the dialplan takes the call when it leaves Stasis")

    async def _tell_hung_up(self) -> None:
        try:
            await asyncio.to_thread(self.conversation.handle, CallerHungUp(self.clock()))
            self.record.path.append("caller_hung_up")
        except Exception:
            log.exception("conversation failed on hang-up")

    async def _cleanup(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._stream_task is not None and not self._stream_task.done():
            await asyncio.gather(self._stream_task, return_exceptions=True)
        if self._grammar_task is not None:
            await asyncio.gather(self._grammar_task, return_exceptions=True)
        if self._stream is not None:
            try:
                await _uncancelled(self._stream.close())
            except Exception:
                log.debug("recognition stream close failed", exc_info=True)
        try:
            await self.leg.close()
        except Exception:
            log.debug("leg close failed", exc_info=True)

    # --- caller audio ----------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        try:
            self._frames.put_nowait((time.monotonic(), frame))
        except asyncio.QueueFull:
            log.warning("caller audio backlog; frame dropped")

    def _stream_started(self) -> asyncio.Task[RecognitionStream]:
        """The task opening the call's recognition stream: run() starts it before any question."""
        if self._stream_task is None:
            raise RuntimeError("the call's recognition stream was never started")
        return self._stream_task

    def _stream_created(self, task: asyncio.Task[RecognitionStream]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._stream = task.result()

    async def _apply_grammar(self, previous: asyncio.Task[None] | None, phrases: list[str] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        stream = await self._stream_started()
        await _uncancelled(stream.set_grammar(phrases))

    async def _ready_stream(self) -> RecognitionStream:
        """The call's recognition stream, with the current question's grammar applied."""
        stream = await self._stream_started()
        if self._grammar_task is not None:
            await self._grammar_task
        return stream

    def _listener_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("audio listener failed", exc_info=task.exception())
            self._inputs.put_nowait(_MediaLost())

    async def _listen(self) -> None:
        """Turn detection in real time; recognition runs behind it in its own task (it may lag)."""
        preroll: collections.deque[bytes] = collections.deque(maxlen=self.settings.preroll_frames)
        in_speech = False
        # Frames, an end-of-turn time, or a speculative pass over the turn so far.
        to_recognizer: asyncio.Queue[bytes | float | _PeekRequest | _EndedEarly] = asyncio.Queue()
        recognizer = asyncio.create_task(self._recognize(to_recognizer), name=f"recognize-{self.call_id}")
        watchdogs: set[asyncio.Task[None]] = set()
        spec = _Speculation()
        adaptive = self.settings.endpointing is not None
        try:
            while True:
                if recognizer.done():
                    recognizer.result()  # re-raise its error: the session falls back to reception
                frame: bytes | None = None
                # While a turn may end early, look again often even when the phone sends nothing.
                wait_s = min(self.settings.gap_s, 0.03) if adaptive and in_speech else self.settings.gap_s
                try:
                    async with asyncio.timeout(wait_s):
                        t, frame = await self._frames.get()
                    events = self.detector.feed(frame, t)
                except TimeoutError:
                    if self.leg.media_lost.is_set():
                        self._inputs.put_nowait(_MediaLost())
                        return
                    # Phones send nothing in silence: time alone must be able to end a turn.
                    events = self.detector.tick(time.monotonic())
                if frame is not None:
                    if in_speech:
                        to_recognizer.put_nowait(frame)
                        if self._name_turn is not None and len(self._name_turn) < NAME_AUDIO_MAX_BYTES:
                            self._name_turn += frame
                    else:
                        preroll.append(frame)
                if adaptive and in_speech and not any(isinstance(e, EndOfTurn) for e in events):
                    early_end = self._endpoint_step(spec, to_recognizer)
                    if early_end is not None:
                        events = [*events, early_end]
                for event in events:
                    if isinstance(event, SpeechStarted) and not in_speech:
                        in_speech = True
                        spec = _Speculation()
                        self._inputs.put_nowait(_SpeechStarted(event.at))
                        self._name_turn = (
                            bytearray(b"".join(preroll)) if self._endpoint_kind == Expect.NAME else None
                        )
                        for early in preroll:
                            to_recognizer.put_nowait(early)
                        preroll.clear()
                    elif isinstance(event, EndOfTurn) and in_speech:
                        in_speech = False
                        if self._name_turn:
                            self.record.name_audio = wav_bytes(bytes(self._name_turn))
                        self._name_turn = None
                        ended = time.monotonic()
                        self._turns += 1
                        self._last_voice_end = event.last_speech_at + FRAME_S
                        self._last_speech_start = event.speech_started_at
                        if event.reason == "complete":
                            self.record.turns_ended_early += 1
                            to_recognizer.put_nowait(_EndedEarly())
                        log.info(
                            "turn ended",
                            extra={
                                "reason": event.reason,
                                "speech_ms": round(event.speech_s * 1000),
                                "silence_ms": round((ended - self._last_voice_end) * 1000),
                                "speculations": spec.count,
                                "voice_end_at": round(self._last_voice_end, 4),
                                "ended_at": round(ended, 4),
                            },
                        )
                        to_recognizer.put_nowait(ended)
                        watchdogs.add(asyncio.create_task(self._recognition_deadline(self._turns, ended)))
                        watchdogs = {w for w in watchdogs if not w.done()}
        finally:
            recognizer.cancel()
            for w in watchdogs:
                w.cancel()
            await asyncio.gather(recognizer, *watchdogs, return_exceptions=True)

    def _endpoint_step(
        self, spec: _Speculation, to_recognizer: asyncio.Queue[bytes | float | _PeekRequest | _EndedEarly]
    ) -> EndOfTurn | None:
        """Adaptive end of turn, one instant: start a speculative pass, or end a complete answer early."""
        settings = self.settings.endpointing
        started = getattr(self.detector, "speech_started_at", None)
        last = getattr(self.detector, "last_voiced_at", None)
        if settings is None or started is None or last is None:
            return None
        if spec.pending is not None and spec.pending.done():
            if spec.pending_for == last and not spec.pending.cancelled():
                spec.complete, spec.complete_for = spec.pending.result(), last
            spec.pending = None
        now = time.monotonic()
        budget = self.settings.speculation_budget
        silence_ms = (now - (last + FRAME_S)) * 1000
        complete = spec.complete if spec.complete_for == last else None
        grammar_complete = False
        if not complete and silence_ms >= min(settings.short_ms, settings.early_pass_after_ms):
            # The grammar recogniser's running hypothesis (100 ms behind the audio) may already hold the
            # answer while Whisper still decodes: the turn ends on the short window all the same, and
            # Whisper's pass starts early (its transcript is the final one).
            hypothesis = getattr(self._stream, "grammar_partial", "")
            grammar_complete = isinstance(hypothesis, str) and endpointing.grammar_hypothesis_complete(
                self._endpoint_kind, hypothesis
            )
        view = TurnView(
            speech_s=now - started,
            silence_ms=silence_ms,
            speculations=spec.count,
            speculating=spec.pending is not None and spec.pending_for == last,
            complete=complete,
            eligible=endpointing.may_end_early(self._endpoint_kind)
            and callable(getattr(self._stream, "peek", None)),
            can_peek=callable(getattr(self._stream, "peek", None)),
            grammar_complete=grammar_complete,
            # The grammar recogniser heard words, not yet a whole answer: the caller is likely to go on.
            grammar_decides=self._endpoint_kind in endpointing.GRAMMAR_CHECKED
            and bool(getattr(self._stream, "grammar_partial", "")),
        )
        final = grammar_complete  # the pass will be the turn's final transcript
        free = budget is None or (budget.free_for_final if final else budget.free)
        step = endpointing.next_step(settings, view, free, budget is None or budget.free_for_final)
        final = final or step is Step.LATE_PASS
        if step in (Step.SPECULATE, Step.LATE_PASS) and (budget is None or budget.try_acquire(final=final)):
            spec.count += 1
            spec.pending = asyncio.get_running_loop().create_future()
            spec.pending_for = last
            to_recognizer.put_nowait(_PeekRequest(spec.pending, self._endpoint_kind, self._endpoint_phrases))
        elif step is Step.END:
            end = getattr(self.detector, "end_turn", None)
            return end(now) if end is not None else None
        return None

    async def _recognition_deadline(self, turn: int, ended: float) -> None:
        """An overloaded recogniser must not leave the caller in silence: past the deadline the turn
        counts as not understood (the conversation reprompts, then hands over to a human)."""
        await asyncio.sleep(self.settings.recognition_timeout_s)
        if self._turns_answered < turn:
            self._turns_answered = turn
            log.warning("recogniser too slow; turn treated as not understood", extra={"turn": turn})
            self._inputs.put_nowait(_TurnEnded(Transcript("", True, 0.0), ended))

    async def _recognize(self, frames: asyncio.Queue[bytes | float | _PeekRequest | _EndedEarly]) -> None:
        turn = 0
        ended_early = False  # the turn about to end ended on the short window (a complete answer)
        passes: set[asyncio.Task[None]] = set()
        try:
            while True:
                item = await frames.get()
                stream = await self._ready_stream()
                if isinstance(item, _EndedEarly):
                    ended_early = True
                    pad = getattr(stream, "pad_grammar_tail", None)
                    if pad is not None:
                        await _uncancelled(pad())
                    continue
                if isinstance(item, _PeekRequest):
                    # In order after the frames it covers; it runs beside the next frames.
                    passes.add(asyncio.create_task(self._speculate(stream, item)))
                    passes = {p for p in passes if not p.done()}
                    continue
                await self._recognize_item(stream, item, turn, ended_early)
                if isinstance(item, float):
                    ended_early = False
                if isinstance(item, float):
                    turn += 1
        finally:
            for p in passes:
                p.cancel()
            await asyncio.gather(*passes, return_exceptions=True)

    async def _speculate(self, stream: RecognitionStream, request: _PeekRequest) -> None:
        """A speculative pass: the open recogniser over the turn so far, then the completeness check."""
        budget = self.settings.speculation_budget
        complete = False
        started = time.monotonic()
        heard: Transcript | None = None
        try:
            peek = getattr(stream, "peek", None)
            heard = await _uncancelled(peek()) if peek is not None else None
            if heard is not None and heard.text:
                complete = await asyncio.to_thread(
                    endpointing.is_complete_answer, request.kind, request.phrases, heard.text
                )
        except Exception:
            log.warning("speculative recognition failed", exc_info=True)
        finally:
            took = time.monotonic() - started
            if budget is not None:
                budget.release()
                if heard is not None:  # a pass called off before it ran says nothing of the speed
                    budget.record_pass(took)
            log.info("speculative pass", extra={"complete": complete, "pass_ms": round(took * 1000, 1)})
            if not request.complete.done():
                request.complete.set_result(complete)

    async def _recognize_item(
        self, stream: RecognitionStream, item: bytes | float, turn: int, ended_early: bool = False
    ) -> None:
        """One frame fed, or (a float: the end-of-turn time) the turn `turn` + 1 finished and reported."""
        if isinstance(item, float):
            if ended_early and self._optimistic_ready(stream):
                await self._finish_optimistically(stream, item, turn)
                return
            final = await _uncancelled(stream.finish())  # also readies the stream for the next turn
            if self._turns_answered < turn + 1:  # else the deadline already answered for this turn
                self._turns_answered = turn + 1
                self._inputs.put_nowait(_TurnEnded(final, item))
            elif final.text.strip() and self._turns == turn + 1:
                # Too late for the deadline (the caller was told "pas compris" and asked again), but the
                # caller has not spoken since: the words still count, as the answer to the question asked
                # again (an emergency said while the server was overloaded is not lost).
                log.warning("late recognition delivered", extra={"turn": turn + 1})
                self._inputs.put_nowait(_TurnEnded(final, item))
            return
        partial = await _uncancelled(stream.accept(item))
        if partial is not None and partial.text:
            log.debug("partial", extra={**self._speech_extra(partial.text), "final": partial.final})

    def _optimistic_ready(self, stream: RecognitionStream) -> bool:
        return (
            self.settings.urgent is not None
            and self.settings.endpointing is not None
            and self._endpoint_kind in endpointing.OPTIMISTIC
            and getattr(stream, "supports_provisional", False) is True
        )

    async def _finish_optimistically(self, stream: RecognitionStream, at: float, turn: int) -> None:
        """PocketSphinx's complete answer goes to the dialogue at once; Whisper's transcript, when it comes,
        goes through the safety net and interrupts the reply if it raises urgency."""
        kind = self._endpoint_kind
        given: list[Transcript] = []
        pending: asyncio.Future[_TurnEnded | None] = asyncio.get_running_loop().create_future()

        def provisional(heard: Transcript) -> None:
            if self._turns_answered >= turn + 1 or not endpointing.may_answer_optimistically(
                kind, heard.text
            ):
                return
            self._turns_answered = turn + 1
            given.append(heard)
            self.optimistic_answers += 1
            log.info("answered before Whisper", extra={"turn": turn + 1})
            self._final_pending = pending
            self._inputs.put_nowait(_TurnEnded(Transcript(heard.text, True, heard.confidence), at))

        finish = cast(Callable[..., Coroutine[Any, Any, Transcript]], stream.finish)
        try:
            final = await _uncancelled(finish(provisional=provisional))
        except BaseException:
            if not pending.done():
                pending.set_result(None)
            raise
        correction: _TurnEnded | None = None
        if not given:  # PocketSphinx's words were no complete answer (or came late): the usual path
            if self._turns_answered < turn + 1:
                self._turns_answered = turn + 1
                self._inputs.put_nowait(_TurnEnded(final, at))
            elif final.text.strip() and self._turns == turn + 1:  # as in _recognize_item: never lost
                log.warning("late recognition delivered", extra={"turn": turn + 1})
                self._inputs.put_nowait(_TurnEnded(final, at))
        elif not endpointing.same_answer(final.text, given[0].text):
            heard = " ".join(dict.fromkeys(t for t in (final.text, final.open_text or "") if t.strip()))
            urgent = self.settings.urgent
            raised = urgent is not None and await asyncio.to_thread(urgent, heard)
            log.info(
                "optimistic answer overtaken" if raised else "optimistic answer kept",
                extra={"turn": turn + 1},
            )
            if raised:
                self.optimistic_corrections += 1
                correction = _TurnEnded(final, at, correction=True)
        if self._final_pending is pending:
            self._final_pending = None
        if not pending.done():
            pending.set_result(correction)
        if correction is not None:  # even if the caller spoke since: the net hears every turn
            self._inputs.put_nowait(correction)


async def _uncancelled(op: Coroutine[Any, Any, T]) -> T:
    """Run a recogniser call to its end even if we are cancelled meanwhile.

    Recognisers work in native threads: cancelling the awaiting task does not stop the thread, and
    closing (or recycling) the recogniser while it still decodes crashed libvosk (segfault, seen in the
    bench). So the call always completes before the cancellation goes on.
    """
    task = asyncio.ensure_future(op)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.gather(task, return_exceptions=True)
        raise


def _describe_event(event: CallerEvent) -> str:
    if isinstance(event, Heard):
        return f"heard:{event.text[:60]}"
    if isinstance(event, Keypad):
        return f"keypad:{event.digits}"
    return type(event).__name__


def _describe_action(action: Action) -> dict[str, Any]:
    if isinstance(action, Say):
        return {"say": action.text, "expect": str(action.expect.kind) if action.expect else None}
    if isinstance(action, Transfer):
        return {"transfer": action.target, "priority": action.priority, "reason": action.reason}
    return {"hangup": action.reason}
