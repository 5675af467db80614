"""Attack replays against the FastAGI server (issue 15, item 8), over real sockets.

- a peer outside the allow-list (127.0.0.2 against the default 127.0.0.1) gets nothing;
- with a shared secret, a request without it (or with a wrong one) is refused;
- a flood of patient lookups is throttled, and every lookup is logged with the number masked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator

import pytest

from standardiste.integration.agi import AgiAccess, AgiRoutes, AgiServer, RateLimiter, split_secret
from tests.unit.test_agi_server import MONDAY_10H, AsteriskSide, fake_classify

LOOKUPS: list[str] = []


def lookup(number: str, now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    LOOKUPS.append(number)
    return number == "+33612345678", MONDAY_10H + dt.timedelta(days=1)


async def make_server(demo_config, access: AgiAccess | None = None, limit: int = 60) -> AgiServer:  # type: ignore[no-untyped-def]
    routes = AgiRoutes(
        practice=lambda: demo_config.practice,
        classify_text=fake_classify,
        transcribe_wav=None,
        caller_lookup=lookup,
        app_name="standardiste",
        recordings=None,
        clock=lambda: MONDAY_10H,
        lookup_limiter=RateLimiter(limit, 60.0),
    )
    server = AgiServer(routes.table(), host="127.0.0.1", port=0, access=access)
    await server.start()
    return server


@pytest.fixture
async def server(demo_config) -> AsyncIterator[AgiServer]:  # type: ignore[no-untyped-def]
    LOOKUPS.clear()
    srv = await make_server(demo_config, limit=10)
    yield srv
    await srv.stop()


async def test_peer_outside_the_allow_list_gets_nothing(server: AgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=("127.0.0.2", 0))
    writer.write(b"agi_network: yes\nagi_network_script: caller\nagi_callerid: 0612345678\n\n")
    await writer.drain()
    try:
        received = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:  # closed with our request unread
        received = b""
    assert received == b""  # closed without a single command
    writer.close()
    assert LOOKUPS == []
    # The same request from 127.0.0.1 is served.
    side = await AsteriskSide.open(server.port, "caller")
    assert (await side.run())["STANDARDISTE_KNOWN_PATIENT"] == "1"


async def test_a_network_can_be_allowed(demo_config) -> None:  # type: ignore[no-untyped-def]
    srv = await make_server(demo_config, AgiAccess(allowed_peers=("127.0.0.0/8",)))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port, local_addr=("127.0.0.2", 0))
        side = AsteriskSide(reader, writer)
        writer.write(b"agi_network: yes\nagi_network_script: hours\n\n")
        await writer.drain()
        assert (await side.run())["STANDARDISTE_STATUS"] == "OK"
    finally:
        await srv.stop()


async def test_shared_secret_is_required(demo_config) -> None:  # type: ignore[no-untyped-def]
    LOOKUPS.clear()
    srv = await make_server(demo_config, AgiAccess(secret="s3cret-value"))
    try:
        for script in ("caller", "caller?secret=wrong", "caller?secret="):
            result = await (await AsteriskSide.open(srv.port, script)).run()
            assert result["STANDARDISTE_STATUS"] == "ERROR" and result["STANDARDISTE_ERROR"] == "forbidden"
            assert "STANDARDISTE_KNOWN_PATIENT" not in result
        assert LOOKUPS == []
        ok = await (await AsteriskSide.open(srv.port, "caller?secret=s3cret-value")).run()
        assert ok["STANDARDISTE_STATUS"] == "OK" and ok["STANDARDISTE_KNOWN_PATIENT"] == "1"
        # The secret never reaches a route as an argument.
        assert split_secret("/classify?text=bonjour&secret=x") == ("/classify?text=bonjour", "x")
    finally:
        await srv.stop()


async def test_lookup_flood_is_throttled_and_logged_masked(
    server: AgiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="standardiste.integration.agi")

    async def one(i: int) -> dict[str, str]:
        side = await AsteriskSide.open(server.port, "caller", agi_callerid=f"06123456{i % 100:02d}")
        return await side.run()

    results = await asyncio.gather(*(one(i) for i in range(50)))
    served = [r for r in results if r.get("STANDARDISTE_STATUS") == "OK"]
    refused = [r for r in results if r.get("STANDARDISTE_ERROR") == "rate_limited"]
    assert len(served) == 10 and len(refused) == 40
    assert len(LOOKUPS) == 10  # the agenda was asked 10 times, not 50
    logged = caplog.text
    assert "FastAGI caller lookup" in logged and "too many" in logged
    for i in range(50):
        assert f"6123456{i:02d}" not in logged
