"""The reminder service: an async component run by every controller process.

- Every process: its agenda listener writes the desired schedule to the database (the outbox) and a
  drainer copies it into APScheduler's RedisJobStore whenever Redis answers.
- One process at a time (the Redis lease holder) runs the scheduler: APScheduler fires due jobs, the
  job is claimed in the database under the leader's fence, then dialled by at most
  `max_concurrent_calls` workers. Outcomes go to `reminder_attempts`; no answer/busy are retried.
- A periodic sweep (leader) catches what Redis lost or a dead leader left half done.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import redis
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from standardiste import metrics
from standardiste.agenda.model import Agenda, AgendaEvent, Appointment, AppointmentStatus, NotFound
from standardiste.clock import Clock, SystemClock
from standardiste.config import PracticeConfig
from standardiste.dialogue.messages import OutcomeKind
from standardiste.outbound import is_allowed
from standardiste.privacy.crypto import FieldCipher
from standardiste.reminders.dialer import RETRYABLE, CallRequest, CallResult, Dialer
from standardiste.reminders.jobstore import JsonRedisJobStore
from standardiste.reminders.lease import Lease
from standardiste.reminders.planner import plan
from standardiste.reminders.policy import (
    CallWindows,
    HolidayCheck,
    follow_up_retry_time,
    retry_time,
)
from standardiste.reminders.store import (
    CALLING,
    FOLLOW_UP,
    QUEUED,
    REMINDER,
    SCHEDULED,
    FencedOut,
    JobState,
    ReminderStore,
    current_fence,
    job_id_for,
)
from standardiste.storage.db import Database

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "standardiste:reminders"
CLAIM_SLACK = dt.timedelta(seconds=1)
DRAIN_BATCH = 200
_RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end"
SYNC_LOCK_MS = 10_000  # APScheduler may fire a hair before the stored virtual time


def due_marker(job_id: str) -> None:
    """The APScheduler job function. The work is done by the leader's listener on job submission
    (it holds the service instance; a job function would need a process-wide registry)."""


def default_holidays() -> HolidayCheck:
    """French public holidays as the agenda computes them (one source of truth)."""
    from standardiste.agenda.rules import holiday_name

    def is_holiday(day: dt.date) -> bool:
        return holiday_name(day) is not None

    return is_holiday


class ReminderService:
    def __init__(
        self,
        *,
        db: Database,
        practice: PracticeConfig,
        redis_url: str,
        dialer: Dialer,
        agenda: Agenda | None = None,
        is_holiday: HolidayCheck | None = None,
        clock: Clock | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        node: str | None = None,
        lease_ttl_s: float = 3.0,
        sweep_interval_s: float = 5.0,
        sweep_grace_s: float = 10.0,
        drain_interval_s: float = 1.0,
        max_concurrent_calls: int | None = None,
        dispatch: bool = True,
        cipher: FieldCipher | None = None,
    ) -> None:
        """`dispatch=False`: a process that only changes the schedule (e.g. the dashboard); it never
        becomes the active scheduler nor places calls."""
        self.db = db
        self.store = ReminderStore(db, cipher)  # the cipher seals numbers to call and attempts' details
        self.practice = practice
        self.dialer = dialer
        self.agenda = agenda
        self.clock: Clock = clock or SystemClock()
        self.tz = ZoneInfo(practice.timezone)
        self._is_holiday = is_holiday or default_holidays()
        self.windows = CallWindows(practice.reminders, self.tz, self._is_holiday)
        # The live practice settings (dashboard changes); None: the practice given here, fixed.
        self.settings: Callable[[], PracticeConfig] | None = None
        self.namespace = namespace
        self.node = node or f"{socket.gethostname()}-{secrets.token_hex(4)}"
        self.lease_ttl_s = lease_ttl_s
        self.sweep_interval_s = sweep_interval_s
        self.sweep_grace_s = sweep_grace_s
        self.drain_interval_s = drain_interval_s
        self.max_concurrent_calls = max_concurrent_calls or practice.reminders.max_concurrent_calls
        self.dispatch = dispatch
        # Lease traffic must fail fast (its TTL is a few seconds); job store writes may wait longer
        # on a busy disk (AOF) rather than be retried over and over.
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.jobs_redis = redis.Redis.from_url(redis_url, socket_timeout=5.0, socket_connect_timeout=1.0)
        self.lease = Lease(self.redis, namespace, self.node, lease_ttl_s)
        self._sync_lock_key = f"{namespace}:sync-lock"
        self._node_key = f"{namespace}:node:"
        self.scheduler = self._make_scheduler()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._poke = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._leader_fence: int | None = None
        self._scheduler_lock = threading.Lock()
        self._last_sweep = 0.0
        self._stopping = False
        self.redis_ok = False
        self.on_leadership: Callable[[bool], None] | None = None  # tests and logs

    # -- set-up ------------------------------------------------------------------------------------

    def _make_scheduler(self) -> BackgroundScheduler:
        # JSON documents, validated on read: nothing from Redis is ever unpickled.
        store = JsonRedisJobStore(
            jobs_key=f"{self.namespace}:jobs", run_times_key=f"{self.namespace}:run_times"
        )
        store.redis = self.jobs_redis  # our client: URL with password/db, bounded timeouts
        scheduler = BackgroundScheduler(
            jobstores={"default": store},
            timezone=dt.UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1000},
            jobstore_retry_interval=1,
        )
        scheduler.add_listener(self._on_job_submitted, EVENT_JOB_SUBMITTED)
        return scheduler

    @property
    def listener(self) -> ReminderListener:
        return ReminderListener(self)

    @property
    def is_leader(self) -> bool:
        return self._leader_fence is not None and self.lease.held is not None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Paused: every process writes jobs to the store; only the leader processes them.
        self.scheduler.start(paused=True)
        self._tasks = [asyncio.create_task(self._maintenance_loop(), name="reminders-maintenance")]
        if self.dispatch:
            self._tasks.append(asyncio.create_task(self._lease_loop(), name="reminders-lease"))
            self._tasks += [
                asyncio.create_task(self._worker(i), name=f"reminders-call-{i}")
                for i in range(self.max_concurrent_calls)
            ]

    async def stop(self) -> None:
        self._stopping = True
        self._poke.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a cancellation swallowed by a library must not hang the shutdown.
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []
        await asyncio.to_thread(self._shutdown_sync)

    def _shutdown_sync(self) -> None:
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)
        with contextlib.suppress(redis.RedisError, OSError):
            self.lease.release()  # another process takes over at once instead of after the TTL
        self._leader_fence = None
        self.redis.close()
        self.jobs_redis.close()

    def poke(self) -> None:
        """Thread-safe: the schedule changed, drain the outbox now."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._poke.set)

    # -- scheduling (any process) ---------------------------------------------------------------

    def _follow_settings(self) -> None:
        """Reminder time and call windows follow the dashboard's settings for the next changes
        (the number of simultaneous calls is fixed at start)."""
        if self.settings is None:
            return
        try:
            current = self.settings()
        except Exception:
            log.exception("practice settings unreadable; keeping the reminder policy in force")
            return
        if current is not self.practice:
            self.practice = current
            self.windows = CallWindows(current.reminders, self.tz, self._is_holiday)

    def on_change(self, event: AgendaEvent, appointment: Appointment) -> None:
        self._follow_settings()
        now = self.clock.now()
        if event == "confirmed":
            self.store.remove_if_scheduled(job_id_for(REMINDER, appointment.id), now)
        for spec in plan(event, appointment, self.practice, self.windows, now):
            self.store.put(spec, now)
        self.poke()

    def _drain(self) -> int:
        """Copy unsynced rows into the Redis job store, under a short Redis lock (applying an old
        version after a newer one would undo a change). Returns how many were applied."""
        pending = self.store.unsynced(DRAIN_BATCH)
        if not pending:
            return 0
        token = secrets.token_hex(8)
        if not self.jobs_redis.set(self._sync_lock_key, token, nx=True, px=SYNC_LOCK_MS):
            return 0
        applied = 0
        try:
            while pending:
                done: list[tuple[str, int]] = []
                for job in pending:
                    with self._scheduler_lock:
                        if job.state == SCHEDULED and job.run_at is not None:
                            self.scheduler.add_job(
                                due_marker,
                                trigger=DateTrigger(run_date=self.clock.to_real(job.run_at)),
                                args=[job.job_id],
                                id=job.job_id,
                                replace_existing=True,
                            )
                        else:
                            with contextlib.suppress(JobLookupError):
                                self.scheduler.remove_job(job.job_id)
                    done.append((job.job_id, job.version))
                applied += self.store.mark_synced_many(done)
                # Still ours? (a stalled drainer must not apply old versions after another one)
                if not self._renew_sync_lock(token):
                    break
                pending = self.store.unsynced(DRAIN_BATCH)
        finally:
            self.jobs_redis.eval(_RELEASE_LOCK, 1, self._sync_lock_key, token)
        return applied

    def _renew_sync_lock(self, token: str) -> bool:
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
        )
        return bool(self.jobs_redis.eval(script, 1, self._sync_lock_key, token, SYNC_LOCK_MS))

    # -- leadership ----------------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        interval = self.lease_ttl_s / 3
        while not self._stopping:
            try:
                became = await asyncio.to_thread(self._lease_tick)
                self.redis_ok = True
                if became:
                    await self._take_over()
            except (redis.RedisError, OSError) as err:
                if self.redis_ok:
                    log.warning("reminders: Redis unreachable (%s); scheduling kept in the database", err)
                self.redis_ok = False
                if self._leader_fence is not None and self.lease.held is None:
                    self._step_down("lease expired while Redis was unreachable")
            except Exception:
                log.exception("reminders: lease loop error")
            await asyncio.sleep(interval)

    def _lease_tick(self) -> bool:
        """Heartbeat, renew or acquire. True when this process just became the leader."""
        self.redis.set(self._node_key + self.node, "1", px=int(self.lease_ttl_s * 1000))
        if self._leader_fence is not None:
            if self.lease.renew():
                return False
            self._step_down("lease lost")
        held = self.lease.try_acquire()
        if held is None:
            return False
        try:
            self.store.raise_fence(held.fence)
        except FencedOut:
            # Redis lost its data (counter reset): move the counter past the database's fence.
            self.lease.raise_counter(current_fence(self.db))
            self.lease.release()
            return False
        self._leader_fence = held.fence
        return True

    async def _take_over(self) -> None:
        log.info("reminders: %s is the active scheduler (fence %s)", self.node, self._leader_fence)
        await asyncio.to_thread(self._recover_orphans)
        self.scheduler.resume()
        self.scheduler.wakeup()
        await self._sweep(grace=dt.timedelta(0))
        if self.on_leadership:
            self.on_leadership(True)

    def _step_down(self, why: str) -> None:
        if self._leader_fence is None:
            return
        log.warning("reminders: %s stops scheduling (%s)", self.node, why)
        self._leader_fence = None
        self.lease.forget()
        with contextlib.suppress(Exception):
            self.scheduler.pause()
        if self.on_leadership:
            self.on_leadership(False)

    def _node_alive(self, node: str) -> bool:
        return bool(self.redis.exists(self._node_key + node))

    def _recover_orphans(self) -> None:
        """Jobs an older leader claimed: back to the schedule if never dialled; an interrupted call
        (its process is gone) counts as a failed attempt and is retried per policy."""
        fence = self._leader_fence
        if fence is None:
            return
        now = self.clock.now()
        for job in self.store.orphans(fence):
            if job.job_id in self._in_flight:
                continue
            if job.state == QUEUED:
                self.store.release(job, now)
            elif job.state == CALLING:
                attempt = self.store.open_attempt(job)
                if attempt is not None and attempt.node != self.node and self._node_alive(attempt.node):
                    continue  # still on the phone in a live process: it records its own outcome
                self.store.finish_attempt(
                    attempt.id if attempt else None,
                    job,
                    str(OutcomeKind.FAILED),
                    {"reason": "interrupted"},
                    now,
                    self._retry_at(job, OutcomeKind.FAILED, now),
                )

    # -- maintenance ---------------------------------------------------------------------------------

    async def _maintenance_loop(self) -> None:
        while not self._stopping:
            poked = asyncio.ensure_future(self._poke.wait())
            try:
                await asyncio.wait({poked}, timeout=self.drain_interval_s)
            finally:
                poked.cancel()
            self._poke.clear()
            if self._stopping:
                return
            try:
                await asyncio.to_thread(self._drain)
            except (redis.RedisError, OSError) as err:
                # Expected while Redis is down (the lease loop says so once); otherwise worth seeing.
                (log.warning if self.redis_ok else log.debug)(
                    "reminders: outbox kept until Redis answers (%s)", err
                )
            except Exception:
                log.exception("reminders: outbox drain failed")
            if self.is_leader:
                try:
                    self.scheduler.wakeup()  # jobs added by other processes
                    if time.monotonic() - self._last_sweep >= self.sweep_interval_s:
                        await asyncio.to_thread(self._recover_orphans)
                        await self._sweep(grace=dt.timedelta(seconds=self.sweep_grace_s))
                except (redis.RedisError, OSError) as err:
                    log.debug("reminders: sweep skipped (%s)", err)
                except Exception:
                    log.exception("reminders: sweep failed")

    async def _sweep(self, grace: dt.timedelta) -> None:
        self._last_sweep = time.monotonic()
        due = await asyncio.to_thread(self.store.due_scheduled, self.clock.now() - grace)
        for job in due:
            self._enqueue(job.job_id)

    # -- dispatch (leader) -----------------------------------------------------------------------------

    def _on_job_submitted(self, event: JobSubmissionEvent) -> None:
        # APScheduler's thread: hand over to the event loop.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._enqueue, event.job_id)

    def _enqueue(self, job_id: str) -> None:
        if job_id in self._queued or job_id in self._in_flight:
            return
        self._queued.add(job_id)
        self._queue.put_nowait(job_id)

    async def _worker(self, _index: int) -> None:
        while not self._stopping:
            job_id = await self._queue.get()
            self._queued.discard(job_id)
            self._in_flight.add(job_id)
            try:
                await self._dispatch(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reminders: dispatch of %s failed", job_id)
            finally:
                self._in_flight.discard(job_id)

    async def _dispatch(self, job_id: str) -> None:
        fence = self._leader_fence
        if fence is None or not self.is_leader:
            return  # stays scheduled in the database: the next leader's sweep takes it
        job = await asyncio.to_thread(self.store.claim, job_id, self.clock.now() + CLAIM_SLACK, fence)
        if job is None:
            return
        appointment = await self._load_appointment(job)
        skip = self._skip_reason(job, appointment)
        now = self.clock.now()
        if skip is not None:
            await asyncio.to_thread(
                self.store.finish_attempt, None, job, "skipped", {"reason": skip}, now, None
            )
            self.poke()
            return
        if not self.is_leader:
            await asyncio.to_thread(self.store.release, job, now)
            return
        attempt_id = await asyncio.to_thread(self.store.start_attempt, job, fence, self.node, now)
        if attempt_id is None:
            return
        phone = appointment.patient.phone if appointment is not None else job.phone
        if not phone:
            result = CallResult(OutcomeKind.FAILED, {"reason": "no_phone"})
        else:
            request = CallRequest(job.job_id, job.appointment_id, job.kind, job.attempt, phone, appointment)
            try:
                result = await self.dialer.call(request)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.exception("reminders: dialer failed for %s", job.job_id)
                result = CallResult(OutcomeKind.FAILED, {"reason": "dialer_error", "error": str(err)[:200]})
        end = self.clock.now()
        # Someone picked up: no retry (a message was left, or the conversation took its course).
        answered = bool(result.details.get("answered"))
        retry_at = self._retry_at(job, result.outcome, end) if phone and not answered else None
        details: dict[str, Any] = {**result.details}
        if retry_at is not None:
            details["retry_at"] = retry_at.isoformat()
        await asyncio.to_thread(
            self.store.finish_attempt, attempt_id, job, str(result.outcome), details, end, retry_at
        )
        metrics.REMINDERS.labels(purpose=str(job.kind), outcome=str(result.outcome)).inc()
        log.info("reminders: %s attempt %d -> %s", job.job_id, job.attempt, result.outcome)
        self.poke()

    def _retry_at(self, job: JobState, outcome: OutcomeKind, now: dt.datetime) -> dt.datetime | None:
        if outcome not in RETRYABLE:
            return None
        if job.kind == FOLLOW_UP:
            return follow_up_retry_time(now, job.appointment_end, job.attempt, self.windows)
        return retry_time(now, job.appointment_start, job.attempt, self.windows)

    async def _load_appointment(self, job: JobState) -> Appointment | None:
        if self.agenda is None:
            return None
        try:
            return await asyncio.to_thread(self.agenda.get, job.appointment_id)
        except NotFound:
            return None

    def _skip_reason(self, job: JobState, appointment: Appointment | None) -> str | None:
        phone = appointment.patient.phone if appointment is not None else job.phone
        if phone and not is_allowed(phone, self.practice.outbound):
            # Premium-rate, short or foreign numbers are never called (nor retried).
            log.warning("reminders: %s not called: number outside the allowed ranges", job.job_id)
            return "number_not_allowed"
        if self.agenda is None:
            return None
        if appointment is None:
            return "appointment_not_found"
        if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
            return f"appointment_{appointment.status}"
        if job.kind == REMINDER:
            if appointment.status != AppointmentStatus.BOOKED:
                return f"appointment_{appointment.status}"
            if appointment.start != job.appointment_start:
                return "appointment_moved"
        return None


class ReminderListener:
    """The AgendaListener: never raises into the agenda (its change is already committed)."""

    def __init__(self, service: ReminderService) -> None:
        self.service = service

    def on_appointment_changed(self, event: AgendaEvent, appointment: Appointment) -> None:
        try:
            self.service.on_change(event, appointment)
        except Exception:
            log.exception("reminders: could not schedule after %s of %s", event, appointment.id)
