"""ARI client, media framing, keypad entry and the controller's routing, without Asterisk.

A small aiohttp server stands in for ARI here so that a restart (events socket dropped), the
Authorization header and malformed events can be produced on demand; the real Asterisk is used
in tests/integration/test_voice_loop.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from standardiste.telephony.ari import (
    AriClient,
    AriError,
    AriEvent,
    ChannelHangup,
    DtmfReceived,
    OtherEvent,
    StasisEnd,
    StasisStart,
    parse_event,
)
from standardiste.telephony.keypad import DigitCollector
from standardiste.telephony.media import FrameCutter, parse_control

CHAN = {"id": "c1", "name": "PJSIP/caller-1", "state": "Ring", "caller": {"number": "0601", "name": "X"}}


def test_parse_events() -> None:
    ev = parse_event(json.dumps({"type": "StasisStart", "channel": CHAN, "args": ["inbound"]}))
    assert isinstance(ev, StasisStart) and ev.args == ("inbound",) and ev.channel.caller_number == "0601"
    ev = parse_event(
        json.dumps({"type": "ChannelDtmfReceived", "channel": CHAN, "digit": "5", "duration_ms": 90})
    )
    assert isinstance(ev, DtmfReceived) and ev.digit == "5"
    assert isinstance(parse_event(json.dumps({"type": "StasisEnd", "channel": CHAN})), StasisEnd)
    ev = parse_event(json.dumps({"type": "ChannelDestroyed", "channel": CHAN, "cause": 16}))
    assert isinstance(ev, ChannelHangup) and ev.cause == 16
    assert parse_event(json.dumps({"type": "Dial"})) == OtherEvent("Dial", None)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        json.dumps({"no": "type"}),
        json.dumps({"type": "StasisStart"}),
        json.dumps({"type": "StasisStart", "channel": "c1"}),
        json.dumps({"type": "ChannelDtmfReceived", "channel": CHAN}),
        json.dumps({"type": "ChannelDtmfReceived", "channel": CHAN, "digit": "12"}),
        b"\xff\xfe",
    ],
)
def test_malformed_events_raise_valueerror(raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_event(raw)


def test_parse_control_plain_and_json() -> None:
    ctl = parse_control(
        "MEDIA_START connection_id:abc channel:WebSocket/x format:slin16 optimal_frame_size:640"
    )
    assert ctl.event == "MEDIA_START" and ctl.fields["format"] == "slin16"
    ctl = parse_control('{"event": "MEDIA_XOFF", "channel_id": "m1"}')
    assert ctl.event == "MEDIA_XOFF" and ctl.fields == {"channel_id": "m1"}
    assert parse_control("{broken").event == "INVALID"


def test_frame_cutter_recuts_odd_sizes() -> None:
    cut = FrameCutter(640)
    assert cut.push(b"a" * 100) == []
    frames = cut.push(b"b" * 1300)
    assert [len(f) for f in frames] == [640, 640]
    assert cut.push(b"c" * 400) == []
    assert cut.push(b"d" * 1160) == [b"b" * 120 + b"c" * 400 + b"d" * 120, b"d" * 640]


def test_digit_collector() -> None:
    single = DigitCollector(1)
    assert single.press("1") == "1" and single.press("0") == "0"
    multi = DigitCollector(3)
    assert multi.press("1") is None and multi.press("2") is None and multi.press("3") == "123"
    assert multi.press("4") is None and multi.press("#") == "4"
    assert multi.press("#") is None  # '#' alone is nothing
    assert multi.press("*") == "*"
    assert multi.press("5") is None and multi.press("*") == "*" and multi.pending == ""
    assert multi.press("9") is None and multi.timeout() == "9" and multi.timeout() is None


class FakeAri:
    """An aiohttp app standing in for ARI: checks auth, serves events, can drop the socket."""

    def __init__(self) -> None:
        self.auth: list[str | None] = []
        self.urls: list[str] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.connected = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/ari/events", self.events)
        self.app.router.add_post("/ari/channels/{id}/answer", self.answer)

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        self.auth.append(request.headers.get("Authorization"))
        self.urls.append(str(request.url))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.CLOSE:
                break
        return ws

    async def answer(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        if request.match_info["id"] == "missing":
            return web.json_response({"message": "Channel not found"}, status=404)
        return web.Response(status=204)


@pytest.fixture
async def fake_ari() -> AsyncIterator[tuple[FakeAri, str]]:
    fake = FakeAri()
    runner = web.AppRunner(fake.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_client_auth_header_reconnect_and_malformed(
    fake_ari: tuple[FakeAri, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = fake_ari
    client = AriClient(url, "std", "s3cret-pass", "standardiste", backoff_initial_s=0.05)
    got: list[AriEvent] = []

    async def handler(ev: AriEvent) -> None:
        got.append(ev)

    caplog.set_level(logging.DEBUG)
    client.start_events(handler)
    async with asyncio.timeout(3):
        await fake.connected.wait()
    assert all("s3cret" not in u for u in fake.urls)
    assert fake.auth[0] is not None and fake.auth[0].startswith("Basic ")
    await fake.sockets[0].send_str("garbage{")
    await fake.sockets[0].send_str(json.dumps({"type": "StasisStart", "channel": CHAN, "args": []}))
    async with asyncio.timeout(3):
        while not got:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert isinstance(got[0], StasisStart)
    assert "malformed ARI event ignored" in caplog.text
    # Asterisk restarts: the socket drops, the client comes back by itself.
    fake.connected.clear()
    await fake.sockets[0].close()
    async with asyncio.timeout(3):
        while client.connections < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await client.answer("c1")
    with pytest.raises(AriError) as err:
        await client.answer("missing")
    assert err.value.status == 404
    assert "s3cret" not in caplog.text
    await client.close()


async def test_client_survives_unreachable_asterisk() -> None:
    client = AriClient("http://127.0.0.1:9", "u", "p", "app", backoff_initial_s=0.01, backoff_max_s=0.02)
    seen: list[Any] = []

    async def handler(ev: AriEvent) -> None:
        seen.append(ev)

    client.start_events(handler)
    await asyncio.sleep(0.2)
    assert not client.connected.is_set()
    with pytest.raises(AriError):
        await client.answer("x")
    await client.close()


async def test_handler_error_does_not_stop_events(fake_ari: tuple[FakeAri, str]) -> None:
    fake, url = fake_ari
    client = AriClient(url, "u", "p", "app")
    got: list[AriEvent] = []

    async def handler(ev: AriEvent) -> None:
        got.append(ev)
        if len(got) == 1:
            raise RuntimeError("boom")

    client.start_events(handler)
    async with asyncio.timeout(3):
        await fake.connected.wait()
    for _ in range(2):
        await fake.sockets[0].send_str(json.dumps({"type": "StasisEnd", "channel": CHAN}))
    async with asyncio.timeout(3):
        while len(got) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await client.close()
