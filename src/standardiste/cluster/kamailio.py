"""Kamailio, the cluster's SIP entry point: kamailio.cfg and dispatcher.list rendered from the
configuration (deployment.cluster.edge), the process started and its dispatcher set read back.

The template (kamailio-template.conf, beside this module) is a stateful proxy with the dispatcher
module: round-robin over the nodes that answer SIP OPTIONS probes, retry of a new call on the next
node when the chosen one does not answer. No media passes through Kamailio (docs/scale.md).
"""

from __future__ import annotations

import glob
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from standardiste.config import EdgeConfig

KAMAILIO_BINARY = "kamailio"
KAMCMD_BINARY = "kamcmd"
DISPATCHER_SET = 1
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


class KamailioError(RuntimeError):
    """Kamailio could not be configured, started or queried."""


def modules_dir() -> str:
    """Debian's module directory (multiarch path)."""
    found = sorted(glob.glob("/usr/lib/*/kamailio/modules")) + sorted(glob.glob("/usr/lib/kamailio/modules"))
    if not found:
        raise KamailioError(
            "modules Kamailio introuvables / Kamailio modules not found (apt-get install kamailio)"
        )
    return found[0] + "/"


def template_text() -> str:
    return resources.files("standardiste.cluster").joinpath("kamailio-template.conf").read_text("utf-8")


def dispatcher_list(edge: EdgeConfig) -> str:
    """dispatcher.list: one line per node, set 1, the node's name as attribute."""
    lines = ["# set destination flags priority attributes (rendered by Standardiste)"]
    for node in edge.nodes:
        lines.append(f"{DISPATCHER_SET} sip:{node.address}:{node.sip_port} 0 0 node={node.name}")
    return "\n".join(lines) + "\n"


def render_config(edge: EdgeConfig, run_dir: Path, *, modules: str | None = None, debug: int = 2) -> str:
    values = {
        "DEBUG": str(debug),
        "CHILDREN": str(edge.children),
        "LISTEN": edge.listen,
        "PORT": str(edge.port),
        "MODULES": modules or modules_dir(),
        "PROBE_TIMEOUT_MS": str(edge.probe_timeout_ms),
        "PROBE_INTERVAL_S": str(edge.probe_interval_s),
        "PROBE_FAILURES": str(edge.probe_failures),
        "PROBE_SUCCESSES": str(edge.probe_successes),
        "CTL_SOCKET": str(run_dir / "kamailio.ctl"),
        "DISPATCHER_LIST": str(run_dir / "dispatcher.list"),
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KamailioError(f"kamailio template: unknown placeholder @@{name}@@")
        return values[name]

    return _PLACEHOLDER.sub(fill, template_text())


def write_config(edge: EdgeConfig, run_dir: Path, *, modules: str | None = None) -> Path:
    """Write kamailio.cfg and dispatcher.list into run_dir; returns the kamailio.cfg path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "dispatcher.list").write_text(dispatcher_list(edge), encoding="utf-8")
    cfg = run_dir / "kamailio.cfg"
    cfg.write_text(render_config(edge, run_dir, modules=modules), encoding="utf-8")
    return cfg


def check_config(cfg: Path) -> None:
    """`kamailio -c`: the rendered file parses and its modules load."""
    binary = shutil.which(KAMAILIO_BINARY) or "/usr/sbin/kamailio"
    proc = subprocess.run(
        [binary, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )
    if proc.returncode != 0:
        raise KamailioError(f"kamailio -c {cfg} failed:\n{proc.stdout}{proc.stderr}")


@dataclass(frozen=True, slots=True)
class Destination:
    """One node as Kamailio's dispatcher sees it."""

    uri: str
    flags: str  # "AP": active (probed); "IP": inactive (probing); "DX": disabled

    @property
    def active(self) -> bool:
        return self.flags.startswith("A")


def parse_dispatcher_list(text: str) -> list[Destination]:
    """`kamcmd dispatcher.list` output (binrpc structures printed as `KEY: value` lines)."""
    found: list[Destination] = []
    uri: str | None = None
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "URI":
            uri = value
        elif key == "FLAGS" and uri is not None:
            found.append(Destination(uri, value))
            uri = None
    return found


class KamailioProcess:
    """One Kamailio in the foreground (-DD), optionally behind a launcher (`ip netns exec NAME`)."""

    def __init__(self, edge: EdgeConfig, run_dir: Path, launcher: Sequence[str] = ()) -> None:
        self.edge = edge
        self.run_dir = Path(run_dir).absolute()
        self.launcher = tuple(launcher)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def ctl(self) -> str:
        return f"unix:{self.run_dir / 'kamailio.ctl'}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "kamailio.log"

    def start(self, timeout: float = 20.0) -> None:
        cfg = write_config(self.edge, self.run_dir)
        check_config(cfg)
        binary = shutil.which(KAMAILIO_BINARY) or "/usr/sbin/kamailio"
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [*self.launcher, binary, "-DD", "-E", "-f", str(cfg), "-P", str(self.run_dir / "kamailio.pid")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise KamailioError(f"kamailio exited at start:\n{self.tail()}")
            try:
                self.destinations()
                return
            except KamailioError:
                time.sleep(0.2)
        raise KamailioError(f"kamailio did not answer on {self.ctl} within {timeout:.0f} s:\n{self.tail()}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        binary = shutil.which(KAMCMD_BINARY) or "/usr/sbin/kamcmd"
        try:
            proc = subprocess.run(
                [binary, "-s", self.ctl, *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise KamailioError(f"kamcmd {' '.join(args)} timed out") from None
        if proc.returncode != 0:
            raise KamailioError(f"kamcmd {' '.join(args)}: {(proc.stdout + proc.stderr).strip()}")
        return proc.stdout

    def destinations(self) -> list[Destination]:
        return parse_dispatcher_list(self.kamcmd("dispatcher.list"))

    def active_uris(self) -> set[str]:
        return {d.uri for d in self.destinations() if d.active}

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
