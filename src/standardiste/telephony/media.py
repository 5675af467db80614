"""Call audio both ways over Asterisk's chan_websocket (external media, slin16).

Incoming: binary messages re-cut into 20 ms frames of 640 bytes. Asterisk sends nothing while
the caller's phone sends nothing (silence suppression, DTMF), so readers must not assume a clock.
Outgoing: we pace frames at real time ourselves, keeping only a small lead queued in Asterisk,
so that barge-in (stop + FLUSH_MEDIA) silences us within one or two frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from standardiste.speech.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """A chan_websocket text message: plain-text ("MEDIA_START key:value ...") or JSON."""

    event: str
    fields: dict[str, str]


def parse_control(text: str) -> ControlMessage:
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return ControlMessage("INVALID", {"raw": text[:200]})
        if isinstance(data, dict):
            event = str(data.get("event") or data.get("command") or "UNKNOWN")
            return ControlMessage(
                event, {str(k): str(v) for k, v in data.items() if k not in ("event", "command")}
            )
        return ControlMessage("INVALID", {"raw": text[:200]})
    head, *rest = text.split()
    fields: dict[str, str] = {}
    for part in rest:
        key, sep, value = part.partition(":")
        if sep:
            fields[key] = value
    return ControlMessage(head, fields)


# Leading quiet in synthesised speech (Pico starts every prompt with 40-80 ms of it) delays the first sound
# the caller hears: it is cut, keeping a little before the first loud sample so the onset is whole.
QUIET_LEVEL = 200  # sample amplitude (about -44 dBFS)
ONSET_KEEP_S = 0.01
QUIET_SCAN_S = 0.5  # look no further (a prompt that starts later than this starts quietly on purpose)


def trim_leading_quiet(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """slin16 without its leading quiet (all of it kept when nothing loud comes early)."""
    scan = np.frombuffer(pcm[: int(QUIET_SCAN_S * sample_rate) * 2 // 2 * 2], dtype="<i2")
    loud = np.flatnonzero(np.abs(scan.astype(np.int32)) > QUIET_LEVEL)
    if loud.size == 0:
        return pcm
    start = max(0, int(loud[0]) - int(ONSET_KEEP_S * sample_rate))
    return pcm[2 * start :]


class FrameCutter:
    """Re-cuts a byte stream into fixed-size frames."""

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        self.frame_bytes = frame_bytes
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buf += data
        n = len(self._buf) // self.frame_bytes
        frames = [bytes(self._buf[i * self.frame_bytes : (i + 1) * self.frame_bytes]) for i in range(n)]
        del self._buf[: n * self.frame_bytes]
        return frames


class MediaClosed(Exception):
    pass


class MediaConnection:
    """The websocket to one chan_websocket channel."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        on_frame: Callable[[bytes], None],
        *,
        lead_frames: int = 3,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self._headers = headers
        self._on_frame = on_frame
        self._lead = lead_frames
        self._session: aiohttp.ClientSession | None = session
        self._owns_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cutter = FrameCutter()
        self.started = asyncio.Event()
        self.closed = asyncio.Event()
        self.control: list[ControlMessage] = []
        self.frames_in = 0
        self.frames_out = 0
        self._xon = asyncio.Event()
        self._xon.set()
        self._stopped = asyncio.Event()
        self._stop_playback = False
        self.closed_callback: Callable[[], None] | None = None

    async def connect(self, timeout_s: float = 5.0) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(
            self.url,
            protocols=("media",),
            headers=self._headers,
            timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
            max_msg_size=0,
        )
        self._reader = asyncio.create_task(self._read(), name="media-reader")

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    for frame in self._cutter.push(msg.data):
                        self.frames_in += 1
                        try:
                            self._on_frame(frame)
                        except Exception:
                            log.exception("frame handler failed")
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    ctl = parse_control(msg.data)
                    self.control.append(ctl)
                    if ctl.event == "MEDIA_START":
                        self.started.set()
                    elif ctl.event == "MEDIA_XOFF":
                        self._xon.clear()
                    elif ctl.event == "MEDIA_XON":
                        self._xon.set()
                else:
                    break
        except (aiohttp.ClientError, OSError) as err:
            log.info("media websocket ended", extra={"error": str(err)})
        finally:
            self.closed.set()
            if self.closed_callback is not None:
                self.closed_callback()

    async def send_command(self, command: str) -> None:
        if self._ws is None or self._ws.closed:
            return
        with contextlib.suppress(aiohttp.ClientError, OSError, ConnectionResetError):
            await self._ws.send_str(command)

    async def play(self, pcm: bytes, on_first_frame: Callable[[], None] | None = None) -> bool:
        """Send audio paced at real time; returns False when stopped early (barge-in) or closed.

        We keep at most `lead_frames` ahead of real time so that a stop leaves little queued.
        """
        if self._ws is None:
            raise MediaClosed("not connected")
        self._stop_playback = False
        self._stopped.clear()
        if len(pcm) % FRAME_BYTES:
            pcm += b"\x00" * (FRAME_BYTES - len(pcm) % FRAME_BYTES)
        start = time.monotonic()
        for i in range(0, len(pcm) // FRAME_BYTES):
            if self._stop_playback:
                return False
            if self._ws.closed or self.closed.is_set():
                return False
            # Frame i is due at start + i*20ms; we may send it lead_frames early.
            due = start + (i - self._lead) * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                if self._stop_playback:
                    return False
            if not self._xon.is_set():
                await self._until_stopped(self._xon.wait(), 5.0)
            try:
                await self._ws.send_bytes(pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
            except (aiohttp.ClientError, OSError, ConnectionResetError):
                return False
            self.frames_out += 1
            if i == 0 and on_first_frame is not None:
                on_first_frame()
        # Let the lead drain so the caller has heard everything before we listen for silence.
        remaining = start + (len(pcm) // FRAME_BYTES) * FRAME_S - time.monotonic()
        if remaining > 0:
            await self._until_stopped(self._stopped.wait(), remaining)
            if self._stop_playback:
                return False
        return True

    @staticmethod
    async def _until_stopped(waiter: Coroutine[Any, Any, Any], seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await waiter

    async def stop_playback(self) -> None:
        """Barge-in: stop sending and drop what Asterisk still holds."""
        self._stop_playback = True
        self._stopped.set()
        self._xon.set()
        await self.send_command("FLUSH_MEDIA")

    async def close(self) -> None:
        self._stop_playback = True
        self._stopped.set()
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._session is not None and self._owns_session:
            await self._session.close()
        self.closed.set()
