"""The real CallLeg: one caller channel in Stasis, its chan_websocket media channel and their bridge.

While we own the channel we renew the dialplan's dead-man timer (TIMEOUT(absolute)); if this
process dies or stalls, the timer fires and the dialplan sends the caller to reception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from standardiste.pbx.dialplan import (
    DEFAULT_WATCHDOG_S,
    MESSAGE,
    RECEPTION,
    URGENT,
    WATCHDOG_RENEW_S,
    WATCHDOG_VARIABLE,
    TransferTarget,
)
from standardiste.telephony.ari import AriClient, AriError, Channel
from standardiste.telephony.media import MediaConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LegSettings:
    reception: TransferTarget = RECEPTION
    urgent: TransferTarget = URGENT
    message_box: TransferTarget = MESSAGE  # the fallback's voice message box (pbx/messages.py)
    watchdog_s: int = DEFAULT_WATCHDOG_S
    watchdog_renew_s: float = WATCHDOG_RENEW_S
    media_timeout_s: float = 5.0
    lead_frames: int = 3
    # privacy.record_audio: Asterisk records the bridge (caller + assistant) as a WAV in its recording dir.
    record_audio: bool = False


class AriCallLeg:
    def __init__(self, ari: AriClient, channel: Channel, settings: LegSettings | None = None) -> None:
        self.ari = ari
        self.channel = channel
        self.channel_id = channel.id
        self.settings = settings or LegSettings()
        self.media_lost = asyncio.Event()
        self.media_channel_id: str | None = None
        self._bridge_id: str | None = None
        self._media: MediaConnection | None = None
        self._media_in_stasis = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False
        # Name of this call's recording (file NAME.wav in Asterisk's recording dir), once started.
        self.recording: str | None = None

    # --- the controller tells us about our media channel -----------------------------------------

    def media_entered_stasis(self) -> None:
        self._media_in_stasis.set()

    # --- CallLeg ---------------------------------------------------------------------------------

    async def answer(self) -> None:
        self._start_watchdog()
        if self.channel.state != "Up":  # outbound calls arrive already answered
            await self.ari.answer(self.channel_id)

    async def open_media(self, on_frame: Callable[[bytes], None]) -> None:
        await self._close_media()
        self._closing = False
        self.media_lost.clear()
        self._media_in_stasis.clear()
        self._start_watchdog()
        media_id = self._new_media_id()
        self.media_channel_id = media_id
        bridge_id = f"bridge-{media_id}"
        # The caller's side of the bridge is set up while the media channel is being created.
        bridging = asyncio.create_task(self._bridge_caller(bridge_id))
        try:
            created = await self.ari.external_media_websocket(media_id)
            conn_id = created.channelvars.get("MEDIA_WEBSOCKET_CONNECTION_ID")
            if not conn_id:
                raise AriError("externalMedia returned no MEDIA_WEBSOCKET_CONNECTION_ID")
            ws_base = self.ari.base_url.replace("http://", "ws://").replace("https://", "wss://")
            media = MediaConnection(
                f"{ws_base}/media/{conn_id}",
                self.ari.auth_headers,
                on_frame,
                lead_frames=self.settings.lead_frames,
                session=self.ari.session,
            )
            self._media = media
            await media.connect()
            media.closed_callback = self._on_media_closed
            # A websocket channel enters Stasis only once we are connected; bridging earlier gives 422.
            async with asyncio.timeout(self.settings.media_timeout_s):
                await self._media_in_stasis.wait()
        finally:
            await asyncio.gather(bridging, return_exceptions=True)
        bridging.result()  # re-raise a bridging error
        await self.ari.add_to_bridge(bridge_id, [media_id])

    async def _bridge_caller(self, bridge_id: str) -> None:
        await self.ari.create_bridge(bridge_id)
        self._bridge_id = bridge_id
        await self.ari.add_to_bridge(bridge_id, [self.channel_id])
        if self.settings.record_audio:
            await self._record(bridge_id)

    async def _record(self, bridge_id: str) -> None:
        """Record the bridge (what the caller says and hears), started before our first frame.

        A failed recording never fails the call: it is logged and the call goes on unrecorded.
        After a failed transfer the new bridge appends to the same file.
        """
        name = self.recording or recording_name(self.channel_id)
        params = {
            "name": name,
            "format": "wav",
            "ifExists": "append" if self.recording else "fail",
            "beep": "false",
            "terminateOn": "none",
        }
        try:
            await self.ari.request("POST", f"/bridges/{bridge_id}/record", params)
        except AriError as err:
            log.error("call recording could not start", extra={"error": str(err), "recording": name})
            return
        self.recording = name

    def _new_media_id(self) -> str:
        return f"media-{self.channel_id}-{uuid.uuid4().hex[:8]}"

    def _on_media_closed(self) -> None:
        if not self._closing:
            self.media_lost.set()

    async def play(self, pcm: bytes, on_first_frame: Callable[[], None] | None = None) -> bool:
        if self._media is None:
            return False
        return await self._media.play(pcm, on_first_frame)

    async def stop_playback(self) -> None:
        if self._media is not None:
            await self._media.stop_playback()

    async def transfer(self, priority: bool = False, message_box: bool = False) -> None:
        target = self.settings.urgent if priority else self.settings.reception
        if message_box:
            target = self.settings.message_box
        self._stop_watchdog()
        # Keep hearing about this channel after it leaves Stasis: its hang-up ends our session.
        with contextlib.suppress(AriError):
            await self.ari.request(
                "POST",
                f"/applications/{self.ari.app}/subscription",
                {"eventSource": f"channel:{self.channel_id}"},
            )
        await self._close_media()
        await self.ari.continue_in_dialplan(
            self.channel_id, target.context, target.extension, target.priority
        )

    async def hangup(self) -> None:
        self._stop_watchdog()
        await self._close_media()
        with contextlib.suppress(AriError):
            await self.ari.hangup(self.channel_id)

    async def close(self) -> None:
        self._stop_watchdog()
        await self._close_media()
        with contextlib.suppress(AriError):
            await self.ari.request(
                "DELETE",
                f"/applications/{self.ari.app}/subscription",
                {"eventSource": f"channel:{self.channel_id}"},
            )

    # --- internals -------------------------------------------------------------------------------

    async def _close_media(self) -> None:
        self._closing = True
        media, self._media = self._media, None
        if media is not None:
            await media.close()
        if self.media_channel_id is not None:
            with contextlib.suppress(AriError):
                await self.ari.hangup(self.media_channel_id)
        if self._bridge_id is not None:
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(self._bridge_id)
            self._bridge_id = None

    def _start_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._renew(), name=f"watchdog-{self.channel_id}")

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def _renew(self) -> None:
        params = {"variable": WATCHDOG_VARIABLE, "value": str(self.settings.watchdog_s)}
        while True:
            try:
                await self.ari.request("POST", f"/channels/{self.channel_id}/variable", params)
            except AriError as err:
                if err.status == 404:
                    return  # channel gone
                log.warning("watchdog renewal failed", extra={"error": str(err)})
            await asyncio.sleep(self.settings.watchdog_renew_s)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def recording_name(channel_id: str) -> str:
    """A unique, path-safe recording name for a call (letters, digits, '-', '_')."""
    return f"appel-{_UNSAFE.sub('_', channel_id)[:64]}-{uuid.uuid4().hex[:8]}"
