"""APScheduler's Redis job store without pickle: jobs are stored as small JSON documents and
validated when read back.

APScheduler's own RedisJobStore unpickles whatever sits in its hash: anyone able to write that key
runs code in the controller. Here a job is `{"v": 1, "id": ..., "run_date": ..., "next_run_time":
...}`: the function is always `due_marker`, its one argument the job id, its trigger a DateTrigger.
A value that is not such a document (a pickle, a bad id, a naive date) is logged and removed.
No phone number or name is ever stored in Redis: the job id names the appointment, and the number is
read from the agenda when the call is placed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp

log = logging.getLogger(__name__)

DUE_MARKER_REF = "standardiste.reminders.service:due_marker"
JOB_ID_RE = re.compile(r"^(reminder|follow_up):[A-Za-z0-9._@:-]{1,200}$")
MAX_DOCUMENT_BYTES = 1024


class InvalidJob(ValueError):
    """A job store value that is not one of our JSON job documents."""


def _utc(text: Any) -> dt.datetime:
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidJob("date expected")
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise InvalidJob("naive date")
    return moment.astimezone(dt.UTC)


def encode_job(job: Job) -> bytes:
    if job.func_ref != DUE_MARKER_REF:
        raise InvalidJob(f"only {DUE_MARKER_REF} jobs are stored, not {job.func_ref}")
    if not isinstance(job.trigger, DateTrigger):
        raise InvalidJob("only date triggers are stored")
    if list(job.args) != [job.id] or job.kwargs or not JOB_ID_RE.match(job.id):
        raise InvalidJob(f"unexpected job arguments for {job.id!r}")
    document = {
        "v": 1,
        "id": job.id,
        "run_date": job.trigger.run_date.astimezone(dt.UTC).isoformat(),
        "next_run_time": job.next_run_time.astimezone(dt.UTC).isoformat() if job.next_run_time else None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode_state(raw: bytes | str, expected_id: str | None = None) -> dict[str, Any]:
    """The Job state for one stored value; raises InvalidJob for anything else (never unpickles)."""
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_DOCUMENT_BYTES or not raw.startswith(b"{"):
        raise InvalidJob("not a JSON job document")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidJob(f"not JSON: {err}") from None
    if not isinstance(document, dict) or set(document) != {"v", "id", "run_date", "next_run_time"}:
        raise InvalidJob("unexpected fields")
    job_id = document["id"]
    if document["v"] != 1 or not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise InvalidJob("bad version or id")
    if expected_id is not None and job_id != expected_id:
        raise InvalidJob("id differs from its key")
    try:
        run_date = _utc(document["run_date"])
        next_run = None if document["next_run_time"] is None else _utc(document["next_run_time"])
    except ValueError as err:
        raise InvalidJob(str(err)) from None
    trigger = DateTrigger.__new__(DateTrigger)
    trigger.__setstate__({"version": 1, "run_date": run_date})
    return {
        "version": 1,
        "id": job_id,
        "func": DUE_MARKER_REF,
        "trigger": trigger,
        "executor": "default",
        "args": (job_id,),
        "kwargs": {},
        "name": "due_marker",
        "misfire_grace_time": None,
        "coalesce": True,
        "max_instances": 1000,
        "next_run_time": next_run,
    }


class JsonRedisJobStore(RedisJobStore):  # type: ignore[misc]  # APScheduler 3 ships no types: the base is Any
    """RedisJobStore with JSON documents instead of pickles (same keys, same sorted set)."""

    def add_job(self, job: Job) -> None:
        if self.redis.hexists(self.jobs_key, job.id):
            raise ConflictingIdError(job.id)
        self._write(job)

    def update_job(self, job: Job) -> None:
        if not self.redis.hexists(self.jobs_key, job.id):
            raise JobLookupError(job.id)
        self._write(job)

    def _write(self, job: Job) -> None:
        with self.redis.pipeline() as pipe:
            pipe.multi()
            pipe.hset(self.jobs_key, job.id, encode_job(job))
            if job.next_run_time:
                pipe.zadd(self.run_times_key, {job.id: datetime_to_utc_timestamp(job.next_run_time)})
            else:
                pipe.zrem(self.run_times_key, job.id)
            pipe.execute()

    def _reconstitute_job(self, job_state: bytes, job_id: str | None = None) -> Job:
        job = Job.__new__(Job)
        job.__setstate__(decode_state(job_state, job_id))
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def lookup_job(self, job_id: str) -> Job | None:
        raw = self.redis.hget(self.jobs_key, job_id)
        if not raw:
            return None
        jobs = self._reconstitute_jobs([(job_id.encode(), raw)])
        return jobs[0] if jobs else None

    def _reconstitute_jobs(self, job_states: Iterable[tuple[bytes | str, bytes | None]]) -> list[Job]:
        jobs: list[Job] = []
        bad: list[bytes | str] = []
        for key, raw in job_states:
            job_id = key.decode(errors="replace") if isinstance(key, bytes) else key
            try:
                if raw is None:
                    raise InvalidJob("no document")
                jobs.append(self._reconstitute_job(raw, job_id))
            except (InvalidJob, ValueError, TypeError, LookupError) as err:
                log.warning("reminders: invalid job in Redis removed (%s): %s", job_id[:80], err)
                bad.append(key)
        if bad:
            with self.redis.pipeline() as pipe:
                pipe.hdel(self.jobs_key, *bad)
                pipe.zrem(self.run_times_key, *bad)
                pipe.execute()
        return jobs
