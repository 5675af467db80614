"""The controller: ARI events in, one CallSession task per caller channel.

A failing session never touches another (each is its own task, errors are contained in it);
on shutdown every live call is handed to reception rather than dropped.

The ARI event handler only routes: it never waits on anything slow. A new call's session is built
(practice settings and agenda read from the database) in a worker thread by a task of its own;
that call's events arriving meanwhile are held and replayed once it exists. Nothing of an ended call
stays here: `ended` keeps the last few records for tests and benches (bounded), `on_ended`
callbacks see each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from standardiste.pbx.dialplan import (
    MESSAGE,
    QUEUE,
    STASIS_ARG_OUTBOUND,
    STASIS_ARG_TRANSFER_FAILED,
    TransferTarget,
)
from standardiste.telephony.admission import Admission, AdmissionSettings, Load, decide
from standardiste.telephony.ari import (
    AriClient,
    AriEvent,
    Channel,
    ChannelHangup,
    DtmfReceived,
    StasisEnd,
    StasisStart,
)
from standardiste.telephony.leg import AriCallLeg, LegSettings
from standardiste.telephony.session import CallSession, SessionRecord

log = logging.getLogger(__name__)

# Builds the session for a new call: (call id, caller channel, its leg, Stasis args) -> session.
SessionFactory = Callable[[str, Channel, AriCallLeg, tuple[str, ...]], CallSession]


@dataclass(slots=True)
class _Live:
    session: CallSession
    leg: AriCallLeg
    task: asyncio.Task[SessionRecord]


@dataclass(slots=True)
class _Starting:
    leg: AriCallLeg
    task: asyncio.Task[None]
    early: list[AriEvent] = field(default_factory=list)  # its events while the session is being built


@dataclass(slots=True)
class ControllerStats:
    calls_started: int = 0
    calls_ended: int = 0
    sessions_failed: int = 0
    calls_queued: int = 0  # overload: new callers sent to the reception's waiting line
    calls_to_message: int = 0  # back from the waiting line unanswered, still overloaded: message box


# Ended records kept for whoever awaits `Controller.ended` (tests, benches); older ones are dropped.
KEEP_ENDED = 16


class EndedRecords(asyncio.Queue[SessionRecord]):
    """The last KEEP_ENDED ended calls' records, oldest dropped first: never grows with traffic."""

    def __init__(self, keep: int = KEEP_ENDED) -> None:
        super().__init__(maxsize=keep)

    def put_nowait(self, item: SessionRecord) -> None:
        if self.full():
            self.get_nowait()
        super().put_nowait(item)


