"""Network namespaces for the cluster test: one hub namespace holding a bridge, one namespace per
member (edge, nodes, database, caller) joined to it by a veth pair. Every address lives inside
these namespaces (10.77.0.0/24); the host's own interfaces and routes are never touched.

`Topology.up()` creates everything; `down()` deletes the namespaces (which deletes their veths) and
is safe to call after a partial `up()`. Namespace names carry a per-run prefix so two runs never meet.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from standardiste.redis_server import RedisServer
from tests.fixtures.parts import require_part

SUBNET_PREFIX = "10.77.0."
# SIPp's built-in uac, but ACK and BYE follow the Record-Route (they go through Kamailio).
UAC_SCENARIO = Path(__file__).resolve().parents[1] / "data" / "sipp_uac_routed.xml"


def require_netns() -> None:
    """ip netns needs the `ip` tool (iproute2) and root (CAP_SYS_ADMIN); missing, CI fails."""
    require_part(shutil.which("ip"), "iproute2 (ip netns)", "apt-get install iproute2")
    require_part(os.geteuid() == 0, "root for ip netns", "run the cluster test as root")


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@dataclass
class Topology:
    prefix: str
    members: dict[str, str]  # short name -> address inside its namespace
    created: list[str] = field(default_factory=list)

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    def ns(self, member: str) -> str:
        return f"{self.prefix}-{member}"

    def exec_prefix(self, member: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns(member))

    def address(self, member: str) -> str:
        return self.members[member]

    def up(self) -> None:
        for name in (self.hub, *(self.ns(m) for m in self.members)):
            _ip("netns", "add", name)
            self.created.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for i, (member, address) in enumerate(self.members.items()):
            hub_end = f"v{i}"
            # created inside the hub namespace, the peer moved straight into the member's
            _ip(
                "-n",
                self.hub,
                "link",
                "add",
                hub_end,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.ns(member),
            )
            _ip("-n", self.hub, "link", "set", hub_end, "master", "br0", "up")
            _ip("-n", self.ns(member), "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", self.ns(member), "link", "set", "eth0", "up")

    def down(self) -> None:
        """Kill whatever still runs in our namespaces (a namespace outlives `ip netns del` while a process
        is inside), then delete them."""
        for name in reversed(self.created):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", name)
        self.created.clear()

    def run(self, member: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.exec_prefix(member), *cmd], capture_output=True, text=True, timeout=timeout, check=False
        )


def sipp_uac_command(
    topology: Topology,
    member: str,
    target: str,
    *,
    extension: str,
    calls: int,
    rate_per_s: float,
    hold_ms: int,
    stats: Path,
) -> list[str]:
    """SIPp's UAC (INVITE, ACK, hold, BYE) from `member`'s namespace."""
    return [
        *topology.exec_prefix(member),
        shutil.which("sipp") or "sipp",
        target,
        "-sf",
        str(UAC_SCENARIO),
        "-s",
        extension,
        "-i",
        topology.address(member),
        "-p",
        "5060",
        "-mp",
        "16000",
        "-m",
        str(calls),
        "-r",
        str(round(rate_per_s * 10)),
        "-rp",
        "10000",  # calls per 10 s
        "-l",
        str(calls),
        "-d",
        str(hold_ms),
        "-timeout",
        "180s",
        "-timeout_error",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(stats),
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        str(stats.with_suffix(".errors")),
    ]


def sipp_totals(stats: Path) -> dict[str, int]:
    """The last row of SIPp's statistics file: cumulative successful and failed calls."""
    with stats.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header, last = rows[0], rows[-1]
    values = dict(zip(header, last, strict=False))
    return {
        "successful": int(values["SuccessfulCall(C)"]),
        "failed": int(values["FailedCall(C)"]),
        "created": int(values["TotalCallCreated"]),
    }


class NetnsPostgres:
    """A real PostgreSQL (Debian's binaries) inside `member`'s namespace, listening on its address for
    the nodes (TCP) and on a unix socket that the test itself uses from the host."""

    def __init__(self, topology: Topology, member: str, root: Path, port: int = 5432) -> None:
        self.topology, self.member, self.root, self.port = topology, member, root, port
        self.data = root / "data"

    def _pg(self, tool: str) -> str:
        found = sorted(Path(p) for p in glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
        require_part(found, "PostgreSQL", "apt-get install postgresql (scripts/apt-packages.txt)")
        return str(found[-1])

    def _as_postgres(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        run = lambda cmd: subprocess.run(cmd, check=True, capture_output=True, timeout=120)  # noqa: E731
        run(
            self._as_postgres(
                self._pg("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            )
        )
        subnet = self.topology.address(self.member).rsplit(".", 1)[0] + ".0/24"
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {subnet} trust\n")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={self.topology.address(self.member)} "
            "-c fsync=off -c max_connections=100"
        )
        run(
            [
                *self.topology.exec_prefix(self.member),
                *self._as_postgres(
                    self._pg("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ),
            ]
        )

    def stop(self) -> None:
        subprocess.run(
            self._as_postgres(self._pg("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
            capture_output=True,
            timeout=60,
            check=False,
        )

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host={self.root} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def local_url(self, name: str) -> str:
        """From the host (unix socket)."""
        return f"postgresql+psycopg://postgres@/{name}?host={self.root}&port={self.port}"

    def node_url(self, name: str) -> str:
        """From a node's namespace (TCP to the database namespace)."""
        return f"postgresql+psycopg://postgres@{self.topology.address(self.member)}:{self.port}/{name}"


class NetnsRedis(RedisServer):
    """The managed Redis (ACL user + password, AOF) listening over TCP inside `member`'s namespace."""

    def __init__(self, topology: Topology, member: str, data_dir: Path, port: int = 6379) -> None:
        super().__init__(data_dir, port=port, host=topology.address(member))
        self.prefix = topology.exec_prefix(member)

    def command_line(self) -> list[str]:
        return [*self.prefix, *super().command_line()]


def session_cpu_s(session_leader: int) -> float:
    """CPU seconds (user + system) of every live process in `session_leader`'s session (Kamailio's
    children, an Asterisk and its threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_leader:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def practice_toml() -> str:
    """The demo practice's part of demo.toml (everything before [deployment])."""
    from importlib import resources

    text = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
    return text.split("\n[deployment]", 1)[0] + "\n"


def node_config_text(
    *, node: str, address: str, edge: str, data_dir: Path, key_file: Path, database_url: str, redis_url: str
) -> str:
    """A cluster node's configuration (role "node"), keypad recognition and espeak-ng: light enough
    for three controllers on a 2-core test machine."""
    return practice_toml() + (
        f'\n[deployment]\ndata_dir = "{data_dir}"\ndatabase_url = "{database_url}"\nlog_format = "text"\n'
        f'\n[deployment.asterisk]\nbind = "{address}"\nsip_port = 5060\nhttp_port = 8088\nami_port = 5038\n'
        f'edge_addresses = ["{edge}"]\n'
        f'\n[deployment.speech]\nrecognizer = "keypad"\nsynthesizer = "espeak"\n'
        f'\n[deployment.redis]\nurl = "{redis_url}"\nmanage_server = false\n'
        f'\n[deployment.privacy]\nkey_file = "{key_file}"\n'
        f'\n[deployment.cluster]\nrole = "node"\nnode_name = "{node}"\n'
    )
