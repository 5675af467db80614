"""The server's one clock: system, frozen, virtual (pinned start, running), and STANDARDISTE_NOW."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from standardiste.clock import NOW_ENV, Clock, FixedClock, SystemClock, VirtualClock, clock_from_env, now_in
from tests.fixtures.clock import APP_NOW, PARIS


def test_system_clock_is_the_wall_clock() -> None:
    clock = SystemClock()
    before = dt.datetime.now(dt.UTC)
    now = clock.now()
    assert now.tzinfo is not None and before <= now <= dt.datetime.now(dt.UTC)
    assert clock.to_real(now) == now
    assert isinstance(clock, Clock)


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(APP_NOW)
    assert clock.now() == APP_NOW
    time.sleep(0.01)
    assert clock.now() == APP_NOW
    assert clock.advance(dt.timedelta(minutes=5)) == APP_NOW + dt.timedelta(minutes=5)
    clock.set(APP_NOW)
    # Five minutes of this clock are five real minutes from now.
    real = clock.to_real(APP_NOW + dt.timedelta(minutes=5))
    assert abs((real - dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)) < dt.timedelta(seconds=1)
    with pytest.raises(ValueError):
        FixedClock(dt.datetime(2026, 12, 1, 10, 0))  # naive: refused


def test_virtual_clock_runs_from_its_pinned_start() -> None:
    clock = VirtualClock.starting_at(APP_NOW)
    time.sleep(0.02)
    elapsed = clock.now() - APP_NOW
    assert dt.timedelta(seconds=0.02) <= elapsed < dt.timedelta(seconds=2)
    fast = VirtualClock.starting_at(APP_NOW, speed=60)
    assert fast.real_seconds(60) == 1
    real = fast.to_real(APP_NOW + dt.timedelta(minutes=1))
    assert real - fast.anchor_real == dt.timedelta(seconds=1)
    with pytest.raises(ValueError):
        VirtualClock(speed=0)


def test_standardiste_now_pins_a_server_started_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NOW_ENV, raising=False)
    assert isinstance(clock_from_env(), SystemClock)
    monkeypatch.setenv(NOW_ENV, "2027-03-28T01:59:00")  # local time, an hour before the DST jump
    clock = clock_from_env("Europe/Paris")
    assert isinstance(clock, VirtualClock)
    local = now_in(clock, "Europe/Paris")
    assert local.date() == dt.date(2027, 3, 28) and (local.hour, local.minute) == (1, 59)
    assert local.utcoffset() == dt.timedelta(hours=1)
    monkeypatch.setenv(NOW_ENV, "lundi")
    with pytest.raises(ValueError, match=NOW_ENV):
        clock_from_env()


def test_the_voice_app_hands_its_clock_to_calls_and_the_dialogue(demo_config) -> None:  # type: ignore[no-untyped-def]
    from standardiste.app import NoUnderstanding, VoiceApp

    clock = FixedClock(dt.datetime(2027, 10, 31, 2, 30, tzinfo=PARIS))
    app = VoiceApp(demo_config, clock=clock)
    app.understander = NoUnderstanding()
    conversation = app.new_conversation(open_speech=False)
    assert conversation.services.clock is clock  # type: ignore[attr-defined]
    assert app.clock is clock
