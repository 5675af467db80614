"""End to end on real parts: Asterisk 22 (chroot), a pjsua2 test phone as the patient, real Redis,
the real voice app (keypad recogniser, espeak-ng) and SQLite agenda.

A booked appointment gets a reminder job; at its time (virtual clock a few seconds before J-1 18:00)
the outbound call rings the patient's phone, which answers and presses 1 (it is the patient) then
1 / 2 (confirm / cancel): the appointment is confirmed / cancelled. A phone that never answers or is
busy: the retries happen as configured, then the outcome is recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from standardiste.agenda.model import Appointment, AppointmentStatus, PatientIdentity
from standardiste.agenda.sql import SqlAgenda
from standardiste.app import VoiceApp
from standardiste.config import Config, PracticeConfig, RedisConfig
from standardiste.pbx import PbxInstance
from standardiste.redis_server import RedisServer
from standardiste.reminders.clock import Clock
from standardiste.reminders.component import ReminderComponent
from standardiste.reminders.store import DONE, AttemptRecord, ReminderStore
from standardiste.testphone import ANSWER_NOW, BUSY, NEVER_ANSWER, AnswerPolicy, TestPhone
from tests.integration.reminders_support import VIRTUAL_NOW, book, wait_until, wednesday

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]


@dataclass
class Rig:
    app: VoiceApp
    agenda: SqlAgenda
    store: ReminderStore
    phone: TestPhone
    component: ReminderComponent


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig(
    pbx: PbxInstance,
    app_factory: Callable[..., Awaitable[VoiceApp]],
    phone_factory: Callable[..., Awaitable[TestPhone]],
    redis_server: RedisServer,
    demo_config: Config,
) -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    async def make(
        answer: AnswerPolicy,
        clock: Clock,
        practice: PracticeConfig | None = None,
        ring_timeout_s: int = 20,
        **speech: object,
    ) -> Rig:
        app = await app_factory(clock=clock, **speech)  # calls and reminders on the same clock
        assert app.db is not None and app.call_log is not None
        agenda = app._agenda
        assert isinstance(agenda, SqlAgenda)
        phone = await phone_factory(pbx.phone("patient1"), answer=answer)
        # The deployment as `serve` would read it: this PBX, the patient's calls to test phone patient1.
        deployment = demo_config.deployment.model_copy(
            update={
                "asterisk": pbx.config.model_copy(update={"outbound_endpoint": "patient1"}),
                "redis": RedisConfig(url=redis_server.url, manage_server=False),
            }
        )
        config = Config(practice=practice or demo_config.practice, deployment=deployment)
        component = ReminderComponent(
            config,
            pbx.secrets,
            app.db,
            agenda,
            app.call_log,
            clock=clock,
            namespace="e2e:reminders",
            ring_timeout_s=ring_timeout_s,
            lease_ttl_s=1.5,
            sweep_interval_s=1.0,
            sweep_grace_s=5.0,
            drain_interval_s=0.2,
        )
        await component.start()
        service = component.service
        assert await wait_until(lambda: service.is_leader, 10)
        rig = Rig(app, agenda, ReminderStore(app.db, app.call_log.cipher), phone, component)
        made.append(rig)
        return rig

    yield make
    for r in made:
        await r.component.stop()


async def _answer_and_press(phone: TestPhone, digits: list[str]) -> None:
    call = await phone.wait_incoming(timeout=20)
    await call.wait_media()
    for digit in digits:
        # Each question is a few seconds of speech; keys barge in, but let the prompt start first.
        await asyncio.sleep(2.5)
        await call.send_dtmf(digit)
    await call.wait_disconnected(timeout=60)


def _attempts_done(store: ReminderStore, appointment: Appointment, count: int) -> Callable[[], bool]:
    def check() -> bool:
        attempts = store.attempts(appointment.id)
        return len(attempts) >= count and all(a.outcome is not None for a in attempts)

    return check


@pytest.mark.parametrize(
    ("keys", "status", "outcome"),
    [
        ("1", AppointmentStatus.CONFIRMED, "confirmed"),
        ("2", AppointmentStatus.CANCELLED, "cancelled"),
        # 3: move; 1: the first free slot; 1: the first offer; 1: yes.
        ("3111", AppointmentStatus.BOOKED, "rescheduled"),
    ],
)
async def test_reminder_call_confirms_cancels_or_moves(
    rig: RigFactory, keys: str, status: AppointmentStatus, outcome: str
) -> None:
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(seconds=5))
    r = await rig(ANSWER_NOW, clock)
    clock.set(VIRTUAL_NOW - dt.timedelta(seconds=5))  # set-up time must not eat the delay
    appointment = book(r.agenda, wednesday(10), clock.now())
    job_id = f"reminder:{appointment.id}"
    assert await wait_until(lambda: (r.store.get(job_id) or pytest.fail()).synced, 5)
    await _answer_and_press(r.phone, ["1", *keys])
    assert await wait_until(_attempts_done(r.store, appointment, 1), 20)
    [attempt] = r.store.attempts(appointment.id)
    assert attempt.outcome == outcome, attempt
    after = r.agenda.get(appointment.id)
    assert after.status == status
    if outcome == "rescheduled":
        assert after.start != appointment.start
    job = r.store.get(job_id)
    assert job is not None and job.state in (DONE, "removed")
    await asyncio.sleep(2)
    assert len(r.store.attempts(appointment.id)) == 1  # sent exactly once
    assert len(r.phone.incoming_calls()) == 1


@pytest.mark.parametrize(("policy", "expected"), [(NEVER_ANSWER, "no_answer"), (BUSY, "busy")])
async def test_unanswered_reminder_is_retried_then_recorded(
    rig: RigFactory, demo_config: Config, policy: AnswerPolicy, expected: str
) -> None:
    # 1 retry, 1 minute apart; the clock runs 20x (a virtual minute is 3 real seconds).
    policy_ = demo_config.practice.reminders.model_copy(update={"retries": 1, "retry_delay_minutes": 1})
    practice = demo_config.practice.model_copy(update={"reminders": policy_})
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(seconds=100), speed=20)
    r = await rig(policy, clock, practice=practice, ring_timeout_s=5)
    clock.set(VIRTUAL_NOW - dt.timedelta(seconds=100))
    appointment = book(r.agenda, wednesday(10), clock.now())
    assert await wait_until(_attempts_done(r.store, appointment, 2), 90)
    attempts: list[AttemptRecord] = r.store.attempts(appointment.id)
    assert [a.outcome for a in attempts] == [expected, expected], attempts
    assert attempts[1].due_at - attempts[0].ended_at >= dt.timedelta(minutes=1)  # type: ignore[operator]
    job = r.store.get(f"reminder:{appointment.id}")
    assert job is not None and job.state == DONE and job.last_outcome == expected
    await asyncio.sleep(3)
    assert len(r.store.attempts(appointment.id)) == 2
    assert r.agenda.get(appointment.id).status == AppointmentStatus.BOOKED


async def test_answering_machine_gets_callback_message(rig: RigFactory) -> None:
    """Picked up, nobody responds (an answering machine): the conversation leaves the "please call
    us back" message; the attempt is recorded as voicemail and not retried."""
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(seconds=5))
    r = await rig(ANSWER_NOW, clock, silence_timeout_s=2.0)
    clock.set(VIRTUAL_NOW - dt.timedelta(seconds=5))
    appointment = book(r.agenda, wednesday(10), clock.now())
    call = await r.phone.wait_incoming(timeout=20)
    await call.wait_disconnected(timeout=90)
    assert await wait_until(_attempts_done(r.store, appointment, 1), 20)
    [attempt] = r.store.attempts(appointment.id)
    assert attempt.outcome == "voicemail", attempt
    assert call.heard_seconds() > 5  # the questions, then the call-back message
    job = r.store.get(f"reminder:{appointment.id}")
    assert job is not None and job.state == DONE
    assert r.agenda.get(appointment.id).status == AppointmentStatus.BOOKED


