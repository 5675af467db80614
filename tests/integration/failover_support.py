"""Shared by tests/integration/test_failover.py and bench/bench_faults.py: a controller that can be
killed, callers spread over phone processes, and what the callers heard.

`CONTROLLER` stands for `standardiste serve` on the failure paths: it answers each call, streams
sound to the caller through a chan_websocket media channel in a mixing bridge (as the real
controller does), renews the dead-man watchdog, and runs the REAL guardian
(standardiste.pbx.guardian) with its heartbeat. On SIGTERM it hands its calls to reception
(ARI continue to standardiste-transfer,reception), like VoiceApp.stop.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standardiste.pbx import PbxInstance, PhoneAccount
from standardiste.testphone import PhoneCall, TestPhone

REPO = Path(__file__).resolve().parents[2]
RATE = 16000
SOUND_THRESHOLD = 250.0  # RMS of a 20 ms frame counted as sound (ringback, prompts, music)

CONTROLLER = r"""
import asyncio, base64, json, signal, sys, time
import aiohttp
from standardiste.pbx.guardian import HEARTBEAT_S, Guardian, GuardianConfig

base, user, password, app, watchdog, sound, guardian_on = sys.argv[1:8]
calls = set()

async def beat(http, channel):
    while channel in calls:
        await asyncio.sleep(1.0)
        async with http.post(f"{base}/ari/channels/{channel}/variable",
                             params={"variable": "TIMEOUT(absolute)", "value": watchdog}) as r:
            if r.status >= 300:
                calls.discard(channel)

async def media(http, channel):
    params = {"app": app, "channelId": f"media-{channel}", "transport": "websocket",
              "connection_type": "server", "encapsulation": "none", "format": "slin16",
              "external_host": "INCOMING"}
    async with http.post(f"{base}/ari/channels/externalMedia", params=params) as r:
        conn = (await r.json())["channelvars"]["MEDIA_WEBSOCKET_CONNECTION_ID"]
    media_url = base.replace("http://", "ws://") + f"/media/{conn}"
    async with http.ws_connect(media_url, protocols=("media",)) as ws:
        for _ in range(100):
            await asyncio.sleep(0.05)
            async with http.post(f"{base}/ari/bridges", params={"type": "mixing"}) as r:
                bridge = (await r.json())["id"]
            async with http.post(f"{base}/ari/bridges/{bridge}/addChannel",
                                 params={"channel": f"{channel},media-{channel}"}) as r:
                if r.status < 300:
                    break
        print("MEDIA", channel, flush=True)
        pcm = open(sound, "rb").read()
        loop = asyncio.get_running_loop()
        start = loop.time()
        i = 0
        while channel in calls:
            await ws.send_bytes(pcm[(i * 640) % len(pcm):(i * 640) % len(pcm) + 640])
            i += 1
            await asyncio.sleep(max(0, start + i * 0.02 - loop.time()))

async def main():
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    guardian = None
    if guardian_on == "1":
        guardian = Guardian.spawn(GuardianConfig(f"{base}/ari", user, password, app))
        async def heartbeat():
            while True:
                guardian.beat()
                await asyncio.sleep(HEARTBEAT_S)
        asyncio.create_task(heartbeat())
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)

    def busy(seconds):  # the event loop stuck in code that never yields (a bug, a blocking call)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass

    # SIGUSR1: the loop hangs for good; SIGUSR2: it hangs 1.2 s, then goes on (a slow moment).
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, busy, 1e9)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, busy, 1.2)
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:
        async with http.ws_connect(base.replace("http://", "ws://") + f"/ari/events?app={app}") as ws:
            print("CONNECTED", flush=True)
            tasks = []

            async def events():
                async for msg in ws:
                    event = json.loads(msg.data)
                    if event.get("type") != "StasisStart":
                        continue
                    if event["channel"]["name"].startswith("WebSocket/"):
                        continue
                    channel = event["channel"]["id"]
                    if channel in calls:
                        continue
                    calls.add(channel)
                    async with http.post(f"{base}/ari/channels/{channel}/answer") as r:
                        pass
                    tasks.append(asyncio.create_task(beat(http, channel)))
                    tasks.append(asyncio.create_task(media(http, channel)))
                    print("CALL", channel, flush=True)

            reader = asyncio.create_task(events())
            await stopping.wait()
            # A planned stop: every call is handed to reception, then we leave.
            for channel in list(calls):
                calls.discard(channel)
                async with http.post(f"{base}/ari/channels/{channel}/continue",
                                     params={"context": "standardiste-transfer", "extension": "reception",
                                             "priority": "1"}) as r:
                    pass
            print("HANDED", flush=True)
            reader.cancel()
    if guardian is not None:
        guardian.close()

