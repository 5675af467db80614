"""The controller's side of the dead-man switch (see dialplan.py and docs/asterisk.md).

The dialplan arms TIMEOUT(absolute) before Stasis(); while the controller owns a channel it
must renew it. `Watchdog` renews every watched channel every WATCHDOG_RENEW_S through ARI.
If the controller dies or its event loop stalls, renewals stop, the timeout fires and the
dialplan sends the caller to reception.

Why ARI and not AMI: a renewal sent through ARI is refused (409) once the channel has left
Stasis, so a late renewal can never re-arm the timeout of a call already ringing reception.
Caveat measured on Asterisk 22.10: ARI runs channel commands on the channel's own queue, so
while an ARI playback runs ON THE CHANNEL the renewal waits for the playback to end. Play on
a bridge the caller is in (or stream through a media channel) — bridge playbacks do not block
renewals — or keep channel playbacks shorter than the watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from standardiste.pbx.dialplan import DEFAULT_WATCHDOG_S, WATCHDOG_RENEW_S, WATCHDOG_VARIABLE

log = logging.getLogger(__name__)


async def renew(
    http: aiohttp.ClientSession, ari_url: str, channel_id: str, seconds: int = DEFAULT_WATCHDOG_S
) -> bool:
    """Re-arm one channel's watchdog; False when the channel is gone or no longer in Stasis."""
    url = f"{ari_url}/channels/{channel_id}/variable"
    async with http.post(url, params={"variable": WATCHDOG_VARIABLE, "value": str(seconds)}) as r:
        return r.status < 300


async def disarm(http: aiohttp.ClientSession, ari_url: str, channel_id: str) -> bool:
    """Remove the timeout (e.g. before a long ARI playback on the channel itself)."""
    return await renew(http, ari_url, channel_id, 0)


class Watchdog:
    """Renews TIMEOUT(absolute) of every watched channel; one per controller process.

    `http` must carry the ARI Authorization header (PbxInstance.ari_headers()).
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ari_url: str,
        seconds: int = DEFAULT_WATCHDOG_S,
        every_s: float = WATCHDOG_RENEW_S,
    ) -> None:
        if seconds and every_s >= seconds:
            raise ValueError("the renewal period must be shorter than the watchdog")
        self.http = http
        self.ari_url = ari_url.rstrip("/")
        self.seconds = seconds
        self.every_s = every_s
        self._channels: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, channel_id: str) -> None:
        self._channels.add(channel_id)

    def forget(self, channel_id: str) -> None:
        """Stop renewing (call it when the channel leaves Stasis or hangs up)."""
        self._channels.discard(channel_id)

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="standardiste-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def renew_now(self, channel_id: str) -> bool:
        return await renew(self.http, self.ari_url, channel_id, self.seconds)

    async def _run(self) -> None:
        while True:
            channels = list(self._channels)
            results = await asyncio.gather(*(self._renew_one(c) for c in channels), return_exceptions=True)
            for channel, ok in zip(channels, results, strict=True):
                if ok is False:
                    self._channels.discard(channel)  # left Stasis or hung up
            await asyncio.sleep(self.every_s)

    async def _renew_one(self, channel_id: str) -> bool | None:
        try:
            return await asyncio.wait_for(self.renew_now(channel_id), self.every_s)
        except (aiohttp.ClientError, TimeoutError) as err:
            log.warning("watchdog renewal failed for %s: %s", channel_id, err)
            return None