class Controller:
    def __init__(
        self,
        ari: AriClient,
        session_factory: SessionFactory,
        leg_settings: LegSettings | None = None,
        admission: AdmissionSettings | None = None,
        queue_delay: Callable[[], float | None] | None = None,
    ) -> None:
        self.ari = ari
        # Beyond capacity new callers go to the waiting line (telephony.admission); None: all admitted.
        self.admission = admission
        self.queue_delay = queue_delay  # the recogniser's queue delay (admission.QueueDelayProbe)
        self._refusing: set[asyncio.Task[None]] = set()
        self.session_factory = session_factory
        self.leg_settings = leg_settings or LegSettings()
        self.calls: dict[str, _Live] = {}  # caller channel id -> live call
        self._media_owner: dict[str, AriCallLeg] = {}  # media channel id -> its leg
        self._starting: dict[str, _Starting] = {}  # caller channel id -> session being built
        self.stats = ControllerStats()
        self.ended = EndedRecords()
        self.on_ended: list[Callable[[SessionRecord], None]] = []

    async def start(self) -> None:
        self.ari.start_events(self.on_event)

    async def stop(self) -> None:
        """Hand live calls to reception, then close the ARI connection."""
        starting = list(self._starting.values())
        for pending in starting:
            pending.task.cancel()
        if starting:
            await asyncio.gather(*(p.task for p in starting), return_exceptions=True)
        live = list(self.calls.values())
        for call in live:
            call.task.cancel()
        if live:
            await asyncio.gather(*(c.task for c in live), return_exceptions=True)
        await self.ari.close()

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            await self._stasis_start(event)
        elif (
            isinstance(event, DtmfReceived | ChannelHangup | StasisEnd) and event.channel.id in self._starting
        ):
            self._starting[event.channel.id].early.append(event)
        elif isinstance(event, DtmfReceived):
            call = self.calls.get(event.channel.id)
            if call is not None:
                call.session.digit(event.digit)
        elif isinstance(event, ChannelHangup | StasisEnd):
            call = self.calls.get(event.channel.id)
            if call is None:
                return
            # Leaving Stasis after our own transfer is expected; the hang-up comes later.
            if isinstance(event, StasisEnd) and call.session.transferred:
                return
            call.session.hung_up()

    async def _stasis_start(self, event: StasisStart) -> None:
        channel = event.channel
        owner = self._media_owner.get(channel.id)
        if owner is not None:
            owner.media_entered_stasis()
            return
        if channel.name.startswith("WebSocket/"):
            return  # a media channel of a call that is already over
        args = event.args
        live = self.calls.get(channel.id)
        if live is not None:
            if args and args[0] == STASIS_ARG_TRANSFER_FAILED:
                live.session.returned(args[1] if len(args) > 1 else "NOANSWER")
            return
        if channel.id in self._starting:
            return
        verdict = self._admit(args)
        if verdict is not Admission.ADMIT:
            self._refuse(channel, verdict)
            return
        leg = _TrackedLeg(self.ari, channel, self.leg_settings, self._media_owner)
        task = asyncio.create_task(self._start_call(channel, leg, args), name=f"start-{channel.id}")
        self._starting[channel.id] = _Starting(leg, task)

    def load(self) -> Load:
        delay = None
        if self.queue_delay is not None:
            try:
                delay = self.queue_delay()
            except Exception:
                log.exception("recogniser queue delay unavailable")
        return Load(calls=len(self.calls) + len(self._starting), queue_delay_s=delay)

    def _admit(self, args: tuple[str, ...]) -> Admission:
        if self.admission is None or (args and args[0] == STASIS_ARG_OUTBOUND):
            return Admission.ADMIT  # our own reminder calls are placed by us, within our means
        back = bool(args) and args[0] == STASIS_ARG_TRANSFER_FAILED
        return decide(self.admission, self.load(), back_from_queue=back)

    def _refuse(self, channel: Channel, verdict: Admission) -> None:
        """Overloaded: the caller goes to the waiting line (ringback, emergency sentence, a human)."""
        target = MESSAGE if verdict is Admission.MESSAGE else QUEUE
        if verdict is Admission.MESSAGE:
            self.stats.calls_to_message += 1
        else:
            self.stats.calls_queued += 1
        load = self.load()
        log.warning(
            "overloaded: caller sent to the waiting line",
            extra={"target": target.extension, "calls": load.calls, "queue_delay_s": load.queue_delay_s},
        )
        task = asyncio.create_task(self._send_to(channel.id, target), name=f"refuse-{channel.id}")
        self._refusing.add(task)
        task.add_done_callback(self._refusing.discard)

    async def _send_to(self, channel_id: str, target: TransferTarget) -> None:
        try:
            await self.ari.continue_in_dialplan(channel_id, target.context, target.extension, target.priority)
        except Exception:
            # Left in Stasis, the dialplan's watchdog hands the caller to reception within seconds.
            log.exception("overload transfer failed", extra={"call_id": channel_id})

    async def _start_call(self, channel: Channel, leg: AriCallLeg, args: tuple[str, ...]) -> None:
        call_id = channel.id
        try:
            # Off the event loop: building a session reads the practice's settings and agenda.
            session = await asyncio.to_thread(self.session_factory, call_id, channel, leg, args)
        except asyncio.CancelledError:
            self._starting.pop(channel.id, None)
            with contextlib.suppress(Exception):
                await leg.transfer()  # stopping: the caller goes to reception, as live calls do
            raise
        except Exception:
            self._starting.pop(channel.id, None)
            log.exception(
                "cannot build a call session; sending the caller to reception", extra={"call_id": call_id}
            )
            await leg.transfer()
            return
        pending = self._starting.pop(channel.id, None)
        self.stats.calls_started += 1
        task = asyncio.create_task(session.run(), name=f"call-{call_id}")
        self.calls[channel.id] = _Live(session, leg, task)
        cid = channel.id
        task.add_done_callback(lambda t: self._ended(cid, t))
        for early in pending.early if pending is not None else ():
            await self.on_event(early)

    def _ended(self, channel_id: str, task: asyncio.Task[SessionRecord]) -> None:
        live = self.calls.pop(channel_id, None)
        if live is not None and live.leg.media_channel_id is not None:
            self._media_owner.pop(live.leg.media_channel_id, None)
        self.stats.calls_ended += 1
        if task.cancelled():
            return
        if task.exception() is not None:
            self.stats.sessions_failed += 1
            log.error("call session crashed", exc_info=task.exception(), extra={"call_id": channel_id})
            return
        record = task.result()
        self.ended.put_nowait(record)
        for callback in self.on_ended:
            try:
                callback(record)
            except Exception:
                log.exception("on_ended callback failed", extra={"call_id": channel_id})


class _TrackedLeg(AriCallLeg):
    """An AriCallLeg that registers its media channel with the controller before it can enter Stasis."""

    def __init__(
        self, ari: AriClient, channel: Channel, settings: LegSettings, registry: dict[str, AriCallLeg]
    ) -> None:
        super().__init__(ari, channel, settings)
        self._registry = registry

    async def open_media(self, on_frame: Callable[[bytes], None]) -> None:
        old = self.media_channel_id
        if old is not None:
            self._registry.pop(old, None)
        await super().open_media(on_frame)

    def _new_media_id(self) -> str:
        media_id = super()._new_media_id()
        self._registry[media_id] = self
        return media_id
