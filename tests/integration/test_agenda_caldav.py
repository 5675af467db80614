"""The CalDAV connector against a real Radicale server started by the test (free port, temp storage):
book, move, cancel, conflicts made by another client, two assistants racing, a dead server."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from standardiste.agenda.caldav import CalDavAgenda, CalDavClient, CalDavError
from standardiste.agenda.model import (
    AppointmentStatus,
    PatientIdentity,
    Slot,
    SlotQuery,
    SlotTaken,
    Source,
)
from standardiste.agenda.sql import SlotTakenWithAlternatives
from standardiste.config import Config
from standardiste.storage.db import Database
from tests.fixtures.radicale import RadicaleServer

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)
AUTH = ("cabinet", "secret")  # Radicale runs with auth type none: any password, the user owns /cabinet/
PAT = PatientIdentity("Durand", "Paul", dt.date(1970, 5, 6), "0611223344")
OTHER = PatientIdentity("Roux", "Anne", dt.date(1988, 2, 9))


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TZ)


def consult(pid: str, start: dt.datetime) -> Slot:
    return Slot(pid, "consultation", start, start + dt.timedelta(minutes=20))


def _agenda(server: RadicaleServer, db: Database, config: Config) -> CalDavAgenda:
    client = CalDavClient(server.url, auth=AUTH)
    calendars = {p.id: f"/cabinet/{p.id}/" for p in config.practice.practitioners}
    return CalDavAgenda(config.practice, client, calendars, db)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'agenda.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def agenda(radicale_server: RadicaleServer, db: Database, demo_config: Config) -> CalDavAgenda:
    a = _agenda(radicale_server, db, demo_config)
    a.ensure_calendars()
    return a


def foreign_event(server: RadicaleServer, pid: str, name: str, start: str, end: str, extra: str = "") -> str:
    """What a secretary's calendar app writes: local time with TZID, maybe a recurrence."""
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Secretariat//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:{name}\r\nDTSTAMP:20260301T080000Z\r\nDTSTART;TZID=Europe/Paris:{start}\r\n"
        f"DTEND;TZID=Europe/Paris:{end}\r\nSUMMARY:Réunion\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    url = f"{server.url}cabinet/{pid}/{name}.ics"
    r = requests.put(url, data=body.encode(), auth=AUTH, headers={"Content-Type": "text/calendar"}, timeout=5)
    assert r.status_code in (201, 204), r.text
    return url


def test_book_is_visible_to_other_clients_and_blocks_the_slot(
    agenda: CalDavAgenda, radicale_server: RadicaleServer
) -> None:
    offered = agenda.find_slots(SlotQuery(practitioner_id="martin"), NOW)
    assert offered[0].start == at(2, 10, 10)
    appt = agenda.book(offered[0], PAT, Source.PHONE, NOW)
    raw = requests.get(f"{radicale_server.url}cabinet/martin/{appt.id}.ics", auth=AUTH, timeout=5)
    assert raw.status_code == 200 and "DURAND Paul" in raw.text and "DTSTART:20260302T091000Z" in raw.text
    assert agenda.find_slots(SlotQuery(practitioner_id="martin"), NOW)[0].start == at(2, 10, 30)
    assert agenda.get(appt.id) == appt
    assert [a.id for a in agenda.upcoming(appt.patient.id, NOW)] == [appt.id]
    assert agenda.find_patient(PatientIdentity("du rand", "paul", dt.date(1970, 5, 6))) is not None
    with pytest.raises(SlotTakenWithAlternatives) as err:
        agenda.book(offered[0], OTHER, Source.PHONE, NOW)
    assert err.value.alternatives and offered[0] not in err.value.alternatives


def test_foreign_and_recurring_events_are_busy(agenda: CalDavAgenda, radicale_server: RadicaleServer) -> None:
    foreign_event(radicale_server, "benali", "reunion", "20260303T083000", "20260303T123000")
    foreign_event(
        radicale_server,
        "benali",
        "staff",
        "20260302T140000",
        "20260302T190000",
        "RRULE:FREQ=DAILY;COUNT=5\r\n",
    )
    slots = agenda.find_slots(SlotQuery(practitioner_id="benali", earliest=at(3, 0), latest=at(4, 0)), NOW)
    assert slots == []  # morning meeting, afternoons taken by the daily recurrence
    slots = agenda.find_slots(SlotQuery(practitioner_id="benali", earliest=at(4, 0), latest=at(5, 0)), NOW)
    assert slots and all(s.start.hour < 12 for s in slots)


