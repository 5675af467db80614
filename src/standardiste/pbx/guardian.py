"""The guardian: a tiny process that frees the controller's callers the moment the controller dies.

Asterisk 22 keeps a channel in Stasis when the ARI application's websocket goes away (measured:
tests/integration/test_fallback.py), so without help the caller hears silence until the dead-man
TIMEOUT(absolute) fires (seconds). The guardian closes that gap:

- `standardiste serve` starts it (`Guardian.spawn`) before it registers its ARI application. It is
  a separate process, standard library only, that reads the controller's heartbeats on a pipe.
- When the pipe reaches end of file (the controller exited, crashed or was killed -9: the kernel
  closes its end at once), when the controller process is stopped (SIGSTOP, Ctrl-Z, a debugger:
  /proc says state T) for `stopped_s`, or when no heartbeat came for `stall_s` (the controller's
  event loop is stuck), it lists the channels still in the application's Stasis and sends each one
  on in the dialplan (ARI POST /channels/{id}/continue, no target: the next priority, i.e. the
  shipped fallback to the reception queue). Media channels of the dead controller are hung up.
- Before that, after `hold_s` without a heartbeat, it starts music on hold for those callers (the
  controller paces their audio from its event loop: they may be hearing silence) and stops it if
  a heartbeat comes back: a slow controller loses nothing, a stuck one is never silent long.
- It ignores SIGINT/SIGTERM (a Ctrl-C or `systemctl stop` reaches the whole group: the controller
  hands its calls over itself and then closes the pipe), so it always outlives the controller.

The dead-man switch stays as the last resort (guardian killed too, e.g. the whole unit SIGKILLed).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.1  # the controller writes one byte this often (from its event loop)
# No heartbeat for this long: the controller's event loop is considered stuck. Longest heartbeat gap
# measured on the 2-core machine loaded to twice its cores, with in the controller process 20 ms
# loop work 10x/s, full GC passes over a 500,000-object heap, a GIL-holding thread and two Whisper
# decodes (bench/bench_heartbeat.py, bench/results/heartbeat.json): 0.40 s with the heap frozen as
# VoiceApp.start does (gc.freeze()), 2.1 s without. 1.5 s is ~4x the first; docs/asterisk.md.
DEFAULT_STALL_S = 1.5
# The controller process is stopped (state T in /proc: SIGSTOP, Ctrl-Z, a debugger) this long:
# it cannot serve its calls, whatever the heartbeat says; no load makes a process stopped.
DEFAULT_STOPPED_S = 0.2
# No heartbeat for this long: the callers may be hearing silence (the controller paces their audio
# from its event loop), so the guardian starts music on hold for them, and stops it as soon as a
# heartbeat comes back. Reversible, so it may sit below the measured worst gap.
DEFAULT_HOLD_S = 0.6
MEDIA_PREFIXES = ("WebSocket/", "UnicastRTP/", "AudioSocket/", "Snoop/")
# Channel variable set on each channel the guardian releases (read by the dialplan's log line).
RELEASED_VARIABLE = "STANDARDISTE_GUARDIAN"


@dataclass(frozen=True, slots=True)
class GuardianConfig:
    ari_url: str  # http://127.0.0.1:8088/ari
    user: str
    password: str
    app: str
    stall_s: float = DEFAULT_STALL_S
    stopped_s: float = DEFAULT_STOPPED_S
    hold_s: float = DEFAULT_HOLD_S

    def to_json(self) -> str:
        return json.dumps(
            {"ari_url": self.ari_url, "user": self.user, "password": self.password, "app": self.app,
             "stall_s": self.stall_s, "stopped_s": self.stopped_s, "hold_s": self.hold_s}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> GuardianConfig:
        d = json.loads(text)
        return cls(
            d["ari_url"], d["user"], d["password"], d["app"],
            float(d.get("stall_s", DEFAULT_STALL_S)), float(d.get("stopped_s", DEFAULT_STOPPED_S)),
            float(d.get("hold_s", DEFAULT_HOLD_S)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Released:
    """What one rescue did: callers sent on in the dialplan, media channels hung up, failures."""

    callers: tuple[str, ...]
    media: tuple[str, ...]
    failed: tuple[str, ...]
    took_s: float


def stranded(channels: Iterable[dict[str, Any]], app: str) -> tuple[list[str], list[str]]:
    """(callers, media) of the channels that sit in Stasis(<app>, ...): pure, for tests."""
    callers: list[str] = []
    media: list[str] = []
    for ch in channels:
        plan = ch.get("dialplan") or {}
        name = str(ch.get("name", ""))
        in_app = plan.get("app_name") == "Stasis" and str(plan.get("app_data", "")).split(",")[0] == app
        if name.startswith(MEDIA_PREFIXES):
            # ARI-made media channels carry no dialplan app; they are ours when named after our calls.
            if in_app or not plan.get("app_name"):
                media.append(str(ch["id"]))
            continue
        if in_app:
            callers.append(str(ch["id"]))
    return callers, media


class AriRescuer:
    """Blocking ARI calls over one keep-alive HTTP connection (standard library only)."""

    def __init__(self, config: GuardianConfig, timeout_s: float = 2.0) -> None:
        self.config = config
        url = urllib.parse.urlsplit(config.ari_url)
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or 80
        self._base = url.path.rstrip("/")
        token = base64.b64encode(f"{config.user}:{config.password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> tuple[int, bytes]:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
            try:
                self._conn.request(method, f"{self._base}{path}{query}", headers=self._headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _stranded(self) -> tuple[list[str], list[str]]:
        status, body = self._request("GET", "/channels")
        if status != 200:
            raise OSError(f"ARI GET /channels answered {status}")
        return stranded(json.loads(body), self.config.app)

    def hold(self) -> list[str]:
        """Music on hold for every caller in our Stasis (the controller may be stuck); their ids."""
        callers, _ = self._stranded()
        held: list[str] = []
        for channel in callers:
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = self._request("POST", f"/channels/{channel}/moh")
                if status < 300:
                    held.append(channel)
        return held

    def unhold(self, channels: Iterable[str]) -> None:
        """The controller is back: its callers hear it again (channels gone meanwhile are skipped)."""
        for channel in channels:
            with contextlib.suppress(OSError, http.client.HTTPException):
                self._request("DELETE", f"/channels/{channel}/moh")

    def rescue(self, held: Iterable[str] = ()) -> Released:
        start = time.monotonic()
        callers, media = self._stranded()
        done: list[str] = []
        failed: list[str] = []
        self.unhold(c for c in held if c in callers)  # the dialplan's ringback/prompts take over
        for channel in callers:
            try:
                mark = {"variable": RELEASED_VARIABLE, "value": "1"}
                self._request("POST", f"/channels/{channel}/variable", mark)
                status, _ = self._request("POST", f"/channels/{channel}/continue")
            except (OSError, http.client.HTTPException):
                status = 0
            (done if status < 300 or status == 404 else failed).append(channel)
        for channel in media:
            with contextlib.suppress(OSError, http.client.HTTPException):
                self._request("DELETE", f"/channels/{channel}")
        return Released(tuple(done), tuple(media), tuple(failed), time.monotonic() - start)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def process_state(pid: int) -> str:
    """The one-letter state of a process from /proc (R, S, D, T, t, Z...); "" when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    rest = stat[stat.rfind(b")") + 1 :].split()
    return rest[0].decode("ascii", "replace") if rest else ""