async def test_follow_up_call_after_consultation(rig: RigFactory, demo_config: Config) -> None:
    """An appointment type with follow_up_call: the day after, inside the windows, the patient is
    called with purpose follow_up. (Its questions are open speech: the keypad-only test recogniser
    cannot answer them, so this checks the scheduling and the call, not the dialogue.)"""
    types = [
        t.model_copy(update={"follow_up_call": True}) if t.id == "consultation" else t
        for t in demo_config.practice.appointment_types
    ]
    practice = demo_config.practice.model_copy(update={"appointment_types": types})
    # Thursday 3 December 10:19:55: the consultation of Wednesday 10:00-10:20 ended nearly a day ago.
    thursday = dt.datetime(2026, 12, 3, 10, 19, 55, tzinfo=VIRTUAL_NOW.tzinfo)
    clock = Clock.starting_at(thursday)
    r = await rig(ANSWER_NOW, clock, practice=practice)
    clock.set(thursday)
    appointment = book(r.agenda, wednesday(10), VIRTUAL_NOW)  # booked earlier, on Tuesday
    job = r.store.get(f"follow_up:{appointment.id}")
    assert job is not None and job.run_at == wednesday(10, 20) + dt.timedelta(days=1)
    assert r.store.get(f"reminder:{appointment.id}") is None  # the reminder time is long past
    call = await r.phone.wait_incoming(timeout=20)
    await call.wait_media()
    await asyncio.sleep(2.5)
    await call.send_dtmf("1")  # "Êtes-vous Marie Durand ?" yes
    await asyncio.sleep(3)
    await call.hangup()
    assert await wait_until(_attempts_done(r.store, appointment, 1), 20)
    [attempt] = r.store.attempts(appointment.id)
    assert attempt.kind == "follow_up" and attempt.details.get("answered") is True
    await asyncio.sleep(2)
    assert len(r.store.attempts(appointment.id)) == 1  # answered: not retried


