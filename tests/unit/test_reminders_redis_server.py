"""The managed redis-server: start on a free port, AOF keeps data across a restart and a crash,
clear errors for a bad binary or a busy port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from standardiste.config import DeploymentConfig, RedisConfig, Secrets
from standardiste.redis_server import RedisAddress, RedisServer, RedisServerError, managed_url

pytestmark = pytest.mark.redis


def test_start_ping_stop_and_aof_survives_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        assert server.ping()
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.close()
        assert (tmp_path / "redis").exists()
    finally:
        server.stop()
    assert not server.ping()
    server.start()  # same dir, same port
    try:
        client = redis.Redis.from_url(server.url)
        assert client.get("k") == b"v"
        client.close()
        assert "appendonly yes" in (tmp_path / "redis" / "redis.conf").read_text()
    finally:
        server.stop()


def test_crash_then_restart_keeps_acknowledged_writes(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendfsync="always")
    server.start()
    client = redis.Redis.from_url(server.url)
    client.set("k", "kept")
    client.close()
    server.kill()  # SIGKILL, as a crash
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.get("k") == b"kept"
        client.close()
    finally:
        server.stop()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        other = RedisServer(tmp_path / "other", port=busy.getsockname()[1])
        with pytest.raises(RedisServerError):
            other.start(timeout=5)


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RedisServerError, match="redis-server"):
        RedisServer(tmp_path, binary="no-such-redis-server").start()


def test_from_deployment(tmp_path: Path) -> None:
    secrets_ = Secrets(ari_password="a", ami_secret="b", encryption_key="c", session_key="d")
    deployment = DeploymentConfig(data_dir=tmp_path)
    server = RedisServer.from_deployment(deployment, secrets_)
    assert server.data_dir == (tmp_path / "redis").absolute() and server.port is None
    assert server.password == secrets_.redis_password
    assert managed_url(deployment, secrets_) == server.url
    assert server.url.startswith("unix://standardiste:")
    external = DeploymentConfig(data_dir=tmp_path, redis=RedisConfig(url="redis://127.0.0.1:6390/2"))
    assert (
        managed_url(external, secrets_) == f"redis://standardiste:{secrets_.redis_password}@127.0.0.1:6390/2"
    )
    assert RedisAddress.from_url("redis://127.0.0.1:6390/2").db == 2
    with pytest.raises(RedisServerError):
        RedisAddress.from_url("http://x")