def is_stopped(pid: int) -> bool:
    return process_state(pid) in ("T", "t")


def watch(
    fd: int,
    stall_s: float,
    on_dead: Callable[[str], None],
    *,
    pid: int = 0,
    stopped_s: float = DEFAULT_STOPPED_S,
    hold_s: float = 0.0,
    on_hold: Callable[[], None] | None = None,
    on_resume: Callable[[float], None] | None = None,
    on_late: Callable[[float], None] | None = None,
    stopped: Callable[[int], bool] = is_stopped,
) -> None:
    """Block until the controller is gone (EOF: 'exited'), stopped ('stopped') or silent ('stalled').

    pid: the controller's process (0: not checked); it counts as 'stopped' when /proc shows it
    stopped and no heartbeat came for stopped_s. hold_s (0: off): after this long without a
    heartbeat on_hold() runs once (music on hold), and on_resume(gap) if a heartbeat then comes
    back before stall_s. on_late(gap) is told of every heartbeat gap longer than half stall_s
    (the log keeps them: how close the real load comes to the threshold).
    """
    tick = min(0.05, stopped_s / 2, stall_s / 4, *([hold_s / 2] if hold_s > 0 else []))
    last = time.monotonic()
    holding = False
    while True:
        now = time.monotonic()
        deadline = last + (hold_s if hold_s > 0 and not holding else stall_s)
        ready, _, _ = select.select([fd], [], [], max(0.0, min(tick, deadline - now)))
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                on_dead("exited")
                return
            now = time.monotonic()
            if holding and on_resume is not None:
                on_resume(now - last)
            holding = False
            if on_late is not None and now - last > stall_s / 2:
                on_late(now - last)
            last = now
            continue
        now = time.monotonic()
        if now - last >= stall_s:
            on_dead("stalled")
        elif pid and now - last >= stopped_s and stopped(pid):
            on_dead("stopped")
        else:
            if hold_s > 0 and not holding and now - last >= hold_s:
                holding = True
                if on_hold is not None:
                    on_hold()
            continue
        # A stuck or stopped controller may wake up: keep watching (it may be killed later).
        holding = False
        last = time.monotonic()


