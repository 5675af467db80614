import datetime as dt
from zoneinfo import ZoneInfo

from standardiste.hours import opening_status, say_moment

PARIS = ZoneInfo("Europe/Paris")


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def test_open_during_hours(demo_config):
    status = opening_status(demo_config.practice, at(2026, 11, 23, 10, 0))  # a Monday
    assert status.open_now and status.closes_at == at(2026, 11, 23, 12, 30)


def test_lunch_break_then_afternoon(demo_config):
    status = opening_status(demo_config.practice, at(2026, 11, 23, 13, 0))
    assert not status.open_now and status.next_opening == at(2026, 11, 23, 14, 0)


def test_saturday_noon_to_monday(demo_config):
    status = opening_status(demo_config.practice, at(2026, 11, 28, 12, 0))
    assert status.next_opening == at(2026, 11, 30, 8, 30)
    assert say_moment(status.next_opening) == "lundi 30 novembre à 8 h 30"


def test_public_holiday_is_skipped(demo_config):
    # Friday 25 December 2026 is Christmas: the practice next opens on Saturday 26 at 9:00.
    status = opening_status(demo_config.practice, at(2026, 12, 24, 20, 0))
    assert status.next_opening == at(2026, 12, 26, 9, 0)
