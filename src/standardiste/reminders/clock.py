"""The reminders' clock: real time by default; tests and benches may shift or speed it up.

Virtual time drives policy decisions (windows, retries); APScheduler fires on real time,
so run times are converted with `to_real` before they go to the job store.
"""

from __future__ import annotations

import datetime as dt
import time


class Clock:
    def __init__(
        self,
        anchor_virtual: dt.datetime | None = None,
        speed: float = 1.0,
        anchor_real: dt.datetime | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.anchor_real = anchor_real or dt.datetime.fromtimestamp(time.time(), dt.UTC)
        self.anchor_virtual = anchor_virtual or self.anchor_real
        self.speed = speed

    @classmethod
    def starting_at(cls, virtual_now: dt.datetime, speed: float = 1.0) -> Clock:
        return cls(anchor_virtual=virtual_now, speed=speed)

    def set(self, virtual_now: dt.datetime) -> None:
        """Jump to `virtual_now` (tests: after a slow set-up, before anything is scheduled)."""
        self.anchor_real = dt.datetime.fromtimestamp(time.time(), dt.UTC)
        self.anchor_virtual = virtual_now

    def now(self) -> dt.datetime:
        real = dt.datetime.fromtimestamp(time.time(), dt.UTC)
        return self.anchor_virtual + (real - self.anchor_real) * self.speed

    def to_real(self, virtual: dt.datetime) -> dt.datetime:
        return self.anchor_real + (virtual - self.anchor_virtual) / self.speed

    def real_seconds(self, virtual_seconds: float) -> float:
        return virtual_seconds / self.speed
