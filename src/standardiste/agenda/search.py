"""Slot search: free slots from opening intervals minus busy intervals, then a short, varied choice.

Pure: the caller (SqlAgenda, CalDAV connector) gives the busy intervals of each day window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from standardiste.agenda.model import InvalidRequest, PartOfDay, Slot, SlotQuery, SlotUnavailable
from standardiste.agenda.rules import PART_OF_DAY, UNIT, Interval, PracticeRules, days_between

# Stop scanning once this many candidates are known (enough to choose a varied 2-3).
MAX_CANDIDATES = 60
FIRST_WINDOW_DAYS = 3  # then 6, 12, 24... days per database read

BusyFetcher = Callable[[Sequence[str], dt.datetime, dt.datetime], dict[str, list[Interval]]]


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated query: who, which type, which time window."""

    practitioners: list[str]
    type_id: str
    minutes: int
    start: dt.datetime
    end: dt.datetime
    part_of_day: PartOfDay | None
    limit: int
    asap: bool
    preferred: str | None
    # The caller's own earliest time ("à 10 heures"): packing starts there, not at the range's opening.
    anchor: dt.datetime | None = None


def plan(rules: PracticeRules, query: SlotQuery, now: dt.datetime) -> Plan:
    if now.tzinfo is None:
        raise InvalidRequest("heure sans fuseau horaire / naive 'now'")
    for moment in (query.earliest, query.latest):
        if moment is not None and moment.tzinfo is None:
            raise InvalidRequest("heure sans fuseau horaire / naive datetime in query")
    type_id = rules.resolve_type(query.appointment_type)
    practitioners = rules.performers(type_id, query.practitioner_id)
    if query.latest is not None and query.latest < now:
        raise InvalidRequest("période demandée dans le passé / requested period is in the past")
    if query.earliest is not None and query.latest is not None and query.latest <= query.earliest:
        raise InvalidRequest("période vide / empty period (latest before earliest)")
    start = max(rules.earliest_start(now), query.earliest or now)
    horizon = rules.horizon_end(now)
    if start >= horizon:
        raise SlotUnavailable("au-delà de la période de réservation / beyond the booking horizon")
    end = min(horizon, query.latest) if query.latest else horizon
    # Only a time a person would say (on the quarter hour) moves the packing; other times keep the grid.
    anchor = None
    if query.earliest is not None and query.earliest >= start:
        anchor = _ceil_unit(query.earliest)
        if anchor.astimezone(dt.UTC).minute % 15:
            anchor = None
    return Plan(
        practitioners=practitioners,
        type_id=type_id,
        minutes=rules.type_minutes(type_id),
        start=_ceil_unit(start),
        end=end,
        part_of_day=query.part_of_day,
        limit=max(1, min(query.limit, 10)),
        asap=query.asap,
        preferred=query.practitioner_id,
        anchor=anchor,
    )


def _ceil_unit(moment: dt.datetime) -> dt.datetime:
    """The first 5-minute grid point at or after `moment`."""
    utc = moment.astimezone(dt.UTC)
    base = utc.replace(minute=utc.minute - utc.minute % 5, second=0, microsecond=0)
    if base == utc:
        return moment
    return (base + UNIT).astimezone(moment.tzinfo)


