"""When to call: pure functions over the practice's ReminderPolicy and its call windows.

Times are aware datetimes; windows are read in the practice's timezone. A call may START between
`window_start` and `window_end - LAST_START_MARGIN`, on allowed days (not Sunday, not a public
holiday, Saturday only when `call_on_saturday`). A reminder that falls outside is moved to the
PREVIOUS allowed moment (the patient must hear it before the appointment); retries and follow-up
calls go to the NEXT allowed moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from standardiste.config import ReminderPolicy

# A call started just before window_end would ring on after it.
LAST_START_MARGIN = dt.timedelta(minutes=5)
# How far to search for an allowed day (covers long holiday stretches).
MAX_SEARCH_DAYS = 31
# No retry in the last hour before the appointment: the patient is on their way.
RETRY_CUTOFF_BEFORE_APPOINTMENT = dt.timedelta(hours=1)
# Follow-up calls: the day after the consultation, then retries for a few days at most.
FOLLOW_UP_DELAY = dt.timedelta(hours=24)
FOLLOW_UP_GIVE_UP_AFTER = dt.timedelta(days=4)

HolidayCheck = Callable[[dt.date], bool]


def no_holidays(_day: dt.date) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class CallWindows:
    policy: ReminderPolicy
    tz: ZoneInfo
    is_holiday: HolidayCheck = no_holidays

    @property
    def first_start(self) -> dt.time:
        return self.policy.window_start

    @property
    def last_start(self) -> dt.time:
        end = dt.datetime.combine(dt.date(2000, 1, 1), self.policy.window_end) - LAST_START_MARGIN
        return max(end.time(), self.policy.window_start)

    def day_allowed(self, day: dt.date) -> bool:
        weekday = day.weekday()
        if weekday == 6:
            return False
        if weekday == 5 and not self.policy.call_on_saturday:
            return False
        return not self.is_holiday(day)

    def contains(self, moment: dt.datetime) -> bool:
        local = moment.astimezone(self.tz)
        return self.day_allowed(local.date()) and self.first_start <= local.time() <= self.last_start

    def _at(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=self.tz)

    def latest_at_or_before(self, moment: dt.datetime) -> dt.datetime | None:
        """The last allowed start at or before `moment`; the same time of day on an earlier day if it fits."""
        local = moment.astimezone(self.tz)
        t = local.time().replace(tzinfo=None)
        day = local.date()
        if self.day_allowed(day):
            if self.first_start <= t <= self.last_start:
                return local
            if t > self.last_start:
                return self._at(day, self.last_start)
        for _ in range(MAX_SEARCH_DAYS):
            day -= dt.timedelta(days=1)
            if self.day_allowed(day):
                keep = self.first_start <= t <= self.last_start
                return self._at(day, t if keep else self.last_start)
        return None

    def earliest_at_or_after(self, moment: dt.datetime) -> dt.datetime | None:
        local = moment.astimezone(self.tz)
        t = local.time().replace(tzinfo=None)
        day = local.date()
        if self.day_allowed(day):
            if self.first_start <= t <= self.last_start:
                return local
            if t < self.first_start:
                return self._at(day, self.first_start)
        for _ in range(MAX_SEARCH_DAYS):
            day += dt.timedelta(days=1)
            if self.day_allowed(day):
                return self._at(day, self.first_start)
        return None


def nominal_reminder_time(start: dt.datetime, policy: ReminderPolicy, tz: ZoneInfo) -> dt.datetime:
    """The policy's time before windows are applied: J-1 at `at`, or `hours_before` hours before."""
    if policy.mode == "day_before_at":
        day_before = start.astimezone(tz).date() - dt.timedelta(days=1)
        return dt.datetime.combine(day_before, policy.at, tzinfo=tz)
    return start - dt.timedelta(hours=policy.hours_before)


def reminder_time(start: dt.datetime, now: dt.datetime, windows: CallWindows) -> dt.datetime | None:
    """When to call about an appointment starting at `start`; None: no reminder call.

    None when reminders are off, when no allowed moment exists before the appointment, or when
    that moment is already past (booked or moved after it: the patient has just dealt with us).
    """
    policy = windows.policy
    if not policy.enabled or start <= now:
        return None
    planned = windows.latest_at_or_before(nominal_reminder_time(start, policy, windows.tz))
    if planned is None or planned < now or planned >= start:
        return None
    return planned


def retry_time(
    now: dt.datetime, start: dt.datetime, attempt: int, windows: CallWindows
) -> dt.datetime | None:
    """After failed attempt number `attempt` (0 = the first call): when to try again, or None."""
    policy = windows.policy
    if attempt >= policy.retries:
        return None
    planned = windows.earliest_at_or_after(now + dt.timedelta(minutes=policy.retry_delay_minutes))
    if planned is None or planned > start - RETRY_CUTOFF_BEFORE_APPOINTMENT:
        return None
    return planned


def follow_up_time(end: dt.datetime, now: dt.datetime, windows: CallWindows) -> dt.datetime | None:
    """The follow-up call after a consultation ending at `end`: the next allowed moment a day later."""
    planned = windows.earliest_at_or_after(max(end + FOLLOW_UP_DELAY, now))
    if planned is None or planned > end + FOLLOW_UP_GIVE_UP_AFTER:
        return None
    return planned


def follow_up_retry_time(
    now: dt.datetime, end: dt.datetime, attempt: int, windows: CallWindows
) -> dt.datetime | None:
    policy = windows.policy
    if attempt >= policy.retries:
        return None
    planned = windows.earliest_at_or_after(now + dt.timedelta(minutes=policy.retry_delay_minutes))
    if planned is None or planned > end + FOLLOW_UP_GIVE_UP_AFTER:
        return None
    return planned
