"""Attack replays against the reminders' Redis (issue 15, item 1), on a real redis-server.

- a crafted pickled job written into the job store must not execute when the scheduler reads it;
- a client without the password is refused (read, delete the leader key, delete the jobs);
- another local user cannot even open the socket;
- no phone number is stored in Redis.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from standardiste.agenda.sql import SqlAgenda
from standardiste.config import Config
from standardiste.redis_server import ACL_USER, RedisServer
from standardiste.reminders.clock import Clock
from standardiste.reminders.jobstore import InvalidJob, decode_state
from standardiste.reminders.service import ReminderService
from standardiste.storage.db import Database
from tests.integration.reminders_support import VIRTUAL_NOW, RecordingDialer, book, wait_until, wednesday

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

NS = "attack:reminders"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'standardiste.db'}")
    database.migrate()
    yield database
    database.dispose()


def _authed(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


async def test_crafted_pickled_job_does_not_execute(
    tmp_path: Path, db: Database, redis_server: RedisServer, demo_config: Config
) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker))
    with pytest.raises(InvalidJob):
        decode_state(payload)
    # The attacker's job, due now, in the very keys the scheduler reads (written with the password:
    # the worst case, someone who got past the socket and the ACL).
    client = _authed(redis_server)
    client.hset(f"{NS}:jobs", "reminder:evil", payload)
    client.zadd(f"{NS}:run_times", {"reminder:evil": 1.0})
    clock = Clock.starting_at(VIRTUAL_NOW)
    agenda = SqlAgenda(db, demo_config.practice)
    dialer = RecordingDialer()
    service = ReminderService(
        db=db,
        practice=demo_config.practice,
        redis_url=redis_server.url,
        dialer=dialer,
        agenda=agenda,
        clock=clock,
        namespace=NS,
        lease_ttl_s=1.5,
        sweep_interval_s=1.0,
        drain_interval_s=0.2,
    )
    agenda.add_listener(service.listener)
    await service.start()
    try:
        assert await wait_until(lambda: service.is_leader, 10)
        appointment = book(agenda, wednesday(10), clock.now())
        job_id = f"reminder:{appointment.id}"
        # The scheduler read the store (our job arrived) and threw the forged one away.
        assert await wait_until(lambda: client.hexists(f"{NS}:jobs", job_id), 10)
        assert await wait_until(lambda: not client.hexists(f"{NS}:jobs", "reminder:evil"), 10)
        await asyncio.sleep(1.0)
        assert not marker.exists()
        # What is stored is a small JSON document: no phone number, no name.
        stored = client.hget(f"{NS}:jobs", job_id)
        assert stored is not None and stored.startswith(b"{")
        everything = b"".join(
            (client.dump(key) or b"") for key in (f"{NS}:jobs".encode(), f"{NS}:run_times".encode())
        )
        assert appointment.patient.phone.encode() not in everything
        assert appointment.patient.phone[-8:].encode() not in everything
    finally:
        await service.stop()
        client.close()
    assert not marker.exists()


def test_client_without_password_is_refused(redis_server: RedisServer) -> None:
    client = _authed(redis_server)
    client.set(f"{NS}:leader", "node|1")
    client.hset(f"{NS}:jobs", "reminder:a", b"{}")
    anonymous = redis.Redis(unix_socket_path=str(redis_server.socket_path), socket_timeout=2)
    wrong = redis.Redis(
        unix_socket_path=str(redis_server.socket_path), username=ACL_USER, password="guess", socket_timeout=2
    )
    for attacker in (anonymous, wrong):
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            attacker.delete(f"{NS}:leader", f"{NS}:jobs")
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            attacker.get(f"{NS}:leader")
        attacker.close()
    assert client.get(f"{NS}:leader") == b"node|1" and client.hexists(f"{NS}:jobs", "reminder:a")
    # Even with the password the service's user has no admin commands (CONFIG SET dir + SAVE writes files).
    with pytest.raises(redis.ResponseError, match=r"(?i)permission"):
        client.config_set("dir", "/tmp")
    with pytest.raises(redis.ResponseError, match=r"(?i)permission"):
        client.flushall()
    client.close()


def test_tcp_port_needs_the_password_too(tmp_path: Path) -> None:
    from standardiste.redis_server import free_port

    server = RedisServer(tmp_path / "r", port=free_port())
    server.start()
    try:
        anonymous = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2)
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            anonymous.delete("standardiste:reminders:leader")
        anonymous.close()
        assert redis.Redis.from_url(server.tcp_url).ping()
    finally:
        server.stop()


def test_other_local_user_cannot_open_the_socket(redis_server: RedisServer) -> None:
    data_dir = redis_server.socket_path.parent
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert (redis_server.data_dir / "redis.conf").stat().st_mode & 0o777 == 0o600
    assert redis_server.password not in (redis_server.data_dir / "redis.conf").read_text()
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")  # CI runs as root
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1]); print('connected')\n"
        "except OSError as e: print('refused', e.errno)\n"
    )
    result = subprocess.run(
        ["/usr/bin/python3", "-c", probe, str(redis_server.socket_path)],
        user="nobody",
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert result.stdout.startswith("refused"), result.stdout
