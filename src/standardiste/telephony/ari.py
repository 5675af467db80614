"""A thin asyncio ARI client on aiohttp: REST calls and the events websocket.

The password travels only in the Authorization header (never in a URL, never logged).
The events loop reconnects with exponential backoff when Asterisk restarts; a malformed
event is logged and ignored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class AriError(Exception):
    """An ARI request that failed (HTTP status, or Asterisk unreachable)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller_number: str = ""
    caller_name: str = ""
    dialplan_context: str = ""
    dialplan_exten: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            caller_number=str(caller.get("number", "") or ""),
            caller_name=str(caller.get("name", "") or ""),
            dialplan_context=str(dialplan.get("context", "") or ""),
            dialplan_exten=str(dialplan.get("exten", "") or ""),
            channelvars={str(k): str(v) for k, v in (data.get("channelvars") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class StasisStart:
    channel: Channel
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StasisEnd:
    channel: Channel


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    channel: Channel
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class ChannelHangup:
    """ChannelHangupRequest or ChannelDestroyed."""

    channel: Channel
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class OtherEvent:
    type: str
    channel_id: str | None = None


AriEvent = StasisStart | StasisEnd | DtmfReceived | ChannelHangup | OtherEvent


def parse_event(raw: str | bytes) -> AriEvent:
    """Decode one events-websocket message; raises ValueError on anything malformed."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError("no event type")
    kind = data["type"]
    chan_data = data.get("channel")
    if kind in (
        "StasisStart",
        "StasisEnd",
        "ChannelDtmfReceived",
        "ChannelHangupRequest",
        "ChannelDestroyed",
    ):
        if not isinstance(chan_data, dict) or "id" not in chan_data:
            raise ValueError(f"{kind} without a channel")
        try:
            channel = Channel.from_json(chan_data)
        except (TypeError, AttributeError, KeyError) as err:
            raise ValueError(f"{kind}: bad channel: {err}") from None
        if kind == "StasisStart":
            args = data.get("args") or []
            return StasisStart(channel, tuple(str(a) for a in args) if isinstance(args, list) else ())
        if kind == "StasisEnd":
            return StasisEnd(channel)
        if kind == "ChannelDtmfReceived":
            digit = data.get("digit")
            if not isinstance(digit, str) or len(digit) != 1:
                raise ValueError("ChannelDtmfReceived without a digit")
            return DtmfReceived(channel, digit, int(data.get("duration_ms") or 0))
        cause = data.get("cause")
        return ChannelHangup(channel, int(cause) if isinstance(cause, int) else None)
    cid = chan_data.get("id") if isinstance(chan_data, dict) else None
    return OtherEvent(kind, str(cid) if cid is not None else None)


EventHandler = Callable[[AriEvent], Awaitable[None]]


class AriClient:
    """REST + events for one Stasis application."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        request_timeout_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/ari")
        self.app = app
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._events_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # how many times the events websocket (re)connected

    @property
    def auth_headers(self) -> dict[str, str]:
        return dict(self._headers)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    # --- REST -------------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Any:
        url = f"{self.base_url}/ari{path}"
        try:
            async with self.session.request(method, url, params=params, json=body) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise AriError(f"{method} {path}: HTTP {resp.status} {text[:200]}", resp.status)
                if not text:
                    return None
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return text
        except (aiohttp.ClientError, TimeoutError) as err:
            raise AriError(f"{method} {path}: {type(err).__name__} {err}") from None

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", {"reason": reason})

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        params = {"context": context, "extension": extension, "priority": str(priority)}
        await self.request("POST", f"/channels/{channel_id}/continue", params)

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{channel_id}"))

    async def external_media_websocket(self, channel_id: str, fmt: str = "slin16") -> Channel:
        """A chan_websocket channel that waits for us to connect (connection_type=server)."""
        params = {
            "app": self.app,
            "channelId": channel_id,
            "transport": "websocket",
            "connection_type": "server",
            "encapsulation": "none",
            "format": fmt,
            "external_host": "INCOMING",
        }
        return Channel.from_json(await self.request("POST", "/channels/externalMedia", params))

    async def create_bridge(self, bridge_id: str) -> None:
        await self.request("POST", "/bridges", {"type": "mixing", "bridgeId": bridge_id})

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": ",".join(channel_ids)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")

    async def ping(self) -> bool:
        try:
            await self.request("GET", "/asterisk/info")
        except AriError:
            return False
        return True

    # --- events -----------------------------------------------------------------------------------

    def start_events(self, handler: EventHandler) -> None:
        if self._events_task is None or self._events_task.done():
            self._events_task = asyncio.create_task(self._events_loop(handler), name="ari-events")

    async def _events_loop(self, handler: EventHandler) -> None:
        ws_url = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        url = f"{ws_url}/ari/events"
        delay = self._backoff[0]
        while True:
            try:
                async with self.session.ws_connect(
                    url,
                    params={"app": self.app},
                    headers=self._headers,
                    heartbeat=10.0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                ) as ws:
                    self.connections += 1
                    self.connected.set()
                    log.info("ARI events connected", extra={"app": self.app, "connections": self.connections})
                    delay = self._backoff[0]
                    async for msg in ws:
                        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            await self._dispatch(handler, msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                            break
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                log.warning("ARI events unavailable, retrying", extra={"error": str(err), "retry_s": delay})
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _dispatch(self, handler: EventHandler, raw: str | bytes) -> None:
        try:
            event = parse_event(raw)
        except ValueError as err:
            log.warning("malformed ARI event ignored", extra={"error": str(err), "raw": str(raw)[:200]})
            return
        try:
            await handler(event)
        except Exception:
            log.exception("ARI event handler failed", extra={"event": type(event).__name__})

    async def close(self) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events_task
            self._events_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.connected.clear()
