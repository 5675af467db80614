"""Is the practice open now, and when does it next open? (practice-wide hours, closures, holidays)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from standardiste.agenda.rules import holiday_name
from standardiste.config import WEEKDAYS_FR, PracticeConfig

MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@dataclass(frozen=True, slots=True)
class OpeningStatus:
    open_now: bool
    next_opening: dt.datetime | None  # None when open now, or nothing within the search window
    closes_at: dt.datetime | None  # when open now


def _closed_on(practice: PracticeConfig, day: dt.date) -> bool:
    if holiday_name(day):
        return True
    return any(c.practitioner is None and c.start <= day <= c.end for c in practice.closures)


def opening_status(practice: PracticeConfig, now: dt.datetime, search_days: int = 60) -> OpeningStatus:
    tz = ZoneInfo(practice.timezone)
    local = now.astimezone(tz)
    for offset in range(search_days + 1):
        day = local.date() + dt.timedelta(days=offset)
        if _closed_on(practice, day):
            continue
        for r in practice.hours.for_weekday(day.weekday()):
            start = dt.datetime.combine(day, r.start, tz)
            end = dt.datetime.combine(day, r.end, tz)
            if start <= local < end:
                return OpeningStatus(True, None, end)
            if local < start:
                return OpeningStatus(False, start, None)
    return OpeningStatus(False, None, None)


def say_time(moment: dt.time) -> str:
    """14:30 -> "14 h 30", 9:00 -> "9 h", 12:00 -> "midi" (how a secretary says it)."""
    if moment == dt.time(12, 0):
        return "midi"
    return f"{moment.hour} h" + (f" {moment.minute:02d}" if moment.minute else "")


def say_moment(moment: dt.datetime) -> str:
    """ "lundi 24 novembre à 8 h 30"."""
    return (
        f"{WEEKDAYS_FR[moment.weekday()]} {moment.day if moment.day != 1 else '1er'} "
        f"{MONTHS_FR[moment.month - 1]} à {say_time(moment.time())}"
    )
