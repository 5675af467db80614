"""The practice's booking rules, computed from PracticeConfig: opening intervals per practitioner and day
(weekly hours minus closures and French public holidays), appointment types, notice and horizon.

Pure functions and a small immutable class; no database here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from standardiste.agenda.model import InvalidRequest, PartOfDay, Slot, SlotUnavailable
from standardiste.config import ConfigError, PracticeConfig

# Re-exported: the agenda's callers (reminders, hours, CLI) import them from here.
from standardiste.holidays import easter_sunday as easter_sunday
from standardiste.holidays import french_holidays as french_holidays
from standardiste.holidays import holiday_name as holiday_name

UNIT = dt.timedelta(minutes=5)  # must match tables.UNIT_MINUTES

# Start times a caller means by each part of day (local time, [from, to)).
PART_OF_DAY: dict[PartOfDay, tuple[dt.time, dt.time]] = {
    PartOfDay.MORNING: (dt.time(0, 0), dt.time(12, 0)),
    PartOfDay.LATE_MORNING: (dt.time(10, 30), dt.time(12, 30)),
    PartOfDay.NOON: (dt.time(11, 30), dt.time(14, 30)),
    PartOfDay.AFTERNOON: (dt.time(12, 30), dt.time(19, 0)),
    PartOfDay.LATE_AFTERNOON: (dt.time(16, 30), dt.time(19, 30)),
    PartOfDay.EVENING: (dt.time(18, 0), dt.time(23, 59, 59)),
}


def check_practice(practice: PracticeConfig) -> list[str]:
    """Agenda-level problems config.py cannot see; each in French and English."""
    problems: list[str] = []
    unit_min = int(UNIT.total_seconds() // 60)
    try:
        ZoneInfo(practice.timezone)
    except Exception:
        problems.append(f"timezone: fuseau inconnu / unknown timezone {practice.timezone!r}")
    for p in practice.practitioners:
        hours = practice.hours_for(p.id)
        for weekday in range(7):
            for r in hours.for_weekday(weekday):
                for t in (r.start, r.end):
                    if t.minute % unit_min or t.second:
                        problems.append(
                            f"hours ({p.id}): {r} n'est pas sur une grille de {unit_min} minutes / "
                            f"not on a {unit_min}-minute grid"
                        )
    for kind in practice.appointment_types:
        if kind.minutes % unit_min:
            problems.append(
                f"appointment_types.{kind.id}: durée non multiple de {unit_min} minutes / "
                f"duration not a multiple of {unit_min} minutes"
            )
        performers = performers_of(practice, kind.id)
        if not performers:
            problems.append(f"appointment_types.{kind.id}: aucun praticien / no practitioner performs it")
        for pid in performers:
            hours = practice.hours_for(pid)
            longest = max(
                (
                    _minutes(r.end) - _minutes(r.start)
                    for weekday in range(7)
                    for r in hours.for_weekday(weekday)
                ),
                default=0,
            )
            if longest == 0:
                problems.append(f"hours ({pid}): aucune plage d'ouverture / no opening hours at all")
            elif kind.minutes > longest:
                problems.append(
                    f"appointment_types.{kind.id}: {kind.minutes} min dépasse la plus longue plage de {pid} "
                    f"({longest} min) / longer than any opening range of {pid}"
                )
    return problems


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def performers_of(practice: PracticeConfig, type_id: str) -> list[str]:
    for kind in practice.appointment_types:
        if kind.id == type_id:
            if kind.practitioners == "all":
                return [p.id for p in practice.practitioners]
            return list(kind.practitioners)
    return []


@dataclass(frozen=True, slots=True)
class Interval:
    start: dt.datetime
    end: dt.datetime


class PracticeRules:
    """Opening intervals and slot validation for one practice configuration."""

    def __init__(self, practice: PracticeConfig) -> None:
        problems = check_practice(practice)
        if problems:
            raise ConfigError(
                "configuration d'agenda invalide / invalid agenda configuration:\n  - "
                + "\n  - ".join(problems)
            )
        self.practice = practice
        self.tz = ZoneInfo(practice.timezone)
        self.types = {t.id: t for t in practice.appointment_types}
        self.practitioner_ids = [p.id for p in practice.practitioners]
        self._open_cache: dict[tuple[str, dt.date], tuple[Interval, ...]] = {}

    # --- references -------------------------------------------------------------------------

    def type_minutes(self, type_id: str) -> int:
        return self.types[type_id].minutes

    def resolve_type(self, type_id: str | None) -> str:
        type_id = type_id or self.practice.booking.default_type
        if type_id not in self.types:
            raise InvalidRequest(f"type de rendez-vous inconnu / unknown appointment type {type_id!r}")
        return type_id

    def check_practitioner(self, practitioner_id: str) -> None:
        if practitioner_id not in self.practitioner_ids:
            raise InvalidRequest(f"praticien inconnu / unknown practitioner {practitioner_id!r}")

    def performers(self, type_id: str, practitioner_id: str | None) -> list[str]:
        allowed = performers_of(self.practice, type_id)
        if practitioner_id is None:
            return allowed
        self.check_practitioner(practitioner_id)
        if practitioner_id not in allowed:
            raise InvalidRequest(
                f"{practitioner_id} ne fait pas ce type de rendez-vous / does not perform {type_id!r}"
            )
        return [practitioner_id]

    # --- calendar -----------------------------------------------------------------------------

    def closed_reason(self, practitioner_id: str, day: dt.date) -> str | None:
        name = holiday_name(day)
        if name:
            return f"jour férié ({name})"
        for c in self.practice.closures:
            if c.start <= day <= c.end and (c.practitioner is None or c.practitioner == practitioner_id):
                return c.label
        return None

    def open_intervals(self, practitioner_id: str, day: dt.date) -> tuple[Interval, ...]:
        """Opening intervals of a practitioner on a local date (aware datetimes), empty when closed."""
        key = (practitioner_id, day)
        cached = self._open_cache.get(key)
        if cached is not None:
            return cached
        if self.closed_reason(practitioner_id, day):
            result: tuple[Interval, ...] = ()
        else:
            hours = self.practice.hours_for(practitioner_id)
            result = tuple(
                Interval(
                    dt.datetime.combine(day, r.start, self.tz),
                    dt.datetime.combine(day, r.end, self.tz),
                )
                for r in hours.for_weekday(day.weekday())
            )
        if len(self._open_cache) > 20000:
            self._open_cache.clear()
        self._open_cache[key] = result
        return result

    def earliest_start(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(minutes=self.practice.booking.min_notice_minutes)

    def horizon_end(self, now: dt.datetime) -> dt.datetime:
        last_day = now.astimezone(self.tz).date() + dt.timedelta(days=self.practice.booking.horizon_days)
        return dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), self.tz)

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    # --- validation ---------------------------------------------------------------------------

    def check_slot(self, slot: Slot, now: dt.datetime) -> None:
        """Raises InvalidRequest or SlotUnavailable when a slot cannot be booked (ignoring occupancy)."""
        if slot.start.tzinfo is None or slot.end.tzinfo is None:
            raise InvalidRequest("heure sans fuseau horaire / naive datetime in slot")
        self.check_practitioner(slot.practitioner_id)
        type_id = self.resolve_type(slot.appointment_type)
        self.performers(type_id, slot.practitioner_id)
        if slot.end - slot.start != dt.timedelta(minutes=self.type_minutes(type_id)):
            raise SlotUnavailable(f"durée incorrecte pour {type_id} / wrong length: {slot.end - slot.start}")
        if slot.start < now:
            raise InvalidRequest("date dans le passé / date in the past")
        if slot.start < self.earliest_start(now):
            raise SlotUnavailable("délai de prévenance non respecté / less than the minimum notice")
        if slot.start >= self.horizon_end(now):
            raise SlotUnavailable("au-delà de la période de réservation / beyond the booking horizon")
        utc = slot.start.astimezone(dt.UTC)
        if (utc.minute * 60 + utc.second) % int(UNIT.total_seconds()) or utc.microsecond:
            raise SlotUnavailable("heure hors grille de 5 minutes / start not on the 5-minute grid")
        local_start = self.local(slot.start)
        day = local_start.date()
        reason = self.closed_reason(slot.practitioner_id, day)
        if reason:
            raise SlotUnavailable(f"cabinet fermé le {day:%d/%m/%Y} ({reason}) / closed")
        opening = self.open_intervals(slot.practitioner_id, day)
        if not any(i.start <= slot.start and slot.end <= i.end for i in opening):
            raise SlotUnavailable("en dehors des heures d'ouverture / outside opening hours")


def units(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The 5-minute grid units covered by [start, end), in UTC, ascending."""
    out = []
    t = start.astimezone(dt.UTC)
    stop = end.astimezone(dt.UTC)
    while t < stop:
        out.append(t)
        t += UNIT
    return out


def days_between(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def local_datetime(
    tz: dt.tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> dt.datetime:
    """A local datetime from spoken parts; InvalidRequest (not ValueError) for '31 février' or '25h'."""
    try:
        return dt.datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:
        raise InvalidRequest(
            f"date impossible / impossible date: {day:02d}/{month:02d}/{year} {hour:02d}:{minute:02d}"
        ) from None
