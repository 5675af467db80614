"""The reminders' database side (real SQLite file and real PostgreSQL): idempotent puts, exactly-once
claims, fencing of a deposed leader, retries; outcome mapping of the ARI dialer; the virtual clock."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from standardiste.dialogue.messages import OutcomeKind
from standardiste.reminders.ari_dialer import endpoint_for, map_outcome
from standardiste.reminders.clock import Clock
from standardiste.reminders.store import (
    CALLING,
    DONE,
    QUEUED,
    REMINDER,
    REMOVED,
    SCHEDULED,
    FencedOut,
    JobSpec,
    ReminderStore,
)
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReminderStore]:
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")  # a real PostgreSQL, started by the tests
        url = server.url(server.create_database())
    else:
        url = f"sqlite:///{tmp_path / 'r.db'}"
    db = Database(url)
    db.migrate()
    yield ReminderStore(db)
    db.dispose()


def spec(run_at: dt.datetime | None, appointment: str = "a1", phone: str | None = "+33600000000") -> JobSpec:
    return JobSpec(REMINDER, appointment, run_at, START, START + dt.timedelta(minutes=20), phone)


def test_put_is_idempotent_and_versions_changes(store: ReminderStore) -> None:
    first = store.put(spec(NOW), NOW)
    assert (first.state, first.version, first.synced) == (SCHEDULED, 1, False)
    assert store.put(spec(NOW), NOW).version == 1  # same change twice: nothing new
    moved = store.put(spec(NOW + dt.timedelta(hours=1)), NOW)
    assert moved.version == 2
    removed = store.put(spec(None), NOW)
    assert (removed.state, removed.version) == (REMOVED, 3)
    assert store.put(spec(None, appointment="never-scheduled"), NOW).version == 0
    assert store.get("reminder:never-scheduled") is None
    assert store.mark_synced("reminder:a1", 2) is False  # an older version is never marked synced
    assert store.mark_synced("reminder:a1", 3) is True
    assert store.count_unsynced() == 0


def test_claim_once_then_attempt_once(store: ReminderStore) -> None:
    store.raise_fence(5)
    store.put(spec(NOW), NOW)
    assert store.claim("reminder:a1", NOW - dt.timedelta(seconds=1), 5) is None  # not due yet
    job = store.claim("reminder:a1", NOW, 5)
    assert job is not None and job.state == QUEUED and job.fence == 5
    assert store.claim("reminder:a1", NOW, 5) is None  # already taken
    attempt = store.start_attempt(job, 5, "node-a", NOW)
    assert attempt is not None
    assert store.start_attempt(job, 5, "node-a", NOW) is None  # one call per scheduled version
    assert (store.get("reminder:a1") or pytest.fail()).state == CALLING
    retry_at = NOW + dt.timedelta(minutes=30)
    after = store.finish_attempt(attempt, job, "no_answer", {}, NOW, retry_at)
    assert after is not None and (after.state, after.attempt, after.run_at) == (SCHEDULED, 1, retry_at)
    second = store.claim("reminder:a1", retry_at, 5)
    assert second is not None and second.attempt == 1
    attempt2 = store.start_attempt(second, 5, "node-a", retry_at)
    assert attempt2 is not None
    done = store.finish_attempt(attempt2, second, "confirmed", {}, retry_at, None)
    assert done is not None and done.state == DONE and done.last_outcome == "confirmed"
    assert [(a.attempt, a.outcome) for a in store.attempts("a1")] == [(0, "no_answer"), (1, "confirmed")]


def test_deposed_leader_is_fenced_out(store: ReminderStore) -> None:
    store.raise_fence(1)
    store.put(spec(NOW), NOW)
    old = store.claim("reminder:a1", NOW, 1)
    assert old is not None
    store.raise_fence(2)  # a new leader took over
    with pytest.raises(FencedOut):
        store.raise_fence(1)
    assert store.start_attempt(old, 1, "old-node", NOW) is None  # the deposed leader cannot dial
    [orphan] = store.orphans(2)
    assert orphan.job_id == "reminder:a1"
    assert store.release(orphan, NOW)
    again = store.claim("reminder:a1", NOW, 2)
    assert again is not None and store.start_attempt(again, 2, "new-node", NOW) is not None
    assert len(store.attempts("a1")) == 1


def test_change_during_call_keeps_new_schedule(store: ReminderStore) -> None:
    store.raise_fence(1)
    store.put(spec(NOW), NOW)
    job = store.claim("reminder:a1", NOW, 1)
    assert job is not None
    attempt = store.start_attempt(job, 1, "n", NOW)
    assert attempt is not None
    later = NOW + dt.timedelta(days=2)
    store.put(spec(later), NOW)  # moved by the patient during the call
    after = store.finish_attempt(attempt, job, "rescheduled", {}, NOW, None)
    assert after is not None and after.state == SCHEDULED and after.run_at == later


def test_concurrent_claims_one_winner(store: ReminderStore) -> None:
    store.raise_fence(1)
    for i in range(20):
        store.put(spec(NOW, appointment=f"a{i}"), NOW)
    wins: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for i in range(20):
            job = store.claim(f"reminder:a{i}", NOW, 1)
            if job is not None and store.start_attempt(job, 1, threading.current_thread().name, NOW):
                with lock:
                    wins.append(job.job_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(f"reminder:a{i}" for i in range(20))
    assert len(store.attempts()) == 20


def test_map_outcome() -> None:
    assert map_outcome(None, 17).outcome == OutcomeKind.BUSY
    assert map_outcome(None, 21).outcome == OutcomeKind.BUSY
    assert map_outcome(None, 19).outcome == OutcomeKind.NO_ANSWER
    assert map_outcome(None, None).outcome == OutcomeKind.NO_ANSWER
    assert map_outcome(None, 1).outcome == OutcomeKind.FAILED  # unallocated number
    assert map_outcome(("confirmed", {}), 16).outcome == OutcomeKind.CONFIRMED
    assert map_outcome(("no_answer", {}), 16).outcome == OutcomeKind.VOICEMAIL
    assert map_outcome((None, {}), 16).outcome == OutcomeKind.ABANDONED
    assert map_outcome(("garbage", {}), 16).outcome == OutcomeKind.FAILED
    assert map_outcome(("wrong_person", {}), 16).details["answered"] is True


def test_endpoint_for() -> None:
    assert endpoint_for("+33 6 12 34 56 78", "trunk") == "PJSIP/+33612345678@trunk"
    with pytest.raises(ValueError):
        endpoint_for("inconnu", "trunk")


def test_clock_shift_and_speed() -> None:
    anchor = dt.datetime(2026, 12, 1, 17, 59, tzinfo=dt.UTC)
    real = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    clock = Clock(anchor_virtual=anchor, speed=60, anchor_real=real)
    assert clock.to_real(anchor + dt.timedelta(minutes=1)) == real + dt.timedelta(seconds=1)
    with pytest.raises(ValueError):
        Clock(speed=0)


def test_dashboard_status_labels(store: ReminderStore) -> None:
    from standardiste.reminders.status import reminder_status_for

    status = reminder_status_for(store.db, "Europe/Paris")
    store.raise_fence(1)
    store.put(spec(NOW, appointment="a1"), NOW)
    store.put(spec(NOW, appointment="a2"), NOW)
    assert status(["a1", "zz"]) == {"a1": "appel prévu le 01/12 à 18:00"}
    job = store.claim("reminder:a1", NOW, 1)
    assert job is not None and status(["a1"]) == {"a1": "appel en cours"}
    attempt = store.start_attempt(job, 1, "n", NOW)
    retry = store.finish_attempt(attempt, job, "busy", {}, NOW, NOW + dt.timedelta(minutes=30))
    assert retry is not None and status(["a1"]) == {"a1": "appel prévu le 01/12 à 18:30 (essai 2)"}
    second = store.claim("reminder:a1", NOW + dt.timedelta(minutes=30), 1)
    assert second is not None
    attempt2 = store.start_attempt(second, 1, "n", NOW)
    store.finish_attempt(attempt2, second, "voicemail", {}, NOW, None)
    assert status(["a1", "a2"])["a1"] == "message laissé (répondeur) (2 essais)"
    assert status([]) == {}
