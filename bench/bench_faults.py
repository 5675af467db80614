"""Faults injected on a real Asterisk 22 with real SIP phones and a ONE-LINE reception (issue 18).

For each fault: how many callers were lost (neither with a human, nor in the waiting line, nor in
the message box), the longest silence a caller heard after the fault (from the end of what the
controller was playing to the next sound: ringback, prompt or music) and the time to a human.

    python bench/bench_faults.py              # every scenario, 20 calls for the mass kill
    python bench/bench_faults.py --calls 8 --only kill9_many

The controller is tests/integration/failover_support.py's: it streams a tone through a
chan_websocket media channel in a mixing bridge, renews the dead-man watchdog (set to 60 s here,
so only the guardian can explain a fast rescue) and runs the real guardian. The reception phone
picks up 1 s after it starts ringing. Results: bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from tests.fixtures.pbx import make_test_secrets  # noqa: E402
from tests.integration.failover_support import (  # noqa: E402
    place_calls,
    silence_after,
    start_controller,
    tone_back_after,
)

from standardiste.pbx import PbxInstance, ensure_root, free_asterisk_config  # noqa: E402
from standardiste.pbx.guardian import DEFAULT_HOLD_S, DEFAULT_STALL_S, DEFAULT_STOPPED_S  # noqa: E402
from standardiste.pbx.sounds import install_fallback_prompts  # noqa: E402
from standardiste.testphone import AnswerMode, AnswerPolicy, TestPhone  # noqa: E402

RESULTS = REPO / "bench" / "results"
HUMAN = AnswerPolicy(AnswerMode.ANSWER, 1.0)
DEAD_MAN_S = 60
PICKUP_S = 1.0


@dataclass
class FaultResult:
    scenario: str
    calls: int
    lost: int
    with_human: int
    in_line: int
    in_message_box: int
    longest_silence_s: float | None  # None: not measurable in this scenario (see note)
    time_to_human_s: float | None  # from the fault; includes the secretary's 1 s pickup
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)


async def new_pbx(workdir: Path, **kwargs: object) -> PbxInstance:
    root = ensure_root()
    (root / "instances").mkdir(exist_ok=True)
    pbx = PbxInstance(
        root,
        Path(tempfile.mkdtemp(prefix="bench-faults-", dir=root / "instances")),
        free_asterisk_config(),
        make_test_secrets(),
        callers=6,
        watchdog_s=int(kwargs.pop("watchdog_s", DEAD_MAN_S)),  # type: ignore[call-overload]
        **kwargs,  # type: ignore[arg-type]
    )
    await pbx.start(tie_to_parent=True)
    await install_fallback_prompts(pbx, "15")
    return pbx


async def in_line(pbx: PbxInstance) -> int:
    shown = await pbx.arx("queue show standardiste-accueil")
    match = re.search(r"has (\d+) call", shown)
    return int(match.group(1)) if match else 0


async def where_callers_are(pbx: PbxInstance) -> tuple[int, int]:
    """(in the waiting line, in the message box): caller channels in those dialplan extensions."""
    shown = await pbx.arx("core show channels concise")
    line = box = 0
    for row in shown.splitlines():
        parts = row.split("!")
        if len(parts) < 6 or parts[1] != "standardiste-transfer":
            continue
        if parts[2] == "queue" and parts[5] != "Dial":  # the wait prompt, or in Queue()
            line += 1
        elif parts[2] == "message":
            box += 1
    return line, box


async def kill9(pbx: PbxInstance, workdir: Path, n: int, reception: TestPhone | None) -> FaultResult:
    controller = await start_controller(pbx, workdir)
    group = await place_calls(pbx, n)
    try:
        for _ in range(n):
            await controller.expect("MEDIA", 60)
        await asyncio.sleep(1.5)
        await group.mark()
        controller.kill()
        killed = time.monotonic()
        to_human = None
        if reception is not None:
            await reception.wait_incoming(15)
            to_human = time.monotonic() - killed
        await asyncio.sleep(6.0)
        views = await group.views()
        line, boxed = await where_callers_are(pbx)
        humans = len(reception.calls) if reception is not None else 0
        up = sum(1 for v in views if v.answered and not v.ended)
        silences = [v.silence_s for v in views]
        heard_nothing = sum(1 for s in silences if s is None)
        return FaultResult(
            scenario=f"kill9_{n}",
            calls=n,
            lost=max(n - up, heard_nothing, n - (humans + line + boxed)),
            with_human=humans,
            in_line=line,
            in_message_box=boxed,
            longest_silence_s=max((s for s in silences if s is not None), default=None),
            time_to_human_s=round(to_human, 3) if to_human is not None else None,
            extra={"silences_s": silences, "queue_show_callers": await in_line(pbx)},
        )
    finally:
        await group.close()
        await controller.close()


async def scenario_kill9_one(workdir: Path, _n: int) -> FaultResult:
    pbx = await new_pbx(workdir)
    try:
        reception = await TestPhone(pbx.reception, answer=HUMAN).start()
        try:
            return await kill9(pbx, workdir, 1, reception)
        finally:
            await reception.close()
    finally:
        await pbx.stop()
        pbx.remove()


async def scenario_kill9_many(workdir: Path, n: int) -> FaultResult:
    pbx = await new_pbx(workdir)
    try:
        reception = await TestPhone(pbx.reception, answer=HUMAN).start()
        try:
            result = await kill9(pbx, workdir, n, reception)
            result.scenario = "kill9_many"
            result.note = "one-line reception: one caller with her, the others in the waiting line"
            return result
        finally:
            await reception.close()
    finally:
        await pbx.stop()
        pbx.remove()


async def single_call_fault(
    workdir: Path,
    name: str,
    fault: Callable[[object], Awaitable[None]],
    note: str,
    reception_on: bool = True,
    **pbx_args: object,
) -> FaultResult:
    pbx = await new_pbx(workdir, **pbx_args)
    reception = await TestPhone(pbx.reception, answer=HUMAN).start() if reception_on else None
    caller = await TestPhone(pbx.phone("caller1")).start()
    controller = await start_controller(pbx, workdir)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        await call.wait_answered(10)
        await asyncio.sleep(1.5)
        mark = call.heard_seconds()
        await fault(controller)
        faulted = time.monotonic()
        to_human = None
        if reception is not None:
            await reception.wait_incoming(15)
            to_human = time.monotonic() - faulted
        else:
            for _ in range(300):
                if list(pbx.messages_dir.glob("*.wav")):
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        silence = silence_after(call.heard_pcm(), mark)
        humans = len(reception.calls) if reception is not None else 0
        boxed = len(list(pbx.messages_dir.glob("*.wav")))
        return FaultResult(
            scenario=name,
            calls=1,
            lost=0 if (humans + boxed) >= 1 and not call.ended and silence is not None else 1,
            with_human=humans,
            in_line=await in_line(pbx),
            in_message_box=boxed,
            longest_silence_s=silence,
            time_to_human_s=round(to_human, 3) if to_human is not None else None,
            note=note,
        )
    finally:
        await caller.close()
        if reception is not None:
            await reception.close()
        await controller.close()
        await pbx.stop()
        pbx.remove()


async def scenario_stalled(workdir: Path, _n: int) -> FaultResult:
    async def freeze(controller: object) -> None:
        os.kill(controller.pid, signal.SIGSTOP)  # type: ignore[attr-defined]

    return await single_call_fault(
        workdir,
        "controller_stuck",
        freeze,
        f"SIGSTOP: the guardian sees the process stopped (/proc state T) after {DEFAULT_STOPPED_S} s "
        "without heartbeat and frees the caller",
    )


async def scenario_loop_stuck(workdir: Path, _n: int) -> FaultResult:
    async def hang(controller: object) -> None:
        controller.hang()  # type: ignore[attr-defined]

    return await single_call_fault(
        workdir, "controller_loop_stuck", hang,
        f"event loop stuck for good (busy, never yields; process running): music on hold after "
        f"{DEFAULT_HOLD_S} s without heartbeat, the waiting line after {DEFAULT_STALL_S} s",
    )  # fmt: skip


async def scenario_slow(workdir: Path, _n: int) -> FaultResult:
    """The controller's loop is busy 1.2 s then goes on: music on hold meanwhile, no false alarm."""
    pbx = await new_pbx(workdir)
    reception = await TestPhone(pbx.reception, answer=HUMAN).start()
    caller = await TestPhone(pbx.phone("caller1")).start()
    controller = await start_controller(pbx, workdir)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        await call.wait_answered(10)
        await asyncio.sleep(1.5)
        mark = call.heard_seconds()
        controller.pause()
        await asyncio.sleep(4.0)
        silence = silence_after(call.heard_pcm(), mark)
        back = tone_back_after(call.heard_pcm(), mark + 1.0)
        false_alarm = len(reception.calls) > 0
        return FaultResult(
            scenario="controller_slow",
            calls=1,
            lost=0 if not call.ended else 1,
            with_human=len(reception.calls),
            in_line=await in_line(pbx),
            in_message_box=0,
            longest_silence_s=silence,
            time_to_human_s=None,
            note="event loop busy 1.2 s then fine: music on hold while silent, then the assistant again; "
            "the call must stay with the assistant (reception never rings)",
            extra={"false_alarm": false_alarm, "assistant_heard_again": back},
        )
    finally:
        await caller.close()
        await reception.close()
        await controller.close()
        await pbx.stop()
        pbx.remove()


