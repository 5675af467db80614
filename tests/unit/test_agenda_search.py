"""Slot search on the embedded agenda (real SQLite file): hours, notice, preferences, variety."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import (
    InvalidRequest,
    PartOfDay,
    PatientIdentity,
    Slot,
    SlotQuery,
    SlotUnavailable,
    Source,
)
from standardiste.agenda.sql import SqlAgenda
from standardiste.config import Config
from standardiste.storage.db import Database

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)  # Monday 09:03
PAT = PatientIdentity("Durand", "Paul", dt.date(1970, 5, 6))


@pytest.fixture
def agenda(tmp_path: Path, demo_config: Config) -> Iterator[SqlAgenda]:
    db = Database(f"sqlite:///{tmp_path / 'agenda.db'}")
    db.migrate()
    yield SqlAgenda(db, demo_config.practice)
    db.dispose()


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=TZ)


def test_earliest_respects_notice_and_packing(agenda: SqlAgenda) -> None:
    slots = agenda.find_slots(SlotQuery(asap=True), NOW)
    assert 2 <= len(slots) <= 3
    first = slots[0]
    assert first.start >= NOW + dt.timedelta(minutes=60)
    assert first.start == at(2, 10, 10)  # 08:30 + 5 x 20 min, the first after 10:03
    assert first.appointment_type == "consultation" and first.practitioner_id in ("martin", "benali")
    assert all(s.end - s.start == dt.timedelta(minutes=20) for s in slots)


def test_any_practitioner_gives_varied_choice(agenda: SqlAgenda) -> None:
    slots = agenda.find_slots(SlotQuery(), NOW)
    assert len(slots) == 3
    halves = {(s.start.date(), s.start.hour >= 13) for s in slots}
    assert len(halves) == 3, slots  # not three back-to-back slots of the same morning
    assert slots == sorted(slots, key=lambda s: s.start)


def test_specific_day_and_part_of_day(agenda: SqlAgenda) -> None:
    q = SlotQuery(practitioner_id="martin", earliest=at(4, 0), latest=at(5, 0), part_of_day=PartOfDay.MORNING)
    slots = agenda.find_slots(q, NOW)
    assert len(slots) == 3
    for s in slots:
        assert s.practitioner_id == "martin"
        assert s.start.date() == dt.date(2026, 3, 4) and s.start.hour < 12
    starts = sorted(s.start for s in slots)
    assert all(b - a >= dt.timedelta(minutes=60) for a, b in itertools.pairwise(starts))


def test_late_afternoon(agenda: SqlAgenda) -> None:
    slots = agenda.find_slots(SlotQuery(part_of_day=PartOfDay.LATE_AFTERNOON), NOW)
    assert slots and all(dt.time(16, 30) <= s.start.time() and s.end.time() <= dt.time(19) for s in slots)


def test_type_restricts_practitioners(agenda: SqlAgenda) -> None:
    slots = agenda.find_slots(SlotQuery(appointment_type="pediatrie"), NOW)
    assert slots and all(
        s.practitioner_id == "lefevre" and s.end - s.start == dt.timedelta(minutes=30) for s in slots
    )


def test_saturday_only_morning(agenda: SqlAgenda) -> None:
    slots = agenda.find_slots(SlotQuery(earliest=at(7, 0), latest=at(8, 0)), NOW)
    assert slots and all(s.start.date() == dt.date(2026, 3, 7) and s.end.time() <= dt.time(12) for s in slots)


def test_holiday_and_sunday_have_no_slots(agenda: SqlAgenda) -> None:
    easter_monday = SlotQuery(earliest=at(6, 0, month=4), latest=at(7, 0, month=4))
    assert agenda.find_slots(easter_monday, NOW) == []
    assert agenda.find_slots(SlotQuery(earliest=at(8, 0), latest=at(9, 0)), NOW) == []  # Sunday


def test_booked_and_held_times_are_skipped(agenda: SqlAgenda) -> None:
    day = SlotQuery(practitioner_id="martin", earliest=at(3, 8), latest=at(3, 9, 30), limit=5)
    first = agenda.find_slots(day, NOW)[0]
    assert first.start == at(3, 8, 30)
    agenda.book(first, PAT, Source.PHONE, NOW)
    nxt = agenda.find_slots(day, NOW)[0]
    assert nxt.start == at(3, 8, 50)
    hold = agenda.hold(nxt, "call-1", NOW)
    assert agenda.find_slots(day, NOW)[0].start == at(3, 9, 10)
    # The hold lapses: its time is offered again.
    later = NOW + dt.timedelta(seconds=agenda.practice.booking.hold_seconds + 1)
    assert agenda.find_slots(day, later)[0].start == at(3, 8, 50)
    agenda.release(hold.id)
    assert agenda.find_slots(day, NOW)[0].start == at(3, 8, 50)


def test_slots_pack_after_a_longer_appointment(agenda: SqlAgenda) -> None:
    # A 40-minute new patient at 08:30: the next 20-minute slot starts at 09:10, not 08:50.
    agenda.book(Slot("martin", "nouveau_patient", at(3, 8, 30), at(3, 9, 10)), PAT, Source.STAFF, NOW)
    slots = agenda.find_slots(SlotQuery(practitioner_id="martin", earliest=at(3, 8), latest=at(3, 10)), NOW)
    assert slots[0].start == at(3, 9, 10)


def test_full_day_moves_to_next_day(agenda: SqlAgenda) -> None:
    q = SlotQuery(practitioner_id="benali", earliest=at(3, 0), latest=at(3, 23, 59), limit=10)
    while slots := agenda.find_slots(q, NOW):
        for s in slots:
            agenda.book(s, PAT, Source.STAFF, NOW)
    nxt = agenda.find_slots(SlotQuery(practitioner_id="benali", earliest=at(3, 0)), NOW)
    assert nxt and nxt[0].start.date() == dt.date(2026, 3, 4)


def test_bad_queries(agenda: SqlAgenda) -> None:
    with pytest.raises(InvalidRequest, match="inconnu"):
        agenda.find_slots(SlotQuery(practitioner_id="house"), NOW)
    with pytest.raises(InvalidRequest, match="passé"):
        agenda.find_slots(SlotQuery(earliest=at(1, 0, 2), latest=at(2, 0, 2)), NOW)
    with pytest.raises(InvalidRequest, match="ne fait pas"):
        agenda.find_slots(SlotQuery(practitioner_id="martin", appointment_type="pediatrie"), NOW)
    with pytest.raises(SlotUnavailable, match="horizon"):
        agenda.find_slots(SlotQuery(earliest=at(1, 9, month=9)), NOW)
    with pytest.raises(InvalidRequest, match="vide"):
        agenda.find_slots(SlotQuery(earliest=at(5, 10), latest=at(4, 10)), NOW)
    with pytest.raises(InvalidRequest, match="fuseau"):
        agenda.find_slots(SlotQuery(), NOW.replace(tzinfo=None))


def test_exact_time_asked_is_offered(agenda: SqlAgenda) -> None:
    # "Mardi à 10 heures": 10:00 is off the 08:30 + 20-min grid but free, so it comes first.
    slots = agenda.find_slots(SlotQuery(practitioner_id="martin", earliest=at(3, 10), latest=at(3, 11)), NOW)
    assert slots[0].start == at(3, 10)
    # Right after the notice limit, times stay on the round grid (10:10, not 10:05).
    assert agenda.find_slots(SlotQuery(earliest=NOW), NOW)[0].start == at(2, 10, 10)


def test_daylight_saving_week(agenda: SqlAgenda) -> None:
    # Clocks go forward on Sunday 29 March 2026: Monday 08:30 is 06:30 UTC (it was 07:30 UTC before).
    monday = dt.datetime(2026, 3, 30, 0, 0, tzinfo=TZ)
    slots = agenda.find_slots(
        SlotQuery(practitioner_id="martin", earliest=monday, latest=monday + dt.timedelta(days=1)), NOW
    )
    assert slots[0].start == dt.datetime(2026, 3, 30, 8, 30, tzinfo=TZ)
    assert slots[0].start.astimezone(dt.UTC).hour == 6
    appt = agenda.book(slots[0], PAT, Source.PHONE, NOW)
    assert agenda.get(appt.id).start == slots[0].start