def test_conflict_made_by_another_client_between_offer_and_booking(
    agenda: CalDavAgenda, radicale_server: RadicaleServer
) -> None:
    offered = agenda.find_slots(SlotQuery(practitioner_id="lefevre", appointment_type="pediatrie"), NOW)[0]
    local = offered.start.astimezone(TZ)
    foreign_event(
        radicale_server,
        "lefevre",
        "urgence",
        local.strftime("%Y%m%dT%H%M00"),
        (local + dt.timedelta(minutes=15)).strftime("%Y%m%dT%H%M00"),
    )
    with pytest.raises(SlotTakenWithAlternatives) as err:
        agenda.book(offered, PAT, Source.PHONE, NOW)
    assert err.value.alternatives and all(
        a.start >= local + dt.timedelta(minutes=15) for a in err.value.alternatives
    )
    # Nothing of ours was left behind.
    events = agenda.client.query(agenda.calendars["lefevre"], at(2, 0), at(3, 0))
    assert [e.uid for r in events for e in r.events] == ["urgence"]


def test_conflict_detected_after_write_is_withdrawn(
    agenda: CalDavAgenda, radicale_server: RadicaleServer
) -> None:
    """Another client writes between our check and our PUT: the post-write read withdraws our event."""
    slot = consult("martin", at(3, 9))

    def intrude(step: str) -> None:
        if step == "begin":
            foreign_event(radicale_server, "martin", "intrus", "20260303T090000", "20260303T091000")

    agenda.step_hook = intrude
    with pytest.raises(SlotTaken):
        agenda.book(slot, PAT, Source.PHONE, NOW)
    events = agenda.client.query(agenda.calendars["martin"], at(3, 0), at(4, 0))
    assert [e.uid for r in events for e in r.events] == ["intrus"]


def test_two_assistants_race_for_one_slot(
    radicale_server: RadicaleServer, db: Database, demo_config: Config
) -> None:
    nodes = [_agenda(radicale_server, db, demo_config) for _ in range(2)]
    nodes[0].ensure_calendars()
    slot = consult("benali", at(4, 11))
    barrier = threading.Barrier(10)
    results: list[object] = []

    def attempt(i: int) -> None:
        barrier.wait(10)
        try:
            results.append(
                nodes[i % 2].book(slot, PatientIdentity(f"P{i}", "X", dt.date(1990, 1, 1)), Source.PHONE, NOW)
            )
        except SlotTaken as err:
            results.append(err)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [r for r in results if not isinstance(r, SlotTaken)]
    assert len(results) == 10 and len(wins) <= 1
    events = nodes[0].client.query(nodes[0].calendars["benali"], slot.start, slot.end)
    kept = [e for r in events for e in r.events if e.status != "CANCELLED"]
    assert len(kept) == len(wins)  # never two bookings of one slot


def test_hold_then_book_and_expiry(
    agenda: CalDavAgenda, radicale_server: RadicaleServer, db: Database, demo_config: Config
) -> None:
    other_node = _agenda(radicale_server, db, demo_config)
    slot = consult("martin", at(5, 15))
    hold = agenda.hold(slot, "call-A", NOW)
    with pytest.raises(SlotTaken):
        other_node.hold(slot, "call-B", NOW)
    assert slot not in other_node.find_slots(SlotQuery(practitioner_id="martin", earliest=at(5, 15)), NOW)
    appt = agenda.book(slot, PAT, Source.PHONE, NOW, hold_id=hold.id)
    assert appt.start == slot.start
    events = agenda.client.query(agenda.calendars["martin"], slot.start, slot.end)
    assert [e.uid for r in events for e in r.events] == [appt.id]  # the hold is gone
    # A hold nobody confirmed lapses and another caller takes the slot.
    slot2 = consult("martin", at(5, 16))
    agenda.hold(slot2, "call-C", NOW)
    later = NOW + dt.timedelta(seconds=demo_config.practice.booking.hold_seconds + 5)
    assert other_node.hold(slot2, "call-D", later).slot == slot2