def main() -> int:
    """Entry point of the guardian process: first line on stdin is its JSON config."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="guardian: %(message)s", stream=sys.stderr)
    fd = sys.stdin.fileno()
    first = b""
    while not first.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            return 0
        first += chunk
    config = GuardianConfig.from_json(first.decode())
    controller_pid = os.getppid()  # Guardian.spawn runs in the controller process
    rescuer = AriRescuer(config)

    held: list[str] = []

    def on_dead(why: str) -> None:
        for attempt in range(20):  # Asterisk may be restarting: try for a few seconds
            try:
                released = rescuer.rescue(held)
            except (OSError, http.client.HTTPException, ValueError) as err:
                log.warning("controller %s; ARI unreachable (%s), retrying", why, err)
                time.sleep(0.25 if attempt < 10 else 1.0)
                continue
            held.clear()
            if released.callers or released.media or released.failed:
                log.warning(
                    "controller %s: %d caller(s) sent to the fallback, %d media channel(s) hung up, "
                    "%d failed, in %.0f ms",
                    *(why, len(released.callers), len(released.media), len(released.failed)),
                    released.took_s * 1000,
                )
            return

    def on_hold() -> None:
        try:
            held[:] = rescuer.hold()
        except (OSError, http.client.HTTPException, ValueError) as err:
            log.warning("controller silent; ARI unreachable for music on hold (%s)", err)
            return
        if held:
            log.warning(
                "controller silent for %.0f ms: music on hold for %d caller(s)",
                config.hold_s * 1000,
                len(held),
            )

    def on_resume(gap_s: float) -> None:
        if held:
            rescuer.unhold(held)
            log.warning(
                "controller back after %.0f ms: music on hold stopped for %d caller(s)",
                gap_s * 1000,
                len(held),
            )
        held.clear()

    def on_late(gap_s: float) -> None:
        log.warning(
            "heartbeat late: %.0f ms without one (threshold %.0f ms)", gap_s * 1000, config.stall_s * 1000
        )

    print("READY", flush=True)
    watch(
        fd, config.stall_s, on_dead, pid=controller_pid, stopped_s=config.stopped_s,
        hold_s=config.hold_s, on_hold=on_hold, on_resume=on_resume, on_late=on_late,
    )  # fmt: skip
    rescuer.close()
    return 0


class Guardian:
    """The controller's handle on its guardian process: spawn, heartbeat, close."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def spawn(cls, config: GuardianConfig) -> Guardian:
        proc = subprocess.Popen(
            [sys.executable, "-m", "standardiste.pbx.guardian"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(config.to_json().encode() + b"\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != b"READY":
            proc.kill()
            raise RuntimeError("the guardian process did not start")
        return cls(proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def beat(self) -> bool:
        """One heartbeat; False when the guardian is gone (the caller may spawn another)."""
        if self.proc.stdin is None or not self.alive():
            return False
        try:
            self.proc.stdin.write(b".")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the pipe (the guardian releases whatever is left in Stasis) and wait for it."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    raise SystemExit(main())
