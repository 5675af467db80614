"""Admission control's decision and the recogniser queue-delay probe (the controller's use of them is
tested with real Asterisk in tests/integration/test_admission_asterisk.py)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from standardiste.config import CapacityConfig
from standardiste.telephony.admission import (
    Admission,
    AdmissionSettings,
    Load,
    QueueDelayProbe,
    decide,
    overloaded,
)


def test_max_calls() -> None:
    s = AdmissionSettings(max_calls=3)
    assert decide(s, Load(2, None)) is Admission.ADMIT
    assert decide(s, Load(3, None)) is Admission.QUEUE
    assert decide(s, Load(3, None), back_from_queue=True) is Admission.MESSAGE
    assert decide(AdmissionSettings(), Load(500, 10.0)) is Admission.ADMIT  # nothing configured


def test_queue_delay() -> None:
    s = AdmissionSettings(max_queue_delay_s=1.0)
    assert not overloaded(s, Load(40, 0.2))
    assert overloaded(s, Load(1, 1.5))
    assert not overloaded(s, Load(1, None))  # no probe: the delay signal is not used


def test_defaults() -> None:
    capacity = CapacityConfig()
    assert capacity.max_calls == 0 and capacity.max_recognition_delay_s == 2.0


async def test_probe_sees_a_busy_pool() -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    probe = QueueDelayProbe(pool, interval_s=0.02)
    assert probe.delay_s is None
    probe.start()
    await asyncio.sleep(0.1)
    idle = probe.delay_s
    assert idle is not None and idle < 0.05
    loop = asyncio.get_running_loop()
    busy = loop.run_in_executor(pool, time.sleep, 0.5)  # a long decode holds the only thread
    await asyncio.sleep(0.4)
    delay = probe.delay_s
    assert delay is not None and delay >= 0.25, delay
    await busy
    await probe.stop()
    pool.shutdown()