async def scenario_graceful(workdir: Path, _n: int) -> FaultResult:
    async def term(controller: object) -> None:
        controller.terminate()  # type: ignore[attr-defined]

    return await single_call_fault(
        workdir, "controller_graceful_stop", term, "SIGTERM: calls handed to reception"
    )


async def scenario_unregistered(workdir: Path, _n: int) -> FaultResult:
    async def kill(controller: object) -> None:
        controller.kill()  # type: ignore[attr-defined]

    return await single_call_fault(
        workdir,
        "reception_unregistered_kill9",
        kill,
        "no reception phone: emergency sentence, then the message box",
        reception_on=False,
    )


async def scenario_controller_down(workdir: Path, _n: int) -> FaultResult:
    pbx = await new_pbx(workdir)
    reception = await TestPhone(pbx.reception, answer=HUMAN).start()
    caller = await TestPhone(pbx.phone("caller1")).start()
    try:
        dialled = time.monotonic()
        call = await caller.call(pbx.practice_extension)
        await reception.wait_incoming(15)
        to_human = time.monotonic() - dialled
        await call.wait_answered(5)
        return FaultResult(
            "controller_down", 1, 0 if not call.ended else 1, len(reception.calls), 0, 0, None,
            round(to_human, 3), "the caller's own phone rings back (SIP 180) until she picks up",
        )  # fmt: skip
    finally:
        await caller.close()
        await reception.close()
        await pbx.stop()
        pbx.remove()


