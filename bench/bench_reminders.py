"""Reminders benchmark on a real redis-server (AOF, fsync every second) and a SQLite database.

Prints and saves (bench/results/reminders.json):
- jobs scheduled per second: 1,000 schedule changes written to the database outbox and drained
  into APScheduler's RedisJobStore;
- dispatch delay after the due time (p50/p95/max) for 1,000 reminders due over 10 s (20 workers,
  then the demo limit of 2);
- the outbound limit under load: 200 reminders due at once, calls lasting 0.2 s, limits 2 and 5.
The dialer is a double that only counts concurrency and returns "confirmed" (no telephony here).

Run: python bench/bench_reminders.py [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from standardiste.config import load_config
from standardiste.dialogue.messages import OutcomeKind
from standardiste.redis_server import RedisServer
from standardiste.reminders.clock import Clock
from standardiste.reminders.dialer import CallRequest, CallResult
from standardiste.reminders.service import ReminderService
from standardiste.reminders.store import DONE, REMINDER, JobSpec, ReminderStore
from standardiste.storage.db import Database

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

RESULTS = Path(__file__).parent / "results" / "reminders.json"


class CountingDialer:
    """Counts simultaneous calls; each call 'lasts' duration_s."""

    def __init__(self, duration_s: float) -> None:
        self.duration_s = duration_s
        self.active = 0
        self.max_active = 0
        self.calls = 0

    async def call(self, request: CallRequest) -> CallResult:
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.duration_s)
        finally:
            self.active -= 1
        return CallResult(OutcomeKind.CONFIRMED)


async def poll(condition: Callable[[], bool], within_s: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(step)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def specs(count: int, first_due: dt.datetime, spread_s: float) -> list[JobSpec]:
    start = first_due + dt.timedelta(days=1)
    step = spread_s / max(1, count - 1)
    return [
        JobSpec(
            REMINDER,
            f"bench-{i:05d}",
            first_due + dt.timedelta(seconds=i * step),
            start,
            start + dt.timedelta(minutes=20),
            "+33600000000",
        )
        for i in range(count)
    ]


async def run_case(
    workdir: Path,
    server: RedisServer,
    name: str,
    count: int,
    spread_s: float,
    lead_s: float,
    duration_s: float,
    limit: int,
) -> dict[str, Any]:
    config = load_config(None)
    db = Database(f"sqlite:///{workdir / f'{name}.db'}")
    db.migrate()
    dialer = CountingDialer(duration_s)
    service = ReminderService(
        db=db,
        practice=config.practice,
        redis_url=server.url,
        dialer=dialer,
        clock=Clock(),
        namespace=f"bench:{name}",
        max_concurrent_calls=limit,
        drain_interval_s=0.2,
        sweep_interval_s=5.0,
        sweep_grace_s=30.0,
    )
    await service.start()
    await poll(lambda: service.is_leader, 10)
    store = ReminderStore(db)
    now = dt.datetime.now(dt.UTC)
    jobs = specs(count, now + dt.timedelta(seconds=lead_s), spread_s)
    t0 = time.perf_counter()
    for spec in jobs:
        store.put(spec, now)
    t_db = time.perf_counter() - t0
    service.poke()
    await poll(lambda: store.count_unsynced() == 0, 120, 0.01)
    t_sched = time.perf_counter() - t0
    total_timeout = time.monotonic() + lead_s + spread_s + count * duration_s / limit + 120
    while time.monotonic() < total_timeout:
        if all(j.state == DONE for j in store.jobs()):
            break
        await asyncio.sleep(0.25)
    t_done = time.perf_counter() - t0
    await service.stop()
    attempts = store.attempts()
    delays = [(a.started_at - a.due_at).total_seconds() for a in attempts]
    per_job = {a.job_id for a in attempts}
    db.dispose()
    return {
        "reminders": count,
        "spread_s": spread_s,
        "call_duration_s": duration_s,
        "max_concurrent_calls": limit,
        "schedule_db_writes_per_s": round(count / t_db, 1),
        "jobs_scheduled_per_s": round(count / t_sched, 1),
        "dialled": len(attempts),
        "dialled_twice": len(attempts) - len(per_job),
        "dispatch_delay_s": {
            "p50": round(percentile(delays, 0.50), 3),
            "p95": round(percentile(delays, 0.95), 3),
            "max": round(max(delays), 3),
            "mean": round(statistics.fmean(delays), 3),
        }
        if delays
        else None,
        "observed_max_concurrent_calls": dialer.max_active,
        "limit_held": dialer.max_active <= limit,
        "wall_s": round(t_done, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "redis": "redis-server (Debian), AOF appendfsync everysec",
        "database": "SQLite WAL",
        "dialer": "double counting concurrency (no telephony)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = RedisServer(workdir / "redis")
        server.start()
        try:
            # Instant calls and 20 workers: the figure is the scheduler's own delay (APScheduler firing,
            # the claim and attempt transactions), not time spent queueing behind the call limit.
            results["dispatch_1000"] = await run_case(
                workdir, server, "dispatch", args.count, spread_s=10.0, lead_s=3.0, duration_s=0.0, limit=20
            )
            # The same with the demo practice's limit of 2: database transactions per call bound the rate.
            results["dispatch_1000_limit_2"] = await run_case(
                workdir, server, "dispatch2", args.count, spread_s=10.0, lead_s=3.0, duration_s=0.0, limit=2
            )
            for limit in (2, 5):
                results[f"burst_limit_{limit}"] = await run_case(
                    workdir,
                    server,
                    f"burst{limit}",
                    200,
                    spread_s=0.0,
                    lead_s=2.0,
                    duration_s=0.2,
                    limit=limit,
                )
        finally:
            server.stop()
    results["context"] = describe("none (reminder scheduling, no calls placed)", "none")
    print(json.dumps(results, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
