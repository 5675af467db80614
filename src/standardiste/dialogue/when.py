"""From what the caller said about time to an agenda query, and back to picking among offered times."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from standardiste.agenda.model import PartOfDay, Slot
from standardiste.config import WEEKDAYS_FR
from standardiste.dialogue.core import fold, has_word
from standardiste.understanding.types import Entity, EntityKind, Understanding

_PART_WORDS = (
    ("fin de matinee", PartOfDay.LATE_MORNING),
    ("fin d'apres midi", PartOfDay.LATE_AFTERNOON),
    ("fin d apres midi", PartOfDay.LATE_AFTERNOON),
    ("apres midi", PartOfDay.AFTERNOON),
    ("apres-midi", PartOfDay.AFTERNOON),
    ("matin", PartOfDay.MORNING),
    ("matinee", PartOfDay.MORNING),
    ("midi", PartOfDay.NOON),
    ("soir", PartOfDay.EVENING),
)
_ASAP_WORDS = (
    "plus tot possible",
    "au plus vite",
    "des que possible",
    "rapidement",
    "en urgence",
    "le plus vite",
    "au plus tot",
    "aujourd'hui si possible",
    "premier creneau",
    "premiere disponibilite",
    "premier disponible",
)
_ANY_WORDS = (
    "peu importe",
    "n'importe",
    "nimporte",
    "pas de preference",
    "egal",
    "comme vous voulez",
    "le premier disponible",
    "qui vous voulez",
    "n importe",
)


@dataclass(frozen=True, slots=True)
class TimeWish:
    """What the caller wants, as an agenda window. `exact` is a precise time to get close to."""

    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None
    part_of_day: PartOfDay | None = None
    asap: bool = False
    exact: dt.datetime | None = None
    day: dt.date | None = None


def _parse_iso(value: str, tz: dt.tzinfo) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        except ValueError:
            return None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def part_of_day_in(text: str) -> PartOfDay | None:
    folded = fold(text)
    for words, part in _PART_WORDS:
        if words in folded:
            return part
    return None


def says_asap(text: str) -> bool:
    folded = fold(text)
    return any(w in folded for w in _ASAP_WORDS)


def says_any(text: str) -> bool:
    folded = fold(text)
    return any(w in folded for w in _ANY_WORDS)


def time_wish(u: Understanding | None, text: str, now: dt.datetime) -> TimeWish | None:
    """The caller's time preference in this utterance, or None when it says nothing about time."""
    tz = now.tzinfo or dt.UTC
    entity = last_date_time(u)
    part = part_of_day_in(text)
    if entity is not None:
        return wish_from_entity(entity, tz, now, part)
    if says_asap(text):
        return TimeWish(asap=True)
    weekday = _weekday_in(text)
    if weekday is not None:
        days = (weekday - now.weekday()) % 7
        day = now.date() + dt.timedelta(days=days)
        if days == 0 and not _says_today(text):
            day += dt.timedelta(days=7)  # a bare weekday said that weekday: next week's
        return _day_wish(day, tz, part)
    if part is not None:
        # "le matin" alone: from now on, mornings.
        return TimeWish(earliest=now, part_of_day=part)
    return None


def wish_from_entity(entity: Entity, tz: dt.tzinfo, now: dt.datetime, part: PartOfDay | None) -> TimeWish:
    extra = entity.extra or {}
    if extra.get("asap"):
        return TimeWish(asap=True)
    moment = _parse_iso(entity.value, tz)
    if moment is None:
        return TimeWish(asap=True)
    part_name = extra.get("part_of_day")
    if part_name:
        with contextlib.suppress(ValueError):
            part = PartOfDay(part_name)
    grain = str(extra.get("grain", "day" if moment.time() == dt.time() else "minute"))
    range_end = _parse_iso(str(extra["range_end"]), tz) if extra.get("range_end") else None
    if grain in ("hour", "minute", "second"):
        return TimeWish(
            earliest=_day_start(moment.date(), tz),
            latest=_day_start(moment.date(), tz) + dt.timedelta(days=1),
            exact=moment,
            day=moment.date(),
        )
    if grain == "day" and range_end is None:
        return _day_wish(moment.date(), tz, part)
    latest = range_end or moment + (dt.timedelta(days=7) if grain == "week" else dt.timedelta(days=31))
    return TimeWish(earliest=moment, latest=latest, part_of_day=part)


def _day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def _day_wish(day: dt.date, tz: dt.tzinfo, part: PartOfDay | None) -> TimeWish:
    start = _day_start(day, tz)
    return TimeWish(earliest=start, latest=start + dt.timedelta(days=1), part_of_day=part, day=day)


