"""Admission control (issues 14 and 18): beyond capacity, a new caller goes to the reception's waiting line
at once (ringback, the emergency sentence, hold music, then a human or the message box) instead of an
assistant too slow to answer; calls in progress keep their latency.

Two signals, either one enough: the number of calls in progress (`max_calls`, from the measured capacity),
and how long recognition work waits for a free decoding thread (`max_queue_delay_s`, measured by
`QueueDelayProbe`: a no-op submitted to the recogniser's pool every `interval_s`, the recent worst wait kept).
The decision is pure (`decide`); the probe is the only part with a clock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import math
import os
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

# Spoken calls in progress per CPU core, per recogniser (real SIP callers speaking human French on 2 cores
# shared with the callers' own processes):
# - Whisper base on every turn + PocketSphinx grammars (bench/results/capacity-open.md, turns of all calls
#   ending at the same instant): 4-5 calls held the 1-call level's right replies with voice-to-voice p50
#   ~0.6 s but p95 ~1.5 s; 10 calls: p50 2.4 s; 20: p50 5.7 s and wrong replies from load. 2 per core;
# - PocketSphinx grammars alone: 30 calls held on 2 cores (issue 14's measurement), 40 did not.
# - Vosk (docs/scale.md, bench/results/voice_loop-vosk-ko.md): 10 calls held on 2 cores, 20 did not.
# The keypad alone costs about 1 % of a core per call: no cap from the count (the delay signal remains).
CALLS_PER_CORE_WHISPER = 2.0
CALLS_PER_CORE_GRAMMAR = 15.0
CALLS_PER_CORE_VOSK = 5.0


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: a container's or a unit's CPU set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def measured_calls_per_core(recognizer_name: str) -> float | None:
    """The measured figure for this recogniser (its `name`); None: nothing heavy, no cap from the count."""
    if "whisper" in recognizer_name:
        return CALLS_PER_CORE_WHISPER
    if "vosk" in recognizer_name:
        return CALLS_PER_CORE_VOSK
    if "sphinx" in recognizer_name:
        return CALLS_PER_CORE_GRAMMAR
    return None


def call_limit(max_calls: int | Literal["auto"], calls_per_core: float | None, cores: int) -> int:
    """The admission cap: a number as configured (0: no cap), or "auto": calls per core (configured, else
    the recogniser's measured figure) times the cores, at least one call; "auto" without a figure: no cap."""
    if max_calls != "auto":
        return max(0, int(max_calls))
    if calls_per_core is None:
        return 0
    return max(1, math.floor(calls_per_core * max(1, cores)))


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    max_calls: int = 0  # calls in progress (being set up included) beyond which callers queue; 0: no cap
    max_queue_delay_s: float = 0.0  # recogniser queue delay beyond which callers queue; 0: not used


class Admission(enum.Enum):
    ADMIT = "admit"
    QUEUE = "queue"  # to the reception's waiting line (pbx.dialplan.QUEUE)
    MESSAGE = "message"  # back from the waiting line unanswered and still overloaded: the message box


@dataclass(frozen=True, slots=True)
class Load:
    calls: int  # in progress or being set up
    queue_delay_s: float | None  # None: no probe


def overloaded(settings: AdmissionSettings, load: Load) -> bool:
    if settings.max_calls > 0 and load.calls >= settings.max_calls:
        return True
    return (
        settings.max_queue_delay_s > 0
        and load.queue_delay_s is not None
        and load.queue_delay_s >= settings.max_queue_delay_s
    )


def decide(settings: AdmissionSettings, load: Load, back_from_queue: bool = False) -> Admission:
    """What to do with a new caller: the assistant, the waiting line, or (back from it) the message box."""
    if not overloaded(settings, load):
        return Admission.ADMIT
    return Admission.MESSAGE if back_from_queue else Admission.QUEUE


class QueueDelayProbe:
    """The recogniser pool's queue delay: how long a no-op waits for a thread, worst of the last `keep`.

    A pool busy with decodes makes the no-op wait behind them; an idle pool answers in microseconds.
    """

    def __init__(self, executor: Executor, interval_s: float = 0.25, keep: int = 8) -> None:
        self.executor = executor
        self.interval_s = interval_s
        self._recent: collections.deque[float] = collections.deque(maxlen=keep)
        self._task: asyncio.Task[None] | None = None
        self._pending_since: float | None = None

    @property
    def delay_s(self) -> float | None:
        """The recent worst wait; a probe still waiting counts for how long it has waited so far."""
        waiting = time.monotonic() - self._pending_since if self._pending_since is not None else 0.0
        if not self._recent and self._pending_since is None:
            return None
        return max([waiting, *self._recent])

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recogniser-queue-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._pending_since = submitted = time.monotonic()
            try:
                started = await loop.run_in_executor(self.executor, time.monotonic)
            except RuntimeError:  # the pool was shut down
                return
            self._pending_since = None
            self._recent.append(max(0.0, started - submitted))
            await asyncio.sleep(self.interval_s)
