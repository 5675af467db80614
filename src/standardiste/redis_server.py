"""A local redis-server managed by Standardiste: AOF persistence in a data directory.

Reachable only by the service: it listens on a unix socket inside its data directory (mode 0700,
socket mode 0700), the `default` user is off and the one ACL user, "standardiste", needs the
password from data_dir/secrets.toml (the config file holds only its SHA-256, mode 0600). TCP on
loopback is optional (`port`), for an IT person's own tools; it needs the same password.

`make run` (through `standardiste run`) and the tests start their own server; the
standardiste-redis systemd unit runs `standardiste redis serve` as the service user.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

import redis

from standardiste.config import DeploymentConfig, Secrets

log = logging.getLogger(__name__)

REDIS_SERVER_BINARY = "redis-server"
ACL_USER = "standardiste"
# The service's rights: every data command, none of the server-admin ones (CONFIG, DEBUG, MODULE,
# ACL, REPLICAOF, SAVE, FLUSHALL, KEYS, MONITOR...); INFO for the start-up check.
ACL_RULES = "~* &* +@all -@dangerous +info"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes


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


def _private_dir(path: Path) -> Path:
    """Create (or check) a directory only this user can enter; refuse one someone else prepared."""
    path.mkdir(parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise RedisServerError(f"{path}: pas un répertoire à nous / not a directory we own")
    path.chmod(0o700)
    return path


def managed_url(deployment: DeploymentConfig, secrets_: Secrets) -> str:
    """The URL the controller uses: the managed server's socket, or the configured URL with the
    password from secrets.toml when the URL carries none."""
    url = deployment.redis.url
    if url is None:
        return RedisServer.from_deployment(deployment, secrets_).url
    parsed = urlparse(url)
    if parsed.password is None and parsed.scheme in ("redis", "rediss"):
        netloc = f"{ACL_USER}:{quote(secrets_.redis_password, safe='')}@{parsed.netloc.rpartition('@')[2]}"
        return parsed._replace(netloc=netloc).geturl()
    return url


class RedisServer:
    """One redis-server process with AOF persistence, on a private unix socket with a password.

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
        password: str | None = None,
    ) -> None:
        """`port`: also listen on TCP (loopback); None: the unix socket only. `password`: the ACL
        user's (None: a fresh random one, for tests)."""
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port
        self.appendfsync = appendfsync
        self.binary = binary
        self.password = password or os.urandom(18).hex()
        self.socket_path = self._socket_path()
        self._process: subprocess.Popen[bytes] | None = None

    def _socket_path(self) -> Path:
        path = self.data_dir / "redis.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        # Too long for a unix socket (deep test directories): a private directory in /tmp instead.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"standardiste-redis-{digest}" / "redis.sock"

    @classmethod
    def from_deployment(cls, deployment: DeploymentConfig, secrets_: Secrets) -> RedisServer:
        return cls(deployment.data_dir / "redis", password=secrets_.redis_password)

    @property
    def url(self) -> str:
        return f"unix://{ACL_USER}:{quote(self.password, safe='')}@{self.socket_path}?db=0"

    @property
    def tcp_url(self) -> str:
        if self.port is None:
            raise RedisServerError("pas de port TCP / no TCP port")
        return f"redis://{ACL_USER}:{quote(self.password, safe='')}@{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def config_text(self) -> str:
        """redis.conf: written 0600 in the 0700 data directory (the password is never on a command
        line, which every local user can read in /proc)."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        lines = [
            f"port {self.port or 0}",
            f"bind {self.host}",
            f"unixsocket {self.socket_path}",
            "unixsocketperm 700",
            f"dir {self.data_dir}",
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
            'save ""',  # AOF only: no RDB snapshots competing for the disk
            "daemonize no",
            # Protected mode refuses every non-loopback client while `default` has no password; here
            # `default` is off and the one user needs a password, so a cluster's Redis (bound to the
            # LAN for the nodes: docs/scale.md) turns it off; on loopback it stays on.
            f"protected-mode {'yes' if self.host in ('127.0.0.1', '::1', 'localhost') else 'no'}",
            f"logfile {self.data_dir / 'redis.log'}",
            "user default off nopass nocommands",
            f"user {ACL_USER} on #{digest} {ACL_RULES}",
        ]
        return "\n".join(lines) + "\n"

    def write_config(self) -> Path:
        _private_dir(self.data_dir)
        _private_dir(self.socket_path.parent)
        path = self.data_dir / "redis.conf"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.config_text())
        tmp.replace(path)
        return path

    def command_line(self) -> list[str]:
        return [self.binary, str(self.data_dir / "redis.conf")]

    def _client(self, timeout: float) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            username=ACL_USER,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def ping(self, timeout: float = 0.5) -> bool:
        client = self._client(timeout)
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
        self.write_config()
        self._process = subprocess.Popen(
            self.command_line(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace")
                self._process = None
                log_tail = self._log_tail()
                raise RedisServerError(
                    f"redis-server s'est arrêté au démarrage / exited at start: {err}{log_tail}"
                    f" (voir/see {self.data_dir / 'redis.log'})"
                )
            if self.ping(0.2) and self._ours_and_loaded():
                log.info("redis-server started on %s (AOF in %s)", self.socket_path, self.data_dir)
                return
            time.sleep(0.05)
        self.kill()
        raise RedisServerError(f"redis-server ne répond pas sur {self.socket_path} / did not answer")

    def _log_tail(self) -> str:
        try:
            return " ".join((self.data_dir / "redis.log").read_text(errors="replace").splitlines()[-3:])
        except OSError:
            return ""

    def _ours_and_loaded(self) -> bool:
        # Another server on the socket would answer PING too: check its pid. While the AOF is
        # being replayed, PING answers but commands fail with LOADING.
        client = self._client(0.5)
        try:
            info = client.info()
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        if self._process is None or info.get("process_id") != self._process.pid:
            self.kill()
            raise RedisServerError(f"{self.socket_path} déjà utilisé / already in use")
        return info.get("loading", 0) == 0

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop: SIGTERM makes Redis flush the AOF and exit (SHUTDOWN is an admin command
        the service's ACL user does not have)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
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

    def wait(self) -> int:
        """Block until the server exits (the systemd unit's foreground mode)."""
        if self._process is None:
            return 0
        return self._process.wait()

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
