"""Outbound reminder calls through ARI.

The callee is originated straight into the Stasis app with args `outbound,<purpose>,<appointment id>`
(what VoiceApp.build_session reads); once answered, the controller runs the conversation like any
call. To learn how an unanswered call ended (busy, no answer, unreachable), this dialer keeps a
second, event-only websocket (app `<app>-dialer`, subscribeAll: the controller's own app keeps its
single websocket; subscribing per channel would race a fast "busy"). When the channel is gone, the
conversation's outcome is read from the call log (the session's call id is the channel id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from standardiste.config import DEFAULT_OUTBOUND_PREFIXES, OutboundPolicy
from standardiste.dialogue.messages import OutcomeKind
from standardiste.logs import mask_phone
from standardiste.outbound import NumberNotAllowed, check_number
from standardiste.pbx.dialplan import STASIS_ARG_OUTBOUND
from standardiste.reminders.dialer import CallRequest, CallResult
from standardiste.telephony.ari import AriClient, AriError, AriEvent, ChannelHangup, parse_event

log = logging.getLogger(__name__)

# Q.850 causes of calls that were never answered.
BUSY_CAUSES = frozenset({17, 21})  # user busy, call rejected (declined)
NO_ANSWER_CAUSES = frozenset({16, 18, 19, 0})  # normal clearing while ringing, no response, no answer

RUNNING = "__running__"
# (outcome kind, details) of the conversation once the call is over; None: no session ran.
OutcomeLookup = Callable[[str], Awaitable[tuple[str | None, dict[str, Any]] | None]]


@dataclass(frozen=True, slots=True)
class AriDialerSettings:
    app: str  # the controller's Stasis app
    outbound_endpoint: str  # PJSIP endpoint (trunk, or a test phone)
    caller_id: str = ""
    ring_timeout_s: int = 30
    max_call_s: float = 600.0
    # National prefixes this dialer may call (config practice.outbound); anything else is refused.
    allowed_prefixes: tuple[str, ...] = DEFAULT_OUTBOUND_PREFIXES


def endpoint_for(phone: str, outbound_endpoint: str) -> str:
    """PJSIP/<number>@<endpoint>: the trunk dials the number; a test endpoint simply rings."""
    digits = re.sub(r"[^0-9+*#]", "", phone)
    if not digits:
        raise ValueError(f"numéro inutilisable / unusable number {phone!r}")
    return f"PJSIP/{digits}@{outbound_endpoint}"


def call_log_lookup(call_log: Any) -> OutcomeLookup:
    """Reads the outcome a CallLogStore recorded for the session of a channel."""

    async def lookup(channel_id: str) -> tuple[str | None, dict[str, Any]] | None:
        entry = await call_log.get(channel_id)
        if entry is None:
            return None
        if entry.ended_at is None:
            return (RUNNING, {})
        return entry.outcome, dict(entry.outcome_details or {})

    return lookup


def map_outcome(answered: tuple[str | None, dict[str, Any]] | None, cause: int | None) -> CallResult:
    """The attempt's outcome from the conversation (answered) or the hang-up cause (not answered)."""
    if answered is None:
        if cause in BUSY_CAUSES:
            return CallResult(OutcomeKind.BUSY, {"cause": cause})
        if cause in NO_ANSWER_CAUSES or cause is None:
            return CallResult(OutcomeKind.NO_ANSWER, {"cause": cause})
        return CallResult(OutcomeKind.FAILED, {"reason": "unreachable", "cause": cause})
    kind, details = answered
    if kind is None:
        # Answered, then the line dropped before the conversation reached an outcome.
        return CallResult(OutcomeKind.ABANDONED, {**details, "answered": True})
    if kind == OutcomeKind.NO_ANSWER:
        # Picked up but nobody responded to the identity question: an answering machine (or a
        # silent person). The conversation already left the "please call us back" message.
        return CallResult(OutcomeKind.VOICEMAIL, {**details, "answered": True})
    try:
        return CallResult(OutcomeKind(kind), {**details, "answered": True})
    except ValueError:
        return CallResult(OutcomeKind.FAILED, {**details, "answered": True, "unknown_outcome": kind})


