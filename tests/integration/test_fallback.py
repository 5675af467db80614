"""No call is lost: the dialplan's fallbacks to reception, on a real Asterisk with real phones.

A minimal ARI application (raw aiohttp, in a subprocess so it can be killed -9) stands for the
controller: it answers, optionally plays a sound, renews the watchdog, and continues the channel
when asked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from standardiste.pbx import RECEPTION, URGENT, PbxInstance
from standardiste.pbx.dialplan import WATCHDOG_VARIABLE
from standardiste.testphone import find_reference
from standardiste.testphone.audio import chirps
from tests.fixtures.pbx import PbxFactory, PhoneFactory
from tests.fixtures.voice import wait_found

pytestmark = pytest.mark.asterisk

MINIMAL_APP = r"""
import asyncio, base64, json, sys
import aiohttp

base, user, password, app, renew_s, watchdog, sound, then, bridge = sys.argv[1:10]

async def beat(http, channel):
    while True:
        await asyncio.sleep(float(renew_s))
        async with http.post(f"{base}/ari/channels/{channel}/variable",
                             params={"variable": "TIMEOUT(absolute)", "value": watchdog}) as r:
            if r.status >= 300:
                return

media_ready = asyncio.Event()


async def media(http, channel):
    params = {"app": app, "channelId": f"media-{channel}", "transport": "websocket",
              "connection_type": "server", "encapsulation": "none", "format": "slin16",
              "external_host": "INCOMING"}
    async with http.post(f"{base}/ari/channels/externalMedia", params=params) as r:
        conn = (await r.json())["channelvars"]["MEDIA_WEBSOCKET_CONNECTION_ID"]
    ws_url = base.replace("http://", "ws://") + f"/media/{conn}"
    async with http.ws_connect(ws_url, protocols=("media",)) as ws:
        await media_ready.wait()
        async with http.post(f"{base}/ari/bridges", params={"type": "mixing"}) as r:
            bridge_id = (await r.json())["id"]
        async with http.post(f"{base}/ari/bridges/{bridge_id}/addChannel",
                             params={"channel": f"{channel},media-{channel}"}) as r:
            assert r.status < 300, await r.text()
        pcm = open(sound, "rb").read()
        print("MEDIA", flush=True)
        start = asyncio.get_running_loop().time()
        for i in range(0, len(pcm), 640):  # paced 20 ms frames of slin16
            await ws.send_bytes(pcm[i:i + 640])
            await asyncio.sleep(max(0, start + (i // 640 + 1) * 0.02 - asyncio.get_running_loop().time()))
        await asyncio.sleep(3600)


async def main():
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:
        ws_url = base.replace("http://", "ws://") + f"/ari/events?app={app}"
        async with http.ws_connect(ws_url) as ws:
            print("CONNECTED", flush=True)
            tasks = []
            async for msg in ws:
                event = json.loads(msg.data)
                if event.get("type") != "StasisStart":
                    continue
                channel = event["channel"]["id"]
                if channel.startswith("media-"):
                    media_ready.set()
                    continue
                async with http.post(f"{base}/ari/channels/{channel}/answer") as r:
                    assert r.status < 300, await r.text()
                if float(renew_s) > 0:
                    tasks.append(asyncio.create_task(beat(http, channel)))
                target = f"channels/{channel}"
                if bridge == "media":  # like the real controller: chan_websocket media in a mixing bridge
                    tasks.append(asyncio.create_task(media(http, channel)))
                elif bridge == "bridge":  # the caller sits in a mixing bridge
                    async with http.post(f"{base}/ari/bridges", params={"type": "mixing"}) as r:
                        target = "bridges/" + (await r.json())["id"]
                    async with http.post(f"{base}/ari/{target}/addChannel", params={"channel": channel}) as r:
                        assert r.status < 300, await r.text()
                if sound != "-" and bridge != "media":
                    async with http.post(f"{base}/ari/{target}/play", params={"media": sound}) as r:
                        assert r.status < 300, await r.text()
                args = event.get("args") or []
                print("CALL", channel, ",".join(args), flush=True)
                if then != "-" and args[:1] == ["inbound"]:
                    await asyncio.sleep(1.0)
                    params = {} if then == "next" else dict(p.split("=") for p in then.split(","))
                    async with http.post(f"{base}/ari/channels/{channel}/continue", params=params) as r:
                        print("CONTINUE", r.status, flush=True)

asyncio.run(main())
"""


class MinimalApp:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def expect(self, prefix: str, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
            if not line:
                raise AssertionError(f"minimal ARI app exited; output: {self.lines}")
            text = line.decode().strip()
            self.lines.append(text)
            if text.startswith(prefix):
                return text

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[object]:
    script = tmp_path / "minimal_ari_app.py"
    script.write_text(MINIMAL_APP)
    apps: list[MinimalApp] = []

    async def start(
        pbx: PbxInstance,
        renew_s: float = 0.0,
        sound: str = "-",
        then: str = "-",
        bridge: bool | str = False,
    ) -> MinimalApp:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            pbx.http_url,
            pbx.ari_user,
            pbx.ari_password,
            pbx.app_name,
            str(renew_s),
            str(pbx.watchdog_s),
            sound,
            then,
            bridge if isinstance(bridge, str) else ("bridge" if bridge else "-"),
            stdout=asyncio.subprocess.PIPE,
        )
        app = MinimalApp(proc)
        apps.append(app)
        await app.expect("CONNECTED")
        return app

    yield start
    for app in apps:
        if app.proc.returncode is None:
            app.kill()
            await app.proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("bridged", [True, False], ids=["in-bridge", "alone"])
async def test_controller_killed_mid_call_lands_at_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object, bridged: bool
) -> None:
    pbx = await pbx_factory(watchdog_s=3)
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    sound = pbx.install_sound_pcm("accueil-test", chirps(6.0, seed=11), 16000) if bridged else "-"
    app = await start_app(pbx, renew_s=1.0, sound=sound, bridge=bridged)  # type: ignore[operator]

    call = await caller.call(pbx.practice_extension)
    await app.expect("CALL")
    await call.wait_answered(5)
    # The assistant is alive and renews the watchdog: the call stays with it past watchdog_s.
    await asyncio.sleep(pbx.watchdog_s + 1.5)
    assert reception.incoming_calls() == []
    if bridged:  # it was really talking: the caller heard the sound it played through ARI
        assert find_reference(chirps(6.0, seed=11), call.heard_pcm(), min_fraction=0.4).found

    app.kill()
    killed_at = time.monotonic()
    incoming = await reception.wait_incoming(pbx.watchdog_s + 5)
    delay = time.monotonic() - killed_at
    print(f"caller reached reception {delay:.2f} s after the controller was killed")
    assert delay <= pbx.watchdog_s + 2
    # Caller and reception now talk to each other.
    spoken = chirps(1.5, seed=12)
    await call.play_pcm(spoken)
    # Wait on the audio, not a fixed 0.3 s: under load the reception's recording lags the caller's playback.
    await wait_found(incoming, spoken, limit_s=10.0)
    assert "STANDARDISTE_WATCHDOG=expired" in pbx.log_path.read_text().replace('"', "").replace(" ", "") or (
        "Assistant muet" in pbx.log_path.read_text()
    )
    await call.hangup()


@pytest.mark.slow
async def test_without_watchdog_asterisk_keeps_the_caller_in_stasis(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object
) -> None:
    """Documents Asterisk 22's behaviour that the watchdog exists for: when the ARI app's websocket
    goes away, res_stasis keeps the channel in the application; the caller hears silence."""
    pbx = await pbx_factory(watchdog_s=0)  # TIMEOUT(absolute)=0: no dead-man switch
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    app = await start_app(pbx)  # type: ignore[operator]
    call = await caller.call(pbx.practice_extension)
    await app.expect("CALL")
    await call.wait_answered(5)
    app.kill()
    await asyncio.sleep(4)
    assert reception.incoming_calls() == []
    assert not call.ended
    channels = pbx.rx("core show channels concise")
    assert "Stasis" in channels, channels
    await call.hangup()


async def test_controller_continue_transfers_to_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object
) -> None:
    pbx = await pbx_factory()
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    then = ",".join(f"{k}={v}" for k, v in RECEPTION.as_params().items())
    app = await start_app(pbx, renew_s=1.0, then=then)  # type: ignore[operator]
    call = await caller.call(pbx.practice_extension)
    await app.expect("CALL")
    assert (await app.expect("CONTINUE")).endswith("204")
    incoming = await reception.wait_incoming(10)
    assert "caller1" in incoming.remote
    await call.hangup()


async def test_urgent_transfer_marks_the_caller_id(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object
) -> None:
    pbx = await pbx_factory()
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    then = ",".join(f"{k}={v}" for k, v in URGENT.as_params().items())
    app = await start_app(pbx, renew_s=1.0, then=then)  # type: ignore[operator]
    call = await caller.call(pbx.practice_extension)
    await app.expect("CONTINUE")
    incoming = await reception.wait_incoming(10)
    assert "URGENT" in incoming.remote
    await call.hangup()


async def test_controller_letting_go_without_target_goes_to_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object
) -> None:
    pbx = await pbx_factory()
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    app = await start_app(pbx, then="next")  # type: ignore[operator]
    call = await caller.call(pbx.practice_extension)
    await app.expect("CONTINUE")
    await reception.wait_incoming(10)
    await call.hangup()


def test_watchdog_variable_name_matches_the_dialplan() -> None:
    text = (Path(__file__).resolve().parents[2] / "asterisk" / "extensions.conf").read_text()
    assert f"Set({WATCHDOG_VARIABLE}=${{WATCHDOG_S}})" in text
    for target in (RECEPTION, URGENT):
        assert f"[{target.context}]" in text and f"exten => {target.extension},1," in text


@pytest.mark.slow
async def test_watchdog_class_holds_the_call_and_lets_go_when_stopped(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    import json

    import aiohttp

    from standardiste.pbx import Watchdog
    from standardiste.pbx.watchdog import renew

    pbx = await pbx_factory(watchdog_s=3)
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    async with (
        aiohttp.ClientSession(headers=pbx.ari_headers()) as http,
        http.ws_connect(f"{pbx.ws_url}/ari/events?app={pbx.app_name}") as ws,
    ):
        watchdog = Watchdog(http, pbx.ari_url, seconds=pbx.watchdog_s, every_s=1.0)
        await watchdog.start()
        call = await caller.call(pbx.practice_extension)
        channel = ""
        async for msg in ws:
            event = json.loads(msg.data)
            if event["type"] == "StasisStart":
                channel = event["channel"]["id"]
                break
        watchdog.watch(channel)
        async with http.post(f"{pbx.ari_url}/channels/{channel}/answer") as r:
            assert r.status == 204
        await call.wait_answered(5)
        await asyncio.sleep(pbx.watchdog_s + 1.5)
        assert reception.incoming_calls() == []
        await watchdog.stop()  # the controller's loop stalls: no more renewals
        await reception.wait_incoming(pbx.watchdog_s + 3)
        # The channel left Stasis: a late renewal is refused and cannot re-arm the timeout.
        assert await renew(http, pbx.ari_url, channel, pbx.watchdog_s) is False
    await call.hangup()


def test_watchdog_rejects_a_period_longer_than_the_timeout() -> None:
    from standardiste.pbx import Watchdog

    with pytest.raises(ValueError):
        Watchdog(None, "http://x", seconds=2, every_s=3)  # type: ignore[arg-type]


async def test_reception_busy_gives_the_call_back_to_the_assistant(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object
) -> None:
    from standardiste.pbx.dialplan import STASIS_ARG_TRANSFER_FAILED
    from standardiste.testphone import BUSY

    pbx = await pbx_factory()
    await phone_factory(pbx.reception, answer=BUSY)
    caller = await phone_factory(pbx.phone("caller1"))
    then = ",".join(f"{k}={v}" for k, v in RECEPTION.as_params().items())
    app = await start_app(pbx, renew_s=1.0, then=then)  # type: ignore[operator]
    call = await caller.call(pbx.practice_extension)
    first = await app.expect("CALL")
    assert first.endswith(" inbound")
    # Reception busy: the assistant gets the call back, told why, and can take a message.
    again = await app.expect("CALL")
    assert again.split()[1] == first.split()[1]
    assert again.split()[2] == f"{STASIS_ARG_TRANSFER_FAILED},BUSY,reception"
    assert not call.ended
    await call.hangup()


async def test_outbound_reminder_call_falls_back_when_the_assistant_dies(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object
) -> None:
    import aiohttp

    from standardiste.pbx.dialplan import OUTBOUND_CONTEXT, OUTBOUND_EXTENSION
    from standardiste.testphone.audio import sound_segments

    pbx = await pbx_factory(watchdog_s=3)
    patient = await phone_factory(pbx.phone("patient1"))
    app = await start_app(pbx, renew_s=1.0)  # type: ignore[operator]
    params = {
        "endpoint": "PJSIP/patient1",
        "context": OUTBOUND_CONTEXT,
        "extension": OUTBOUND_EXTENSION,
        "priority": "1",
        "callerId": "Cabinet <100>",
    }
    async with (
        aiohttp.ClientSession(headers=pbx.ari_headers()) as http,
        http.post(f"{pbx.ari_url}/channels", params=params) as r,
    ):
        assert r.status == 200, await r.text()
    incoming = await patient.wait_incoming(10)
    assert (await app.expect("CALL")).endswith(" outbound")
    app.kill()
    # The patient is not left in silence: the apology plays, then the call ends.
    await incoming.wait_disconnected(pbx.watchdog_s + 20)
    assert sound_segments(incoming.heard_pcm()), "the patient heard nothing"


@pytest.mark.slow
async def test_controller_killed_while_streaming_media_lands_at_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, start_app: object, tmp_path: Path
) -> None:
    """As the real controller does: caller and a chan_websocket media channel in a mixing bridge."""
    pbx = await pbx_factory(watchdog_s=3)
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    signal_pcm = chirps(8.0, seed=21)
    raw = tmp_path / "signal.raw"
    raw.write_bytes(signal_pcm)
    app = await start_app(pbx, renew_s=1.0, sound=str(raw), bridge="media")  # type: ignore[operator]
    call = await caller.call(pbx.practice_extension)
    await app.expect("CALL")
    await call.wait_answered(5)
    await app.expect("MEDIA")
    await asyncio.sleep(2.5)
    assert find_reference(signal_pcm[: 16000 * 2 * 2], call.heard_pcm(), min_fraction=0.5).found
    app.kill()
    killed_at = time.monotonic()
    await reception.wait_incoming(pbx.watchdog_s + 5)
    print(f"caller reached reception {time.monotonic() - killed_at:.2f} s after the kill (media bridge)")
    await call.hangup()