def _weekday_in(text: str) -> int | None:
    """The LAST weekday named: in "non pas lundi, mardi" the caller means mardi."""
    found = None
    for word in re.findall(r"[a-z]+", fold(text)):
        if word in WEEKDAYS_FR:
            found = WEEKDAYS_FR.index(word)
    return found


def _says_today(text: str) -> bool:
    return has_word(text, ("aujourd'hui", "aujourd hui", "ce matin", "cet apres midi", "ce midi", "ce soir"))


_DAY_WORDS = (
    "demain",
    "aujourd",
    "apres demain",
    "semaine",
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
    "en huit",
)


def names_a_day(text: str) -> bool:
    """Whether the words name a day (weekday, tomorrow, a date), not only a time."""
    folded = fold(text)
    return (
        _weekday_in(text) is not None
        or any(w in folded for w in _DAY_WORDS)
        or bool(re.search(r"\ble \d{1,2}\b(?! ?h)", folded))
    )


def last_date_time(u: Understanding | None) -> Entity | None:
    if u is None:
        return None
    found = [e for e in u.entities if e.entity == EntityKind.DATE_TIME]
    return found[-1] if found else None


_ORDINALS = (
    (0, ("premier", "premiere", "1er", "le un", "numero un", "le 1", "numero 1")),
    (1, ("deuxieme", "second", "seconde", "le deux", "numero deux", "le 2", "numero 2")),
    (2, ("troisieme", "le trois", "numero trois", "le 3", "numero 3")),
)
_LAST = ("dernier", "derniere")


def pick(
    options: Sequence[dt.datetime],
    text: str,
    keys: str | None,
    u: Understanding | None,
    now: dt.datetime,
    practitioners: Sequence[str] = (),
) -> list[int]:
    """Indexes of the offered times the answer designates (one: a clear pick; several: ambiguous)."""
    if keys is not None:
        index = int(keys[0]) - 1 if keys[:1].isdigit() else -1
        return [index] if 0 <= index < len(options) else []
    folded = f" {fold(text)} "
    # The last ordinal said wins: "non, pas le premier, le deuxième".
    said: list[tuple[int, int]] = []
    for index, words in (*_ORDINALS, (len(options) - 1, _LAST)):
        for w in words:
            position = folded.rfind(f" {w} ")
            if position >= 0 and 0 <= index < len(options):
                said.append((position, index))
    if said:
        return [max(said)[1]]
    entity = last_date_time(u)
    tz = now.tzinfo or dt.UTC
    moment = _parse_iso(entity.value, tz) if entity is not None else None
    grain = str((entity.extra or {}).get("grain", "")) if entity is not None else ""
    has_time = moment is not None and (
        grain in ("hour", "minute") or (not grain and moment.time() != dt.time())
    )
    weekday = _weekday_in(text)
    mentions_day = (
        weekday is not None
        or (moment is not None and grain in ("day", "") and not has_time)
        or (
            entity is not None
            and any(
                w in folded
                for w in (
                    " demain",
                    " aujourd",
                    " lundi",
                    " mardi",
                    " mercredi",
                    " jeudi",
                    " vendredi",
                    " samedi",
                )
            )
        )
    )
    matches = list(range(len(options)))
    who = u.first(EntityKind.PRACTITIONER) if u is not None else None
    if who is not None and len(practitioners) == len(options) and len(set(practitioners)) > 1:
        matches = [i for i in matches if practitioners[i] == who.value]
        if not has_time and not mentions_day:
            return matches
    if has_time and moment is not None:
        matches = [i for i in matches if (options[i].hour, options[i].minute) == (moment.hour, moment.minute)]
    if mentions_day:
        if weekday is not None:
            matches = [i for i in matches if options[i].weekday() == weekday]
        elif moment is not None:
            matches = [i for i in matches if options[i].date() == moment.date()]
    if not has_time and not mentions_day:
        part = part_of_day_in(text)
        if part is None:
            return []
        matches = [i for i in matches if _in_part(options[i], part)]
    return matches


def _in_part(moment: dt.datetime, part: PartOfDay) -> bool:
    hour = moment.hour + moment.minute / 60
    return {
        PartOfDay.MORNING: hour < 12.5,
        PartOfDay.LATE_MORNING: 10.5 <= hour < 12.5,
        PartOfDay.NOON: 11.5 <= hour < 14,
        PartOfDay.AFTERNOON: hour >= 12.5,
        PartOfDay.LATE_AFTERNOON: hour >= 16.5,
        PartOfDay.EVENING: hour >= 17.5,
    }[part]


def sort_near(slots: list[Slot], exact: dt.datetime | None) -> list[Slot]:
    """Slots sorted by closeness to the wanted time (kept in order when there is none)."""
    if exact is None:
        return slots
    return sorted(slots, key=lambda s: abs((s.start - exact).total_seconds()))