class AriDialer:
    """A reminders Dialer on Asterisk. `async start()` / `async stop()` around its event socket."""

    def __init__(
        self,
        ari_url: str,
        ari_user: str,
        ari_password: str,
        settings: AriDialerSettings,
        outcome_of: OutcomeLookup,
    ) -> None:
        self.settings = settings
        self.events_app = f"{settings.app}-dialer"
        self.ari = AriClient(ari_url, ari_user, ari_password, self.events_app)
        self.outcome_of = outcome_of
        self._gone: dict[str, asyncio.Future[int | None]] = {}
        self._events_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self, wait_s: float = 10.0) -> None:
        self._events_task = asyncio.create_task(self._events(), name="reminder-dialer-events")
        try:
            async with asyncio.timeout(wait_s):
                await self.connected.wait()
        except TimeoutError:
            log.warning(
                "reminder dialer: ARI events not connected yet (%s); retrying in the background",
                self.ari.base_url,
            )

    async def stop(self) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events_task
            self._events_task = None
        await self.ari.close()

    async def _events(self) -> None:
        """Every channel's events (subscribeAll), reconnecting with backoff."""
        base = self.ari.base_url.replace("http://", "ws://").replace("https://", "wss://")
        delay = 0.2
        while True:
            try:
                async with self.ari.session.ws_connect(
                    f"{base}/ari/events",
                    params={"app": self.events_app, "subscribeAll": "true"},
                    headers=self.ari.auth_headers,
                    heartbeat=10.0,
                ) as ws:
                    self.connected.set()
                    delay = 0.2
                    async for msg in ws:
                        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            self._on_raw(msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                            break
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                log.warning("reminder dialer: ARI events unavailable (%s), retrying in %.1f s", err, delay)
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _on_raw(self, raw: str | bytes) -> None:
        try:
            event = parse_event(raw)
        except ValueError:
            return  # not ours to judge: the controller logs malformed events
        self._on_event(event)

    def _on_event(self, event: AriEvent) -> None:
        if isinstance(event, ChannelHangup):
            waiter = self._gone.get(event.channel.id)
            if waiter is not None and not waiter.done() and event.cause is not None:
                waiter.set_result(event.cause)

    async def call(self, request: CallRequest) -> CallResult:
        s = self.settings
        if not request.phone:
            return CallResult(OutcomeKind.FAILED, {"reason": "no_phone"})
        try:
            check_number(request.phone, OutboundPolicy(allowed_prefixes=list(s.allowed_prefixes)))
        except NumberNotAllowed as err:
            log.warning("reminder call to %s refused: %s", mask_phone(request.phone), err)
            return CallResult(OutcomeKind.FAILED, {"reason": "number_not_allowed"})
        try:
            endpoint = endpoint_for(request.phone, s.outbound_endpoint)
        except ValueError:
            return CallResult(OutcomeKind.FAILED, {"reason": "bad_number"})
        channel_id = f"rem-{secrets.token_hex(8)}"
        gone: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._gone[channel_id] = gone
        params = {
            "endpoint": endpoint,
            "app": s.app,
            "appArgs": f"{STASIS_ARG_OUTBOUND},{request.purpose},{request.appointment_id}",
            "channelId": channel_id,
            "timeout": str(s.ring_timeout_s),
        }
        if s.caller_id:
            params["callerId"] = s.caller_id
        try:
            try:
                await self.ari.request("POST", "/channels", params)
            except AriError as err:
                log.warning("reminder call to %s not placed: %s", mask_phone(request.phone), err)
                return CallResult(OutcomeKind.FAILED, {"reason": "originate_failed", "status": err.status})
            cause = await self._wait_gone(channel_id, gone, s.ring_timeout_s + s.max_call_s)
            return map_outcome(await self._session_outcome(channel_id), cause)
        finally:
            self._gone.pop(channel_id, None)

    async def _wait_gone(
        self, channel_id: str, gone: asyncio.Future[int | None], limit_s: float
    ) -> int | None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            done, _ = await asyncio.wait({gone}, timeout=2.0)
            if done:
                return gone.result()
            try:  # events can be missed (websocket reconnect): check the channel itself
                await self.ari.get_channel(channel_id)
            except AriError as err:
                if err.status == 404:
                    return None
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel_id)
        return None

    async def _session_outcome(self, channel_id: str) -> tuple[str | None, dict[str, Any]] | None:
        # The session writes its record as it ends, a moment after the channel is gone.
        started = time.monotonic()
        while True:
            found = await self.outcome_of(channel_id)
            if found is not None and found[0] != RUNNING:
                return found
            elapsed = time.monotonic() - started
            if found is None and elapsed > 1.0:
                return None  # never answered: no session ran
            if elapsed > 10.0:
                return (None, {"reason": "session_still_running"})
            await asyncio.sleep(0.1)
