"""Booking, holds, cancel, move on the embedded agenda (real SQLite file): exclusivity, atomicity,
hang-ups injected at every step, a process killed mid-transaction, listeners, history."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from standardiste.agenda.model import (
    AgendaEvent,
    Appointment,
    AppointmentStatus,
    InvalidRequest,
    NotFound,
    PatientIdentity,
    Slot,
    SlotTaken,
    SlotUnavailable,
    Source,
)
from standardiste.agenda.sql import SlotTakenWithAlternatives, SqlAgenda
from standardiste.agenda.tables import SlotUnitRow
from standardiste.config import Config, load_config
from standardiste.storage.db import Database

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)
PAT = PatientIdentity("Lefèvre", "Jeanne", dt.date(1984, 7, 12), "06 11 22 33 44")
OTHER = PatientIdentity("Martin", "Luc", dt.date(1991, 1, 30))
TABLES = (
    "agenda_patients",
    "agenda_appointments",
    "agenda_appointment_history",
    "agenda_holds",
    "agenda_slot_units",
)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TZ)


def consult(pid: str, start: dt.datetime) -> Slot:
    return Slot(pid, "consultation", start, start + dt.timedelta(minutes=20))


@pytest.fixture
def agenda(tmp_path: Path, demo_config: Config) -> Iterator[SqlAgenda]:
    db = Database(f"sqlite:///{tmp_path / 'agenda.db'}")
    db.migrate()
    yield SqlAgenda(db, demo_config.practice)
    db.dispose()


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.engine.connect() as conn:
        return {
            t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr) for t in TABLES
        }


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[AgendaEvent, Appointment]] = []

    def on_appointment_changed(self, event: AgendaEvent, appointment: Appointment) -> None:
        self.events.append((event, appointment))


class HangUp(Exception):
    pass


def test_book_get_upcoming_and_history(agenda: SqlAgenda) -> None:
    rec = Recorder()
    agenda.add_listener(rec)
    appt = agenda.book(consult("martin", at(3, 9, 10)), PAT, Source.PHONE, NOW)
    assert appt.status == AppointmentStatus.BOOKED and appt.start == at(3, 9, 10)
    assert appt.patient.phone == "+33611223344"
    assert agenda.get(appt.id) == appt
    assert agenda.upcoming(appt.patient.id, NOW) == [appt]
    assert rec.events == [("booked", appt)]
    assert [h["action"] for h in agenda.history(appt.id)] == ["booked"]
    with pytest.raises(NotFound):
        agenda.get("nope")


def test_second_booking_is_refused_with_alternatives(agenda: SqlAgenda) -> None:
    slot = consult("martin", at(3, 9, 10))
    agenda.book(slot, PAT, Source.PHONE, NOW)
    with pytest.raises(SlotTakenWithAlternatives) as err:
        agenda.book(slot, OTHER, Source.PHONE, NOW)
    assert isinstance(err.value, SlotTaken)
    assert err.value.alternatives and slot not in err.value.alternatives
    # An overlapping longer appointment starting elsewhere is refused too.
    with pytest.raises(SlotTaken):
        agenda.book(Slot("martin", "nouveau_patient", at(3, 8, 50), at(3, 9, 30)), OTHER, Source.PHONE, NOW)
    # Another practitioner at the same time is fine.
    agenda.book(consult("benali", at(3, 9, 10)), OTHER, Source.PHONE, NOW)


def test_bad_bookings(agenda: SqlAgenda) -> None:
    with pytest.raises(InvalidRequest, match="inconnu"):
        agenda.book(consult("nobody", at(3, 9)), PAT, Source.PHONE, NOW)
    with pytest.raises(InvalidRequest, match="passé"):
        agenda.book(consult("martin", at(2, 8, 30)), PAT, Source.PHONE, NOW)
    with pytest.raises(SlotUnavailable):
        agenda.book(consult("martin", at(3, 13)), PAT, Source.PHONE, NOW)
    with pytest.raises(InvalidRequest, match="naissance"):
        agenda.book(
            consult("martin", at(3, 9)), PatientIdentity("A", "B", dt.date(2030, 1, 1)), Source.PHONE, NOW
        )
    with pytest.raises(InvalidRequest, match="vide"):
        agenda.book(
            consult("martin", at(3, 9)), PatientIdentity(" - ", "B", dt.date(1990, 1, 1)), Source.PHONE, NOW
        )
    assert snapshot(agenda.db)["agenda_appointments"] == []


def test_hold_blocks_others_then_lapses(agenda: SqlAgenda) -> None:
    slot = consult("benali", at(3, 10))
    hold = agenda.hold(slot, "call-A", NOW)
    assert hold.expires_at == NOW + dt.timedelta(seconds=180)
    with pytest.raises(SlotTaken):
        agenda.hold(slot, "call-B", NOW)
    with pytest.raises(SlotTaken):
        agenda.book(slot, OTHER, Source.PHONE, NOW)
    # Same caller asking again just extends the hold.
    again = agenda.hold(slot, "call-A", NOW + dt.timedelta(seconds=60))
    assert again.id == hold.id and again.expires_at == NOW + dt.timedelta(seconds=240)
    # Caller A hung up without confirming: after the hold time anyone can take it.
    later = NOW + dt.timedelta(seconds=241)
    appt = agenda.book(slot, OTHER, Source.PHONE, later)
    assert appt.start == slot.start
    # A's late confirmation with its stale hold is refused.
    with pytest.raises(SlotTaken):
        agenda.book(slot, PAT, Source.PHONE, later, hold_id=hold.id)


def test_book_with_hold_and_release(agenda: SqlAgenda) -> None:
    slot = consult("benali", at(3, 10))
    hold = agenda.hold(slot, "call-A", NOW)
    appt = agenda.book(slot, PAT, Source.PHONE, NOW + dt.timedelta(seconds=30), hold_id=hold.id)
    assert appt.start == slot.start
    snap = snapshot(agenda.db)
    assert snap["agenda_holds"] == []
    assert len(snap["agenda_slot_units"]) == 4
    other = consult("benali", at(3, 11))
    h2 = agenda.hold(other, "call-B", NOW)
    agenda.release(h2.id)
    agenda.release(h2.id)  # idempotent
    agenda.hold(other, "call-C", NOW)
    assert agenda.release_holder("call-C") == 1
    assert agenda.purge_expired(NOW + dt.timedelta(hours=1)) == 0


def test_cancel_frees_slot_and_is_idempotent(agenda: SqlAgenda) -> None:
    rec = Recorder()
    agenda.add_listener(rec)
    slot = consult("martin", at(4, 15))
    appt = agenda.book(slot, PAT, Source.PHONE, NOW)
    cancelled = agenda.cancel(appt.id, Source.PHONE, NOW)
    assert cancelled.status == AppointmentStatus.CANCELLED
    assert agenda.cancel(appt.id, Source.PHONE, NOW).status == AppointmentStatus.CANCELLED
    assert [e for e, _ in rec.events] == ["booked", "cancelled"]
    assert agenda.upcoming(appt.patient.id, NOW) == []
    agenda.book(slot, OTHER, Source.PHONE, NOW)
    with pytest.raises(InvalidRequest):
        agenda.move(appt.id, consult("martin", at(4, 16)), Source.PHONE, NOW)


def test_move_keeps_original_when_new_slot_taken(agenda: SqlAgenda) -> None:
    rec = Recorder()
    agenda.add_listener(rec)
    appt = agenda.book(consult("martin", at(4, 9)), PAT, Source.PHONE, NOW)
    agenda.book(consult("martin", at(4, 10)), OTHER, Source.PHONE, NOW)
    before = snapshot(agenda.db)
    with pytest.raises(SlotTakenWithAlternatives):
        agenda.move(appt.id, consult("martin", at(4, 10)), Source.PHONE, NOW)
    assert snapshot(agenda.db) == before
    assert agenda.get(appt.id).start == at(4, 9)
    with pytest.raises(SlotTaken):  # the original is still held by the appointment
        agenda.book(consult("martin", at(4, 9)), OTHER, Source.PHONE, NOW)
    moved = agenda.move(appt.id, consult("martin", at(4, 9, 10)), Source.PHONE, NOW)  # overlaps itself
    assert moved.start == at(4, 9, 10)
    moved = agenda.move(appt.id, consult("benali", at(5, 17)), Source.PHONE, NOW)
    assert (moved.practitioner_id, moved.start) == ("benali", at(5, 17))
    agenda.book(consult("martin", at(4, 9)), OTHER, Source.PHONE, NOW)  # old time is free again
    assert [e for e, _ in rec.events][-2:] == ["moved", "booked"]
    assert [h["action"] for h in agenda.history(appt.id)] == ["booked", "moved", "moved"]


def test_move_with_hold_and_confirm(agenda: SqlAgenda) -> None:
    appt = agenda.book(consult("martin", at(4, 9)), PAT, Source.PHONE, NOW)
    target = consult("martin", at(6, 14))
    hold = agenda.hold(target, "call-A", NOW)
    moved = agenda.move(appt.id, target, Source.REMINDER_CALL, NOW, hold_id=hold.id)
    assert moved.start == target.start
    confirmed = agenda.confirm(appt.id, Source.REMINDER_CALL, NOW)
    assert confirmed.status == AppointmentStatus.CONFIRMED
    attended = agenda.set_status(appt.id, AppointmentStatus.ATTENDED, "staff:anne", NOW)
    assert attended.status == AppointmentStatus.ATTENDED
    assert [a.id for a in agenda.appointments(at(6, 0), at(7, 0))] == [appt.id]


def test_listener_failure_does_not_undo_booking(agenda: SqlAgenda) -> None:
    class Broken:
        def on_appointment_changed(self, event: AgendaEvent, appointment: Appointment) -> None:
            raise RuntimeError("reminders down")

    agenda.add_listener(Broken())
    appt = agenda.book(consult("martin", at(3, 9)), PAT, Source.PHONE, NOW)
    assert agenda.get(appt.id).status == AppointmentStatus.BOOKED


BOOK_STEPS = ["begin", "patient", "appointment", "units", "history"]
MOVE_STEPS = ["begin", "release", "units", "appointment", "history"]
CANCEL_STEPS = ["begin", "units", "appointment", "history"]


@pytest.mark.parametrize("step", BOOK_STEPS)
def test_hang_up_during_booking_leaves_nothing(agenda: SqlAgenda, step: str) -> None:
    rec = Recorder()
    agenda.add_listener(rec)
    slot = consult("martin", at(3, 9))
    hold = agenda.hold(slot, "call-A", NOW)
    before = snapshot(agenda.db)

    def hang_up(name: str) -> None:
        if name == step:
            raise HangUp(name)

    agenda.step_hook = hang_up
    with pytest.raises(HangUp):
        agenda.book(slot, PAT, Source.PHONE, NOW, hold_id=hold.id)
    assert snapshot(agenda.db) == before
    assert rec.events == []
    agenda.step_hook = None
    agenda.book(slot, PAT, Source.PHONE, NOW, hold_id=hold.id)  # the hold survived; booking still works
    after = snapshot(agenda.db)
    assert len(after["agenda_appointments"]) == 1 and after["agenda_holds"] == []


@pytest.mark.parametrize("step", MOVE_STEPS)
def test_hang_up_during_move_keeps_original(agenda: SqlAgenda, step: str) -> None:
    appt = agenda.book(consult("martin", at(3, 9)), PAT, Source.PHONE, NOW)
    before = snapshot(agenda.db)

    def hang_up(name: str) -> None:
        if name == step:
            raise HangUp(name)

    agenda.step_hook = hang_up
    with pytest.raises(HangUp):
        agenda.move(appt.id, consult("benali", at(4, 9)), Source.PHONE, NOW)
    assert snapshot(agenda.db) == before
    agenda.step_hook = None
    assert agenda.move(appt.id, consult("benali", at(4, 9)), Source.PHONE, NOW).practitioner_id == "benali"


@pytest.mark.parametrize("step", CANCEL_STEPS)
def test_hang_up_during_cancel_keeps_appointment(agenda: SqlAgenda, step: str) -> None:
    appt = agenda.book(consult("martin", at(3, 9)), PAT, Source.PHONE, NOW)
    before = snapshot(agenda.db)

    def hang_up(name: str) -> None:
        if name == step:
            raise HangUp(name)

    agenda.step_hook = hang_up
    with pytest.raises(HangUp):
        agenda.cancel(appt.id, Source.PHONE, NOW)
    assert snapshot(agenda.db) == before
    assert agenda.get(appt.id).status == AppointmentStatus.BOOKED
    agenda.step_hook = None
    assert agenda.cancel(appt.id, Source.PHONE, NOW).status == AppointmentStatus.CANCELLED


def _die_at(url: str, step: str, action: str, appointment_id: str | None) -> None:
    """Child process: start an operation and kill the process at `step`, mid-transaction."""
    agenda = SqlAgenda(Database(url), load_config(None).practice)

    def die(name: str) -> None:
        if name == step:
            os._exit(3)

    agenda.step_hook = die
    if action == "book":
        agenda.book(consult("benali", at(5, 9)), OTHER, Source.PHONE, NOW)
    elif action == "move":
        assert appointment_id
        agenda.move(appointment_id, consult("benali", at(5, 9)), Source.PHONE, NOW)
    else:
        assert appointment_id
        agenda.cancel(appointment_id, Source.PHONE, NOW)
    os._exit(0)


@pytest.mark.parametrize(
    ("action", "step"), [("book", "units"), ("book", "history"), ("move", "units"), ("cancel", "appointment")]
)
def test_process_killed_mid_transaction_leaves_data_as_before(
    agenda: SqlAgenda, action: str, step: str
) -> None:
    appt = agenda.book(consult("martin", at(3, 9)), PAT, Source.PHONE, NOW)
    before = snapshot(agenda.db)
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_die_at, args=(agenda.db.url, step, action, appt.id))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    assert snapshot(agenda.db) == before
    # The database is not left locked: the same operation succeeds now.
    agenda.book(consult("benali", at(5, 9)), OTHER, Source.PHONE, NOW)
    with agenda.db.session() as s:
        assert len(s.scalars(select(SlotUnitRow)).all()) == 8


def test_abandoned_holds_are_cleaned_up(agenda: SqlAgenda) -> None:
    for i in range(5):
        agenda.hold(consult("martin", at(3, 9) + dt.timedelta(minutes=20 * i)), f"call-{i}", NOW)
    agenda.hold(consult("benali", at(3, 9)), "call-late", NOW + dt.timedelta(hours=1))
    snap = snapshot(agenda.db)
    assert len(snap["agenda_holds"]) == 1 and len(snap["agenda_slot_units"]) == 4
    assert agenda.purge_expired(NOW + dt.timedelta(days=1)) == 1
