"""Opening hours as the dialplan sees them, for callers the assistant cannot take.

When the assistant is not there (not running, killed, stuck), the dialplan sends callers to the
reception's waiting line; outside opening hours nobody is at the desk, so the caller would hear
ringback for RECEPTION_RING_S and wait in line before reaching the message box. `standardiste
serve` therefore keeps two Asterisk global variables up to date (every minute, through ARI):

- PRACTICE_OPEN_UNTIL: epoch second the current opening period ends (0 when closed now);
- PRACTICE_CLOSED_UNTIL: epoch second the practice next opens after that.

The dialplan treats the practice as closed while OPEN_UNTIL <= now < CLOSED_UNTIL and then sends
the caller straight to the message box (standardiste-transfer,closed). Both values are absolute, so
they stay right after the controller dies: a controller killed at 18:55 still leaves callers at
19:30 in the message box, and callers after the next opening ring reception again. Unset or stale
values (after CLOSED_UNTIL) mean "try reception": the safe side is a human.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from standardiste.config import PracticeConfig
from standardiste.hours import opening_status

OPEN_UNTIL_VARIABLE = "PRACTICE_OPEN_UNTIL"
CLOSED_UNTIL_VARIABLE = "PRACTICE_CLOSED_UNTIL"
REFRESH_S = 60.0


@dataclass(frozen=True, slots=True)
class ClosedHours:
    open_until: int  # epoch s; 0: closed now
    closed_until: int  # epoch s; 0: unknown (no opening within the search window)

    def closed_at(self, epoch: int) -> bool:
        """What the dialplan decides (the same comparison as extensions.conf)."""
        return self.open_until <= epoch < self.closed_until

    def as_globals(self) -> dict[str, str]:
        return {OPEN_UNTIL_VARIABLE: str(self.open_until), CLOSED_UNTIL_VARIABLE: str(self.closed_until)}


def closed_hours(practice: PracticeConfig, now: dt.datetime) -> ClosedHours:
    """The current opening period's end and the next opening after it (closures, holidays included)."""
    status = opening_status(practice, now)
    if not status.open_now:
        reopens = status.next_opening
        return ClosedHours(0, int(reopens.timestamp()) if reopens else 0)
    end = status.closes_at
    assert end is not None
    for _ in range(20):  # back-to-back ranges (8-12 then 12-19) are one opening period
        after = opening_status(practice, end)
        if not after.open_now:
            break
        assert after.closes_at is not None
        end = after.closes_at
    reopens = opening_status(practice, end).next_opening
    return ClosedHours(int(end.timestamp()), int(reopens.timestamp()) if reopens else 0)


class AriRequester(Protocol):
    async def request(
        self, method: str, path: str, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Any: ...


def on_asterisk_clock(hours: ClosedHours, now: dt.datetime, wall_s: float) -> ClosedHours:
    """The same hours on Asterisk's clock (its ${EPOCH} is the wall clock; `now` may be pinned)."""
    shift = round(wall_s - now.timestamp())
    return ClosedHours(
        hours.open_until + shift if hours.open_until else 0,
        hours.closed_until + shift if hours.closed_until else 0,
    )


async def publish(ari: AriRequester, practice: PracticeConfig, now: dt.datetime) -> ClosedHours:
    """Set the two globals in Asterisk (ARI POST /asterisk/variable)."""
    hours = on_asterisk_clock(closed_hours(practice, now), now, time.time())
    for name, value in hours.as_globals().items():
        await ari.request("POST", "/asterisk/variable", {"variable": name, "value": value})
    return hours