asyncio.run(main())
"""


class Controller:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def expect(self, prefix: str, timeout: float = 15.0) -> str:  # noqa: ASYNC109
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
            if not line:
                raise AssertionError(f"controller exited; output: {self.lines}")
            text = line.decode().strip()
            self.lines.append(text)
            if text.startswith(prefix):
                return text

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)

    def terminate(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)

    def hang(self) -> None:
        """Its event loop gets stuck for good (busy, never yields): the heartbeat stops."""
        os.kill(self.proc.pid, signal.SIGUSR1)

    def pause(self) -> None:
        """Its event loop is busy 1.2 s, then goes on (longer than the hold, shorter than the stall)."""
        os.kill(self.proc.pid, signal.SIGUSR2)

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.kill()
            await self.proc.wait()


async def start_controller(pbx: PbxInstance, workdir: Path, guardian: bool = True) -> Controller:
    from standardiste.testphone.audio import tone

    script = workdir / "failover_controller.py"
    script.write_text(CONTROLLER)
    sound = workdir / "controller-voice.raw"
    if not sound.exists():
        sound.write_bytes(tone(700.0, 4.0, amplitude=0.2))  # steady: its end is easy to find
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        pbx.http_url,
        pbx.ari_user,
        pbx.ari_password,
        pbx.app_name,
        str(pbx.watchdog_s),
        str(sound),
        "1" if guardian else "0",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    controller = Controller(proc)
    await controller.expect("CONNECTED")
    return controller


CONTROLLER_TONE_HZ = 700.0


def _frames(pcm: bytes, start_s: float) -> list[tuple[float, float, bool]]:
    """(time, rms, is the controller's tone) of each 20 ms frame from start_s."""
    import numpy as np

    n = RATE // 50
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    out: list[tuple[float, float, bool]] = []
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    band = (freqs > CONTROLLER_TONE_HZ - 60) & (freqs < CONTROLLER_TONE_HZ + 60)
    for pos in range(int(start_s * RATE), len(samples) - n + 1, n):
        frame = samples[pos : pos + n]
        level = float(np.sqrt(np.mean(frame**2)))
        power = np.abs(np.fft.rfft(frame * np.hanning(n))) ** 2
        ours = bool(power[band].sum() > 0.6 * max(power.sum(), 1e-9))
        out.append((pos / RATE, level, ours))
    return out


def silence_after(pcm: bytes, start_s: float) -> float | None:
    """The silence the caller heard after the fault at start_s: from the end of what the controller
    was playing then (a steady 700 Hz tone) to the next other sound (ringback, prompt, music).
    0 when the fallback's sound followed at once; None when nothing else was ever heard."""
    frames = _frames(pcm, start_s)
    i = 0
    while i < len(frames) and frames[i][1] > SOUND_THRESHOLD and frames[i][2]:
        i += 1  # still the controller's tone
    if i == len(frames):
        return None
    quiet_from = frames[i][0]
    for t, level, ours in frames[i:]:
        if level > SOUND_THRESHOLD and not ours:
            return round(t - quiet_from, 3)
    return None


@dataclass
class CallerView:
    """What one caller experienced around a fault (seconds)."""

    answered: bool
    ended: bool
    silence_s: float | None  # from the fault to the first sound heard after it
    heard_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "ended": self.ended,
            "silence_s": self.silence_s,
            "heard_s": self.heard_s,
        }