async def scenario_reception_busy(workdir: Path, _n: int) -> FaultResult:
    """One line, the secretary on the phone: the caller waits in line, then talks to her."""
    from tests.integration.integration_support import add_dialplan

    pbx = await new_pbx(workdir)
    await asyncio.to_thread(
        add_dialplan, pbx, "[standardiste-tests]\nexten => ring-reception,1,Dial(PJSIP/reception,60)\n"
    )
    reception = await TestPhone(pbx.reception, answer=HUMAN).start()
    other = await TestPhone(pbx.phone("caller2")).start()
    caller = await TestPhone(pbx.phone("caller1")).start()
    try:
        busy = await other.call("ring-reception", answer_timeout=10)
        await reception.wait_incoming(10)  # her other call (claimed, so the next one is ours)
        dialled = time.monotonic()
        call = await caller.call(pbx.practice_extension)
        await call.wait_answered(10)
        first = await call.wait_sound(10, threshold=250)
        answered_at = call.answered_at or dialled
        await asyncio.sleep(10.0)
        line = await in_line(pbx)
        await busy.hangup()
        freed = time.monotonic()
        await reception.wait_incoming(30)
        to_human = time.monotonic() - freed
        return FaultResult(
            "reception_busy", 1, 0 if not call.ended else 1, 1, line, 0, round(first, 3), round(to_human, 3),
            f"answered {answered_at - dialled:.2f} s after dialling, emergency sentence first; "
            "time to a human counted from the moment the secretary hung up her other call",
        )  # fmt: skip
    finally:
        await caller.close()
        await other.close()
        await reception.close()
        await pbx.stop()
        pbx.remove()


async def scenario_asterisk_restart(workdir: Path, _n: int) -> FaultResult:
    """A planned Asterisk restart (upgrade): drain, the call in progress ends by itself, restart."""
    pbx = await new_pbx(workdir)
    reception = await TestPhone(pbx.reception, answer=HUMAN).start()
    caller = await TestPhone(pbx.phone("caller1")).start()
    try:
        call = await caller.call(pbx.practice_extension)
        await reception.wait_incoming(15)
        drain = asyncio.create_task(pbx.drain(limit_s=60))
        await asyncio.sleep(3.0)
        still_up = not call.ended
        await call.hangup()
        result = await drain
        stopped = time.monotonic()
        await pbx.start(tie_to_parent=True)
        call2 = await caller.call(pbx.practice_extension)
        await reception.wait_incoming(15)
        gap = time.monotonic() - stopped
        await call2.hangup()
        return FaultResult(
            "asterisk_planned_restart", 1, int(not (still_up and result.calls_cut == 0)), 1, 0, 0, None, None,
            "pbx stop drains: the call in progress went on until the caller hung up; new calls refused "
            "meanwhile; gap = from Asterisk's exit to the next call answered by reception",
            {"drain_waited_s": round(result.waited_s, 2), "calls_cut": result.calls_cut,
             "restart_gap_s": round(gap, 2)},
        )  # fmt: skip
    finally:
        await caller.close()
        await reception.close()
        await pbx.stop()
        pbx.remove()


