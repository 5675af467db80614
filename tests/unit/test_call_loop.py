"""The call loop does call work only (issue 14, item 2): a slow database, call log or dashboard never
delays another call's events, and nothing of an ended call stays in the controller.

Slowness is injected with threading.Event gates, not timings: a gate held shut stands for a database
or a decryption as slow as one likes, and each test checks that the loop kept serving meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path

import aiohttp
from aiohttp import web

from standardiste.calllog.store import CallLogStore
from standardiste.dashboard.server import DashboardServer
from standardiste.storage.db import Database
from standardiste.telephony.ari import AriClient, Channel, ChannelHangup, DtmfReceived, StasisStart
from standardiste.telephony.controller import KEEP_ENDED, Controller
from standardiste.telephony.leg import AriCallLeg
from standardiste.telephony.session import CallSession
from tests.unit.test_telephony_calllog import _record
from tests.unit.test_telephony_session import Harness, menu_script


async def _until(cond: object, limit_s: float = 10.0) -> None:
    async with asyncio.timeout(limit_s):
        while not cond():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def _ari() -> AriClient:
    return AriClient("http://127.0.0.1:9", "u", "p", "app")


async def test_a_slow_session_build_holds_no_other_call() -> None:
    gate = threading.Event()  # the database read behind building the "slow" call's session
    harnesses: dict[str, Harness] = {}

    def factory(call_id: str, channel: Channel, leg: AriCallLeg, args: tuple[str, ...]) -> CallSession:
        if channel.id == "slow":
            assert gate.wait(10)
        harnesses[channel.id] = h = Harness(menu_script)
        return h.session

    ctl = Controller(_ari(), factory)
    fast, slow = Channel("fast", "PJSIP/caller1-1"), Channel("slow", "PJSIP/caller2-1")
    async with asyncio.timeout(5):  # the handler must return at once, the build still blocked
        await ctl.on_event(StasisStart(slow, ()))
        await ctl.on_event(DtmfReceived(slow, "1"))  # said while its session is being built: held
        await ctl.on_event(StasisStart(fast, ()))
    await _until(lambda: "fast" in harnesses and len(harnesses["fast"].leg.played) == 1)
    await ctl.on_event(DtmfReceived(fast, "1"))
    await _until(lambda: len(harnesses["fast"].leg.played) == 2)  # served while "slow" still builds
    assert "slow" not in ctl.calls and not gate.is_set()
    gate.set()
    await _until(lambda: "slow" in ctl.calls)
    # The key pressed during the build reached the call once it existed.
    await _until(lambda: len(harnesses["slow"].leg.played) == 2)
    await ctl.stop()


async def test_a_slow_call_log_write_keeps_the_loop_serving(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'calls.db'}")
    db.migrate()
    store = CallLogStore(db)
    gate = threading.Event()
    real_write = store._write

    def slow_write(record):  # type: ignore[no-untyped-def]
        assert gate.wait(10)  # a database that takes as long as the test likes
        real_write(record)

    store._write = slow_write  # type: ignore[method-assign]
    writing = asyncio.create_task(store.call_ended(_record()))
    other = Harness(menu_script)
    other.start()
    await other.until(lambda: len(other.leg.played) == 1)
    other.session.digit("1")
    await other.until(lambda: len(other.leg.played) == 2)  # another call served meanwhile
    assert not writing.done()
    gate.set()
    await asyncio.wait_for(writing, 10)
    assert (await store.get("c-1")) is not None
    other.session.hung_up()
    await asyncio.wait_for(other.task, 5)  # type: ignore[arg-type]


async def test_a_blocked_dashboard_page_does_not_block_the_call_loop() -> None:
    gate = threading.Event()

    async def slow_page(request: web.Request) -> web.Response:
        gate.wait(10)  # synchronous on purpose: a page decrypting rows, an argon2 hash
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/slow", slow_page)
    server = DashboardServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.create_task(ticker())
        async with aiohttp.ClientSession() as http:
            page = asyncio.create_task(http.get(f"http://127.0.0.1:{server.port}/slow"))
            await asyncio.sleep(0.2)
            before = ticks
            await asyncio.sleep(0.2)
            assert ticks > before and not page.done()  # the call loop runs while the page is stuck
            gate.set()
            response = await asyncio.wait_for(page, 10)
            assert await response.text() == "ok"
            response.release()
        tick_task.cancel()
    finally:
        gate.set()
        await server.stop()


async def test_no_residue_after_many_calls() -> None:
    sessions: weakref.WeakSet[CallSession] = weakref.WeakSet()

    def factory(call_id: str, channel: Channel, leg: AriCallLeg, args: tuple[str, ...]) -> CallSession:
        session = Harness(menu_script).session
        sessions.add(session)
        return session

    ctl = Controller(_ari(), factory)
    calls = 300
    for i in range(calls):
        channel = Channel(f"c{i}", f"PJSIP/caller-{i}")
        await ctl.on_event(StasisStart(channel, ()))
        await ctl.on_event(ChannelHangup(channel, 16))  # often before its session exists: held
    await _until(lambda: ctl.stats.calls_ended == calls, 60)
    assert not ctl.calls and not ctl._starting and not ctl._media_owner
    assert ctl.ended.qsize() <= KEEP_ENDED
    seen: list[str] = []
    ctl.on_ended.append(lambda record: seen.append(record.call_id))
    await ctl.on_event(StasisStart(Channel("last", "PJSIP/caller-last"), ()))
    await ctl.on_event(ChannelHangup(Channel("last", "PJSIP/caller-last"), 16))
    await _until(lambda: seen == ["call-1"])  # the Harness's call id
    gc.collect()
    assert len(sessions) <= KEEP_ENDED  # no session kept alive by the controller
    await ctl.stop()
