"""The call flows at many pinned moments: each weekday, a public holiday and its eve, New Year's Eve,
both DST changes (Europe/Paris), before opening, at lunch and after closing.

Scripted calls (tests/data/scripted_calls.jsonl) whose words do not name a day are replayed through
the simulator at each moment, their seeded appointments moved to the next open day after it; calls
that name a weekday or "demain" are generated for the moment. Each outcome is checked against rules
that hold on any day (the expected kind, and: a booked time is in the future with the notice, inside
the opening hours, never on a holiday nor a closed day, said back with its weekday and date, with
the right UTC offset across DST), so a failure here names a moment where the product goes wrong.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from standardiste.config import Config, PracticeConfig
from standardiste.dialogue import prompts
from standardiste.dialogue.simulation import Simulator
from standardiste.holidays import holiday_name
from standardiste.hours import opening_status
from tests.fixtures.clock import PARIS

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

MOMENTS: dict[str, dt.datetime] = {
    "monday": dt.datetime(2026, 12, 7, 10, 0, tzinfo=PARIS),
    "tuesday": dt.datetime(2026, 12, 8, 10, 0, tzinfo=PARIS),
    "wednesday": dt.datetime(2026, 12, 9, 10, 0, tzinfo=PARIS),
    "thursday": dt.datetime(2026, 12, 10, 10, 0, tzinfo=PARIS),
    "friday": dt.datetime(2026, 12, 11, 16, 0, tzinfo=PARIS),
    "saturday": dt.datetime(2026, 12, 12, 10, 0, tzinfo=PARIS),
    "sunday": dt.datetime(2026, 12, 13, 11, 0, tzinfo=PARIS),
    "christmas-eve": dt.datetime(2026, 12, 24, 10, 0, tzinfo=PARIS),
    "christmas": dt.datetime(2026, 12, 25, 10, 0, tzinfo=PARIS),
    "new-years-eve": dt.datetime(2026, 12, 31, 17, 0, tzinfo=PARIS),
    "new-years-eve-midnight": dt.datetime(2026, 12, 31, 23, 55, tzinfo=PARIS),
    "dst-spring-eve": dt.datetime(2027, 3, 27, 11, 0, tzinfo=PARIS),
    "dst-spring-night": dt.datetime(2027, 3, 28, 3, 30, tzinfo=PARIS),  # 02:00 became 03:00
    "dst-autumn-first-0230": dt.datetime(2027, 10, 31, 2, 30, tzinfo=PARIS),  # summer time
    "dst-autumn-second-0230": dt.datetime(2027, 10, 31, 2, 30, fold=1, tzinfo=PARIS),  # winter time
    "dst-autumn-eve": dt.datetime(2027, 10, 30, 11, 30, tzinfo=PARIS),
    "before-opening": dt.datetime(2026, 12, 8, 7, 0, tzinfo=PARIS),
    "lunch": dt.datetime(2026, 12, 8, 13, 0, tzinfo=PARIS),
    "after-closing": dt.datetime(2026, 12, 8, 20, 30, tzinfo=PARIS),
}

# Scripted calls whose words name no day: their meaning does not change with the date.
REPLAYED = (
    "book-any-doctor-asap",
    "book-keypad-menu",
    "book-child-pediatrician",
    "grammar-book-keypad",
    "cancel-keypad-menu",
    "cancel-two-appointments-pick",
    "move-keypad",
    "confirm-keypad",
    "reminder-confirm-key",
    "reminder-move-key",
    "faq-hours-key",
    "request-keypad",
    "emergency-chest",
    "reception-closed-leaves-message",
)
SCRIPTS = {
    c["id"]: c
    for c in (
        json.loads(line)
        for line in (Path(__file__).parent.parent / "data" / "scripted_calls.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip()
    )
}


def open_day_after(practice: PracticeConfig, day: dt.date, skip: int = 0) -> dt.date:
    """The first day after `day` (then `skip` more) when the practice is open."""
    found = -1
    while True:
        day += dt.timedelta(days=1)
        if practice.hours.for_weekday(day.weekday()) and not holiday_name(day):
            found += 1
            if found == skip:
                return day


def rebased(spec: dict[str, Any], practice: PracticeConfig, now: dt.datetime) -> dict[str, Any]:
    """The script at `now`: seeded appointments on the next open days (at an open hour)."""
    spec = copy.deepcopy(spec)
    spec["now"] = now.isoformat()
    setup = spec.get("setup") or {}
    day = now.date() + dt.timedelta(days=1)  # the day after tomorrow at the earliest
    for a in setup.get("appointments", []):
        day = open_day_after(practice, day)
        first = practice.hours.for_weekday(day.weekday())[0]
        start = dt.datetime.combine(day, first.start, PARIS) + dt.timedelta(minutes=30)
        a["start"] = start.replace(tzinfo=None).isoformat()
    # Date-specific expectations are checked by rule, below; so is an emergency's transfer (a human
    # only while the practice is open).
    dated = ("start", "previous_start", "transferred")
    spec["expect"] = {k: v for k, v in spec["expect"].items() if k not in dated}
    return spec


def generated(now: dt.datetime) -> list[dict[str, Any]]:
    """Calls naming a day relative to `now`."""
    tail = ["le premier", "dupont marie", "#15031985", "oui", "oui", "non"]
    today = WEEKDAYS[now.weekday()]
    after = WEEKDAYS[(now.weekday() + 2) % 7]
    return [
        {
            "id": "book-same-weekday",
            "turns": [f"je voudrais un rendez-vous avec le docteur benali {today}", *tail],
        },
        {
            "id": "book-weekday-after",
            "turns": [f"je voudrais un rendez-vous avec le docteur benali {after}", *tail],
        },
        {"id": "book-tomorrow", "turns": ["je voudrais un rendez-vous avec le docteur benali demain", *tail]},
        {"id": "book-today", "turns": ["je voudrais voir le docteur benali aujourd'hui", *tail]},
    ]


def spoken(result: Any) -> str:
    return "\n".join(d["text"] for d in result.dialogue if d["speaker"] == "assistant")


def check_booked_time(practice: PracticeConfig, now: dt.datetime, start: dt.datetime, said: str) -> None:
    local = start.astimezone(PARIS)
    assert local.utcoffset() == start.utcoffset(), f"{start}: not the Paris offset of that day"
    notice = dt.timedelta(minutes=practice.booking.min_notice_minutes)
    assert start >= now + notice, f"{start}: in the past or inside the notice ({now})"
    assert start <= now + dt.timedelta(days=practice.booking.horizon_days + 1), f"{start}: past the horizon"
    assert not holiday_name(local.date()), f"{start}: a public holiday ({holiday_name(local.date())})"
    ranges = practice.hours.for_weekday(local.weekday())
    assert any(r.start <= local.time() < r.end for r in ranges), f"{start}: outside the opening hours"
    # Said back with its weekday and date (or as today, the same day).
    day = prompts.date_fr(local.date())
    assert day in said or (local.date() == now.date() and "aujourd'hui" in said), f"{day!r} never said"


CASES = [(m, c) for m in MOMENTS for c in (*REPLAYED, "generated")]


@pytest.fixture(scope="module")
def sweep_simulator(demo_config: Config, understander, tmp_path_factory):  # type: ignore[no-untyped-def]
    with Simulator(
        demo_config.practice, understander, now=MOMENTS["monday"], workdir=tmp_path_factory.mktemp("sweep")
    ) as sim:
        yield sim


@pytest.mark.parametrize(("moment", "call"), CASES, ids=[f"{m}-{c}" for m, c in CASES])
def test_call_flow_at_moment(sweep_simulator: Simulator, demo_config: Config, moment: str, call: str) -> None:
    practice = demo_config.practice
    now = MOMENTS[moment]
    specs = generated(now) if call == "generated" else [rebased(SCRIPTS[call], practice, now)]
    for spec in specs:
        spec.setdefault("caller_id", "+33612345678")
        spec["now"] = now.isoformat()
        result = sweep_simulator.run(spec, with_state=True)
        said = spoken(result)
        context = f"{spec['id']} at {now.isoformat()}:\n" + "\n".join(
            f"  {d['speaker']}: {d['text']}" for d in result.dialogue
        )
        assert result.dialogue and result.dialogue[0]["speaker"] == "assistant", context
        outcome = result.outcome
        kind = outcome.get("kind")
        expected = (spec.get("expect") or {}).get("kind")
        if expected is not None:
            assert not result.mismatches, f"{result.mismatches}\n{context}"
        if kind in ("booked", "rescheduled"):
            start = dt.datetime.fromisoformat(outcome["start"])
            check_booked_time(practice, now, start, said)
        # The generated calls: what the day words mean at this moment.
        if spec["id"] in ("book-same-weekday", "book-weekday-after", "book-tomorrow"):
            days = {"book-same-weekday": 7, "book-weekday-after": 2, "book-tomorrow": 1}[spec["id"]]
            wanted = now.date() + dt.timedelta(days=days)
            bookable = bool(practice.hours.for_weekday(wanted.weekday())) and not holiday_name(wanted)
            if bookable:
                assert kind == "booked", context
                assert dt.datetime.fromisoformat(outcome["start"]).astimezone(PARIS).date() == wanted, context
            elif kind == "booked":
                # A closed day: something else was offered and taken, never that day.
                assert dt.datetime.fromisoformat(outcome["start"]).astimezone(PARIS).date() != wanted, context
        if spec["id"] == "book-today" and kind == "booked":
            status = opening_status(practice, now)
            start = dt.datetime.fromisoformat(outcome["start"]).astimezone(PARIS)
            if start.date() == now.date():
                assert status.open_now or (status.next_opening and status.next_opening.date() == now.date())
        if spec["id"].startswith("faq-hours"):
            assert kind == "answered", context
        if kind == "emergency_transferred":
            if opening_status(practice, now).open_now:
                assert outcome.get("transferred") is True, context
            if not outcome.get("transferred"):
                assert "composez le 15" in said, context
