"""Practice rules: French holidays, closures, slot validation, agenda-level config checks, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import InvalidRequest, Slot, SlotUnavailable
from standardiste.agenda.rules import (
    PracticeRules,
    check_practice,
    easter_sunday,
    french_holidays,
    local_datetime,
)
from standardiste.config import Config, ConfigError, PracticeConfig, parse_config

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # a Monday


def _practice(demo: Config, **changes: Any) -> PracticeConfig:
    data = demo.practice.model_dump(mode="json")
    data.update(changes)
    return PracticeConfig.model_validate(data)


def _slot(pid: str, start: dt.datetime, minutes: int = 20, kind: str = "consultation") -> Slot:
    return Slot(pid, kind, start, start + dt.timedelta(minutes=minutes))


def test_easter_and_moving_holidays() -> None:
    assert easter_sunday(2024) == dt.date(2024, 3, 31)
    assert easter_sunday(2025) == dt.date(2025, 4, 20)
    assert easter_sunday(2026) == dt.date(2026, 4, 5)
    assert easter_sunday(2038) == dt.date(2038, 4, 25)
    h = french_holidays(2026)
    assert h[dt.date(2026, 4, 6)] == "lundi de Pâques"
    assert h[dt.date(2026, 5, 14)] == "Ascension"
    assert h[dt.date(2026, 5, 25)] == "lundi de Pentecôte"
    assert dt.date(2026, 7, 14) in h and dt.date(2026, 11, 11) in h
    assert len(h) == 11


def test_no_opening_on_holiday_or_closure(demo_config: Config) -> None:
    practice = _practice(
        demo_config,
        closures=[
            {"start": "2026-03-10", "end": "2026-03-11", "label": "congés"},
            {"start": "2026-03-12", "end": "2026-03-12", "label": "formation", "practitioner": "martin"},
        ],
    )
    rules = PracticeRules(practice)
    assert rules.open_intervals("martin", dt.date(2026, 4, 6)) == ()  # lundi de Pâques
    assert rules.open_intervals("martin", dt.date(2026, 3, 10)) == ()
    assert rules.open_intervals("martin", dt.date(2026, 3, 12)) == ()
    assert len(rules.open_intervals("benali", dt.date(2026, 3, 12))) == 2
    assert rules.open_intervals("benali", dt.date(2026, 3, 8)) == ()  # Sunday
    saturday = rules.open_intervals("benali", dt.date(2026, 3, 7))
    assert [(i.start.time(), i.end.time()) for i in saturday] == [(dt.time(9), dt.time(12))]
    with pytest.raises(SlotUnavailable, match="congés"):
        rules.check_slot(_slot("benali", dt.datetime(2026, 3, 10, 9, 0, tzinfo=TZ)), NOW)


@pytest.mark.parametrize(
    ("slot", "error", "match"),
    [
        (_slot("dupont", dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ)), InvalidRequest, "inconnu"),
        (_slot("martin", dt.datetime(2026, 3, 1, 9, 0, tzinfo=TZ)), InvalidRequest, "passé"),
        (_slot("martin", dt.datetime(2026, 3, 2, 9, 30, tzinfo=TZ)), SlotUnavailable, "prévenance"),
        (_slot("martin", dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ), 25), SlotUnavailable, "durée"),
        (_slot("martin", dt.datetime(2026, 3, 3, 12, 20, tzinfo=TZ)), SlotUnavailable, "heures"),
        (_slot("martin", dt.datetime(2026, 3, 3, 7, 0, tzinfo=TZ)), SlotUnavailable, "heures"),
        (_slot("martin", dt.datetime(2026, 3, 8, 10, 0, tzinfo=TZ)), SlotUnavailable, "heures"),
        (_slot("martin", dt.datetime(2026, 4, 6, 10, 0, tzinfo=TZ)), SlotUnavailable, "férié"),
        (_slot("martin", dt.datetime(2026, 9, 1, 10, 0, tzinfo=TZ)), SlotUnavailable, "horizon"),
        (_slot("martin", dt.datetime(2026, 3, 3, 9, 2, tzinfo=TZ)), SlotUnavailable, "grille"),
        (_slot("lefevre", dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ)), InvalidRequest, "ne fait pas"),
        (_slot("martin", dt.datetime(2026, 3, 3, 9, tzinfo=TZ), 30, "pediatrie"), InvalidRequest, "ne fait"),
        (_slot("martin", dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ), 20, "massage"), InvalidRequest, "inconnu"),
        (_slot("martin", dt.datetime(2026, 3, 3, 9, 0)), InvalidRequest, "fuseau"),
    ],
)
def test_bad_slots_give_clear_errors(
    demo_config: Config, slot: Slot, error: type[Exception], match: str
) -> None:
    rules = PracticeRules(demo_config.practice)
    with pytest.raises(error, match=match):
        rules.check_slot(slot, NOW)


def test_valid_slot_passes(demo_config: Config) -> None:
    rules = PracticeRules(demo_config.practice)
    rules.check_slot(_slot("martin", dt.datetime(2026, 3, 3, 8, 30, tzinfo=TZ)), NOW)
    rules.check_slot(_slot("lefevre", dt.datetime(2026, 3, 3, 18, 30, tzinfo=TZ), 30, "pediatrie"), NOW)


def test_31_february_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="31/02/2026"):
        local_datetime(TZ, 2026, 2, 31, 10)
    with pytest.raises(InvalidRequest, match="impossible"):
        local_datetime(TZ, 2026, 3, 3, 25)
    assert local_datetime(TZ, 2028, 2, 29, 10).day == 29


def test_overlapping_hours_config_is_refused(demo_config: Config) -> None:
    data = {"practice": demo_config.practice.model_dump(mode="json")}
    data["practice"]["hours"]["monday"] = ["08:30-12:30", "12:00-19:00"]
    with pytest.raises(ConfigError, match="chevauchent"):
        parse_config(data)


def test_type_longer_than_any_opening_is_refused(demo_config: Config) -> None:
    practice = _practice(
        demo_config,
        hours={"monday": ["09:00-09:30"]},
        appointment_types=[
            {"id": "consultation", "label": "consultation", "minutes": 20},
            {"id": "bilan", "label": "bilan", "minutes": 60},
        ],
    )
    problems = check_practice(practice)
    assert any("bilan" in p and "plus longue plage" in p for p in problems)
    with pytest.raises(ConfigError, match="bilan"):
        PracticeRules(practice)


def test_off_grid_duration_and_no_hours_are_refused(demo_config: Config) -> None:
    practice = _practice(
        demo_config,
        appointment_types=[
            {"id": "consultation", "label": "consultation", "minutes": 17},
        ],
    )
    assert any("multiple de 5" in p for p in check_practice(practice))
    practice = _practice(demo_config, hours={})
    assert any("aucune plage" in p for p in check_practice(practice))


def test_demo_practice_is_valid(demo_config: Config) -> None:
    assert check_practice(demo_config.practice) == []
