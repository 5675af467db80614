"""Date/time resolution against `now` in Europe/Paris: Duckling plus the practice's rules."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.understanding.dates import DateResolver, easter, french_holidays

PARIS = ZoneInfo("Europe/Paris")
TUESDAY_15H = dt.datetime(2026, 11, 24, 15, 0, tzinfo=PARIS)
TUESDAY_8H = dt.datetime(2026, 11, 24, 8, 0, tzinfo=PARIS)


@pytest.fixture(scope="module")
def resolver() -> DateResolver:
    return DateResolver("Europe/Paris")


def one(resolver: DateResolver, text: str, now: dt.datetime = TUESDAY_15H):  # type: ignore[no-untyped-def]
    found = resolver.find(text, now)
    assert found, f"no date in {text!r}"
    return found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demain matin", "2026-11-25T08:00"),
        ("lundi prochain à quatorze heures trente", "2026-11-30T14:30"),
        ("mercredi en huit", "2026-12-02T00:00"),
        ("jeudi vers onze heures", "2026-11-26T11:00"),
        ("après-demain", "2026-11-26T00:00"),
        ("dans quinze jours", "2026-12-08T00:00"),  # two weeks, not 15 days
        ("dans huit jours", "2026-12-01T00:00"),
        ("le premier décembre", "2026-12-01T00:00"),
        ("vendredi en fin d'après-midi", "2026-11-27T17:00"),
    ],
)
def test_common_phrases(resolver: DateResolver, text: str, expected: str) -> None:
    assert one(resolver, text).value.isoformat().startswith(expected)


def test_tuesday_said_on_tuesday_after_the_time_is_next_week(resolver: DateResolver) -> None:
    found = one(resolver, "mardi à dix heures")
    assert found.value == dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
    assert one(resolver, "mardi").value.date() == dt.date(2026, 12, 1)


def test_tuesday_said_on_tuesday_before_the_time_is_next_week(resolver: DateResolver) -> None:
    # The product rule: a bare weekday said on that same weekday means next week's (the dialogue
    # confirms it with its date, "mardi premier décembre").
    found = one(resolver, "mardi à dix heures", TUESDAY_8H)
    assert found.value == dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)


MONDAY_9H = dt.datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("text", "now", "expected", "grain"),
    [
        ("lundi", MONDAY_9H, "2026-12-14T00:00", "day"),
        ("lundi quatorze heures trente", MONDAY_9H, "2026-12-14T14:30", "minute"),
        ("lundi à 14 h 30", MONDAY_9H, "2026-12-14T14:30", "minute"),
        ("lundi matin", MONDAY_9H, "2026-12-14T08:00", "part_of_day"),  # the whole morning, not from 9:00
        ("lundi soir", MONDAY_9H, "2026-12-14T18:00", "part_of_day"),
        ("lundi après-midi", MONDAY_9H.replace(hour=16), "2026-12-14T12:00", "part_of_day"),
        ("lundi prochain", MONDAY_9H, "2026-12-14T00:00", "day"),
        ("lundi en huit", MONDAY_9H, "2026-12-14T00:00", "day"),
        # Sunday night, a minute before midnight: still Sunday; "dimanche" is next Sunday.
        ("dimanche à 10 h", dt.datetime(2026, 12, 13, 23, 59, tzinfo=PARIS), "2026-12-20T10:00", "hour"),
        # Friday 1 January 2027 (a holiday): "vendredi" is the 8th, and said as a plain day.
        ("vendredi", dt.datetime(2027, 1, 1, 10, 0, tzinfo=PARIS), "2027-01-08T00:00", "day"),
        # DST: Sunday 28 March 2027 (23 hours) and Sunday 31 October 2027 (25 hours).
        ("dimanche à onze heures", dt.datetime(2027, 3, 28, 9, 0, tzinfo=PARIS), "2027-04-04T11:00", "hour"),
        ("dimanche", dt.datetime(2027, 10, 31, 1, 30, tzinfo=PARIS), "2027-11-07T00:00", "day"),
    ],
)
def test_bare_weekday_said_that_weekday_is_next_week(
    resolver: DateResolver, text: str, now: dt.datetime, expected: str, grain: str
) -> None:
    found = one(resolver, text, now)
    assert found.value.isoformat().startswith(expected), found
    assert found.grain == grain
    if found.range_end is not None:
        assert found.range_end.date() in (found.value.date(), found.value.date() + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aujourd'hui à quatorze heures", "2026-12-07T14:00"),
        ("lundi, aujourd'hui", "2026-12-07T00:00"),
        ("lundi ce matin", "2026-12-07T09:00"),
        ("lundi cet après-midi", "2026-12-07T12:00"),
        ("lundi 7 décembre", "2026-12-07T00:00"),
        ("lundi 7 à dix heures", "2026-12-07T10:00"),
        ("mardi", "2026-12-08T00:00"),  # another weekday: the coming one
        ("dimanche", "2026-12-13T00:00"),
    ],
)
def test_today_said_plainly_or_with_its_date_stays_today(
    resolver: DateResolver, text: str, expected: str
) -> None:
    assert one(resolver, text, MONDAY_9H).value.isoformat().startswith(expected)


def test_same_day_time_already_past_moves_forward(resolver: DateResolver) -> None:
    # "à neuf heures et demie" said at 15:00 means tomorrow morning, not 21:30.
    assert one(resolver, "à neuf heures et demie").value == dt.datetime(2026, 11, 25, 9, 30, tzinfo=PARIS)
    # "à trois heures" in the afternoon: 15:00 is now, so 15:00 tomorrow at the earliest... or today later.
    assert one(resolver, "vers seize heures").value == dt.datetime(2026, 11, 24, 16, 0, tzinfo=PARIS)


def test_part_of_day(resolver: DateResolver) -> None:
    late = one(resolver, "en fin de matinée")
    assert late.part_of_day == "late_morning"
    assert late.value.date() == dt.date(2026, 11, 25)  # today's late morning is over
    merged = resolver.find("jeudi plutôt en fin de matinée", TUESDAY_15H)
    assert len(merged) == 1 and merged[0].value.date() == dt.date(2026, 11, 26)
    assert merged[0].part_of_day == "late_morning" and merged[0].range_end is not None
    assert one(resolver, "en fin d'après-midi", TUESDAY_8H).part_of_day == "late_afternoon"


def test_asap_and_week_range(resolver: DateResolver) -> None:
    asap = one(resolver, "le plus tôt possible")
    assert asap.asap and asap.as_extra()["asap"] is True
    week = one(resolver, "dans la semaine")
    assert week.grain == "week"
    assert week.value >= TUESDAY_15H and week.range_end == dt.datetime(2026, 11, 30, tzinfo=PARIS)
    saturday = dt.datetime(2026, 11, 28, 11, 0, tzinfo=PARIS)
    later = one(resolver, "dans la semaine", saturday)
    assert later.range_end is not None and later.range_end.date() == dt.date(2026, 12, 7)


def test_month_ends(resolver: DateResolver) -> None:
    # November has 30 days: "le trente et un" is the next 31st, December.
    assert one(resolver, "le trente et un").value.date() == dt.date(2026, 12, 31)
    end_of_january = dt.datetime(2027, 1, 31, 9, 0, tzinfo=PARIS)
    assert one(resolver, "demain", end_of_january).value.date() == dt.date(2027, 2, 1)
    end_of_year = dt.datetime(2026, 12, 31, 18, 0, tzinfo=PARIS)
    assert one(resolver, "lundi", end_of_year).value.date() == dt.date(2027, 1, 4)


def test_impossible_dates_are_dropped(resolver: DateResolver) -> None:
    assert resolver.find("le trente février", TUESDAY_15H) == []
    assert resolver.find("le trente et un avril", TUESDAY_15H) == []


def test_holidays(resolver: DateResolver) -> None:
    christmas = one(resolver, "noël")
    assert christmas.value.date() == dt.date(2026, 12, 25) and christmas.holiday == "Noël"
    easter_monday = one(resolver, "le lundi de pâques")
    assert easter_monday.value.date() == dt.date(2027, 3, 29)
    assert one(resolver, "le vingt-cinq décembre").holiday == "Noël"
    assert (
        one(resolver, "le onze novembre", dt.datetime(2026, 11, 2, 9, 0, tzinfo=PARIS)).holiday == "armistice"
    )
    assert easter(2026) == dt.date(2026, 4, 5)
    assert dt.date(2026, 5, 14) in french_holidays(2026)  # Ascension 2026


def test_offsets_point_into_original_text(resolver: DateResolver) -> None:
    text = "euh je voudrais euh jeudi euh vers quatorze heures"
    found = one(resolver, text)
    assert text[found.start : found.end].startswith("jeudi")
    assert found.value == dt.datetime(2026, 11, 26, 14, 0, tzinfo=PARIS)


def test_past_and_birth_dates_are_not_appointments(resolver: DateResolver) -> None:
    assert resolver.find("il a fait un infarctus il y a dix ans", TUESDAY_15H) == []
    assert resolver.find("je suis né le douze mars mille neuf cent quatre-vingt-cinq", TUESDAY_15H) == []


def test_garbage_is_safe(resolver: DateResolver) -> None:
    for text in ("", "   ", "zzz qsdf ++ 123456789012345", "é" * 500):
        resolver.find(text, TUESDAY_15H)


@pytest.mark.parametrize(
    "text",
    [
        "demain matin",
        "en début de matinée",
        "en fin de matinée",
        "entre midi et deux",
        "jeudi en début d'après-midi",
        "en fin d'après-midi",
        "ce soir",
        "plutôt l'après-midi",
    ],
)
def test_part_of_day_names_are_the_agenda_ones(resolver: DateResolver, text: str) -> None:
    from standardiste.agenda.model import PartOfDay

    found = one(resolver, text, TUESDAY_8H)
    assert found.part_of_day is not None
    PartOfDay(found.part_of_day)


def test_bare_ordinal_is_a_choice_not_a_date(resolver: DateResolver) -> None:
    assert resolver.find("le premier", TUESDAY_15H) == []
    assert resolver.find("le deuxième", TUESDAY_15H) == []
    assert one(resolver, "le premier décembre").value.date() == dt.date(2026, 12, 1)