def free_starts(
    opening: Interval,
    busy: Sequence[Interval],
    minutes: int,
    lo: dt.datetime,
    hi: dt.datetime,
    anchor: dt.datetime | None = None,
) -> Iterable[dt.datetime]:
    """Packed starts in one opening interval: every `minutes` from its start (or from the caller's own
    time when it falls inside) or right after a busy block."""
    length = dt.timedelta(minutes=minutes)
    t = anchor if anchor is not None and opening.start < anchor < opening.end else opening.start
    blocks = [b for b in busy if b.end > opening.start and b.start < opening.end]  # sorted by the caller
    i = 0
    while t + length <= opening.end:
        while i < len(blocks) and blocks[i].end <= t:
            i += 1
        conflict = next((b for b in blocks[i:] if b.start < t + length and b.end > t), None)
        if conflict is not None:
            t = _ceil_unit(conflict.end)
            continue
        if t >= lo:
            if t >= hi:
                return
            yield t
            t += length
        else:
            # Before the notice limit: jump to the first start after it, keeping the packing.
            steps = -(-(lo - t) // length)
            t += steps * length


def in_part_of_day(start: dt.datetime, part: PartOfDay | None) -> bool:
    if part is None:
        return True
    lo, hi = PART_OF_DAY[part]
    return lo <= start.timetz().replace(tzinfo=None) < hi


def candidates(rules: PracticeRules, p: Plan, fetch_busy: BusyFetcher) -> list[Slot]:
    """Free slots in chronological order, scanning growing day windows until enough are found."""
    found: list[Slot] = []
    first_day = rules.local(p.start).date()
    last_day = rules.local(p.end - dt.timedelta(microseconds=1)).date()
    window = FIRST_WINDOW_DAYS
    day = first_day
    length = dt.timedelta(minutes=p.minutes)
    days_with_slots: set[dt.date] = set()
    while day <= last_day:
        window_last = min(last_day, day + dt.timedelta(days=window - 1))
        w_start = dt.datetime.combine(day, dt.time(0), rules.tz)
        w_end = dt.datetime.combine(window_last + dt.timedelta(days=1), dt.time(0), rules.tz)
        fetched = fetch_busy(p.practitioners, max(w_start, p.start - dt.timedelta(hours=6)), w_end)
        busy = _by_day(rules, fetched)
        for d in days_between(day, window_last):
            day_slots: list[Slot] = []
            for pid in p.practitioners:
                for opening in rules.open_intervals(pid, d):
                    for start in free_starts(
                        opening, busy.get((pid, d), ()), p.minutes, p.start, p.end, p.anchor
                    ):
                        local = rules.local(start)
                        if start + length > p.end or not in_part_of_day(local, p.part_of_day):
                            continue
                        day_slots.append(Slot(pid, p.type_id, local, local + length))
            # Same time with several practitioners: the least busy that day first (spreads the load).
            load = {pid: len(busy.get((pid, d), ())) for pid in p.practitioners}
            day_slots.sort(
                key=lambda s: (
                    s.start,
                    s.practitioner_id != p.preferred,
                    load[s.practitioner_id],
                    s.practitioner_id,
                )
            )
            found.extend(day_slots)
            if day_slots:
                days_with_slots.add(d)
            # Enough for a varied choice: several candidates spread over at least two days.
            if len(found) >= MAX_CANDIDATES or (len(days_with_slots) >= 3 and len(found) >= 3 * p.limit):
                return found
        day = window_last + dt.timedelta(days=1)
        window = min(window * 2, 56)
    return found


def _by_day(
    rules: PracticeRules, busy: dict[str, list[Interval]]
) -> dict[tuple[str, dt.date], list[Interval]]:
    """Busy intervals per practitioner and local day they touch, sorted by start."""
    out: dict[tuple[str, dt.date], list[Interval]] = {}
    for pid, intervals in busy.items():
        for b in intervals:
            first = rules.local(b.start).date()
            last = rules.local(b.end - dt.timedelta(microseconds=1)).date() if b.end > b.start else first
            for d in days_between(first, min(last, first + dt.timedelta(days=62))):
                out.setdefault((pid, d), []).append(b)
    for intervals in out.values():
        intervals.sort(key=lambda b: b.start)
    return out


def _half_day(slot: Slot) -> tuple[dt.date, bool]:
    return slot.start.date(), slot.start.hour >= 13


def _fits(slot: Slot, picked: Sequence[Slot], tier: int) -> bool:
    """Tier 0: another half-day; 1: an hour away from the others; 2: another time; 3: anything."""
    if tier == 0:
        return all(_half_day(slot) != _half_day(q) for q in picked)
    if tier == 1:
        return all(abs(slot.start - q.start) >= dt.timedelta(minutes=60) for q in picked)
    if tier == 2:
        return all(slot.start != q.start for q in picked)
    return True


def choose(found: Sequence[Slot], limit: int) -> list[Slot]:
    """What a good secretary proposes: the earliest slot, then the earliest in another half-day or day,
    never several back-to-back slots of the same morning when other times exist."""
    if not found:
        return []
    picked = [found[0]]
    rest = list(found[1:])
    while len(picked) < limit and rest:
        choice = None
        for tier in range(4):
            choice = next((s for s in rest if _fits(s, picked, tier)), None)
            if choice is not None:
                break
        if choice is None:
            break
        picked.append(choice)
        rest.remove(choice)
    return sorted(picked, key=lambda s: s.start)
