"""A real SIP user agent (pjsua2) for tests, benchmarks and `standardiste call`.

pjsua2 is a process-wide singleton and not thread-safe: one dedicated thread (the hub) owns
the library and runs every pjsua2 call; asyncio code submits work to it and polls state, so
the API works from any event loop (pytest-asyncio creates one per test). Several phones are
several accounts on the same library, each registering to its Asterisk.

Audio: the null sound device; the conference bridge runs at 16 kHz, so what a call hears is
recorded as 16 kHz mono 16-bit (slin16), the project's audio format.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import enum
import functools
import itertools
import logging
import os
import queue
import secrets
import tempfile
import threading
import time
import wave
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from standardiste.pbx.instance import PhoneAccount

log = logging.getLogger(__name__)
T = TypeVar("T")

CLOCK_RATE = 16000
MAX_CALLS_PER_PROCESS = 4
_WAV_HEADER = 44


class PhoneError(RuntimeError):
    pass


class _NoSlot(PhoneError):
    """pjsua2 has no free call slot right now."""


class CallState(enum.Enum):
    NULL = "null"
    CALLING = "calling"
    INCOMING = "incoming"
    EARLY = "early"  # ringing / early media
    CONNECTING = "connecting"
    CONFIRMED = "confirmed"  # answered, talking
    DISCONNECTED = "disconnected"


class AnswerMode(enum.Enum):
    ANSWER = "answer"  # answer after `delay_s`
    BUSY = "busy"  # reply 486 Busy Here
    NEVER = "never"  # ring (180) and never answer
    DECLINE = "decline"  # reply 603 Decline


@dataclass(frozen=True)
class AnswerPolicy:
    mode: AnswerMode = AnswerMode.ANSWER
    delay_s: float = 0.0


ANSWER_NOW = AnswerPolicy(AnswerMode.ANSWER, 0.0)
NEVER_ANSWER = AnswerPolicy(AnswerMode.NEVER)
BUSY = AnswerPolicy(AnswerMode.BUSY)


# ---------------------------------------------------------------------------------------------
# The hub: the one thread that owns pjsua2
# ---------------------------------------------------------------------------------------------
class _Hub:
    _instance: _Hub | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._stop = threading.Event()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.ep: Any = None
        self.objects: list[Any] = []  # pjsua2 objects to destroy before libDestroy
        self.calls: weakref.WeakSet[PhoneCall] = weakref.WeakSet()  # every call, for live_calls()
        self.thread = threading.Thread(target=self._run, name="pjsua2-hub", daemon=True)
        self.thread.start()
        self._ready.result(timeout=20)

    @classmethod
    def get(cls) -> _Hub:
        with cls._lock:
            if cls._instance is None or not cls._instance.thread.is_alive():
                cls._instance = _Hub()
                atexit.register(cls._instance.shutdown)
            return cls._instance

    def _run(self) -> None:
        try:
            import pjsua2 as pj

            ep = pj.Endpoint()
            # libCreate logs a few lines to stdout before any log level can be set: hide them.
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                ep.libCreate()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0  # events are polled by this thread only
            cfg.uaConfig.mainThreadOnly = False
            # The PyPI wheel is built with PJSUA_MAX_CALLS = 4: at most 4 calls per process
            # (both legs count). Load tests use several processes (bench/bench_calls.py).
            cfg.uaConfig.maxCalls = MAX_CALLS_PER_PROCESS
            cfg.uaConfig.userAgent = "Standardiste-TestPhone"
            cfg.logConfig.level = int(os.environ.get("STANDARDISTE_PJSIP_LOG", "1"))
            cfg.logConfig.consoleLevel = cfg.logConfig.level
            cfg.medConfig.clockRate = CLOCK_RATE
            cfg.medConfig.sndClockRate = CLOCK_RATE
            cfg.medConfig.channelCount = 1
            cfg.medConfig.noVad = True
            cfg.medConfig.ecTailLen = 0
            cfg.medConfig.maxMediaPorts = 254
            ep.libInit(cfg)
            tcfg = pj.TransportConfig()
            tcfg.port = 0
            tcfg.boundAddress = "127.0.0.1"
            ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            ep.libStart()
            ep.audDevManager().setNullDev()
            # Only G.711: what a French trunk carries, and what our Asterisk offers.
            for codec in ep.codecEnum2():
                prio = 0
                if codec.codecId.startswith("PCMA/"):
                    prio = 255
                elif codec.codecId.startswith("PCMU/"):
                    prio = 254
                ep.codecSetPriority(codec.codecId, prio)
            self.ep = ep
        except BaseException as err:  # report to the creator instead of dying silently
            self._ready.set_exception(err)
            return
        self._ready.set_result(None)
        while not self._stop.is_set():
            self._drain()
            try:
                ep.libHandleEvents(10)
            except Exception:
                log.exception("pjsua2 event loop error")
            self._run_timers()
        self._destroy()

    def _drain(self) -> None:
        while True:
            try:
                fn, fut = self._jobs.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as err:
                fut.set_exception(err)

    def _run_timers(self) -> None:
        now = time.monotonic()
        due = [t for t in self._timers if t[0] <= now]
        if due:
            self._timers = [t for t in self._timers if t[0] > now]
            for _, fn in due:
                try:
                    fn()
                except Exception:
                    log.exception("test phone timer failed")

    def later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Schedule fn on the hub thread (call only from the hub thread)."""
        self._timers.append((time.monotonic() + delay_s, fn))

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        if threading.current_thread() is self.thread:
            fut: concurrent.futures.Future[T] = concurrent.futures.Future()
            try:
                fut.set_result(fn())
            except BaseException as err:
                fut.set_exception(err)
            return fut
        fut = concurrent.futures.Future()
        self._jobs.put((fn, fut))
        return fut

    async def run(self, fn: Callable[[], T], timeout: float = 10.0) -> T:  # noqa: ASYNC109
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(fn)), timeout)

    def run_sync(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        return self.submit(fn).result(timeout)

    def _destroy(self) -> None:
        ep = self.ep
        if ep is None:
            return
        with contextlib.suppress(Exception):
            ep.hangupAllCalls()
            for _ in range(20):
                ep.libHandleEvents(10)
        # Calls, players, recorders and accounts must go before libDestroy or it aborts.
        for obj in reversed(self.objects):
            with contextlib.suppress(Exception):
                if hasattr(obj, "shutdown"):
                    obj.shutdown()
        self.objects.clear()
        import gc

        gc.collect()
        with contextlib.suppress(Exception):
            ep.libDestroy()
        self.ep = None

    def shutdown(self) -> None:
        if self.thread.is_alive():
            self._stop.set()
            self.thread.join(timeout=10)


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------
_PJ_STATES = {
    0: CallState.NULL,
    1: CallState.CALLING,
    2: CallState.INCOMING,
    3: CallState.EARLY,
    4: CallState.CONNECTING,
    5: CallState.CONFIRMED,
    6: CallState.DISCONNECTED,
}


def _make_call_class() -> type:
    import pjsua2 as pj

    class _PjCall(pj.Call):  # type: ignore[misc]
        def __init__(self, owner: PhoneCall, account: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
            super().__init__(account, call_id)
            self.owner = owner

        def onCallState(self, prm: Any) -> None:
            self.owner._on_state(self)

        def onCallMediaState(self, prm: Any) -> None:
            self.owner._on_media(self)

        def onDtmfDigit(self, prm: Any) -> None:
            self.owner.digits_received += prm.digit

    return _PjCall


_call_class: type | None = None
_ids = itertools.count(1)


class PhoneCall:
    """One call of a TestPhone, outgoing or incoming. Awaitable helpers poll thread-safe state."""

    def __init__(self, phone: TestPhone, direction: str, remote: str) -> None:
        self.phone = phone
        self.direction = direction
        self.remote = remote
        self.id = next(_ids)
        self.state = CallState.NULL
        self.status_code: int | None = None
        self.reason = ""
        self.digits_received = ""
        self.media_active = False
        self.created_at = time.monotonic()
        self.answered_at: float | None = None  # CONFIRMED
        self.media_at: float | None = None
        self.ended_at: float | None = None
        self.record_path = phone.record_dir / f"{phone.account.username}-call{self.id}.wav"
        self.record_started_at: float | None = None
        self._pj: Any = None
        self._audio: Any = None
        self._recorder: Any = None
        self._players: list[Any] = []

    # --- hub-thread side -------------------------------------------------------------------
    def _on_state(self, pjcall: Any) -> None:
        info = pjcall.getInfo()
        state = _PJ_STATES.get(info.state, CallState.NULL)
        if info.lastStatusCode:
            self.status_code = int(info.lastStatusCode)
            self.reason = info.lastReason
        if state is CallState.CONFIRMED and self.answered_at is None:
            self.answered_at = time.monotonic()
        if state is CallState.DISCONNECTED:
            self.ended_at = time.monotonic()
            self.media_active = False
            self._release_media()
        self.state = state

    def _on_media(self, pjcall: Any) -> None:
        import pjsua2 as pj

        info = pjcall.getInfo()
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = pjcall.getAudioMedia(i)
                self._audio = audio
                if self._recorder is None:
                    recorder = pj.AudioMediaRecorder()
                    recorder.createRecorder(str(self.record_path))
                    self._recorder = recorder
                    self.phone._hub.objects.append(recorder)
                    self.record_started_at = time.monotonic()
                audio.startTransmit(self._recorder)
                self.media_active = True
                if self.media_at is None:
                    self.media_at = time.monotonic()
                return

    def _release_media(self) -> None:
        for player in self._players:
            with contextlib.suppress(Exception):
                player.stopTransmit(self._audio)
        self._audio = None
        # Players and the recorder hold pjsua's few media slots (32 of each per process): a phone that
        # places many calls ran out ("Too many objects", PJ_ETOOMANY, at the 8th spoken call). Freed on
        # the hub thread once this callback has returned; the recording stays on disk.
        self.phone._hub.later(0.2, self._free_media)

    def _free_media(self) -> None:
        """Hub thread: destroy this call's players and recorder (dropping pjsua2's last reference)."""
        hub = self.phone._hub
        for obj in [*self._players, self._recorder]:
            if obj is not None:
                with contextlib.suppress(ValueError):
                    hub.objects.remove(obj)
        self._players.clear()
        self._recorder = None

    def _free_player(self, player: Any) -> None:
        """Hub thread: a player that has played its file is destroyed (one of pjsua's 32 slots)."""
        if self._audio is not None:
            with contextlib.suppress(Exception):
                player.stopTransmit(self._audio)
        with contextlib.suppress(ValueError):
            self._players.remove(player)
        with contextlib.suppress(ValueError):
            self.phone._hub.objects.remove(player)

    # --- asyncio side ----------------------------------------------------------------------
    async def wait_state(self, *states: CallState, timeout: float = 10.0) -> CallState:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while self.state not in states:
            if self.state is CallState.DISCONNECTED:
                raise PhoneError(
                    f"call {self.remote} ended ({self.status_code} {self.reason}) "
                    f"while waiting for {', '.join(s.value for s in states)}"
                )
            if time.monotonic() > deadline:
                raise PhoneError(f"call {self.remote}: still {self.state.value} after {timeout:.1f} s")
            await asyncio.sleep(0.02)
        return self.state

    async def wait_answered(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.wait_state(CallState.CONFIRMED, timeout=timeout)
        await self.wait_media(timeout)

    async def wait_media(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not self.media_active:
            if self.state is CallState.DISCONNECTED or time.monotonic() > deadline:
                raise PhoneError(f"call {self.remote}: no audio ({self.state.value})")
            await asyncio.sleep(0.02)

    async def wait_disconnected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while self.state is not CallState.DISCONNECTED:
            if time.monotonic() > deadline:
                raise PhoneError(f"call {self.remote}: not ended after {timeout:.1f} s ({self.state.value})")
            await asyncio.sleep(0.02)

    @property
    def ended(self) -> bool:
        return self.state is CallState.DISCONNECTED

    async def answer(self, code: int = 200) -> None:
        import pjsua2 as pj

        def do() -> None:
            prm = pj.CallOpParam()
            prm.statusCode = code
            self._pj.answer(prm)

        await self.phone._hub.run(do)

    async def hangup(self) -> None:
        import pjsua2 as pj

        def do() -> None:
            # pjsua asserts (abort) on a call id already released: check it first.
            if self.state is not CallState.DISCONNECTED and self._pj is not None and self._pj.getId() >= 0:
                with contextlib.suppress(Exception):
                    self._pj.hangup(pj.CallOpParam())

        await self.phone._hub.run(do)
        with contextlib.suppress(PhoneError):
            await self.wait_disconnected(5.0)

    async def send_dtmf(self, digits: str, gap_s: float = 0.25) -> None:
        """Send keypad digits as RFC 2833/4733 telephone events, one by one."""
        import pjsua2 as pj

        for digit in digits:
            if self.ended:
                raise PhoneError(f"call {self.remote} ended while sending keys")
            try:
                await self.phone._hub.run(functools.partial(self._pj.dialDtmf, digit))
            except pj.Error as err:  # e.g. the far end hung up between two keys
                raise PhoneError(f"call {self.remote}: cannot send key {digit!r}: {err.info()}") from None
            await asyncio.sleep(gap_s)

    async def play(self, wav: Path | str, wait: bool = True) -> float:
        """Play a WAV file into the call (what the far end hears); returns its duration in seconds."""
        import pjsua2 as pj

        wav = Path(wav)
        with wave.open(str(wav)) as w:
            duration = w.getnframes() / w.getframerate()
        await self.wait_media()

        def do() -> None:
            player = pj.AudioMediaPlayer()
            player.createPlayer(str(wav), pj.PJMEDIA_FILE_NO_LOOP)
            self.phone._hub.objects.append(player)
            self._players.append(player)
            player.startTransmit(self._audio)
            self.phone._hub.later(duration + 0.5, lambda: self._free_player(player))

        await self.phone._hub.run(do)
        if wait:
            await asyncio.sleep(duration + 0.1)
        return duration

    async def play_pcm(self, pcm: bytes, rate: int = CLOCK_RATE, wait: bool = True) -> float:
        """Play signed 16-bit mono PCM into the call."""
        path = self.phone.record_dir / f"play-{self.id}-{secrets.token_hex(4)}.wav"
        write_wav(path, pcm, rate)
        return await self.play(path, wait=wait)

    def heard_pcm(self) -> bytes:
        """What this phone heard so far: slin16 (16 kHz mono s16le). Safe while the call goes on."""
        try:
            data = self.record_path.read_bytes()
        except OSError:
            return b""
        pcm = data[_WAV_HEADER:]
        return pcm[: len(pcm) - len(pcm) % 2]

    def heard_seconds(self) -> float:
        return len(self.heard_pcm()) / (2 * CLOCK_RATE)

    async def wait_heard(self, seconds: float, timeout: float = 30.0) -> bytes:  # noqa: ASYNC109
        """Wait until at least `seconds` of audio were recorded; returns it."""
        deadline = time.monotonic() + timeout
        while self.heard_seconds() < seconds:
            if self.ended or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        return self.heard_pcm()

    async def wait_sound(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109
        threshold: float = 300.0,
        after_s: float = 0.0,
    ) -> float:
        """Wait until the heard audio is louder than `threshold` (RMS) after `after_s` seconds of
        recording; returns the position (seconds into the recording) where sound starts."""
        from standardiste.testphone.audio import first_sound

        deadline = time.monotonic() + timeout
        while True:
            pos = first_sound(self.heard_pcm(), CLOCK_RATE, threshold=threshold, start_s=after_s)
            if pos is not None:
                return pos
            if self.ended or time.monotonic() > deadline:
                raise PhoneError(f"call {self.remote}: heard no sound in {timeout:.1f} s")
            await asyncio.sleep(0.05)

    def save_heard(self, path: Path) -> Path:
        write_wav(path, self.heard_pcm(), CLOCK_RATE)
        return path


# ---------------------------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------------------------
class TestPhone:
    """One SIP account (a phone) on the shared pjsua2 hub.

    `answer`: what to do with incoming calls (answer after N s, busy, never, decline).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        account: PhoneAccount,
        answer: AnswerPolicy = ANSWER_NOW,
        record_dir: Path | None = None,
        register: bool = True,
    ) -> None:
        self.account = account
        self.answer_policy = answer
        self.record_dir = Path(record_dir or tempfile.mkdtemp(prefix=f"phone-{account.username}-"))
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.calls: list[PhoneCall] = []
        self.registered = False
        self.reg_status: int | None = None
        self._wants_registration = register
        self._hub = _Hub.get()
        self._acc: Any = None

    async def start(self, timeout: float = 10.0) -> TestPhone:  # noqa: ASYNC109
        """Create the account and (if asked) wait until it is registered."""
        await self._hub.run(self._create)
        if self._wants_registration:
            await self.wait_registered(timeout)
        return self

    async def __aenter__(self) -> TestPhone:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _create(self) -> None:
        import pjsua2 as pj

        phone = self
        call_class = _get_call_class()

        class _Account(pj.Account):  # type: ignore[misc]
            def onRegState(self, prm: Any) -> None:
                info = self.getInfo()
                phone.reg_status = int(info.regStatus)
                phone.registered = bool(info.regIsActive) and 200 <= info.regStatus < 300

            def onIncomingCall(self, prm: Any) -> None:
                call = PhoneCall(phone, "in", "")
                pjcall = call_class(call, self, prm.callId)
                call._pj = pjcall
                phone._hub.objects.append(pjcall)
                phone._hub.calls.add(call)
                with contextlib.suppress(Exception):
                    call.remote = pjcall.getInfo().remoteUri
                call.state = CallState.INCOMING
                phone.calls.append(call)
                phone._auto_answer(call)

        acc = self.account
        cfg = pj.AccountConfig()
        cfg.idUri = f'"{acc.username}" <sip:{acc.username}@{acc.host}:{acc.port}>'
        if self._wants_registration:
            cfg.regConfig.registrarUri = acc.registrar
            cfg.regConfig.timeoutSec = 300
            cfg.regConfig.retryIntervalSec = 2
        cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", acc.username, 0, acc.password))
        cfg.natConfig.contactRewriteUse = 0
        cfg.natConfig.viaRewriteUse = 0
        cfg.natConfig.sdpNatRewriteUse = 0
        cfg.natConfig.sipOutboundUse = 0
        cfg.mediaConfig.transportConfig.port = 20000 + secrets.randbelow(20000) * 2
        cfg.mediaConfig.transportConfig.portRange = 2000
        cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        account = _Account()
        account.create(cfg)
        self._acc = account
        self._hub.objects.append(account)

    def _auto_answer(self, call: PhoneCall) -> None:
        """Runs on the hub thread, inside onIncomingCall."""
        import pjsua2 as pj

        policy = self.answer_policy

        def reply(code: int) -> None:
            if call.state is CallState.DISCONNECTED or call._pj is None or call._pj.getId() < 0:
                return
            prm = pj.CallOpParam()
            prm.statusCode = code
            with contextlib.suppress(Exception):
                call._pj.answer(prm)

        if policy.mode is AnswerMode.BUSY:
            reply(486)
        elif policy.mode is AnswerMode.DECLINE:
            reply(603)
        else:
            reply(180)
            if policy.mode is AnswerMode.ANSWER:
                self._hub.later(policy.delay_s, lambda: reply(200))

    async def wait_registered(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not self.registered:
            if time.monotonic() > deadline:
                raise PhoneError(
                    f"phone {self.account.username} not registered to {self.account.registrar} "
                    f"(last status {self.reg_status})"
                )
            await asyncio.sleep(0.02)

    async def call(
        self, extension: str, answer_timeout: float | None = None, slot_wait_s: float = 10.0
    ) -> PhoneCall:
        """Call an extension (e.g. '100') on our Asterisk. With answer_timeout, wait for the answer.

        pjsua2 frees a call slot some time after the call ended (its SIP transactions must
        finish): when all slots are taken, retry for up to slot_wait_s seconds.
        """
        deadline = time.monotonic() + slot_wait_s
        while True:
            try:
                return await self._call_once(extension, answer_timeout)
            except _NoSlot as err:
                if time.monotonic() > deadline:
                    raise PhoneError(str(err)) from None
                await asyncio.sleep(0.1)

    async def _call_once(self, extension: str, answer_timeout: float | None) -> PhoneCall:
        import pjsua2 as pj

        uri = f"sip:{extension}@{self.account.host}:{self.account.port}"
        call = PhoneCall(self, "out", uri)

        def do() -> None:
            pjcall = _get_call_class()(call, self._acc)
            call._pj = pjcall
            self._hub.objects.append(pjcall)
            self._hub.calls.add(call)
            prm = pj.CallOpParam(True)
            call.state = CallState.CALLING
            try:
                pjcall.makeCall(uri, prm)
            except pj.Error as err:
                call.state = CallState.DISCONNECTED
                call.ended_at = time.monotonic()
                self._hub.objects.remove(pjcall)
                call._pj = None
                busy = sum(1 for c in self._hub_calls() if not c.ended)
                error = _NoSlot if "PJ_ETOOMANY" in err.info() else PhoneError
                raise error(
                    f"cannot call {uri}: {err.info()} (this phone has {busy} call(s) in progress; "
                    f"pjsua2 allows {MAX_CALLS_PER_PROCESS} at once per process: hang up or close phones)"
                ) from None

        await self._hub.run(do)
        self.calls.append(call)
        if answer_timeout is not None:
            try:
                await call.wait_answered(answer_timeout)
            except BaseException:
                # Not answered (or no audio) in time: hang it up so that it does not hold one of the
                # process's few call slots for ever (the next calls would fail with "too many calls").
                await asyncio.shield(self._release(call))
                raise
        return call

    async def _release(self, call: PhoneCall) -> None:
        """Hang up a call that is still up, and wait for pjsua2 to mark it disconnected."""
        if not call.ended:
            with contextlib.suppress(PhoneError, TimeoutError):
                await call.hangup()

    async def wait_incoming(self, timeout: float = 10.0, answered: bool | None = None) -> PhoneCall:  # noqa: ASYNC109
        """The next incoming call not yet returned by this method. With answered=True (default when the
        policy answers), also wait until it is answered and has audio."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls:
                if call.direction == "in" and not getattr(call, "_claimed", False):
                    call._claimed = True  # type: ignore[attr-defined]
                    if answered is None:
                        answered = self.answer_policy.mode is AnswerMode.ANSWER
                    if answered:
                        await call.wait_answered(max(0.5, deadline - time.monotonic()))
                    return call
            if time.monotonic() > deadline:
                raise PhoneError(f"phone {self.account.username}: no incoming call in {timeout:.1f} s")
            await asyncio.sleep(0.02)

    def _hub_calls(self) -> list[PhoneCall]:
        return [c for c in self.calls if c._pj is not None]

    def incoming_calls(self) -> list[PhoneCall]:
        return [c for c in self.calls if c.direction == "in"]

    async def hangup_all(self) -> None:
        for call in self.calls:
            if not call.ended:
                await call.hangup()

    async def close(self) -> None:
        """Hang up, unregister, delete the account (calls first, as pjsua2 requires)."""
        await self.hangup_all()

        def do() -> None:
            for call in self.calls:
                if call._recorder is not None:
                    with contextlib.suppress(Exception):
                        self._hub.objects.remove(call._recorder)
                    call._recorder = None
                if call._pj is not None:
                    with contextlib.suppress(ValueError):
                        self._hub.objects.remove(call._pj)
                    call._pj = None
                for player in call._players:
                    with contextlib.suppress(ValueError):
                        self._hub.objects.remove(player)
                call._players.clear()
            if self._acc is not None:
                with contextlib.suppress(Exception):
                    self._acc.shutdown()
                with contextlib.suppress(ValueError):
                    self._hub.objects.remove(self._acc)
                self._acc = None
            import gc

            gc.collect()

        await self._hub.run(do)
        self.registered = False


def _get_call_class() -> type:
    global _call_class
    if _call_class is None:
        _call_class = _make_call_class()
    return _call_class


def write_wav(path: Path, pcm: bytes, rate: int = CLOCK_RATE) -> Path:
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def read_wav(path: Path) -> tuple[bytes, int]:
    """PCM bytes and rate of a 16-bit mono WAV."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        return w.readframes(w.getnframes()), w.getframerate()


def live_calls() -> list[PhoneCall]:
    """Calls of this process not yet ended (each holds one of pjsua2's 4 call slots)."""
    hub = _Hub._instance
    return [c for c in list(hub.calls) if not c.ended] if hub is not None else []


def shutdown_phones() -> None:
    """Stop the pjsua2 hub (normally done at exit)."""
    if _Hub._instance is not None:
        _Hub._instance.shutdown()
