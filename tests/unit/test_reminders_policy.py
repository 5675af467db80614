"""Reminder times at the edges: windows, Sundays, Saturdays, public holidays, DST, retries, follow-ups."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import Appointment, AppointmentStatus, Patient, Source
from standardiste.config import AppointmentType, Config, ReminderPolicy
from standardiste.reminders.planner import plan
from standardiste.reminders.policy import (
    CallWindows,
    follow_up_retry_time,
    follow_up_time,
    reminder_time,
    retry_time,
)
from standardiste.reminders.service import default_holidays
from standardiste.reminders.store import FOLLOW_UP, REMINDER

TZ = ZoneInfo("Europe/Paris")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=TZ)


def windows(**changes: object) -> CallWindows:
    return CallWindows(ReminderPolicy(**changes), TZ, default_holidays())  # type: ignore[arg-type]


EARLY = at(2026, 1, 5, 8)  # a Monday morning, long before every appointment below


def test_day_before_at_18_on_a_weekday() -> None:
    assert reminder_time(at(2026, 1, 14, 10), EARLY, windows()) == at(2026, 1, 13, 18)


def test_sunday_moves_to_saturday_same_time() -> None:
    # Monday 2026-01-12: J-1 is Sunday.
    assert reminder_time(at(2026, 1, 12, 10), EARLY, windows()) == at(2026, 1, 10, 18)


def test_sunday_moves_to_friday_without_saturday_calls() -> None:
    assert reminder_time(at(2026, 1, 12, 10), EARLY, windows(call_on_saturday=False)) == at(2026, 1, 9, 18)


def test_public_holiday_moves_to_previous_allowed_day() -> None:
    # Tuesday 2026-05-26: J-1 is Whit Monday (holiday), then Sunday: Saturday 23 May.
    assert reminder_time(at(2026, 5, 26, 9), at(2026, 5, 1, 8), windows()) == at(2026, 5, 23, 18)


def test_time_after_window_end_is_clamped_to_last_start() -> None:
    w = windows(at=dt.time(20, 0))
    assert reminder_time(at(2026, 1, 14, 10), EARLY, w) == at(2026, 1, 13, 19, 25)


def test_time_at_window_edges() -> None:
    assert reminder_time(at(2026, 1, 14, 10), EARLY, windows(at=dt.time(9, 0))) == at(2026, 1, 13, 9)
    assert reminder_time(at(2026, 1, 14, 10), EARLY, windows(at=dt.time(19, 25))) == at(2026, 1, 13, 19, 25)
    assert reminder_time(at(2026, 1, 14, 10), EARLY, windows(at=dt.time(19, 26))) == at(2026, 1, 13, 19, 25)


def test_before_window_start_goes_to_previous_window() -> None:
    # 24 h before Wednesday 8:30 is Tuesday 8:30, before 9:00: Monday evening's window.
    w = windows(mode="hours_before", hours_before=24)
    assert reminder_time(at(2026, 1, 14, 8, 30), EARLY, w) == at(2026, 1, 12, 19, 25)


def test_hours_before_inside_window() -> None:
    w = windows(mode="hours_before", hours_before=3)
    assert reminder_time(at(2026, 1, 14, 15), EARLY, w) == at(2026, 1, 14, 12)


def test_no_reminder_when_past_disabled_or_no_window() -> None:
    start = at(2026, 1, 14, 10)
    assert reminder_time(start, at(2026, 1, 13, 18, 1), windows()) is None  # booked after J-1 18:00
    assert reminder_time(start, at(2026, 1, 15), windows()) is None  # appointment over
    assert reminder_time(start, EARLY, windows(enabled=False)) is None
    everything_closed = CallWindows(ReminderPolicy(), TZ, lambda _d: True)
    assert reminder_time(start, EARLY, everything_closed) is None


def test_dst_change_keeps_local_time() -> None:
    # Clocks go forward on Sunday 2026-03-29; Saturday is still UTC+1, Monday UTC+2.
    result = reminder_time(at(2026, 3, 30, 10), at(2026, 3, 20), windows())
    assert result == at(2026, 3, 28, 18)
    assert result is not None and result.utcoffset() == dt.timedelta(hours=1)
    assert result.astimezone(dt.UTC).hour == 17


def test_retry_inside_window_then_next_morning_then_cutoff() -> None:
    w = windows()  # 2 retries, 30 minutes
    start = at(2026, 1, 15, 14)
    assert retry_time(at(2026, 1, 13, 18), start, 0, w) == at(2026, 1, 13, 18, 30)
    assert retry_time(at(2026, 1, 13, 19, 10), start, 1, w) == at(2026, 1, 14, 9)
    assert retry_time(at(2026, 1, 13, 18), start, 2, w) is None  # retries used up
    # Appointment at 9:30: next morning's 9:00 is inside the last hour before it.
    assert retry_time(at(2026, 1, 13, 19, 10), at(2026, 1, 14, 9, 30), 0, w) is None


def test_retry_skips_sunday() -> None:
    assert retry_time(at(2026, 1, 10, 19, 10), at(2026, 1, 13, 10), 0, windows()) == at(2026, 1, 12, 9)


def test_follow_up_next_day_inside_windows() -> None:
    w = windows()
    assert follow_up_time(at(2026, 1, 16, 17), EARLY, w) == at(2026, 1, 17, 17)  # Friday -> Saturday
    assert follow_up_time(at(2026, 1, 17, 11), EARLY, w) == at(2026, 1, 19, 9)  # Saturday -> Monday
    assert follow_up_time(at(2026, 1, 14, 19, 28), EARLY, w) == at(2026, 1, 16, 9)  # 19:28 is too late
    assert follow_up_retry_time(at(2026, 1, 19, 9), at(2026, 1, 17, 11), 0, w) == at(2026, 1, 19, 9, 30)


def _appointment(
    kind: str = "consultation", status: AppointmentStatus = AppointmentStatus.BOOKED
) -> Appointment:
    patient = Patient("p1", "Durand", "Marie", dt.date(1980, 2, 3), "+33612345678")
    return Appointment(
        "a1", "martin", patient, kind, at(2026, 1, 14, 10), at(2026, 1, 14, 10, 20), status, Source.PHONE
    )


def test_plan_booked_moved_cancelled_confirmed(demo_config: Config) -> None:
    practice = demo_config.practice.model_copy(
        update={
            "appointment_types": [
                AppointmentType(id="consultation", label="consultation", minutes=20, follow_up_call=True)
            ]
        }
    )
    w = CallWindows(practice.reminders, TZ, default_holidays())
    booked = plan("booked", _appointment(), practice, w, EARLY)
    assert [(s.kind, s.run_at) for s in booked] == [
        (REMINDER, at(2026, 1, 13, 18)),
        (FOLLOW_UP, at(2026, 1, 15, 10, 20)),
    ]
    assert booked[0].job_id == "reminder:a1" and booked[0].phone == "+33612345678"
    cancelled = plan("cancelled", _appointment(status=AppointmentStatus.CANCELLED), practice, w, EARLY)
    assert [(s.kind, s.run_at) for s in cancelled] == [(REMINDER, None), (FOLLOW_UP, None)]
    assert [s.kind for s in plan("confirmed", _appointment(), practice, w, EARLY)] == [FOLLOW_UP]
    # The demo practice has no follow-up types: only the reminder.
    assert [s.kind for s in plan("booked", _appointment(), demo_config.practice, w, EARLY)] == [REMINDER]


@pytest.mark.parametrize("weekday_offset", range(7))
def test_result_always_inside_windows(weekday_offset: int) -> None:
    w = windows(mode="hours_before", hours_before=30)
    for hour in range(0, 24):
        start = at(2026, 2, 2 + weekday_offset, hour)
        result = reminder_time(start, at(2026, 1, 20), w)
        assert result is not None and w.contains(result) and result < start
