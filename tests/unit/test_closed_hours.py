"""Opening hours as the dialplan sees them (pbx/closed_hours.py): for callers the assistant cannot
take, Asterisk sends them to the message box while OPEN_UNTIL <= now < CLOSED_UNTIL. Checked against
hours.opening_status over a whole week of the demo practice, holidays and lunch breaks included.
(The real-Asterisk side: tests/integration/test_failover.py::test_closed_practice_*.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from standardiste.config import Config
from standardiste.hours import opening_status
from standardiste.pbx.closed_hours import ClosedHours, closed_hours, on_asterisk_clock

PARIS = ZoneInfo("Europe/Paris")
MONDAY_10H = dt.datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)


def test_open_now_gives_the_end_of_the_period_and_the_next_opening(demo_config: Config) -> None:
    hours = closed_hours(demo_config.practice, MONDAY_10H)
    assert hours.open_until == int(dt.datetime(2026, 12, 7, 12, 30, tzinfo=PARIS).timestamp())
    assert hours.closed_until == int(dt.datetime(2026, 12, 7, 14, 0, tzinfo=PARIS).timestamp())
    assert not hours.closed_at(int(MONDAY_10H.timestamp()))


def test_closed_now_gives_zero_and_the_next_opening(demo_config: Config) -> None:
    sunday = dt.datetime(2026, 12, 6, 11, 0, tzinfo=PARIS)
    hours = closed_hours(demo_config.practice, sunday)
    assert hours == ClosedHours(0, int(dt.datetime(2026, 12, 7, 8, 30, tzinfo=PARIS).timestamp()))
    assert hours.closed_at(int(sunday.timestamp()))


def test_what_the_dialplan_decides_matches_the_opening_hours_all_week(demo_config: Config) -> None:
    """Values published at any quarter hour stay right until CLOSED_UNTIL (the controller may die
    right after publishing): closed exactly when opening_status says closed; after it, reception."""
    practice = demo_config.practice
    start = dt.datetime(2026, 12, 21, 0, 0, tzinfo=PARIS)  # Christmas week: a public holiday inside
    for q in range(0, 7 * 96, 3):
        published = start + dt.timedelta(minutes=15 * q)
        hours = closed_hours(practice, published)
        for later_q in range(0, 96 * 2, 5):
            t = published + dt.timedelta(minutes=15 * later_q)
            if hours.closed_until and t.timestamp() >= hours.closed_until:
                assert not hours.closed_at(int(t.timestamp()))  # stale: the safe side, reception
                break
            assert hours.closed_at(int(t.timestamp())) == (not opening_status(practice, t).open_now), (
                published,
                t,
            )


def test_a_pinned_clock_is_shifted_onto_asterisks(demo_config: Config) -> None:
    hours = ClosedHours(1000, 5000)
    now = dt.datetime.fromtimestamp(900, dt.UTC)
    assert on_asterisk_clock(hours, now, 10_900.2) == ClosedHours(11_000, 15_000)
    assert on_asterisk_clock(ClosedHours(0, 0), now, 10_900) == ClosedHours(0, 0)


def test_the_dialplan_compares_the_same_way() -> None:
    conf = (Path(__file__).resolve().parents[2] / "asterisk" / "extensions.conf").read_text()
    rule = (
        "$[${PRACTICE_OPEN_UNTIL} <= ${EPOCH} & ${EPOCH} < ${PRACTICE_CLOSED_UNTIL}]"
        "?standardiste-transfer,closed,1"
    )
    assert conf.count(rule) == 2  # after Stasis (assistant gone) and on the watchdog
    assert "PRACTICE_OPEN_UNTIL = 0" in conf and "PRACTICE_CLOSED_UNTIL = 0" in conf
