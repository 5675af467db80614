"""Two controller processes on one real Redis: one active scheduler; SIGKILL it, the other takes over
within seconds, and every reminder is dialled exactly once."""

from __future__ import annotations

import collections
import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from standardiste.redis_server import RedisServer
from standardiste.reminders.store import DONE, REMINDER, JobSpec, ReminderStore
from standardiste.storage.db import Database

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
NS = "lease-test:reminders"
COUNT = 40


def wait(condition: Callable[[], bool], within_s: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


Workers = tuple[Database, dict[str, subprocess.Popen[bytes]], Path]


@pytest.fixture
def workers(tmp_path: Path, redis_server: RedisServer) -> Iterator[Workers]:
    db_url = f"sqlite:///{tmp_path / 'standardiste.db'}"
    db = Database(db_url)
    db.migrate()
    calls = tmp_path / "calls.log"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for node in ("node-a", "node-b"):
        log = (tmp_path / f"{node}.log").open("wb")
        procs[node] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.reminders_worker",
                "--db",
                db_url,
                "--redis",
                redis_server.url,
                "--namespace",
                NS,
                "--node",
                node,
                "--calls",
                str(calls),
                "--duration",
                "0.1",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield db, procs, calls
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        db.dispose()


def leader(client: redis.Redis) -> str | None:
    value = client.get(f"{NS}:leader")
    return value.decode().split("|")[0] if value else None


def test_leader_killed_other_takes_over_each_reminder_once(
    workers: Workers, redis_server: RedisServer
) -> None:
    db, procs, calls = workers
    client = redis.Redis.from_url(redis_server.url)
    assert wait(lambda: leader(client) is not None, 20), "no scheduler became active"
    first = leader(client)
    assert first in procs
    store = ReminderStore(db)
    now = dt.datetime.now(dt.UTC)
    tomorrow = now + dt.timedelta(days=1)
    for i in range(COUNT):
        store.put(
            JobSpec(
                REMINDER,
                f"appt-{i:02d}",
                now + dt.timedelta(seconds=2 + i * 0.2),
                tomorrow,
                tomorrow + dt.timedelta(minutes=20),
                "+33600000000",
            ),
            now,
        )
    # Reminders span 2 s to 10 s from now; kill the active scheduler in the middle.
    time.sleep(max(0.0, 5.0 - (dt.datetime.now(dt.UTC) - now).total_seconds()))
    procs[first].kill()
    killed_at = time.monotonic()
    assert wait(lambda: leader(client) not in (None, first), 15), "nobody took over"
    takeover_s = time.monotonic() - killed_at
    print(f"takeover after {takeover_s:.2f} s")
    assert takeover_s < 6

    def settled() -> bool:
        jobs = store.jobs()
        return len(jobs) == COUNT and all(j.state == DONE or j.attempt == 1 for j in jobs)

    assert wait(settled, 40), [(j.job_id, j.state) for j in store.jobs() if j.state != DONE]
    time.sleep(2)  # sweeps after settling must not dial again
    dialled = collections.Counter(line.split()[1] for line in calls.read_text().splitlines())
    assert sorted(dialled) == sorted(f"reminder:appt-{i:02d}" for i in range(COUNT))
    assert set(dialled.values()) == {1}, {k: v for k, v in dialled.items() if v > 1}
    nodes = collections.Counter(line.split()[0] for line in calls.read_text().splitlines())
    survivor = next(n for n in procs if n != first)
    assert nodes[survivor] > 0
    attempts = store.attempts()
    assert len(attempts) == COUNT
    interrupted = [a for a in attempts if a.outcome != "confirmed"]
    # A call in flight when its process was killed: recorded as failed, its retry scheduled later.
    assert len(interrupted) <= 1
    for a in interrupted:
        assert a.outcome == "failed" and a.details.get("reason") == "interrupted" and a.node == first
    client.close()
