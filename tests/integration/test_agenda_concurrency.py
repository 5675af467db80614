"""Exclusivity under real concurrency, on SQLite (file, WAL) and a real PostgreSQL started by the tests:
50 callers race for the same slot; exactly one wins, the others get SlotTaken with alternatives."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from standardiste.agenda.model import Appointment, PatientIdentity, Slot, SlotTaken, Source
from standardiste.agenda.sql import SlotTakenWithAlternatives, SqlAgenda
from standardiste.config import Config, load_config
from standardiste.storage.db import Database

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)
SLOT = Slot(
    "martin",
    "consultation",
    dt.datetime(2026, 3, 3, 9, 10, tzinfo=TZ),
    dt.datetime(2026, 3, 3, 9, 30, tzinfo=TZ),
)
CALLERS = 50
TABLES = (
    "agenda_patients",
    "agenda_appointments",
    "agenda_appointment_history",
    "agenda_holds",
    "agenda_slot_units",
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'agenda.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def agenda(url: str, demo_config: Config) -> Iterator[SqlAgenda]:
    db = Database(url)
    db.migrate()
    yield SqlAgenda(db, demo_config.practice)
    db.dispose()


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.engine.connect() as conn:
        return {
            t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr) for t in TABLES
        }


def _race(agenda: SqlAgenda, attempt: Any) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(CALLERS)

    def one(i: int) -> Any:
        barrier.wait(30)
        return attempt(i)

    wins: list[Any] = []
    errors: list[BaseException] = []
    with ThreadPoolExecutor(CALLERS) as pool:
        futures = [pool.submit(one, i) for i in range(CALLERS)]
        for f in futures:
            try:
                wins.append(f.result(120))
            except BaseException as err:
                errors.append(err)
    return wins, errors


@pytest.mark.slow
def test_fifty_callers_book_the_same_slot(agenda: SqlAgenda) -> None:
    def attempt(i: int) -> Appointment:
        return agenda.book(
            SLOT, PatientIdentity(f"Patient{i}", "Test", dt.date(1980, 1, 1 + i % 28)), Source.PHONE, NOW
        )

    wins, errors = _race(agenda, attempt)
    assert len(wins) == 1, errors[:3]
    assert len(errors) == CALLERS - 1
    assert all(isinstance(e, SlotTakenWithAlternatives) for e in errors), {type(e) for e in errors}
    assert all(
        e.alternatives and SLOT not in e.alternatives
        for e in errors  # type: ignore[attr-defined]
        if isinstance(e, SlotTakenWithAlternatives)
    )
    snap = snapshot(agenda.db)
    assert len(snap["agenda_appointments"]) == 1
    assert len(snap["agenda_slot_units"]) == 4
    assert len(snap["agenda_appointment_history"]) == 1


@pytest.mark.slow
def test_fifty_callers_hold_the_same_slot_then_overlapping_moves(agenda: SqlAgenda) -> None:
    wins, errors = _race(agenda, lambda i: agenda.hold(SLOT, f"call-{i}", NOW))
    assert len(wins) == 1 and all(isinstance(e, SlotTaken) for e in errors)
    agenda.release(wins[0].id)
    # 50 existing appointments all try to move onto the same (overlapping) time: one wins, none is lost.
    appts = []
    for i in range(CALLERS):
        pid = "martin" if i % 24 < 12 else "benali"
        start = dt.datetime(2026, 3, 10 + i // 24, 8, 30, tzinfo=TZ) + dt.timedelta(minutes=20 * (i % 12))
        appts.append(
            agenda.book(
                Slot(pid, "consultation", start, start + dt.timedelta(minutes=20)),
                PatientIdentity(f"P{i}", "T", dt.date(1970, 1, 1)),
                Source.STAFF,
                NOW,
            )
        )
    target = Slot(
        "martin",
        "nouveau_patient",
        dt.datetime(2026, 3, 4, 15, 0, tzinfo=TZ),
        dt.datetime(2026, 3, 4, 15, 40, tzinfo=TZ),
    )
    wins, errors = _race(agenda, lambda i: agenda.move(appts[i].id, target, Source.PHONE, NOW))
    assert len(wins) == 1 and all(isinstance(e, SlotTaken) for e in errors), errors[:3]
    snap = snapshot(agenda.db)
    assert len(snap["agenda_slot_units"]) == 49 * 4 + 8
    for a in appts:
        if a.id != wins[0].id:
            assert agenda.get(a.id).start == a.start


def _die_at(url: str, step: str) -> None:
    agenda = SqlAgenda(Database(url), load_config(None).practice)

    def die(name: str) -> None:
        if name == step:
            os._exit(3)

    agenda.step_hook = die
    agenda.book(SLOT, PatientIdentity("Mort", "Subite", dt.date(1950, 1, 1)), Source.PHONE, NOW)
    os._exit(0)


@pytest.mark.parametrize("step", ["patient", "units", "history"])
def test_process_killed_mid_booking(agenda: SqlAgenda, step: str) -> None:
    before = snapshot(agenda.db)
    child = multiprocessing.get_context("spawn").Process(target=_die_at, args=(agenda.db.url, step))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    assert snapshot(agenda.db) == before
    agenda.book(SLOT, PatientIdentity("Vivant", "Bien", dt.date(1950, 1, 1)), Source.PHONE, NOW)


def check_invariants(db: Database) -> None:
    """Every active appointment owns exactly the units of its time; nothing else owns units but live holds."""
    with db.engine.connect() as conn:
        appts = conn.execute(
            text('SELECT id, practitioner_id, start, "end", status FROM agenda_appointments')
        ).all()
        owned = conn.execute(
            text(
                "SELECT appointment_id, practitioner_id FROM agenda_slot_units "
                "WHERE appointment_id IS NOT NULL"
            )
        ).all()
    per_appt: dict[str, int] = {}
    for aid, _pid in owned:
        per_appt[aid] = per_appt.get(aid, 0) + 1
    for aid, _pid, start, end, status in appts:
        start = dt.datetime.fromisoformat(str(start)) if not isinstance(start, dt.datetime) else start
        end = dt.datetime.fromisoformat(str(end)) if not isinstance(end, dt.datetime) else end
        expected = int((end - start).total_seconds() // 300) if status in ("booked", "confirmed") else 0
        assert per_appt.get(aid, 0) == expected, (aid, status)


@pytest.mark.slow
def test_concurrent_cancel_and_moves_of_one_appointment(agenda: SqlAgenda) -> None:
    appt = agenda.book(SLOT, PatientIdentity("Seul", "Patient", dt.date(1960, 1, 1)), Source.PHONE, NOW)
    first = dt.datetime(2026, 3, 4, 8, 30, tzinfo=TZ)
    targets = [
        Slot(
            "benali",
            "consultation",
            first + dt.timedelta(minutes=20 * i),
            first + dt.timedelta(minutes=20 * i + 20),
        )
        for i in range(10)
    ]
    barrier = threading.Barrier(20)

    def act(i: int) -> str:
        barrier.wait(30)
        try:
            if i % 2:
                agenda.cancel(appt.id, Source.STAFF, NOW)
                return "cancel"
            agenda.move(appt.id, targets[i // 2], Source.PHONE, NOW)
            return "move"
        except Exception as err:  # moves after the cancel are refused: that is expected
            return type(err).__name__

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(act, range(20)))
    assert set(outcomes) <= {"cancel", "move", "InvalidRequest"}, outcomes
    final = agenda.get(appt.id)
    assert final.status.value == "cancelled"
    check_invariants(agenda.db)
    history = agenda.history(appt.id)
    assert [h["action"] for h in history].count("cancelled") == 1


STEPS = (
    [("book", s) for s in ("begin", "patient", "appointment", "units", "history")]
    + [("move", s) for s in ("begin", "release", "units", "appointment", "history")]
    + [("cancel", s) for s in ("begin", "units", "appointment", "history")]
)


class HangUp(Exception):
    pass


@pytest.mark.parametrize(("action", "step"), STEPS)
def test_hang_up_at_each_step_on_both_backends(agenda: SqlAgenda, action: str, step: str) -> None:
    appt = agenda.book(SLOT, PatientIdentity("Avant", "Tout", dt.date(1960, 1, 1)), Source.PHONE, NOW)
    other = Slot("benali", "consultation", SLOT.start, SLOT.end)
    before = snapshot(agenda.db)

    def hang_up(name: str) -> None:
        if name == step:
            raise HangUp(name)

    agenda.step_hook = hang_up
    with pytest.raises(HangUp):
        if action == "book":
            agenda.book(other, PatientIdentity("Nouveau", "X", dt.date(1999, 9, 9)), Source.PHONE, NOW)
        elif action == "move":
            agenda.move(appt.id, other, Source.PHONE, NOW)
        else:
            agenda.cancel(appt.id, Source.PHONE, NOW)
    assert snapshot(agenda.db) == before
    check_invariants(agenda.db)


@pytest.mark.slow
def test_fifty_callers_race_for_a_lapsed_hold(agenda: SqlAgenda) -> None:
    """A caller held the slot and hung up; once the hold lapses exactly one of many callers gets it."""
    agenda.hold(SLOT, "call-gone", NOW)
    later = NOW + dt.timedelta(seconds=agenda.practice.booking.hold_seconds + 1)

    def attempt(i: int) -> Appointment:
        who = PatientIdentity(f"Tardif{i}", "X", dt.date(1980, 1, 1))
        return agenda.book(SLOT, who, Source.PHONE, later)

    wins, errors = _race(agenda, attempt)
    assert len(wins) == 1 and len(errors) == CALLERS - 1
    assert all(isinstance(e, SlotTaken) for e in errors), {type(e) for e in errors}
    check_invariants(agenda.db)
    snap = snapshot(agenda.db)
    assert len(snap["agenda_slot_units"]) == 4
