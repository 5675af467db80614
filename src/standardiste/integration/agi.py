"""FastAGI server: Standardiste's building blocks for an IT person's own dialplan.

Routes (dialplan side, e.g. `AGI(agi://127.0.0.1:4573/hours)`):
- `classify`  listens to one utterance (or classifies the text given as first argument) and sets
              STANDARDISTE_INTENT, STANDARDISTE_URGENCY, STANDARDISTE_CONFIDENCE, STANDARDISTE_TEXT;
- `hours`     sets STANDARDISTE_OPEN (1/0), STANDARDISTE_NEXT_OPENING (ISO 8601) and
              STANDARDISTE_NEXT_OPENING_FR ("lundi 30 novembre à 8 h 30");
- `caller`    sets STANDARDISTE_KNOWN_PATIENT (1/0) and STANDARDISTE_NEXT_APPOINTMENT (ISO 8601 or empty);
- `assistant` hands the call to the full assistant (the Stasis app), then returns to the dialplan.
Every route sets STANDARDISTE_STATUS: OK, or ERROR with STANDARDISTE_ERROR naming the problem.
A malformed session is closed cleanly; the server keeps serving.

Access (deployment.agi): only peers in `allowed_peers` (loopback by default) are served, checked on
every connection; with `require_secret`, each request must carry `secret=<agi_secret>` in its
query string (AGI(agi://127.0.0.1:4573/caller?secret=...)); patient lookups are limited per peer
(`lookups_per_minute`) and logged with the number masked.

The AGI command exchange reuses panoramisk's FastAGI `Request`; reading the AGI environment is done
here because panoramisk's own reader spins forever on a connection closed before the blank line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hmac
import ipaddress
import logging
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panoramisk.fast_agi import Request

from standardiste.logs import mask_phone
from standardiste.understanding import bounded

log = logging.getLogger(__name__)

MAX_ENVIRONMENT_BYTES = 16 * 1024
_VARIABLE_RE = re.compile(r"^[A-Z0-9_]{1,64}$")


class AgiProtocolError(Exception):
    pass


class AgiCommandError(Exception):
    """Asterisk refused a command, or the channel hung up."""


@dataclass(frozen=True, slots=True)
class AgiAccess:
    """Who may use the FastAGI server: peer networks, and an optional shared secret."""

    allowed_peers: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    secret: str | None = None

    def peer_allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in ipaddress.ip_network(net, strict=False) for net in self.allowed_peers)

    def secret_ok(self, given: str | None) -> bool:
        if self.secret is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.secret.encode())


class RateLimiter:
    """At most `limit` events per `window_s` per key (a sliding window), for lookups per peer."""

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, collections.deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        events = self._events.setdefault(key, collections.deque())
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        if len(self._events) > 1024:  # forget idle peers
            for other in [k for k, v in self._events.items() if not v or now - v[-1] >= self.window_s]:
                del self._events[other]
        return True


def split_secret(script: str) -> tuple[str, str | None]:
    """The script without its `secret` query parameter, and that parameter (never a route argument)."""
    parsed = urllib.parse.urlsplit(script)
    pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    secret = next((v for k, v in pairs if k == "secret"), None)
    query = urllib.parse.urlencode([(k, v) for k, v in pairs if k != "secret"])
    return urllib.parse.urlunsplit(parsed._replace(query=query)), secret


@dataclass(frozen=True, slots=True)
class AgiCall:
    route: str
    environment: dict[str, str]
    args: list[str]
    request: Request
    peer: str = ""

    @property
    def caller_id(self) -> str | None:
        value = self.environment.get("agi_callerid", "")
        return value if value and value != "unknown" else None

    async def command(self, line: str) -> dict[str, Any]:
        try:
            result = await self.request.send_command(line)
        except (ValueError, ConnectionError, IndexError) as err:
            # panoramisk fails to parse an empty (closed) or garbled reply: the channel is gone.
            raise AgiCommandError(f"{line.split()[0]}: no valid reply ({err})") from None
        if "error" in result:
            raise AgiCommandError(f"{line.split()[0]}: {result.get('msg') or result['error']}")
        return result

    async def set_variable(self, name: str, value: object) -> None:
        if not _VARIABLE_RE.match(name):
            raise ValueError(name)
        text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        await self.command(f'SET VARIABLE {name} "{text}"')


async def read_environment(reader: asyncio.StreamReader, limit_s: float = 5.0) -> dict[str, str]:
    """The `agi_*: value` lines up to the blank line; bounded in size and time."""
    environment: dict[str, str] = {}
    received = 0
    async with asyncio.timeout(limit_s):
        while True:
            line = await reader.readline()
            if not line:
                raise AgiProtocolError("connection closed before the end of the AGI environment")
            received += len(line)
            if received > MAX_ENVIRONMENT_BYTES:
                raise AgiProtocolError("AGI environment too large")
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if not text:
                break
            key, sep, value = text.partition(": ")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"malformed AGI environment line: {text[:80]!r}")
            environment[key] = value
    if "agi_network_script" not in environment:
        raise AgiProtocolError("no agi_network_script: not a FastAGI request")
    return environment


def parse_script(script: str) -> tuple[str, list[str]]:
    """ "hours" or "/classify?text=..." -> route name and arguments from the query string."""
    parsed = urllib.parse.urlsplit(script)
    route = parsed.path.strip("/")
    args = [v for _k, v in urllib.parse.parse_qsl(parsed.query)]
    return route, args


RouteHandler = Callable[[AgiCall], Awaitable[None]]


class AgiServer:
    def __init__(
        self,
        routes: dict[str, RouteHandler],
        host: str = "127.0.0.1",
        port: int = 4573,
        route_timeout_s: float = 120.0,
        unbounded_routes: frozenset[str] = frozenset({"assistant"}),
        access: AgiAccess | None = None,
    ) -> None:
        self._routes = routes
        self._access = access or AgiAccess()
        # A whole conversation with the assistant may last longer than any sensible route limit.
        self._unbounded = unbounded_routes
        self._host = host
        self._port = port
        self._route_timeout = route_timeout_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self._host, self._port)
        log.info("FastAGI server listening on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Sessions first: from Python 3.12 wait_closed() waits for every open connection.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._access.peer_allowed(host):
            # Checked before reading a byte: a refused peer learns nothing, not even the protocol.
            log.warning("FastAGI: connection from %s refused (not in deployment.agi.allowed_peers)", host)
            return
        try:
            environment = await read_environment(reader)
        except (AgiProtocolError, TimeoutError, ConnectionError) as err:
            log.warning("FastAGI: refused a session from %s: %s", peer, err)
            return
        try:
            script, secret = split_secret(environment["agi_network_script"])
            route, args = parse_script(script)
        except ValueError:  # e.g. an unbalanced '[' in the script: no such route
            route, args, secret = environment["agi_network_script"][:64], [], None
        args += [v for k, v in sorted(environment.items()) if k.startswith("agi_arg_")]
        call = AgiCall(route, environment, args, Request(None, environment, reader, writer), host)
        handler = self._routes.get(route)
        try:
            if not self._access.secret_ok(secret):
                log.warning("FastAGI: request from %s refused: missing or wrong secret", host)
                await _fail(call, "forbidden", "accès refusé")
                return
            if handler is None:
                await _fail(call, "unknown_route", f"route inconnue : {route}")
                return
            limit = None if route in self._unbounded else self._route_timeout
            async with asyncio.timeout(limit):
                await handler(call)
        except AgiCommandError as err:
            log.info("FastAGI %s: channel gone or command refused: %s", route, err)
        except Exception as err:
            log.exception("FastAGI %s failed", route)
            with contextlib.suppress(Exception):
                await _fail(call, "internal_error", type(err).__name__)


async def _fail(call: AgiCall, code: str, message: str) -> None:
    await call.set_variable("STANDARDISTE_STATUS", "ERROR")
    await call.set_variable("STANDARDISTE_ERROR", code)
    await call.command(f'VERBOSE "Standardiste: {message}" 1')


# --- routes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordingPlace:
    """Where Asterisk writes a recording (path inside its root) and where we read it (host path)."""

    pbx_dir: str  # e.g. /var/spool/asterisk/tmp
    host_dir: Path  # e.g. <asterisk root>/var/spool/asterisk/tmp


class AgiRoutes:
    """The four documented routes, over the practice's services."""

    def __init__(
        self,
        *,
        practice: Callable[[], Any],
        classify_text: Callable[[str, dt.datetime], Any],
        transcribe_wav: Callable[[Path], Awaitable[str | None]] | None,
        caller_lookup: Callable[[str, dt.datetime], tuple[bool, dt.datetime | None]],
        app_name: str,
        recordings: RecordingPlace | None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        lookup_limiter: RateLimiter | None = None,
    ) -> None:
        # Patient lookups per peer (deployment.agi.lookups_per_minute): no bulk "who is a patient".
        self._lookup_limiter = lookup_limiter or RateLimiter(60, 60.0)
        self._practice = practice
        self._classify_text = classify_text
        self._transcribe = transcribe_wav
        self._caller_lookup = caller_lookup
        self._app = app_name
        self._recordings = recordings
        self._clock = clock

    def table(self) -> dict[str, RouteHandler]:
        return {
            "classify": self.classify,
            "hours": self.hours,
            "caller": self.caller,
            "assistant": self.assistant,
        }

    async def hours(self, call: AgiCall) -> None:
        from standardiste.hours import opening_status, say_moment

        practice = self._practice()
        status = opening_status(practice, self._clock())
        await call.set_variable("STANDARDISTE_OPEN", 1 if status.open_now else 0)
        nxt = status.next_opening
        await call.set_variable("STANDARDISTE_NEXT_OPENING", nxt.isoformat() if nxt else "")
        await call.set_variable("STANDARDISTE_NEXT_OPENING_FR", say_moment(nxt) if nxt else "")
        await call.set_variable("STANDARDISTE_STATUS", "OK")

    async def caller(self, call: AgiCall) -> None:
        number = call.caller_id
        if not number:
            await call.set_variable("STANDARDISTE_KNOWN_PATIENT", 0)
            await call.set_variable("STANDARDISTE_NEXT_APPOINTMENT", "")
            await _fail(call, "no_caller_id", "numéro de l'appelant absent")
            return
        from standardiste.agenda.names import normalise_phone

        e164 = normalise_phone(number) or number
        if not self._lookup_limiter.allow(call.peer):
            log.warning("FastAGI caller lookup refused: too many from %s", call.peer)
            await _fail(call, "rate_limited", "trop de recherches")
            return
        log.info("FastAGI caller lookup", extra={"peer": call.peer, "number": mask_phone(e164)})
        known, next_appointment = await asyncio.to_thread(self._caller_lookup, e164, self._clock())
        await call.set_variable("STANDARDISTE_KNOWN_PATIENT", 1 if known else 0)
        await call.set_variable(
            "STANDARDISTE_NEXT_APPOINTMENT", next_appointment.isoformat() if next_appointment else ""
        )
        await call.set_variable("STANDARDISTE_STATUS", "OK")

    async def classify(self, call: AgiCall) -> None:
        text = call.args[0] if call.args else None
        if text is None:
            text = await self._listen(call)
            if text is None:
                return
        # In a worker thread with a deadline: past it, "not understood", the emergency rules still applied.
        result = await bounded.understand(self._classify_text, text, self._clock())
        await call.set_variable("STANDARDISTE_TEXT", text[:200])
        await call.set_variable("STANDARDISTE_INTENT", result.intent)
        await call.set_variable("STANDARDISTE_URGENCY", result.urgency)
        await call.set_variable("STANDARDISTE_CONFIDENCE", f"{result.confidence:.2f}")
        await call.set_variable("STANDARDISTE_STATUS", "OK")

    async def _listen(self, call: AgiCall) -> str | None:
        if self._transcribe is None or self._recordings is None:
            await _fail(call, "no_recognizer", "aucun moteur de reconnaissance vocale en français")
            return None
        name = f"standardiste-agi-{uuid.uuid4().hex}"
        await call.command("ANSWER")
        path = self._recordings.host_dir / f"{name}.wav"
        try:
            # Up to 10 s, ending after 2 s of silence; '#' ends early.
            await call.command(f'RECORD FILE {self._recordings.pbx_dir}/{name} wav "#" 10000 0 s=2')
            text = await self._transcribe(path) if path.exists() else None
        finally:
            # Audio is never kept, even when the caller hangs up mid-recording (partial file).
            path.unlink(missing_ok=True)
        if not text:
            await call.set_variable("STANDARDISTE_INTENT", "")
            await _fail(call, "nothing_heard", "rien entendu")
            return None
        return text

    async def assistant(self, call: AgiCall) -> None:
        # The dead-man switch of the Standardiste dialplan: the assistant renews it while it has the
        # call; if it dies, the timeout fires and the channel goes to the `T` extension of its context.
        watchdog = _digits(await call.command("GET VARIABLE WATCHDOG_S")) or DEFAULT_WATCHDOG_S
        await call.command(f"SET VARIABLE TIMEOUT(absolute) {watchdog}")
        await call.command(f"EXEC Stasis {self._app},inbound,agi")
        # Back in the IT person's dialplan: no timeout left armed to cut the call later.
        await call.command("SET VARIABLE TIMEOUT(absolute) 0")
        # Stasis returns at once with STASISSTATUS=FAILED when the assistant is not connected.
        status = await call.command("GET VARIABLE STASISSTATUS")
        value = status.get("result", ("", ""))
        if isinstance(value, tuple) and value[-1] == "FAILED":
            await _fail(call, "assistant_unavailable", "assistant non connecté")
            return
        await call.set_variable("STANDARDISTE_STATUS", "OK")


DEFAULT_WATCHDOG_S = 5


def _digits(result: dict[str, Any]) -> int | None:
    """The number in a GET VARIABLE answer ('200 result=1 (5)'), if any."""
    value = result.get("result", ("", ""))
    text = value[-1] if isinstance(value, tuple) else ""
    return int(text) if text.isdigit() and 0 < int(text) < 3600 else None