def _pids_with(text: str, program: str) -> list[int]:
    """Pids of `program` processes whose command line mentions text (the bench's own data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if text.encode() in cmdline and program.encode() in cmdline:
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def redis_down_call(pbx: PbxInstance, data: Path) -> dict[str, object]:
    """Kill the Redis that serve started (reminder jobs), then call: the assistant still answers."""
    redis = _pids_with(str(data), "redis-server")
    for pid in redis:
        os.kill(pid, signal.SIGKILL)
    caller = await TestPhone(pbx.phone("caller1")).start()
    try:
        call = await caller.call(pbx.practice_extension)
        await call.wait_answered(10)
        first = await call.wait_sound(15, threshold=250)
        channels = await pbx.arx("core show channels concise")
        in_stasis = "!Stasis!" in channels
        if not in_stasis:
            print(channels, (data / "serve.log").read_text(errors="replace")[-3000:], flush=True)
        await call.hangup()
        return {
            "redis_killed": len(redis),
            "answered_by_assistant": in_stasis,
            "first_sound_s": round(first, 2),
        }
    finally:
        await caller.close()


async def scenario_serve_restart(workdir: Path, _n: int) -> FaultResult:
    """`standardiste serve` (the real CLI, demo practice) restarted: from SIGTERM to its ARI application
    registered again, i.e. the time during which new calls go straight to the waiting line."""
    import shutil
    import subprocess

    from standardiste.pbx import free_port

    data = Path(tempfile.mkdtemp(prefix="bench-serve-", dir=workdir))
    cfg = free_asterisk_config()
    demo = (REPO / "src" / "standardiste" / "data" / "demo.toml").read_text(encoding="utf-8")
    demo = demo.replace('data_dir = "var/demo"', f'data_dir = "{data}"')
    demo = re.sub(r"sip_port = \d+", f"sip_port = {cfg.sip_port}", demo)
    demo = re.sub(r"http_port = \d+", f"http_port = {cfg.http_port}", demo)
    demo = re.sub(r"ami_port = \d+", f"ami_port = {cfg.ami_port}", demo)
    demo += f"\n[deployment.dashboard]\nport = {free_port()}\n\n[deployment.agi]\nport = {free_port()}\n"
    config = data / "standardiste.toml"
    config.write_text(demo, encoding="utf-8")
    exe = str(Path(sys.executable).with_name("standardiste"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run(  # noqa: ASYNC221 - a bench step, nothing else runs meanwhile
        [exe, "pbx", "start", "--config", str(config)], capture_output=True, text=True, env=env
    )
    if run.returncode != 0:
        raise RuntimeError(run.stdout + run.stderr)
    from standardiste.config import load_config
    from standardiste.pbx import deployment_instance

    pbx = deployment_instance(load_config(config).deployment)
    log = open(data / "serve.log", "ab")  # noqa: SIM115, ASYNC230 - closed below

    def registered() -> bool:
        try:
            apps = pbx.rx("ari show apps", timeout=3).split()  # "standardiste-dialer" is not ours
            return pbx.app_name in apps
        except Exception:
            return False

    async def serve_up() -> tuple[subprocess.Popen[bytes], float]:
        started = time.monotonic()
        proc = subprocess.Popen([exe, "serve", "--config", str(config)], stdout=log, stderr=log, env=env)  # noqa: ASYNC220
        while not await asyncio.to_thread(registered):
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited: {(data / 'serve.log').read_text()[-2000:]}")
            if time.monotonic() - started > 240:
                raise RuntimeError("serve did not register its ARI application in 240 s")
            await asyncio.sleep(0.1)
        return proc, time.monotonic() - started

    try:
        first, cold_s = await serve_up()
        redis_down = await redis_down_call(pbx, data)
        await asyncio.sleep(1.0)
        stop_at = time.monotonic()
        first.terminate()
        await asyncio.to_thread(first.wait, 60)
        exit_s = time.monotonic() - stop_at
        second, warm_s = await serve_up()
        gap = time.monotonic() - stop_at
        second.terminate()
        await asyncio.to_thread(second.wait, 60)
        return FaultResult(
            "serve_restart", 0, 0, 0, 0, 0, None, None,
            "the real `standardiste serve` (demo practice, default recognizer); systemd adds RestartSec "
            "(0.2 s in deploy/standardiste.service); meanwhile new calls go to the waiting line",
            {"first_start_s": round(cold_s, 2), "stop_s": round(exit_s, 2), "restart_s": round(warm_s, 2),
             "gap_s": round(gap, 2), "redis_down": redis_down},
        )  # fmt: skip
    finally:
        log.close()
        stop = [exe, "pbx", "stop", "--now", "--config", str(config)]
        subprocess.run(stop, capture_output=True, env=env)  # noqa: ASYNC221
        shutil.rmtree(pbx.instance_dir, ignore_errors=True)


async def scenario_redis_mid_call(workdir: Path, _n: int) -> FaultResult:
    """Redis SIGKILLed while a reminder call is up (the patient confirms; or moves the appointment, a
    booking made during the outage), then started again: tests/integration/test_redis_killed_mid_call.py
    on the real voice app + reminder component, real Asterisk and redis-server; its figures."""
    import subprocess

    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         str(REPO / "tests" / "integration" / "test_redis_killed_mid_call.py")],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    cases = [
        json.loads(line.split("REDIS-MID-CALL ", 1)[1])  # pytest's progress dots may precede it
        for line in run.stdout.splitlines()
        if "REDIS-MID-CALL " in line
    ]
    passed = run.returncode == 0 and len(cases) == 2
    return FaultResult(
        "redis_killed_mid_call",
        calls=len(cases) if passed else 2,
        lost=0 if passed else 2,
        with_human=0,
        in_line=0,
        in_message_box=0,
        longest_silence_s=None,
        time_to_human_s=None,
        note="reminder call (confirm; move = a booking during the outage) with Redis SIGKILLed after the "
        "patient answered: the call goes on, outcome recorded once, no second call after Redis is back, "
        "nothing left unsynced, SQLite integrity ok" + ("" if passed else f"; FAILED: {run.stdout[-1500:]}"),
        extra={"cases": cases},
    )


SCENARIOS: dict[str, Callable[[Path, int], Awaitable[FaultResult]]] = {
    "kill9_one": scenario_kill9_one,
    "kill9_many": scenario_kill9_many,
    "controller_stuck": scenario_stalled,
    "controller_loop_stuck": scenario_loop_stuck,
    "controller_slow": scenario_slow,
    "controller_graceful_stop": scenario_graceful,
    "controller_down": scenario_controller_down,
    "reception_busy": scenario_reception_busy,
    "reception_unregistered_kill9": scenario_unregistered,
    "asterisk_planned_restart": scenario_asterisk_restart,
    "serve_restart": scenario_serve_restart,
    "redis_killed_mid_call": scenario_redis_mid_call,
}


async def main(args: argparse.Namespace) -> int:
    results: list[FaultResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        for name, run in SCENARIOS.items():
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            try:
                result = await run(Path(tmp), args.calls)
            except Exception as err:  # a scenario that breaks is a finding, not a crash of the bench
                result = FaultResult(name, 0, -1, 0, 0, 0, None, None, f"scenario failed: {err!r}")
            results.append(result)
            silence = "-" if result.longest_silence_s is None else result.longest_silence_s
            to_human = "-" if result.time_to_human_s is None else result.time_to_human_s
            print(
                f"{result.scenario:30s} calls {result.calls:2d}  lost {result.lost}  "
                f"human {result.with_human}  line {result.in_line:2d}  box {result.in_message_box}  "
                f"silence {silence} s  "
                f"to human {to_human} s  ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "faults.json"
    previous = json.loads(out.read_text()) if out.exists() and args.only else {}
    merged = {r["scenario"]: r for r in previous.get("results", [])}
    merged.update({r.scenario: asdict(r) for r in results})
    out.write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "reception": "one line (one phone, picks up after 1 s)",
                "dead_man_s": DEAD_MAN_S,
                "results": list(merged.values()),
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    print(f"-> {out}")
    return 0 if all(r.lost == 0 for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20, help="calls in progress for the mass kill -9")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="run only these scenarios")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
