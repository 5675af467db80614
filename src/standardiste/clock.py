"""One clock for the whole server: calls, the dialogue, the agenda, reminders, the dashboard and the
retention purge all ask it what time it is, so that tests (and a demo) can pin "now".

- `SystemClock`: the wall clock (production).
- `FixedClock`: a frozen instant that moves only when told (`set`, `advance`): unit tests.
- `VirtualClock`: starts at a pinned instant and runs (at real speed, or faster): integration tests,
  where calls take real seconds and APScheduler fires on real time (`to_real` converts).

`clock_from_env()` gives a `VirtualClock` starting at `STANDARDISTE_NOW` (ISO 8601) when that is set,
the system clock otherwise: a server started in another process can be pinned too.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

NOW_ENV = "STANDARDISTE_NOW"


@runtime_checkable
class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware."""
        ...

    def to_real(self, moment: dt.datetime) -> dt.datetime:
        """The wall-clock instant at which this clock will read `moment` (for real-time schedulers)."""
        ...


def _wall() -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time(), dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a clock needs a timezone-aware datetime")
    return moment


class SystemClock:
    def now(self) -> dt.datetime:
        return _wall()

    def to_real(self, moment: dt.datetime) -> dt.datetime:
        return moment


class FixedClock:
    """Always the same instant until `set` or `advance`. Scheduling converts at real speed from the
    moment of the question (what is due in 5 minutes of this clock runs in 5 real minutes)."""

    def __init__(self, instant: dt.datetime) -> None:
        self.instant = _aware(instant)

    def now(self) -> dt.datetime:
        return self.instant

    def set(self, instant: dt.datetime) -> None:
        self.instant = _aware(instant)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.instant = self.instant + delta
        return self.instant

    def to_real(self, moment: dt.datetime) -> dt.datetime:
        return _wall() + (moment - self.instant)


class VirtualClock:
    """Virtual time anchored at a real instant: `anchor_virtual` at `anchor_real`, running `speed`
    times faster than the wall clock (default: real speed; without an anchor, the wall clock)."""

    def __init__(
        self,
        anchor_virtual: dt.datetime | None = None,
        speed: float = 1.0,
        anchor_real: dt.datetime | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.anchor_real = anchor_real or _wall()
        self.anchor_virtual = _aware(anchor_virtual) if anchor_virtual is not None else self.anchor_real
        self.speed = speed

    @classmethod
    def starting_at(cls, virtual_now: dt.datetime, speed: float = 1.0) -> VirtualClock:
        return cls(anchor_virtual=virtual_now, speed=speed)

    def set(self, virtual_now: dt.datetime) -> None:
        """Jump to `virtual_now` (tests: after a slow set-up, before anything is scheduled)."""
        self.anchor_real = _wall()
        self.anchor_virtual = _aware(virtual_now)

    def now(self) -> dt.datetime:
        return self.anchor_virtual + (_wall() - self.anchor_real) * self.speed

    def to_real(self, virtual: dt.datetime) -> dt.datetime:
        return self.anchor_real + (virtual - self.anchor_virtual) / self.speed

    def real_seconds(self, virtual_seconds: float) -> float:
        return virtual_seconds / self.speed


def parse_instant(text: str, timezone: str = "Europe/Paris") -> dt.datetime:
    """An ISO 8601 date-time; without an offset, local time in `timezone`."""
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=ZoneInfo(timezone)) if moment.tzinfo is None else moment


def clock_from_env(timezone: str = "Europe/Paris") -> Clock:
    """`STANDARDISTE_NOW` pins the start of a running clock; unset: the system clock."""
    pinned = os.environ.get(NOW_ENV, "").strip()
    if not pinned:
        return SystemClock()
    try:
        return VirtualClock.starting_at(parse_instant(pinned, timezone))
    except ValueError:
        raise ValueError(f"{NOW_ENV}: date ISO invalide / invalid ISO datetime {pinned!r}") from None


def now_in(clock: Clock, timezone: str) -> dt.datetime:
    """The clock's instant in the practice's time zone."""
    return clock.now().astimezone(ZoneInfo(timezone))
