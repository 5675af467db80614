"""Admission control's decision and the recogniser queue-delay probe (the controller's use of them is
tested with real Asterisk in tests/integration/test_admission_asterisk.py)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from standardiste.config import CapacityConfig
from standardiste.telephony.admission import (
    CALLS_PER_CORE_GRAMMAR,
    CALLS_PER_CORE_WHISPER,
    Admission,
    AdmissionSettings,
    Load,
    QueueDelayProbe,
    call_limit,
    decide,
    measured_calls_per_core,
    overloaded,
    usable_cores,
)
from standardiste.telephony.ari import AriClient


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
    assert capacity.max_calls == "auto" and capacity.max_recognition_delay_s == 2.0
    assert capacity.calls_per_core is None  # the recogniser's measured figure
    assert CapacityConfig(max_calls=12).max_calls == 12


def test_the_cap_comes_from_the_measured_calls_per_core_unless_set() -> None:
    whisper = measured_calls_per_core("whisper:whisper-base-ct2+sphinx-fr-8k-grammar")
    assert whisper == CALLS_PER_CORE_WHISPER
    assert measured_calls_per_core("sphinx-fr-8k-grammar") == CALLS_PER_CORE_GRAMMAR
    assert measured_calls_per_core("keypad") is None
    assert call_limit("auto", 3.0, 2) == 6
    assert call_limit("auto", 3.5, 2) == 7
    assert call_limit("auto", 0.2, 1) == 1  # never zero: that would mean no cap
    assert call_limit("auto", None, 2) == 0  # the keypad: no cap from the count
    assert call_limit(12, 3.0, 2) == 12  # configured: as set
    assert call_limit(0, 3.0, 2) == 0  # 0: no cap
    assert usable_cores() >= 1


def test_a_bad_capacity_setting_is_refused() -> None:
    import pydantic
    import pytest

    for bad in ({"max_calls": "beaucoup"}, {"max_calls": -1}, {"calls_per_core": 0.0}):
        with pytest.raises(pydantic.ValidationError):
            CapacityConfig(**bad)  # type: ignore[arg-type]


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


class RecordingAri(AriClient):
    """Stands for Asterisk's ARI: records where channels are sent (the real one: the integration test)."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "u", "p", "app")
        self.continued: list[tuple[str, str]] = []

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        self.continued.append((channel_id, extension))


async def test_controller_queues_callers_beyond_capacity_and_never_our_reminders() -> None:
    from standardiste.telephony.ari import Channel, StasisStart
    from standardiste.telephony.controller import Controller
    from tests.unit.test_telephony_controller import Built, _until

    built = Built()
    ari = RecordingAri()
    ctl = Controller(ari, built, admission=AdmissionSettings(max_calls=1))
    await ctl.on_event(StasisStart(Channel("a", "PJSIP/caller1-1"), ("inbound",)))
    await _until(lambda: "a" in ctl.calls)
    await ctl.on_event(StasisStart(Channel("b", "PJSIP/caller2-1"), ("inbound",)))
    await _until(lambda: ari.continued == [("b", "queue")])
    assert "b" not in ctl.calls and ctl.stats.calls_queued == 1
    # Back from the line unanswered, still overloaded: the message box.
    await ctl.on_event(StasisStart(Channel("b", "PJSIP/caller2-1"), ("transfer-failed", "BUSY", "reception")))
    await _until(lambda: ("b", "message") in ari.continued)
    assert ctl.stats.calls_to_message == 1
    # A reminder call we placed is always taken.
    await ctl.on_event(StasisStart(Channel("c", "PJSIP/patient1-1"), ("outbound", "reminder", "apt-1")))
    await _until(lambda: "c" in ctl.calls)
    # Under capacity again: admitted.
    ctl.admission = AdmissionSettings(max_calls=5)
    await ctl.on_event(StasisStart(Channel("d", "PJSIP/caller3-1"), ("inbound",)))
    await _until(lambda: "d" in ctl.calls)
    await ctl.stop()