async def test_outbound_limit_holds_on_real_calls(rig: RigFactory, demo_config: Config) -> None:
    """Four reminders due at once, max_concurrent_calls = 2: never more than two calls ring the
    phone at the same time; all four are placed."""
    policy_ = demo_config.practice.reminders.model_copy(update={"retries": 0, "max_concurrent_calls": 2})
    practice = demo_config.practice.model_copy(update={"reminders": policy_})
    clock = Clock.starting_at(VIRTUAL_NOW - dt.timedelta(seconds=5))
    r = await rig(NEVER_ANSWER, clock, practice=practice, ring_timeout_s=4)
    clock.set(VIRTUAL_NOW - dt.timedelta(seconds=5))
    slots = [("martin", 0), ("martin", 20), ("benali", 0), ("benali", 20)]
    booked = [
        book(
            r.agenda,
            wednesday(10, minute),
            clock.now(),
            practitioner=who,
            patient=PatientIdentity(f"Patient{i}", "Test", dt.date(1970, 1, 1 + i), f"+3361234567{i}"),
        )
        for i, (who, minute) in enumerate(slots)
    ]
    most = 0
    for _ in range(300):  # 30 s
        ringing = sum(1 for c in r.phone.incoming_calls() if not c.ended)
        most = max(most, ringing)
        if all(_attempts_done(r.store, a, 1)() for a in booked):
            break
        await asyncio.sleep(0.1)
    assert all(_attempts_done(r.store, a, 1)() for a in booked)
    assert len(r.phone.incoming_calls()) == 4
    assert most == 2, most
    assert {r.store.attempts(a.id)[0].outcome for a in booked} == {"no_answer"}
