"""Simultaneous calls on a real Asterisk with real SIP test phones (pjsua2).

Places N calls at once (default 1, 5, 10, 20), holds them while each caller plays a test
signal, checks that each call carried audio, and measures Asterisk's CPU and RAM (and those of
any other process given, e.g. the controller) per concurrent call.

    python bench/bench_calls.py                       # echo extension *43 on a temporary instance
    python bench/bench_calls.py --number 100 --config standardiste.toml   # the running deployment

Importable: `await run_load(pbx, n, number=..., hold_s=..., watch={"controller": pid})` returns a
LoadResult; the controller's benchmark uses it with its own process added to `watch`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from standardiste.pbx import PbxInstance, ensure_root, free_asterisk_config
from standardiste.testphone import PhoneCall, PhoneError, TestPhone, find_reference
from standardiste.testphone.audio import chirps
from standardiste.testphone.phone import MAX_CALLS_PER_PROCESS

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
ECHO_EXTENSION = "*43"
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    cpu_s: float
    rss_mb: float


def sample(pid: int) -> ProcSample | None:
    """CPU seconds (user+system) and resident memory of one process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    cpu = (int(stat[11]) + int(stat[12])) / _TICKS
    rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return ProcSample(cpu, rss_kb / 1024)


@dataclass
class ProcFigures:
    name: str
    rss_idle_mb: float
    rss_peak_mb: float
    rss_per_call_mb: float
    cpu_percent: float  # of one core, averaged over the hold period
    cpu_percent_per_call: float


@dataclass
class LoadResult:
    calls: int
    number: str
    hold_s: float
    answered: int
    audio_ok: int
    failed: list[str]
    setup_ms_p50: float
    setup_ms_p95: float
    setup_ms_max: float
    processes: list[ProcFigures] = field(default_factory=list)

    def line(self) -> str:
        procs = "; ".join(
            f"{p.name}: {p.cpu_percent:.1f}% CPU ({p.cpu_percent_per_call:.2f}%/call), "
            f"RSS {p.rss_peak_mb:.0f} MB (+{p.rss_per_call_mb:.2f} MB/call)"
            for p in self.processes
        )
        return (
            f"{self.calls:>3} calls: answered {self.answered}, audio ok {self.audio_ok}, "
            f"setup p50 {self.setup_ms_p50:.0f} ms p95 {self.setup_ms_p95:.0f} ms; {procs}"
        )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _worker(spec: dict[str, object]) -> None:
    """One load process: pjsua2 allows MAX_CALLS_PER_PROCESS calls per process."""
    from standardiste.pbx import PhoneAccount

    account = PhoneAccount(**spec["account"])  # type: ignore[arg-type]
    signal_pcm = chirps(float(spec["signal_s"]), seed=3)  # type: ignore[arg-type]
    phone = await TestPhone(account, register=False).start()
    failed: list[str] = []
    setups: list[float] = []
    calls = await asyncio.gather(*(phone.call(str(spec["number"])) for _ in range(int(spec["n"]))))  # type: ignore[call-overload]

    async def answered(call: PhoneCall) -> None:
        try:
            await call.wait_answered(20)
            setups.append((call.answered_at or time.monotonic()) - call.created_at)
            await call.play_pcm(signal_pcm, wait=False)
        except PhoneError as err:
            failed.append(str(err))

    await asyncio.gather(*(answered(c) for c in calls))
    print("READY", flush=True)
    await asyncio.sleep(float(spec["hold_s"]))  # type: ignore[arg-type]
    audio_ok = 0
    for call in calls:
        if call.ended or call.answered_at is None:
            continue
        heard = call.heard_pcm()
        ok = find_reference(signal_pcm, heard, min_fraction=0.5).found if spec["check_echo"] else bool(heard)
        audio_ok += int(ok)
    answered_count = sum(1 for c in calls if c.answered_at is not None)
    await phone.close()
    result = {"answered": answered_count, "audio_ok": audio_ok, "failed": failed, "setups": setups}
    print("RESULT " + json.dumps(result), flush=True)


