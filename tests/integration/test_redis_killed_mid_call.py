"""Redis killed mid-call (issue 18): no call lost, no data lost or corrupted. Real Asterisk 22, a
pjsua2 phone as the patient, real redis-server (AOF) killed with SIGKILL, the real voice app and
reminder component on SQLite (the rig of test_reminders_asterisk.py).

A reminder call is answered, then Redis is killed while the patient is on the line:
- "confirm" (1, 1): the appointment is confirmed during the outage;
- "move" (1, 3, 1, 1, 1): the patient rebooks another slot during the outage: a booking made while
  Redis is down, whose reminder must reach Redis once it is back.
The call goes on to its end, the outcome is recorded once, Redis is started again (same AOF): the
scheduler recovers without calling the patient a second time, the moved appointment's reminder is in
Redis at its new time, nothing is left unsynced, and the database passes its integrity check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest
import redis
from sqlalchemy import text

from standardiste.agenda.model import AppointmentStatus
from standardiste.redis_server import RedisServer
from standardiste.reminders.clock import Clock
from standardiste.reminders.store import DONE, REMOVED
from standardiste.testphone import ANSWER_NOW
from tests.integration.reminders_support import VIRTUAL_NOW, book, wait_until, wednesday
from tests.integration.test_reminders_asterisk import RigFactory, _attempts_done, rig  # noqa: F401

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]

NS = "e2e:reminders"


def redis_run_times(server: RedisServer) -> dict[str, float]:
    client = redis.Redis.from_url(server.url)
    try:
        return {k.decode(): v for k, v in client.zrange(f"{NS}:run_times", 0, -1, withscores=True)}
    finally:
        client.close()


@pytest.mark.parametrize(
    ("keys", "status", "outcome"),
    [("1", AppointmentStatus.CONFIRMED, "confirmed"), ("3111", AppointmentStatus.BOOKED, "rescheduled")],
    ids=["confirm", "move"],
)
async def test_redis_killed_during_a_reminder_call_loses_nothing(
    rig: RigFactory,  # noqa: F811
    redis_server: RedisServer,
    keys: str,
    status: AppointmentStatus,
    outcome: str,
) -> None:
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(seconds=5))
    r = await rig(ANSWER_NOW, clock)
    clock.set(VIRTUAL_NOW - dt.timedelta(seconds=5))
    appointment = book(r.agenda, wednesday(10), clock.now())
    job_id = f"reminder:{appointment.id}"
    assert await wait_until(lambda: (r.store.get(job_id) or pytest.fail()).synced, 5)

    call = await r.phone.wait_incoming(timeout=20)
    await call.wait_media()
    redis_server.kill()  # SIGKILL, mid-call: the lease, the job store and the sync lock are gone
    assert await wait_until(lambda: not r.component.service.redis_ok, 5)
    for digit in ["1", *keys]:
        await asyncio.sleep(2.5)
        await call.send_dtmf(digit)
    await call.wait_disconnected(timeout=60)
    assert not r.component.service.redis_ok  # the whole call ran without Redis

    # The call was not lost: it went to its end and its outcome is recorded, once.
    assert await wait_until(_attempts_done(r.store, appointment, 1), 20)
    [attempt] = r.store.attempts(appointment.id)
    assert attempt.outcome == outcome, attempt
    after = r.agenda.get(appointment.id)
    assert after.status == status
    if outcome == "rescheduled":
        assert after.start != appointment.start  # booked during the outage

    redis_server.start()  # same port, same AOF
    back = time.monotonic()
    service = r.component.service
    assert await wait_until(lambda: service.redis_ok and service.is_leader, 20)
    assert await wait_until(lambda: r.store.count_unsynced() == 0, 15)
    recovered_s = time.monotonic() - back
    await asyncio.sleep(3)  # a recovering scheduler that wanted to call again would have by now
    assert len(r.phone.incoming_calls()) == 1  # never called twice
    assert len(r.store.attempts(appointment.id)) == 1
    job = r.store.get(job_id)
    assert job is not None
    # Done (or, for the move, dropped by the plan: its new reminder time was already past when the
    # patient moved it during the call); either way no job left in Redis to call the patient again.
    assert job.state in (DONE, REMOVED), job
    assert job.synced and job_id not in redis_run_times(redis_server)
    if outcome == "rescheduled":
        assert job.appointment_start == after.start  # the outbox carried the move made during the outage
    assert r.app.db is not None
    with r.app.db.session() as s:
        assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    figures = {
        "case": outcome,
        "calls": 1,
        "lost": 0,
        "calls_to_patient": len(r.phone.incoming_calls()),
        "attempts_recorded": len(r.store.attempts(appointment.id)),
        "unsynced_after": r.store.count_unsynced(),
        "recovered_s": round(recovered_s, 2),
    }
    print("REDIS-MID-CALL " + json.dumps(figures))  # read by bench/bench_faults.py
