"""The controller's routing and isolation: events reach the right call, one call's crash touches no other.

Sessions here run over the FakeLeg of test_telephony_session (no Asterisk); the ARI client is
never connected (events are handed to `on_event` directly).
"""

from __future__ import annotations

import asyncio

from standardiste.dialogue.messages import Action, CallerEvent, Keypad
from standardiste.telephony.ari import (
    AriClient,
    Channel,
    ChannelHangup,
    DtmfReceived,
    OtherEvent,
    StasisStart,
)
from standardiste.telephony.controller import Controller
from standardiste.telephony.leg import AriCallLeg
from standardiste.telephony.session import CallSession
from tests.unit.test_telephony_session import Harness, menu_script


def _broken_on_5(event: CallerEvent) -> list[Action]:
    if isinstance(event, Keypad) and event.digits == "5":
        raise RuntimeError("bug in one call")
    return menu_script(event)


class Built:
    def __init__(self) -> None:
        self.harnesses: dict[str, Harness] = {}

    def __call__(self, call_id: str, channel: Channel, leg: AriCallLeg, args: tuple[str, ...]) -> CallSession:
        h = Harness(_broken_on_5)
        self.harnesses[channel.id] = h
        return h.session


async def _until(cond: object, limit_s: float = 3.0) -> None:
    async with asyncio.timeout(limit_s):
        while not cond():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_routing_and_isolation() -> None:
    built = Built()
    ctl = Controller(AriClient("http://127.0.0.1:9", "u", "p", "app"), built)
    a, b = Channel("a", "PJSIP/caller1-1"), Channel("b", "PJSIP/caller2-1")
    await ctl.on_event(StasisStart(a, ("inbound",)))
    await ctl.on_event(StasisStart(b, ("inbound",)))
    await ctl.on_event(StasisStart(Channel("m", "WebSocket/INCOMING/0x1"), ()))  # stray media channel
    await ctl.on_event(OtherEvent("ChannelVarset", "a"))
    await _until(lambda: set(ctl.calls) == {"a", "b"})  # sessions are built off the event loop
    ha, hb = built.harnesses["a"], built.harnesses["b"]
    await _until(lambda: len(ha.leg.played) == 1 and len(hb.leg.played) == 1)
    await ctl.on_event(DtmfReceived(a, "5"))  # crashes call a's conversation
    await _until(lambda: "a" not in ctl.calls)
    assert ha.leg.transfers == [False]  # a went to reception
    await ctl.on_event(DtmfReceived(b, "1"))  # b is untouched and still served
    await _until(lambda: len(hb.leg.played) == 2)
    assert hb.leg.transfers == []
    await ctl.on_event(ChannelHangup(b, 16))
    await _until(lambda: not ctl.calls)
    records = [ctl.ended.get_nowait(), ctl.ended.get_nowait()]
    assert sorted(r.end_reason for r in records) == ["caller_hung_up", "internal_error"]
    assert ctl.stats.calls_started == 2 and ctl.stats.calls_ended == 2
    await ctl.stop()


async def test_stop_hands_live_calls_to_reception() -> None:
    built = Built()
    ctl = Controller(AriClient("http://127.0.0.1:9", "u", "p", "app"), built)
    await ctl.on_event(StasisStart(Channel("a", "PJSIP/caller1-1"), ()))
    await _until(lambda: "a" in built.harnesses)
    h = built.harnesses["a"]
    await _until(lambda: len(h.leg.played) == 1)
    await ctl.stop()
    assert h.leg.transfers == [False]
    assert not ctl.calls


async def test_factory_failure_sends_caller_to_reception() -> None:
    sent: list[tuple[str, dict[str, str] | None]] = []

    class Ari(AriClient):
        async def request(self, method: str, path: str, params=None, body=None):  # type: ignore[no-untyped-def]
            sent.append((path, params))
            return None

    def broken(*args: object) -> CallSession:
        raise RuntimeError("no recogniser")

    ctl = Controller(Ari("http://127.0.0.1:9", "u", "p", "app"), broken)
    await ctl.on_event(StasisStart(Channel("a", "PJSIP/caller1-1"), ()))
    await _until(lambda: any(path == "/channels/a/continue" for path, _ in sent))
    assert not ctl.calls
