"""The small iCalendar reader/writer used by the CalDAV connector, on what other clients write."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from standardiste.agenda.ical import build_event, escape, parse_duration, parse_events, unescape

TZ = ZoneInfo("Europe/Paris")


def test_roundtrip_with_folding_and_escapes() -> None:
    start = dt.datetime(2026, 3, 3, 9, 10, tzinfo=TZ)
    summary = "Consultation - DURAND Paul; note, avec virgule\net retour " + "é" * 60
    text = build_event(
        "u1",
        start,
        start + dt.timedelta(minutes=20),
        summary,
        "CONFIRMED",
        {"X-STANDARDISTE-TYPE": "consultation"},
        start,
    )
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    (ev,) = parse_events(text, TZ)
    assert ev.uid == "u1" and ev.start == start and ev.end == start + dt.timedelta(minutes=20)
    assert ev.props["SUMMARY"] == summary and ev.status == "CONFIRMED"
    assert unescape(escape("a;b,c\\d\ne")) == "a;b,c\\d\ne"


def test_other_clients_forms() -> None:
    text = (
        "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Europe/Paris\nEND:VTIMEZONE\n"
        'BEGIN:VEVENT\nUID:a\nDTSTART;TZID="Europe/Paris":20260303T140000\nDURATION:PT1H30M\n'
        "TRANSP:TRANSPARENT\nBEGIN:VALARM\nTRIGGER:-PT15M\nEND:VALARM\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:b\nDTSTART;VALUE=DATE:20260304\nSTATUS:CANCELLED\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:c\nDTSTART:20260305T080000Z\nDTEND:20260305T090000Z\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:d\nDTSTART:garbage\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:e\nDTSTART;TZID=Windows/Weird:20260306T100000\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    events = {e.uid: e for e in parse_events(text, TZ)}
    assert set(events) == {"a", "b", "c", "e"}  # the unreadable one is skipped, not fatal
    assert events["a"].end - events["a"].start == dt.timedelta(minutes=90) and events["a"].transparent
    assert "TRIGGER" not in events["a"].props
    assert events["b"].end - events["b"].start == dt.timedelta(days=1) and events["b"].status == "CANCELLED"
    assert events["c"].start == dt.datetime(2026, 3, 5, 9, 0, tzinfo=TZ)
    assert events["e"].start.tzinfo is TZ
    assert parse_duration("P1DT2H") == dt.timedelta(days=1, hours=2)
