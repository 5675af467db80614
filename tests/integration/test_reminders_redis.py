"""Reminder scheduling on a real redis-server (AOF) and a real SQLite agenda: jobs follow bookings,
fire once at their time, retry on no answer, and survive a Redis outage."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from standardiste.agenda.sql import SqlAgenda
from standardiste.config import Config, PracticeConfig
from standardiste.dialogue.messages import OutcomeKind
from standardiste.redis_server import RedisServer
from standardiste.reminders.clock import Clock
from standardiste.reminders.dialer import Dialer
from standardiste.reminders.service import ReminderService
from standardiste.reminders.store import DONE, REMOVED, SCHEDULED, ReminderStore
from standardiste.storage.db import Database
from tests.integration.reminders_support import VIRTUAL_NOW, RecordingDialer, book, wait_until, wednesday

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

NS = "test:reminders"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'standardiste.db'}")
    database.migrate()
    yield database
    database.dispose()


ServiceFactory = Callable[..., ReminderService]


@pytest.fixture
async def make_service(
    db: Database, redis_server: RedisServer, demo_config: Config
) -> AsyncIterator[ServiceFactory]:
    started: list[ReminderService] = []

    def factory(
        dialer: Dialer,
        clock: Clock,
        practice: PracticeConfig | None = None,
        agenda: SqlAgenda | None = None,
        **kwargs: object,
    ) -> ReminderService:
        service = ReminderService(
            db=db,
            practice=practice or demo_config.practice,
            redis_url=redis_server.url,
            dialer=dialer,
            agenda=agenda,
            clock=clock,
            namespace=NS,
            lease_ttl_s=1.5,
            sweep_interval_s=1.0,
            sweep_grace_s=2.0,
            drain_interval_s=0.2,
            **kwargs,
        )  # type: ignore[arg-type]
        started.append(service)
        return service

    yield factory
    for service in started:
        await service.stop()


def redis_jobs(server: RedisServer) -> dict[str, float]:
    client = redis.Redis.from_url(server.url)
    try:
        return {k.decode(): v for k, v in client.zrange(f"{NS}:run_times", 0, -1, withscores=True)}
    finally:
        client.close()


async def test_booking_creates_job_that_fires_once(
    db: Database, redis_server: RedisServer, make_service: ServiceFactory, demo_config: Config
) -> None:
    dialer = RecordingDialer()
    clock = Clock.starting_at(VIRTUAL_NOW)
    agenda = SqlAgenda(db, demo_config.practice)
    service = make_service(dialer, clock, agenda=agenda)
    agenda.add_listener(service.listener)
    await service.start()
    clock.set(VIRTUAL_NOW)  # set-up time must not eat the 3 s before J-1 18:00
    appointment = book(agenda, wednesday(10), clock.now())
    job_id = f"reminder:{appointment.id}"
    # The job reaches Redis with its real run time (J-1 18:00, 3 s ahead).
    assert await wait_until(lambda: job_id in redis_jobs(redis_server), 5)
    expected = clock.to_real(dt.datetime(2026, 12, 1, 18, 0, tzinfo=VIRTUAL_NOW.tzinfo)).timestamp()
    assert redis_jobs(redis_server)[job_id] == pytest.approx(expected, abs=0.01)
    assert await wait_until(lambda: dialer.called(appointment.id) == 1, 10)
    store = ReminderStore(db)
    assert await wait_until(lambda: (store.get(job_id) or object()).__getattribute__("state") == DONE, 5)
    await asyncio.sleep(2.5)  # several sweeps later: still one call
    assert dialer.called(appointment.id) == 1
    request = dialer.calls[0][1]
    assert request.purpose == "reminder" and request.phone == "+33612345678" and request.attempt == 0
    [attempt] = store.attempts(appointment.id)
    assert attempt.outcome == "confirmed" and attempt.ended_at is not None
    assert (attempt.started_at - attempt.due_at).total_seconds() < 2
    assert job_id not in redis_jobs(redis_server)  # a date job leaves the store once fired


async def test_move_and_cancel_follow_the_agenda(
    db: Database, redis_server: RedisServer, make_service: ServiceFactory, demo_config: Config
) -> None:
    dialer = RecordingDialer()
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(hours=2))  # nothing due during the test
    agenda = SqlAgenda(db, demo_config.practice)
    service = make_service(dialer, clock, agenda=agenda)
    agenda.add_listener(service.listener)
    await service.start()
    first = book(agenda, wednesday(10), clock.now())
    second = book(agenda, wednesday(11), clock.now(), practitioner="benali")
    ids = {f"reminder:{first.id}", f"reminder:{second.id}"}
    assert await wait_until(lambda: ids <= redis_jobs(redis_server).keys(), 15)
    # Moved to Monday 7 December: J-1 is Sunday, so Saturday 5 December 18:00.
    from standardiste.agenda.model import Slot, Source

    monday = dt.datetime(2026, 12, 7, 10, tzinfo=VIRTUAL_NOW.tzinfo)
    agenda.move(
        first.id,
        Slot("martin", "consultation", monday, monday + dt.timedelta(minutes=20)),
        Source.PHONE,
        clock.now(),
    )
    saturday = clock.to_real(dt.datetime(2026, 12, 5, 18, tzinfo=VIRTUAL_NOW.tzinfo)).timestamp()
    assert await wait_until(
        lambda: redis_jobs(redis_server).get(f"reminder:{first.id}") == pytest.approx(saturday, abs=0.01), 15
    )
    agenda.cancel(second.id, Source.PHONE, clock.now())
    assert await wait_until(lambda: f"reminder:{second.id}" not in redis_jobs(redis_server), 15)
    store = ReminderStore(db)
    assert (store.get(f"reminder:{second.id}") or pytest.fail()).state == REMOVED
    # Telling the same change twice changes nothing (idempotent job ids).
    version = (store.get(f"reminder:{first.id}") or pytest.fail()).version
    service.listener.on_appointment_changed("moved", agenda.get(first.id))
    assert (store.get(f"reminder:{first.id}") or pytest.fail()).version == version
    # Confirmed at the desk: no reminder call needed any more.
    agenda.confirm(first.id, Source.STAFF, clock.now())
    assert await wait_until(lambda: f"reminder:{first.id}" not in redis_jobs(redis_server), 15)
    assert (store.get(f"reminder:{first.id}") or pytest.fail()).state == REMOVED
    assert dialer.calls == []


async def test_no_answer_is_retried_then_recorded(
    db: Database, redis_server: RedisServer, make_service: ServiceFactory, demo_config: Config
) -> None:
    dialer = RecordingDialer(OutcomeKind.NO_ANSWER)
    # 600x: the 30-minute retry delay lasts 3 real seconds; J-1 18:00 comes 1.5 s after start.
    clock = Clock.starting_at(dt.datetime(2026, 12, 1, 17, 45, tzinfo=VIRTUAL_NOW.tzinfo), speed=600)
    agenda = SqlAgenda(db, demo_config.practice)
    service = make_service(dialer, clock, agenda=agenda)
    agenda.add_listener(service.listener)
    await service.start()
    clock.set(dt.datetime(2026, 12, 1, 17, 45, tzinfo=VIRTUAL_NOW.tzinfo))
    appointment = book(agenda, wednesday(10), clock.now())
    store = ReminderStore(db)
    assert await wait_until(
        lambda: (
            len(store.attempts(appointment.id)) == 3
            and store.attempts(appointment.id)[-1].outcome is not None
        ),
        30,
    )
    attempts = store.attempts(appointment.id)
    assert [a.attempt for a in attempts] == [0, 1, 2]
    assert [a.outcome for a in attempts] == ["no_answer"] * 3
    gaps = [
        (b.due_at - a.ended_at).total_seconds() / 60 for a, b in itertools.pairwise(attempts) if a.ended_at
    ]
    assert all(29.9 <= g <= 30.5 for g in gaps), gaps
    job = store.get(f"reminder:{appointment.id}")
    assert job is not None and job.state == DONE and job.last_outcome == "no_answer"
    await asyncio.sleep(1)
    assert dialer.called(appointment.id) == 3


async def test_cancelled_slot_while_queued_is_not_called(
    db: Database, redis_server: RedisServer, make_service: ServiceFactory, demo_config: Config
) -> None:
    """A reminder whose appointment was cancelled in another process (listener missed) is skipped."""
    dialer = RecordingDialer()
    clock = Clock.starting_at(VIRTUAL_NOW)
    agenda = SqlAgenda(db, demo_config.practice)
    service = make_service(dialer, clock, agenda=agenda)
    agenda.add_listener(service.listener)
    await service.start()
    clock.set(VIRTUAL_NOW)
    appointment = book(agenda, wednesday(10), clock.now())
    quiet = SqlAgenda(db, demo_config.practice)  # no listener: the job is not removed
    from standardiste.agenda.model import Source

    quiet.cancel(appointment.id, Source.STAFF, clock.now())
    store = ReminderStore(db)
    job_id = f"reminder:{appointment.id}"
    assert await wait_until(lambda: (store.get(job_id) or pytest.fail()).state == DONE, 10)
    assert dialer.calls == []
    assert (store.get(f"reminder:{appointment.id}") or pytest.fail()).last_outcome == "skipped"


@pytest.mark.parametrize("how", ["stop", "kill", "wipe"])
async def test_redis_outage_loses_and_duplicates_nothing(
    db: Database, redis_server: RedisServer, make_service: ServiceFactory, demo_config: Config, how: str
) -> None:
    dialer = RecordingDialer()
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(seconds=20))
    agenda = SqlAgenda(db, demo_config.practice)
    service = make_service(dialer, clock, agenda=agenda)
    agenda.add_listener(service.listener)
    await service.start()
    assert await wait_until(lambda: service.is_leader, 15)
    clock.set(VIRTUAL_NOW - dt.timedelta(seconds=7))  # the reminders are due in 10 s
    before = book(agenda, wednesday(10), clock.now())
    doomed = book(agenda, wednesday(11), clock.now())
    assert await wait_until(
        lambda: {f"reminder:{before.id}", f"reminder:{doomed.id}"} <= redis_jobs(redis_server).keys(), 8
    )
    assert await wait_until(lambda: service.is_leader, 5)

    if how == "stop":
        redis_server.stop()  # graceful: the AOF keeps every acknowledged job
    else:
        redis_server.kill()  # a crash: AOF fsync'd every second; the database covers the rest
    if how == "wipe":  # Redis comes back empty (disk lost): jobs, lease and fence counter are gone
        shutil.rmtree(redis_server.data_dir)
    from standardiste.agenda.model import Source

    # Bookings still work with Redis down; their scheduling waits in the database outbox.
    during = book(agenda, wednesday(12), clock.now(), practitioner="benali")
    agenda.cancel(doomed.id, Source.PHONE, clock.now())
    store = ReminderStore(db)
    assert store.count_unsynced() >= 2
    due = dt.datetime(2026, 12, 1, 18, 0, 3, tzinfo=VIRTUAL_NOW.tzinfo)
    assert clock.now() < due - dt.timedelta(seconds=3), "too slow: reminders due before the outage"
    await asyncio.sleep((due - clock.now()).total_seconds())  # all due now; no Redis, no leader: no call
    assert dialer.calls == []
    assert not service.is_leader

    redis_server.start()  # same port, same AOF
    assert await wait_until(lambda: dialer.called(before.id) == 1 and dialer.called(during.id) == 1, 15)
    await asyncio.sleep(3)
    assert dialer.called(before.id) == 1 and dialer.called(during.id) == 1
    assert dialer.called(doomed.id) == 0
    assert store.count_unsynced() == 0 or all(j.state != SCHEDULED for j in store.jobs())
    assert (store.get(f"reminder:{doomed.id}") or pytest.fail()).state == REMOVED


async def test_redis_down_from_the_start(db: Database, tmp_path: Path, demo_config: Config) -> None:
    """No Redis at all when the controller starts: booking still works at once, the reminder waits in
    the outbox, and goes out once Redis is started."""
    server = RedisServer(tmp_path / "late-redis")  # port chosen, server not started
    dialer = RecordingDialer()
    clock = Clock.starting_at(VIRTUAL_NOW)
    agenda = SqlAgenda(db, demo_config.practice)
    service = ReminderService(
        db=db,
        practice=demo_config.practice,
        redis_url=server.url,
        dialer=dialer,
        agenda=agenda,
        clock=clock,
        namespace=NS,
        lease_ttl_s=1.5,
        sweep_interval_s=1.0,
        sweep_grace_s=2.0,
        drain_interval_s=0.2,
    )
    agenda.add_listener(service.listener)
    await service.start()
    try:
        started = asyncio.get_running_loop().time()
        appointment = book(agenda, wednesday(10), clock.now())
        assert asyncio.get_running_loop().time() - started < 1.0  # the listener never waits for Redis
        store = ReminderStore(db)
        assert store.count_unsynced() == 1
        await asyncio.sleep(5)  # the reminder is due; nothing can go out without Redis
        assert dialer.calls == [] and not service.is_leader
        server.start()
        try:
            assert await wait_until(lambda: dialer.called(appointment.id) == 1, 15)
            await asyncio.sleep(2)
            assert dialer.called(appointment.id) == 1
        finally:
            server.stop()
    finally:
        await service.stop()