def test_move_and_cancel(agenda: CalDavAgenda, radicale_server: RadicaleServer) -> None:
    events_seen: list[str] = []

    class Rec:
        def on_appointment_changed(self, event: str, appointment: object) -> None:
            events_seen.append(event)

    agenda.add_listener(Rec())  # type: ignore[arg-type]
    appt = agenda.book(consult("martin", at(3, 9)), PAT, Source.PHONE, NOW)
    moved = agenda.move(appt.id, consult("martin", at(3, 9, 10)), Source.PHONE, NOW)  # overlaps itself
    assert moved.id == appt.id and agenda.get(appt.id).start == at(3, 9, 10)
    # Onto a time another client took: refused, the original stays.
    foreign_event(radicale_server, "martin", "visite", "20260303T140000", "20260303T150000")
    with pytest.raises(SlotTakenWithAlternatives):
        agenda.move(appt.id, consult("martin", at(3, 14, 20)), Source.PHONE, NOW)
    assert agenda.get(appt.id).start == at(3, 9, 10)
    # To another practitioner: same id, new calendar.
    moved = agenda.move(appt.id, consult("benali", at(4, 10)), Source.PHONE, NOW)
    got = agenda.get(appt.id)
    assert (got.practitioner_id, got.start) == ("benali", at(4, 10))
    old = requests.get(f"{radicale_server.url}cabinet/martin/{appt.id}.ics", auth=AUTH, timeout=5)
    assert old.status_code == 404
    assert consult("martin", at(3, 9, 10)) in agenda.find_slots(
        SlotQuery(practitioner_id="martin", earliest=at(3, 8), latest=at(3, 10), limit=10), NOW
    )
    # Cancel: the event stays for the staff, marked cancelled, and the time is free again.
    cancelled = agenda.cancel(appt.id, Source.PHONE, NOW)
    assert cancelled.status == AppointmentStatus.CANCELLED
    assert agenda.cancel(appt.id, Source.PHONE, NOW).status == AppointmentStatus.CANCELLED
    again = agenda.book(consult("benali", at(4, 10)), OTHER, Source.PHONE, NOW)
    assert again.id != appt.id
    assert events_seen == ["booked", "moved", "moved", "cancelled", "booked"]


def test_move_refused_when_event_changed_meanwhile(
    agenda: CalDavAgenda, radicale_server: RadicaleServer
) -> None:
    appt = agenda.book(consult("martin", at(3, 9)), PAT, Source.PHONE, NOW)

    def staff_edit(step: str) -> None:
        if step == "held":
            url = f"{radicale_server.url}cabinet/martin/{appt.id}.ics"
            text = requests.get(url, auth=AUTH, timeout=5).text.replace("SUMMARY:", "SUMMARY:(vu) ")
            requests.put(
                url, data=text.encode(), auth=AUTH, timeout=5, headers={"Content-Type": "text/calendar"}
            )

    agenda.step_hook = staff_edit
    with pytest.raises(SlotTaken, match="modifié"):  # 412 on If-Match
        agenda.move(appt.id, consult("martin", at(3, 11)), Source.PHONE, NOW)
    agenda.step_hook = None
    assert agenda.get(appt.id).start == at(3, 9)
    events = agenda.client.query(agenda.calendars["martin"], at(3, 11), at(3, 11, 20))
    assert events == []  # the hold on the new slot was released
    assert agenda.confirm(appt.id, Source.REMINDER_CALL, NOW).status == AppointmentStatus.CONFIRMED


def test_dead_server_is_a_clear_error(demo_config: Config, db: Database) -> None:
    client = CalDavClient("http://127.0.0.1:9/", auth=AUTH, timeout=1)
    agenda = CalDavAgenda(
        demo_config.practice, client, {p.id: f"/x/{p.id}/" for p in demo_config.practice.practitioners}, db
    )
    with pytest.raises(CalDavError, match="injoignable"):
        agenda.find_slots(SlotQuery(), NOW)


def test_factory_builds_caldav_from_config(
    radicale_server: RadicaleServer, db: Database, demo_config: Config, tmp_path: Path
) -> None:
    from standardiste.agenda.factory import build_agenda
    from standardiste.config import ConfigError, parse_config

    secret = tmp_path / "caldav.pw"
    secret.write_text("secret\n")
    data = demo_config.model_dump(mode="json")
    data["deployment"]["caldav"] = {
        "url": radicale_server.url,
        "username": "cabinet",
        "password_file": str(secret),
        "calendars": {p.id: f"/cabinet/{p.id}/" for p in demo_config.practice.practitioners},
    }
    agenda, _inbox = build_agenda(db, parse_config(data))
    assert isinstance(agenda, CalDavAgenda)
    agenda.ensure_calendars()
    assert agenda.find_slots(SlotQuery(), NOW)
    data["deployment"]["caldav"]["calendars"] = {"martin": "/cabinet/martin/"}
    with pytest.raises(ConfigError, match="sans calendrier"):
        build_agenda(db, parse_config(data))
    data["deployment"].pop("caldav")
    from standardiste.agenda.sql import SqlAgenda

    assert isinstance(build_agenda(db, parse_config(data))[0], SqlAgenda)