async def run_load(
    pbx: PbxInstance,
    n: int,
    number: str = ECHO_EXTENSION,
    hold_s: float = 8.0,
    caller: str = "caller1",
    watch: Mapping[str, int] | None = None,
    check_echo: bool | None = None,
) -> LoadResult:
    """Place n calls at once, hold them hold_s seconds while each caller plays a signal, measure.

    Calls are spread over processes of MAX_CALLS_PER_PROCESS calls (a pjsua2 build limit).
    `watch`: extra processes to measure (name -> pid); Asterisk is always measured.
    `check_echo`: verify that each caller hears its own signal back (default: when number is *43);
    otherwise a call counts as carrying audio when it heard anything.
    """
    check_echo = number == ECHO_EXTENSION if check_echo is None else check_echo
    pids = {"asterisk": pbx.pid() or 0, **(watch or {})}
    idle = {name: sample(pid) for name, pid in pids.items()}
    account = asdict(pbx.phone(caller))
    sizes = [MAX_CALLS_PER_PROCESS] * (n // MAX_CALLS_PER_PROCESS)
    if n % MAX_CALLS_PER_PROCESS:
        sizes.append(n % MAX_CALLS_PER_PROCESS)
    workers = []
    for size in sizes:
        spec = {
            "account": account,
            "number": number,
            "n": size,
            "hold_s": hold_s,
            "signal_s": min(max(hold_s - 1.0, 1.0), 4.0),
            "check_echo": check_echo,
        }
        workers.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--worker",
                json.dumps(spec),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        )

    async def line(proc: asyncio.subprocess.Process, prefix: str) -> str:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                return ""
            text = raw.decode().strip()
            if text.startswith(prefix):
                return text

    await asyncio.wait_for(asyncio.gather(*(line(w, "READY") for w in workers)), 60)
    hold_start = time.monotonic()
    before = {name: sample(pid) for name, pid in pids.items()}
    peak = {name: (s.rss_mb if s else 0.0) for name, s in before.items()}
    results_task = asyncio.gather(*(line(w, "RESULT") for w in workers))
    while not results_task.done() and time.monotonic() - hold_start < hold_s:
        await asyncio.sleep(0.5)
        for name, pid in pids.items():
            s = sample(pid)
            if s:
                peak[name] = max(peak[name], s.rss_mb)
    after = {name: sample(pid) for name, pid in pids.items()}
    held = time.monotonic() - hold_start
    outputs = await asyncio.wait_for(results_task, 60)
    for w in workers:
        await w.wait()
    answered = audio_ok = 0
    failed: list[str] = []
    setups: list[float] = []
    for out in outputs:
        if not out:
            failed.append("a load process died")
            continue
        data = json.loads(out.removeprefix("RESULT "))
        answered += data["answered"]
        audio_ok += data["audio_ok"]
        failed += data["failed"]
        setups += data["setups"]
    figures = []
    for name in pids:
        b, a, i = before.get(name), after.get(name), idle.get(name)
        if not (a and b and i):
            continue
        cpu = 100 * (a.cpu_s - b.cpu_s) / held
        figures.append(
            ProcFigures(
                name=name,
                rss_idle_mb=round(i.rss_mb, 1),
                rss_peak_mb=round(peak[name], 1),
                rss_per_call_mb=round(max(0.0, peak[name] - i.rss_mb) / max(n, 1), 3),
                cpu_percent=round(cpu, 2),
                cpu_percent_per_call=round(cpu / max(n, 1), 3),
            )
        )
    return LoadResult(
        calls=n,
        number=number,
        hold_s=round(held, 2),
        answered=answered,
        audio_ok=audio_ok,
        failed=failed,
        setup_ms_p50=round(1000 * statistics.median(setups), 1) if setups else 0.0,
        setup_ms_p95=round(1000 * _percentile(setups, 0.95), 1),
        setup_ms_max=round(1000 * max(setups), 1) if setups else 0.0,
        processes=figures,
    )


async def temporary_instance() -> PbxInstance:
    """A fresh Asterisk on free ports (removed by the caller with stop() + remove())."""
    from tests.fixtures.pbx import make_test_secrets

    root = ensure_root()
    parent = root / "instances"
    parent.mkdir(exist_ok=True)
    instance_dir = Path(tempfile.mkdtemp(prefix="bench-", dir=parent))
    pbx = PbxInstance(root, instance_dir, free_asterisk_config("bench"), make_test_secrets())
    await pbx.start()
    return pbx


async def main_async(args: argparse.Namespace) -> list[LoadResult]:
    counts = [int(c) for c in args.counts.split(",")]
    if args.config:
        from standardiste.config import load_config
        from standardiste.pbx import deployment_instance

        pbx = deployment_instance(load_config(args.config).deployment)
        if pbx.pid() is None:
            raise SystemExit("Asterisk is not running for this configuration (standardiste pbx start)")
        owned = False
    else:
        pbx = await temporary_instance()
        owned = True
    watch = dict(item.split("=", 1) for item in args.watch) if args.watch else {}
    results = []
    try:
        for n in counts:
            result = await run_load(
                pbx, n, number=args.number, hold_s=args.hold, watch={k: int(v) for k, v in watch.items()}
            )
            print(result.line(), flush=True)
            results.append(result)
            await asyncio.sleep(1.0)
    finally:
        if owned:
            await pbx.stop()
            with contextlib.suppress(Exception):
                pbx.remove()
    return results


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        asyncio.run(_worker(json.loads(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="1,5,10,20")
    parser.add_argument("--number", default=ECHO_EXTENSION)
    parser.add_argument("--hold", type=float, default=8.0)
    parser.add_argument("--config", type=Path, default=None, help="use this deployment's running Asterisk")
    parser.add_argument("--watch", nargs="*", help="extra processes to measure, NAME=PID")
    parser.add_argument("--out", type=Path, default=RESULTS / "calls.json")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # tests.fixtures for secrets
    results = asyncio.run(main_async(args))
    context = describe("none (media only: echo extension or the number given)", "pjsua2 phones: chirp signal")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": f"{platform.node()} {os.cpu_count()} CPU",
                "note": "shared 2-core machine: other test runs were going on",
                "number": args.number,
                "results": [asdict(r) for r in results],
                "context": context,
            },
            indent=1,
        )
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
