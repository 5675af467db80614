"""A local redis-server managed by Standardiste: AOF persistence in a data directory.

`make run` (through `standardiste run`) and the tests start their own server; in production
`deployment.redis.manage_server = false` points at a Redis run by the system instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import redis

from standardiste.config import DeploymentConfig

log = logging.getLogger(__name__)

REDIS_SERVER_BINARY = "redis-server"


class RedisServerError(Exception):
    """redis-server could not be started or did not answer."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class RedisAddress:
    host: str
    port: int
    db: int = 0

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", ""):
            raise RedisServerError(f"URL Redis non gérée / unsupported Redis URL: {url!r}")
        db = int(parsed.path.strip("/") or 0)
        return cls(parsed.hostname or "127.0.0.1", parsed.port or 6379, db)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"


class RedisServer:
    """One redis-server process with AOF persistence.

    fsync once a second (Redis' default): a power cut may lose the last second of job writes, which
    the reminders' database outbox and sweep make good; "always" is 20x slower (measured: 205 vs
    4,800 job writes/s).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        appendfsync: str = "everysec",
        binary: str = REDIS_SERVER_BINARY,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.appendfsync = appendfsync
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_deployment(cls, deployment: DeploymentConfig) -> RedisServer:
        address = RedisAddress.from_url(deployment.redis.url)
        return cls(deployment.data_dir / "redis", port=address.port, host=address.host)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command_line(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",  # AOF only: no RDB snapshots competing for the disk
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]

    def ping(self, timeout: float = 0.5) -> bool:
        client = redis.Redis(
            host=self.host, port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        if shutil.which(self.binary) is None:
            raise RedisServerError(
                f"{self.binary} introuvable : installez le paquet Debian redis-server / not installed"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self.command_line(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace")
                self._process = None
                raise RedisServerError(
                    f"redis-server s'est arrêté au démarrage / exited at start: {err}"
                    f" (voir/see {self.data_dir / 'redis.log'})"
                )
            if self.ping(0.2) and self._ours_and_loaded():
                log.info("redis-server started on %s:%d (AOF in %s)", self.host, self.port, self.data_dir)
                return
            time.sleep(0.05)
        self.kill()
        raise RedisServerError(f"redis-server ne répond pas sur le port {self.port} / did not answer")

    def _ours_and_loaded(self) -> bool:
        # Another server on the port would answer PING too: check its pid. While the AOF is
        # being replayed, PING answers but commands fail with LOADING.
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=0.5)
        try:
            info = client.info()
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        if self._process is None or info.get("process_id") != self._process.pid:
            self.kill()
            raise RedisServerError(f"port {self.port} déjà utilisé / already in use")
        return info.get("loading", 0) == 0

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop: SHUTDOWN flushes the AOF."""
        if self._process is None:
            return
        if self._process.poll() is None:
            client = redis.Redis(host=self.host, port=self.port, socket_timeout=timeout)
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(nosave=True)  # AOF already holds every write; no RDB wanted
            client.close()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.terminate()
                self._process.wait(5)
        self._close_pipes()
        self._process = None

    def kill(self) -> None:
        """Hard stop (SIGKILL), as a crash would."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)
        self._close_pipes()
        self._process = None

    def _close_pipes(self) -> None:
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()

    # Async component API, for `standardiste serve`.
    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
