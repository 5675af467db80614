"""One Asterisk process running in the shared chroot root, with its own instance directory.

The root (a Debian sid filesystem with Asterisk 22) is shared and never modified; each
instance keeps its configuration, sockets, spool, logs and databases under
`<root>/<instance dir>`, pointed to by its own asterisk.conf. Several instances (tests running
at once, each with free ports) therefore never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from standardiste.config import AsteriskConfig, Secrets
from standardiste.pbx.dialplan import DEFAULT_WATCHDOG_S

ASTERISK_BIN = "/usr/sbin/asterisk"
_PLACEHOLDER = re.compile(r"@@([A-Za-z0-9_]+)@@")
_SOUND_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# Shared read-only parts of the root's data dir, linked into each instance's data dir.
_SHARED_DATA = ("documentation", "rest-api", "static-http", "keys", "firmware", "phoneprov", "agi-bin")
_SOUND_LANGS_SRC = "/usr/share/asterisk/sounds"
# Debian's French prompts (asterisk-core-sounds-fr-gsm) install as fr_CA_f_June, without an fr link.
_FRENCH_SOUNDS = "fr_CA_f_June"


class PbxError(RuntimeError):
    """Asterisk could not be started, stopped or reached; the message says why in plain words."""


def templates_dir() -> Path:
    """The shipped configuration templates (the repository's asterisk/ folder)."""
    env = os.environ.get("STANDARDISTE_ASTERISK_TEMPLATES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "asterisk"


@dataclass(frozen=True)
class PhoneAccount:
    """Credentials of a SIP endpoint that registers to this Asterisk (reception, test phones)."""

    endpoint: str
    username: str
    password: str
    host: str
    port: int

    @property
    def registrar(self) -> str:
        return f"sip:{self.host}:{self.port}"

    @property
    def uri(self) -> str:
        return f"sip:{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class DrainResult:
    drained: bool  # every call ended by itself before the limit
    waited_s: float
    calls_at_start: int
    calls_cut: int  # calls still up at the limit, cut by the hard stop

    def describe(self) -> str:
        if self.drained:
            return (
                f"Asterisk arrêté après la fin des appels en cours / stopped once calls ended "
                f"({self.calls_at_start} appel(s), {self.waited_s:.1f} s)."
            )
        return (
            f"Délai dépassé : {self.calls_cut} appel(s) coupé(s) après {self.waited_s:.0f} s / "
            f"time limit reached, {self.calls_cut} call(s) cut."
        )


@dataclass(frozen=True)
class PbxStatus:
    running: bool
    pid: int | None = None
    fully_booted: bool = False
    active_channels: int | None = None
    registered: tuple[str, ...] = ()
    detail: str = ""
    uptime: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """Plain words for an IT person."""
        if not self.running:
            return f"Asterisk ne tourne pas / Asterisk is not running. {self.detail}".strip()
        parts = [f"Asterisk tourne / Asterisk is running (pid {self.pid})"]
        if self.uptime:
            parts.append(f"depuis / up {self.uptime}")
        if not self.fully_booted:
            parts.append("démarrage en cours / still starting")
        if self.active_channels is not None:
            parts.append(f"{self.active_channels} canal(aux) actif(s) / active channel(s)")
        parts.append(
            "téléphones enregistrés / registered phones: " + (", ".join(self.registered) or "aucun / none")
        )
        return "; ".join(parts) + "."


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both TCP and UDP right now (bind port 0)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as s2:
                s2.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise PbxError("no free port found")


def free_asterisk_config(app_name: str = "standardiste", **overrides: object) -> AsteriskConfig:
    """An AsteriskConfig on free loopback ports (tests, several instances at once)."""
    rtp_start = 20000 + secrets.randbelow(40) * 1000
    values: dict[str, object] = {
        "bind": "127.0.0.1",
        "sip_port": free_port(socket.SOCK_DGRAM),
        "http_port": free_port(),
        "ami_port": free_port(),
        "rtp_start": rtp_start,
        "rtp_end": rtp_start + 999,
        "app_name": app_name,
    }
    values.update(overrides)
    return AsteriskConfig.model_validate(values)


class PbxInstance:
    """One Asterisk: render its configuration, start, query, stop.

    `root`: the Asterisk root filesystem. `instance_dir`: a directory INSIDE root (host path),
    created if needed. `asterisk`: ports, bind address, app and user names. `secrets`: the
    ARI password and AMI secret. Test phones `caller1..callers` and `patient1..patients` are
    declared besides `reception`; their passwords are generated once per instance dir.
    """

    def __init__(
        self,
        root: Path,
        instance_dir: Path,
        asterisk: AsteriskConfig,
        secrets_: Secrets,
        *,
        callers: int = 4,
        patients: int = 3,
        watchdog_s: int = DEFAULT_WATCHDOG_S,
        reception_ring_s: int = 40,
        queue_max_wait_s: int | None = None,
        message_max_s: int | None = None,
        templates: Path | None = None,
        system_name: str = "standardiste",
        log_dialplan: bool = False,
        launcher: Sequence[str] = (),
    ) -> None:
        self.root = Path(root).resolve()
        self.instance_dir = Path(instance_dir).resolve()
        try:
            rel = self.instance_dir.relative_to(self.root)
        except ValueError:
            raise PbxError(
                f"instance dir {self.instance_dir} must be inside the Asterisk root {self.root}"
            ) from None
        if rel == Path("."):
            raise PbxError("the instance dir cannot be the root itself")
        self.chroot_dir = "/" + rel.as_posix()  # the instance dir as Asterisk sees it
        self.config = asterisk
        self.secrets = secrets_
        self.callers = callers
        self.patients = patients
        self.watchdog_s = watchdog_s  # 0 disables the dead-man switch (only to demonstrate why it exists)
        self.reception_ring_s = reception_ring_s
        # The waiting line and message box (defaults: the configuration; tests shorten them).
        self.queue_max_wait_s = asterisk.queue_max_wait_s if queue_max_wait_s is None else queue_max_wait_s
        self.message_max_s = asterisk.message_max_s if message_max_s is None else message_max_s
        self.templates = templates or templates_dir()
        self.system_name = system_name
        self.log_dialplan = log_dialplan
        # Put before the chroot command: e.g. ("ip", "netns", "exec", "node1") runs this Asterisk in a
        # network namespace (the cluster test, tests/integration/test_cluster_netns.py).
        self.launcher = tuple(launcher)
        self._process: subprocess.Popen[bytes] | None = None
        self._console: io.BufferedWriter | None = None

    # ------------------------------------------------------------------ properties
    @property
    def app_name(self) -> str:
        return self.config.app_name

    @property
    def host(self) -> str:
        """ARI/HTTP and AMI address: always loopback (the controller runs on this machine)."""
        return self.config.bind if self.config.bind.startswith("127.") else "127.0.0.1"

    @property
    def sip_host(self) -> str:
        """Where phones on this machine reach SIP (the bind address; loopback when it is a wildcard)."""
        return "127.0.0.1" if self.config.bind in ("0.0.0.0", "::", "") else self.config.bind

    @property
    def ari_url(self) -> str:
        """Base URL of ARI, e.g. http://127.0.0.1:8088/ari (no trailing slash)."""
        return f"http://{self.host}:{self.config.http_port}/ari"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.config.http_port}"

    @property
    def ws_url(self) -> str:
        """Base websocket URL of Asterisk's HTTP server (ws://host:port); media at /media/<id>."""
        return f"ws://{self.host}:{self.config.http_port}"

    @property
    def ari_user(self) -> str:
        return self.config.ari_user

    @property
    def ari_password(self) -> str:
        return self.secrets.ari_password

    @property
    def ami_port(self) -> int:
        return self.config.ami_port

    @property
    def ami_user(self) -> str:
        return self.config.ami_user

    @property
    def ami_secret(self) -> str:
        return self.secrets.ami_secret

    @property
    def sip_port(self) -> int:
        return self.config.sip_port

    @property
    def practice_extension(self) -> str:
        return self.config.practice_extension

    @property
    def reception_endpoint(self) -> str:
        return self.config.reception_endpoint

    @property
    def conf_path(self) -> Path:
        """Host path of this instance's asterisk.conf."""
        return self.instance_dir / "etc" / "asterisk.conf"

    @property
    def log_path(self) -> Path:
        return self.instance_dir / "log" / "messages.log"

    @property
    def console_log_path(self) -> Path:
        return self.instance_dir / "log" / "console.log"

    @property
    def pidfile(self) -> Path:
        return self.instance_dir / "run" / "standardiste-asterisk.pid"

    @property
    def sounds_dir(self) -> Path:
        """Host path of this instance's custom sounds (played as sound:custom/NAME)."""
        return self.instance_dir / "share" / "sounds" / "custom"

    def host_path(self, chroot_path: str) -> Path:
        """Host path of a path as Asterisk sees it (e.g. a recording's location)."""
        return self.root / chroot_path.lstrip("/")

    def chroot_path(self, host_path: Path) -> str:
        return "/" + Path(host_path).resolve().relative_to(self.root).as_posix()

    @property
    def messages_dir(self) -> Path:
        """Host path of the messages callers leave (WAV + a .done marker once the call is over)."""
        return self.instance_dir / "spool" / "standardiste-messages"

    @property
    def moh_dir(self) -> Path:
        """Host path of the hold music files (musiconhold.conf, class default)."""
        return self.instance_dir / "share" / "moh"

    @property
    def queue_members(self) -> list[str]:
        return list(self.config.queue_members) or [self.config.reception_endpoint]

    @property
    def recordings_dir(self) -> Path:
        """Host path where ARI recordings (live and stored) are written."""
        return self.instance_dir / "spool" / "recording"

    # ------------------------------------------------------------------ phones
    def phone_names(self) -> list[str]:
        return (
            [self.config.reception_endpoint]
            + [f"caller{i}" for i in range(1, self.callers + 1)]
            + [f"patient{i}" for i in range(1, self.patients + 1)]
        )

    def _phone_passwords(self) -> dict[str, str]:
        path = self.instance_dir / "phones.json"
        known: dict[str, str] = {}
        if path.exists():
            with contextlib.suppress(ValueError, OSError):
                known = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
        changed = False
        for name in self.phone_names():
            if name not in known:
                known[name] = secrets.token_urlsafe(12)
                changed = True
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(known, indent=1))
            tmp.chmod(0o600)
            tmp.replace(path)
        return known

    def phone(self, name: str) -> PhoneAccount:
        """Credentials of one registered phone: 'reception', 'caller1', 'patient2'..."""
        if name not in self.phone_names():
            raise KeyError(f"no phone {name!r} in this instance (known: {', '.join(self.phone_names())})")
        password = self._phone_passwords()[name]
        return PhoneAccount(name, name, password, self.sip_host, self.config.sip_port)

    @property
    def reception(self) -> PhoneAccount:
        return self.phone(self.config.reception_endpoint)

    # ------------------------------------------------------------------ render
    def _values(self) -> dict[str, str]:
        cfg = self.config
        passwords = self._phone_passwords()
        values = {
            "INSTANCE": self.chroot_dir,
            "SYSTEM_NAME": self.system_name,
            "BIND": cfg.bind,  # SIP: may be the LAN address, for the practice's desk phones
            "LOCAL_BIND": self.host,  # ARI/HTTP and AMI: loopback only, even when SIP faces the LAN
            "SIP_PORT": str(cfg.sip_port),
            "HTTP_PORT": str(cfg.http_port),
            "AMI_PORT": str(cfg.ami_port),
            "RTP_START": str(cfg.rtp_start),
            "RTP_END": str(cfg.rtp_end),
            "APP": cfg.app_name,
            "ARI_USER": cfg.ari_user,
            "ARI_PASSWORD": self.secrets.ari_password,
            "AMI_USER": cfg.ami_user,
            "AMI_SECRET": self.secrets.ami_secret,
            "PRACTICE_EXTENSION": cfg.practice_extension,
            "RECEPTION_ENDPOINT": cfg.reception_endpoint,
            "WATCHDOG_S": str(self.watchdog_s),
            "RECEPTION_RING_S": str(self.reception_ring_s),
            "QUEUE_MAX_WAIT_S": str(self.queue_max_wait_s),
            "MESSAGE_MAX_S": str(self.message_max_s),
            "QUEUE_STRATEGY": cfg.queue_strategy,
            "RECEPTION_DIAL": "&".join(f"PJSIP/{m}" for m in self.queue_members),
            "QUEUE_MEMBERS": "\n".join(f"member => PJSIP/{m},0,{m}" for m in self.queue_members),
            "CALLER_ENDPOINTS": _phone_blocks(
                [f"caller{i}" for i in range(1, self.callers + 1)], "standardiste-inbound", passwords
            ),
            "PATIENT_ENDPOINTS": _phone_blocks(
                [f"patient{i}" for i in range(1, self.patients + 1)], "standardiste-inbound", passwords
            ),
        }
        values["EDGE_ENDPOINT"] = _edge_block(cfg.edge_addresses)
        for name, password in passwords.items():
            values[f"PASSWORD_{name}"] = password
        values["PHONE_EXTENSIONS"] = _phone_extensions(self.dialable_endpoints())
        # Dialplan traces (verbose) name callers: only when asked (tests, log_transcripts).
        values["LOG_LEVELS"] = "notice,warning,error" + (",verbose" if self.log_dialplan else "")
        values["VERBOSE"] = "3" if self.log_dialplan else "0"
        return values

    def dialable_endpoints(self) -> list[str]:
        """The only endpoints the practice's phones may dial (their [standardiste-phones] allow-list)."""
        names = [*self.phone_names(), *self.queue_members, *self.config.dialable_endpoints]
        return list(dict.fromkeys(names))

    def render(self) -> None:
        """Write this instance's configuration and directories (idempotent)."""
        d = self.instance_dir
        for sub in ("etc", "run", "log", "lib/keys", "cache", "share/sounds/custom"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("recording", "outgoing", "tmp", "monitor", "voicemail", "standardiste-messages"):
            (d / "spool" / sub).mkdir(parents=True, exist_ok=True)
        self._link_shared_data()
        from standardiste.pbx.sounds import write_hold_music

        write_hold_music(self.moh_dir)
        values = self._values()
        templates = sorted(self.templates.glob("*.conf"))
        if not templates:
            raise PbxError(f"no configuration templates in {self.templates}")
        for template in templates:
            text = template.read_text(encoding="utf-8")

            def fill(match: re.Match[str], source: Path = template) -> str:
                key = match.group(1)
                if key not in values:
                    raise PbxError(f"{source.name}: unknown placeholder @@{key}@@")
                value = values[key]
                if key not in _GENERATED_BLOCKS and _UNSAFE_VALUE.search(value):
                    # A value must stay one token of its line: never a new line, section or comment.
                    raise PbxError(f"{source.name}: unsafe value for @@{key}@@: {value!r}")
                return value

            out = d / "etc" / template.name
            tmp = out.with_suffix(".tmp")
            tmp.write_text(_PLACEHOLDER.sub(fill, text), encoding="utf-8")
            tmp.chmod(0o600)
            tmp.replace(out)
        if self.config.run_as_user:
            self._grant_pbx_user(self.config.run_as_user)

    def _grant_pbx_user(self, user: str) -> None:
        """Asterisk drops to `user` (a user of the root's /etc/passwd) right after start: it may read
        its configuration (root-owned, group-readable, never writable) and write only its run, log,
        spool, lib and cache directories."""
        ensure_root_account(self.root, user, self.config.run_as_group)
        uid, gid = root_user_ids(self.root, user)
        if self.config.run_as_group:
            gid = root_group_id(self.root, self.config.run_as_group)
        d = self.instance_dir
        os.chown(d, 0, gid)
        d.chmod(0o750)
        for sub in ("etc", "share"):
            os.chown(d / sub, 0, gid)
            (d / sub).chmod(0o750)
        for conf in (d / "etc").glob("*.conf"):
            os.chown(conf, 0, gid)
            conf.chmod(0o640)
        for sub in ("run", "log", "lib", "cache", "spool", "share/sounds/custom"):
            # Spool (recordings, messages) and custom prompts are shared with the controller's group.
            shared = sub in ("spool", "share/sounds/custom")
            for path in [d / sub, *(d / sub).rglob("*")]:
                if path.is_symlink():
                    continue
                os.chown(path, uid, gid)
                if path.is_dir():
                    path.chmod(0o2770 if shared else 0o750)

    def rotate_logs(self, max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> None:
        """Size-based rotation of Asterisk's console and messages logs (copy, then truncate: Asterisk
        keeps writing to the same open file). Run at start and by `pbx start --foreground` (systemd)."""
        for path in (self.console_log_path, self.log_path):
            rotate_file(path, max_bytes, backups)
            with contextlib.suppress(FileNotFoundError):
                path.chmod(0o640)

    def _link_shared_data(self) -> None:
        share = self.instance_dir / "share"
        for name in _SHARED_DATA:
            _symlink(share / name, f"/usr/share/asterisk/{name}")
        sounds = share / "sounds"
        src = self.root / _SOUND_LANGS_SRC.lstrip("/")
        if src.is_dir():
            for entry in src.iterdir():
                if entry.name in ("custom",):
                    continue
                _symlink(sounds / entry.name, f"{_SOUND_LANGS_SRC}/{entry.name}")
        if (src / _FRENCH_SOUNDS).is_dir():
            _symlink(sounds / "fr", f"{_SOUND_LANGS_SRC}/{_FRENCH_SOUNDS}")

    # ------------------------------------------------------------------ sounds
    def install_sound(self, name: str, wav: Path | bytes) -> str:
        """Install a WAV (file path or file bytes) as sound:custom/NAME; returns that media URI.

        8 kHz mono 16-bit is kept as NAME.wav; 16 kHz as NAME.wav16 (Asterisk picks the best
        for the channel); any other rate/width/channels is converted to 16 kHz mono first.
        """
        data = Path(wav).read_bytes() if isinstance(wav, Path) else wav
        with wave.open(io.BytesIO(data)) as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            pcm = w.readframes(w.getnframes())
        if width != 2 or channels != 1 or rate not in (8000, 16000):
            pcm, rate = _to_mono16(pcm, rate, width, channels), 16000
        return self.install_sound_pcm(name, pcm, rate)

    def install_sound_pcm(self, name: str, pcm: bytes, rate: int = 16000) -> str:
        """Install signed 16-bit mono PCM (8 or 16 kHz) as sound:custom/NAME."""
        if not _SOUND_NAME.match(name):
            raise ValueError(f"invalid sound name {name!r} (letters, digits, '-' and '_' only)")
        if rate not in (8000, 16000):
            raise ValueError("rate must be 8000 or 16000")
        self.sounds_dir.mkdir(parents=True, exist_ok=True)
        ext = "wav" if rate == 8000 else "wav16"
        for old in ("wav", "wav16"):
            (self.sounds_dir / f"{name}.{old}").unlink(missing_ok=True)
        out = self.sounds_dir / f"{name}.{ext}"
        tmp = self.sounds_dir / f".{name}.tmp"
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        tmp.replace(out)
        return f"sound:custom/{name}"

    # ------------------------------------------------------------------ process control
    def _command(self, *args: str) -> list[str]:
        conf = f"{self.chroot_dir}/etc/asterisk.conf"
        return [*self.launcher, "chroot", str(self.root), ASTERISK_BIN, "-C", conf, *args]

    def rx(self, command: str, timeout: float = 10.0) -> str:
        """Run one CLI command on the running Asterisk (asterisk -rx) and return its output."""
        try:
            proc = subprocess.run(
                self._command("-rx", command), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise PbxError(f"asterisk -rx {command!r} timed out after {timeout:.0f} s") from None
        if proc.returncode != 0 or "Unable to connect to remote asterisk" in proc.stdout:
            raise PbxError(f"asterisk -rx {command!r} failed: {(proc.stdout + proc.stderr).strip()}")
        return proc.stdout

    async def arx(self, command: str, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        """rx() off the event loop."""
        return await asyncio.to_thread(self.rx, command, timeout)

    def pid(self) -> int | None:
        """Pid of this instance's Asterisk, from our process handle or the pidfile (ours, or the one
        Asterisk writes itself when systemd started it in its root: deploy/standardiste-asterisk.service)."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        for pidfile in (self.pidfile, self.instance_dir / "run" / "asterisk.pid"):
            try:
                pid = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                continue
            if _alive(pid) and _is_asterisk(pid, self.chroot_dir):
                return pid
        return None

    def spawn(self, tie_to_parent: bool = False) -> int:
        """Start Asterisk in the background (detached from this process group); returns its pid.

        tie_to_parent: Asterisk is killed if this process dies (tests: no orphan Asterisk after a
        crashed run). The CLI leaves it False: `pbx start` returns and Asterisk keeps running.
        """
        if self.pid() is not None:
            raise PbxError(f"Asterisk already runs for {self.instance_dir} (pid {self.pid()})")
        if not (self.root / ASTERISK_BIN.lstrip("/")).exists():
            raise PbxError(f"no Asterisk in {self.root}: run `standardiste pbx build` first")
        self.render()
        # Remove a stale control socket so -rx never talks to a dead instance.
        (self.instance_dir / "run" / "asterisk.ctl").unlink(missing_ok=True)
        self.rotate_logs()
        fd = os.open(self.console_log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.fchmod(fd, 0o640)  # the log names callers: not world-readable
        self._console = os.fdopen(fd, "ab")
        user = self.config.run_as_user
        privileges = ("-U", user, "-G", self.config.run_as_group or user) if user else ()
        self._process = subprocess.Popen(
            self._command(*privileges, "-f", "-n"),
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup_tied if tie_to_parent else _child_setup,
        )
        self.pidfile.write_text(f"{self._process.pid}\n")
        return self._process.pid

    async def start(self, timeout: float = 30.0, tie_to_parent: bool = False) -> None:  # noqa: ASYNC109
        """Start Asterisk and wait until it is fully booted and ARI answers."""
        self.spawn(tie_to_parent)
        deadline = time.monotonic() + timeout
        try:
            await self._wait_booted(deadline)
            await self._check_bound()
            await self.wait_ari(deadline - time.monotonic())
        except BaseException:
            await self.stop()
            raise

    async def _check_bound(self) -> None:
        """Fail fast when a port was taken (Asterisk keeps running without its HTTP server)."""
        http = await self.arx("http show status")
        if f":{self.config.http_port}" not in http:
            raise PbxError(f"Asterisk could not listen on HTTP port {self.config.http_port}: {http.strip()}")
        transports = await self.arx("pjsip show transports")
        if f":{self.config.sip_port}" not in transports:
            raise PbxError(f"Asterisk could not listen on SIP port {self.config.sip_port}: {self._tail()}")

    async def _wait_booted(self, deadline: float) -> None:
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise PbxError(f"Asterisk exited at start (code {self._process.returncode}): {self._tail()}")
            try:
                out = await self.arx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                if "fully booted" in out.lower():
                    return
            except PbxError:
                pass
            if time.monotonic() > deadline:
                raise PbxError(f"Asterisk did not finish booting in time: {self._tail()}")
            await asyncio.sleep(0.1)

    async def wait_ari(self, timeout: float = 10.0) -> dict[str, object]:  # noqa: ASYNC109
        """Wait until ARI answers GET /asterisk/info; returns its JSON."""
        deadline = time.monotonic() + max(timeout, 0.5)
        last = ""
        async with aiohttp.ClientSession(headers=self.ari_headers()) as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(
                        f"{self.ari_url}/asterisk/info", timeout=aiohttp.ClientTimeout(2)
                    ) as r:
                        if r.status == 200:
                            return await r.json()
                        last = f"HTTP {r.status}"
                except (aiohttp.ClientError, TimeoutError) as err:
                    last = str(err) or type(err).__name__
                await asyncio.sleep(0.1)
        raise PbxError(f"ARI does not answer on {self.ari_url}: {last}")

    def ari_headers(self) -> dict[str, str]:
        """Authorization header for ARI requests and the events websocket."""
        import base64

        token = base64.b64encode(f"{self.ari_user}:{self.ari_password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop Asterisk (core stop now, then SIGTERM, then SIGKILL)."""
        await asyncio.to_thread(self.stop_sync, timeout)

    def active_calls(self) -> int | None:
        try:
            text = self.rx("core show channels count", timeout=3)
        except PbxError:
            return None
        match = re.search(r"(\d+) (?:of \d+ max )?active call", text)  # "1 of 60 max active call"
        return int(match.group(1)) if match else None

    def drain_sync(self, limit_s: float = 120.0, poll_s: float = 0.2) -> DrainResult:
        """A planned stop: refuse new calls, let the calls in progress end, then stop.

        `core stop gracefully` makes Asterisk refuse new channels and exit once the last call is
        over; past `limit_s` the calls still up are cut (`core stop now`). Returns what happened.
        """
        started = time.monotonic()
        pid = self.pid()
        if pid is None:
            return DrainResult(drained=True, waited_s=0.0, calls_at_start=0, calls_cut=0)
        calls = self.active_calls() or 0
        # The CLI command blocks until Asterisk exits: run it in the background.
        graceful = subprocess.Popen(
            self._command("-rx", "core stop gracefully"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            last_seen = calls
            while time.monotonic() - started < limit_s:
                if self._wait_exit(pid, poll_s):
                    self.stop_sync()  # tidy: pidfile, console log
                    return DrainResult(True, time.monotonic() - started, calls, 0)
                seen = self.active_calls()
                if seen is not None:
                    last_seen = seen
            self.stop_sync()
            return DrainResult(False, time.monotonic() - started, calls, last_seen)
        finally:
            if graceful.poll() is None:
                graceful.kill()
            graceful.wait()

    async def drain(self, limit_s: float = 120.0) -> DrainResult:
        return await asyncio.to_thread(self.drain_sync, limit_s)

    def stop_sync(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(PbxError):
                self.rx("core stop now", timeout=min(timeout, 5.0))
            if not self._wait_exit(pid, timeout / 2):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                if not self._wait_exit(pid, timeout / 2):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    self._wait_exit(pid, 2.0)
        self._process = None
        if self._console is not None:
            self._console.close()
            self._console = None
        self.pidfile.unlink(missing_ok=True)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return True
            elif not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def status(self) -> PbxStatus:
        pid = self.pid()
        if pid is None:
            return PbxStatus(running=False, detail=f"(instance : {self.instance_dir})")
        try:
            booted = "fully booted" in self.rx("core waitfullybooted", timeout=3).lower()
            uptime_text = self.rx("core show uptime", timeout=3)
            channels_text = self.rx("core show channels count", timeout=3)
            contacts_text = self.rx("pjsip show contacts", timeout=3)
        except PbxError as err:
            return PbxStatus(
                running=True, pid=pid, detail=f"ne répond pas à la console / CLI not answering: {err}"
            )
        match = re.search(r"(\d+) active channel", channels_text)
        uptime = re.search(r"System uptime:\s*(.+)", uptime_text)
        registered = tuple(sorted(set(re.findall(r"Contact:\s+([A-Za-z0-9_-]+)/sip:", contacts_text))))
        return PbxStatus(
            running=True,
            pid=pid,
            fully_booted=booted,
            active_channels=int(match.group(1)) if match else None,
            registered=registered,
            uptime=uptime.group(1).strip() if uptime else "",
        )

    def _tail(self, lines: int = 15) -> str:
        try:
            text = self.console_log_path.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def remove(self) -> None:
        """Delete the instance directory (the instance must be stopped)."""
        if self.pid() is not None:
            raise PbxError("stop the instance before removing it")
        shutil.rmtree(self.instance_dir, ignore_errors=True)


# Placeholders filled with several generated lines (from validated names); every other value must be
# a single token: no newline, no section bracket, no comment, no argument separator.
_GENERATED_BLOCKS = frozenset(
    {"QUEUE_MEMBERS", "CALLER_ENDPOINTS", "PATIENT_ENDPOINTS", "PHONE_EXTENSIONS", "EDGE_ENDPOINT"}
)
_UNSAFE_VALUE = re.compile(r"[\r\n;\[\]\x00]")
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _phone_extensions(endpoints: list[str]) -> str:
    """One explicit `exten` per internal phone: dialling its name rings it, nothing else is dialable."""
    lines = []
    for name in endpoints:
        if not _ENDPOINT_NAME.match(name):
            raise PbxError(f"invalid endpoint name {name!r}")
        lines.append(f"exten => {name},1,Dial(PJSIP/{name},30)\n same => n,Hangup()")
    return "\n".join(lines)


def _phone_blocks(names: list[str], context: str, passwords: Mapping[str, str]) -> str:
    blocks = []
    for name in names:
        blocks.append(
            f"[{name}](phone-endpoint)\ncontext = {context}\nauth = {name}\naors = {name}\n"
            f'callerid = "{name}" <{name}>\n\n'
            f"[{name}](phone-auth)\nusername = {name}\npassword = {passwords[name]}\n\n"
            f"[{name}](phone-aor)\n"
        )
    return "\n".join(blocks)


def _edge_block(addresses: list[str]) -> str:
    """The pjsip endpoint for calls relayed by the cluster's Kamailio (none: not a cluster node).
    Kamailio's OPTIONS probes are answered 200 because they come from an identified endpoint."""
    if not addresses:
        return "; (not a cluster node: no edge endpoint)"
    return (
        "[edge]\ntype = endpoint\ntransport = transport-udp\ncontext = standardiste-inbound\n"
        "disallow = all\nallow = alaw,ulaw\ndirect_media = no\nrtp_symmetric = yes\n"
        "dtmf_mode = rfc4733\nlanguage = fr\n\n"
        f"[edge]\ntype = identify\nendpoint = edge\nmatch = {','.join(addresses)}\n"
    )


def _symlink(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == target:
            return
        if link.is_symlink() or link.is_file():
            link.unlink()
        else:
            return
    os.symlink(target, link)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _child_setup() -> None:
    """In the child before exec: files Asterisk creates (logs, recordings) are not world-readable."""
    os.umask(0o027)


def _child_setup_tied() -> None:
    _child_setup()
    _die_with_parent()


def rotate_file(path: Path, max_bytes: int, backups: int) -> bool:
    """path -> path.1 -> ... -> path.<backups> when path exceeds max_bytes (copy + truncate, so a
    process appending to it goes on writing at the start of the emptied file). Mode 0640 kept."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for i in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{i + 1}"))
    first = path.with_name(f"{path.name}.1")
    shutil.copyfile(path, first)
    first.chmod(0o640)
    with open(path, "r+b") as f:
        f.truncate(0)
    return True


def ensure_root_account(root: Path, user: str, group: str | None = None) -> None:
    """Make a host service account known inside the Asterisk root, with the same ids (Asterisk and
    systemd must agree on who owns its files). A name already in the root is left as it is."""
    import grp
    import pwd

    def add(path: Path, name: str, line: str) -> None:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if any(entry.split(":", 1)[0] == name for entry in text.splitlines()):
            return
        separator = "" if text.endswith("\n") or not text else "\n"
        path.write_text(f"{text}{separator}{line}\n", encoding="utf-8")

    if group:
        try:
            host_group = grp.getgrnam(group)
        except KeyError:
            pass
        else:
            add(root / "etc" / "group", group, f"{group}:x:{host_group.gr_gid}:")
    try:
        host_user = pwd.getpwnam(user)
    except KeyError:
        return
    add(
        root / "etc" / "passwd",
        user,
        f"{user}:x:{host_user.pw_uid}:{host_user.pw_gid}:Standardiste PBX:/nonexistent:/usr/sbin/nologin",
    )


def root_group_id(root: Path, group: str) -> int:
    for line in (root / "etc" / "group").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == group:
            return int(fields[2])
    raise PbxError(f"no group {group!r} in the Asterisk root ({root}/etc/group)")


def root_user_ids(root: Path, user: str) -> tuple[int, int]:
    """uid and primary gid of `user` in the root's /etc/passwd (Asterisk's -U looks there)."""
    try:
        for line in (root / "etc" / "passwd").read_text(encoding="utf-8").splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == user:
                return int(fields[2]), int(fields[3])
    except OSError as err:
        raise PbxError(f"cannot read {root}/etc/passwd: {err}") from None
    raise PbxError(
        f"no user {user!r} in the Asterisk root ({root}/etc/passwd): run_as_user must exist there "
        "(the Debian package creates 'asterisk')"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _is_asterisk(pid: int, chroot_dir: str) -> bool:
    """Guard against a reused pid: the process must be an asterisk for this instance."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        any(b"asterisk" in part for part in cmdline) and f"{chroot_dir}/etc/asterisk.conf".encode() in cmdline
    )


def _to_mono16(pcm: bytes, rate: int, width: int, channels: int) -> bytes:
    import numpy as np
    import soxr

    if width == 1:
        samples = (np.frombuffer(pcm, dtype=np.uint8).astype(np.float32) - 128) / 128
    elif width == 2:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    elif width == 4:
        samples = np.frombuffer(pcm, dtype="<i4").astype(np.float32) / 2**31
    else:
        raise ValueError(f"unsupported WAV sample width {width}")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != 16000:
        samples = soxr.resample(samples, rate, 16000)
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
