"""The controller: ARI events in, one CallSession task per caller channel.

A failing session never touches another (each is its own task, errors are contained in it);
on shutdown every live call is handed to reception rather than dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from standardiste.pbx.dialplan import STASIS_ARG_TRANSFER_FAILED
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
class ControllerStats:
    calls_started: int = 0
    calls_ended: int = 0
    sessions_failed: int = 0
    records: list[SessionRecord] = field(default_factory=list)  # the last few, for tests and benches
    keep_records: int = 200


class Controller:
    def __init__(
        self, ari: AriClient, session_factory: SessionFactory, leg_settings: LegSettings | None = None
    ) -> None:
        self.ari = ari
        self.session_factory = session_factory
        self.leg_settings = leg_settings or LegSettings()
        self.calls: dict[str, _Live] = {}  # caller channel id -> live call
        self._media_owner: dict[str, AriCallLeg] = {}  # media channel id -> its leg
        self.stats = ControllerStats()
        self.ended = asyncio.Queue[SessionRecord]()

    async def start(self) -> None:
        self.ari.start_events(self.on_event)

    async def stop(self) -> None:
        """Hand live calls to reception, then close the ARI connection."""
        live = list(self.calls.values())
        for call in live:
            call.task.cancel()
        if live:
            await asyncio.gather(*(c.task for c in live), return_exceptions=True)
        await self.ari.close()

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            await self._stasis_start(event)
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
        call_id = channel.id
        leg = _TrackedLeg(self.ari, channel, self.leg_settings, self._media_owner)
        try:
            session = self.session_factory(call_id, channel, leg, args)
        except Exception:
            log.exception(
                "cannot build a call session; sending the caller to reception", extra={"call_id": call_id}
            )
            await leg.transfer()
            return
        self.stats.calls_started += 1
        task = asyncio.create_task(session.run(), name=f"call-{call_id}")
        self.calls[channel.id] = _Live(session, leg, task)
        task.add_done_callback(lambda t, cid=channel.id: self._ended(cid, t))

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
        self.stats.records.append(record)
        del self.stats.records[: -self.stats.keep_records]
        self.ended.put_nowait(record)


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