@dataclass
class CallerGroup:
    """Callers spread over phone processes (pjsua2: MAX_CALLS_PER_PROCESS calls per process)."""

    procs: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def _line(self, proc: asyncio.subprocess.Process, prefix: str, timeout: float = 60) -> str:  # noqa: ASYNC109
        assert proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    raise AssertionError("a caller process died")
                text = raw.decode().strip()
                if text.startswith(prefix):
                    return text

    async def _all(self, command: str, prefix: str, timeout: float = 60) -> list[str]:  # noqa: ASYNC109
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command.encode() + b"\n")
            await proc.stdin.drain()
        return await asyncio.gather(*(self._line(p, prefix, timeout) for p in self.procs))

    async def mark(self) -> None:
        """Remember, in every call, where the recording stands now (the moment of the fault)."""
        await self._all("MARK", "MARKED", 10)

    async def views(self) -> list[CallerView]:
        outs = await self._all("REPORT", "REPORT", 30)
        views: list[CallerView] = []
        for out in outs:
            views += [CallerView(**d) for d in json.loads(out.removeprefix("REPORT "))]
        return views

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                proc.stdin.write(b"QUIT\n")
                with_timeout = asyncio.wait_for(proc.wait(), 20)
                try:
                    await with_timeout
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def place_calls(
    pbx: PbxInstance, n: int, number: str | None = None, per_process: int = 4
) -> CallerGroup:
    """n calls to the practice from caller phones in ceil(n / per_process) processes; returns once
    every call is answered."""
    from dataclasses import asdict

    group = CallerGroup()
    sizes = [per_process] * (n // per_process) + ([n % per_process] if n % per_process else [])
    for i, size in enumerate(sizes):
        account = asdict(pbx.phone(f"caller{(i % pbx.callers) + 1}"))
        spec = {"account": account, "n": size, "number": number or pbx.practice_extension}
        group.procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.failover_support",
                json.dumps(spec),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                cwd=str(REPO),
                env={**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'src'}"},
            )
        )
    await asyncio.gather(*(group._line(p, "ANSWERED", 90) for p in group.procs))
    return group


async def _caller_process(spec: dict[str, Any]) -> None:
    account = PhoneAccount(**spec["account"])
    phone = await TestPhone(account, register=False).start()
    calls: list[PhoneCall] = [await phone.call(spec["number"]) for _ in range(int(spec["n"]))]
    for call in calls:
        await call.wait_answered(30)
    print("ANSWERED", flush=True)
    marks = [0.0] * len(calls)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while True:
        command = (await reader.readline()).decode().strip()
        if command == "MARK":
            marks = [c.heard_seconds() for c in calls]
            print("MARKED", flush=True)
        elif command == "REPORT":
            views = []
            for call, mark in zip(calls, marks, strict=True):
                pcm = call.heard_pcm()
                views.append(
                    CallerView(
                        answered=call.answered_at is not None,
                        ended=call.ended,
                        silence_s=silence_after(pcm, mark),
                        heard_s=len(pcm) / (2 * RATE),
                    ).as_dict()
                )
            print("REPORT " + json.dumps(views), flush=True)
        elif command in ("QUIT", ""):
            for call in calls:
                if not call.ended:
                    await call.hangup()
            await phone.close()
            return


if __name__ == "__main__":
    asyncio.run(_caller_process(json.loads(sys.argv[1])))


def tone_back_after(pcm: bytes, start_s: float) -> bool:
    """Whether the controller's tone was heard again after start_s (the assistant is back)."""
    return any(level > SOUND_THRESHOLD and ours for _t, level, ours in _frames(pcm, start_s))
