"""The cluster on one machine, in network namespaces these tests create (docs/scale.md).

- test_full_cluster_with_controllers: PostgreSQL and Redis in a database namespace, three nodes each
  running Asterisk and the real controller (role node), Kamailio in front, a SIPp caller. 60 calls to
  the practice number spread round-robin over the nodes; node2 dies mid-run (every process in its
  namespace SIGKILLed): it leaves the dispatcher set within 5 s, every call placed after the kill is
  answered by the two others, only the calls that were up on node2 are lost (their media, dialog and
  conversation lived there); every node's calls are in the shared call log under its name; node2
  restarted rejoins and takes calls again.
- test_shared_state_across_nodes: the reminders' leader lease across three nodes with the leader
  killed (none lost, none twice), and two callers on two nodes racing for one slot (one wins).

Every address is inside the namespaces (10.77.0.0/24); nothing is sent outside them. Slow (about two
minutes on 2 cores). Missing parts (Kamailio, SIPp, ip netns, root, PostgreSQL) fail in CI
(tests/fixtures/parts.py).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import glob
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from standardiste.cluster.kamailio import KamailioProcess
from standardiste.config import EdgeConfig, load_config, load_or_create_secrets
from standardiste.pbx import PbxError, PbxInstance
from standardiste.pbx.deployment import deployment_instance_dir
from standardiste.reminders.store import DONE, REMINDER, JobSpec, ReminderStore
from standardiste.storage.db import Database
from tests.fixtures.parts import require_part
from tests.integration.cluster_support import (
    NetnsPostgres,
    NetnsRedis,
    Topology,
    node_config_text,
    require_netns,
    session_cpu_s,
    sipp_totals,
    sipp_uac_command,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(480)]

NODES = {"node1": "10.77.0.11", "node2": "10.77.0.12", "node3": "10.77.0.13"}
EDGE = "10.77.0.10"
CALLER = "10.77.0.20"
ROOT = Path(__file__).resolve().parents[2]


def _remove_stale_namespaces() -> None:
    """Namespaces left by a killed run of this test (its pid is in the name and no longer alive)."""
    for path in glob.glob("/run/netns/stdc*-*"):
        name = Path(path).name
        match = re.match(r"stdc(\d+)-", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            # its processes first (a controller, PostgreSQL...): a namespace lives on while they do
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _wait_booted(pbx: PbxInstance, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(PbxError):
            if "fully booted" in pbx.rx("core waitfullybooted", timeout=5).lower():
                return
        time.sleep(0.2)
    raise AssertionError(f"Asterisk {pbx.instance_dir} did not boot")


def _calls_processed(pbx: PbxInstance) -> int:
    match = re.search(r"(\d+) calls? processed", pbx.rx("core show calls"))
    assert match, "core show calls: no count"
    return int(match.group(1))


def _wait_for(predicate, timeout: float, poll: float = 0.1) -> float | None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(poll)
    return None


DB = "10.77.0.2"
REMINDERS = 30
LEASE_NS = "cluster-test:reminders"


def _leader(client: redis.Redis) -> str | None:
    value = client.get(f"{LEASE_NS}:leader")
    return value.decode().split("|")[0] if value else None


def test_shared_state_across_nodes(tmp_path: Path) -> None:
    """PostgreSQL and Redis (TCP, ACL password) in their own namespace, three nodes reaching them over
    the bridge: reminders are dialled once for the whole cluster with the leader killed mid-run, and
    two callers on two nodes racing for one slot: one wins."""
    require_netns()
    _remove_stale_namespaces()
    topology = Topology(f"stdc{os.getpid()}", {"db": DB, **NODES})
    postgres = NetnsPostgres(topology, "db", Path(tempfile.mkdtemp(prefix="std-cluster-pg-")))
    server = NetnsRedis(topology, "db", tmp_path / "redis")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        topology.up()
        postgres.start()
        postgres.create_database("cluster")
        server.start()
        db = Database(postgres.local_url("cluster"))
        db.migrate()
        calls = tmp_path / "calls.log"
        for node in NODES:
            log = (tmp_path / f"{node}.log").open("wb")
            procs[node] = subprocess.Popen(
                [
                    *topology.exec_prefix(node),
                    sys.executable,
                    "-m",
                    "tests.integration.reminders_worker",
                    "--db",
                    postgres.node_url("cluster"),
                    "--redis",
                    server.tcp_url,
                    "--namespace",
                    LEASE_NS,
                    "--node",
                    node,
                    "--calls",
                    str(calls),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis.from_url(server.url)
        assert _wait_for(lambda: _leader(client) is not None, 30), "no scheduler became active"
        first = _leader(client)
        assert first in procs
        store = ReminderStore(db)
        now = dt.datetime.now(dt.UTC)
        tomorrow = now + dt.timedelta(days=1)
        for i in range(REMINDERS):
            store.put(
                JobSpec(
                    REMINDER,
                    f"appt-{i:02d}",
                    now + dt.timedelta(seconds=2 + i * 0.25),
                    tomorrow,
                    tomorrow + dt.timedelta(minutes=20),
                    "+33600000000",
                ),
                now,
            )
        time.sleep(max(0.0, 5.0 - (dt.datetime.now(dt.UTC) - now).total_seconds()))
        procs[first].kill()  # the leader's whole node process, mid-campaign
        takeover = _wait_for(lambda: _leader(client) not in (None, first), 15)
        print(f"\nleader {first} killed; {_leader(client)} took over after {takeover} s")
        assert takeover is not None

        def settled() -> bool:
            jobs = store.jobs()
            return len(jobs) == REMINDERS and all(j.state == DONE or j.attempt == 1 for j in jobs)

        assert _wait_for(settled, 60, poll=0.2), [
            (j.job_id, j.state) for j in store.jobs() if j.state != DONE
        ]
        time.sleep(2)  # later sweeps must not dial again
        lines = calls.read_text().splitlines()
        dialled = collections.Counter(line.split()[1] for line in lines)
        assert sorted(dialled) == sorted(f"reminder:appt-{i:02d}" for i in range(REMINDERS)), "none lost"
        assert set(dialled.values()) == {1}, {k: v for k, v in dialled.items() if v > 1}
        by_node = collections.Counter(line.split()[0] for line in lines)
        print(f"reminders dialled per node: {dict(by_node)}")
        assert set(by_node) - {first}, "a surviving node dialled the rest"
        client.close()

        # two callers on two nodes race for the same slot over the shared PostgreSQL
        go = tmp_path / "go"
        racers = {
            node: subprocess.Popen(
                [
                    *topology.exec_prefix(node),
                    sys.executable,
                    "-m",
                    "tests.integration.cluster_booking_worker",
                    "--db",
                    postgres.node_url("cluster"),
                    "--go",
                    str(go),
                    "--caller",
                    f"Patient{node}",
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for node in ("node1", "node3")
        }
        for proc in racers.values():
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        go.touch()
        results = {node: proc.communicate(timeout=60)[0].strip() for node, proc in racers.items()}
        print(f"booking race: {results}")
        assert sorted(r.split()[0] for r in results.values()) == ["taken", "won"], results
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM agenda_appointments")).scalar() == 1
        db.dispose()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
        postgres.stop()
        shutil.rmtree(postgres.root, ignore_errors=True)
        topology.down()


def _kill_namespace(topology: Topology, member: str) -> list[int]:
    """SIGKILL every process in a member's namespace (the node 'dies': Asterisk, controller, guardian)."""
    out = subprocess.run(
        ["ip", "netns", "pids", topology.ns(member)], capture_output=True, text=True, check=False
    )
    pids = [int(p) for p in out.stdout.split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _write_node_secrets(data_dir: Path, shared: dict[str, str]) -> None:
    data_dir.mkdir(mode=0o700, parents=True)
    (data_dir / "secrets.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in shared.items()))
    (data_dir / "secrets.toml").chmod(0o600)


def test_full_cluster_with_controllers(asterisk_root: Path, tmp_path: Path) -> None:
    """Everything together: PostgreSQL and Redis in a database namespace, three nodes each running
    Asterisk and the real controller (`standardiste serve`, role node, keypad recognition), Kamailio in
    front. 60 calls to the practice number spread over the nodes; node2 dies mid-run (every process in
    its namespace SIGKILLed): new calls are answered by the others, only node2's calls in progress are
    lost; every node's calls are in the shared call log with their node's name; node2 restarted rejoins."""
    require_netns()
    require_part(shutil.which("kamailio"), "Kamailio", "apt-get install kamailio (scripts/apt-packages.txt)")
    require_part(shutil.which("sipp"), "SIPp", "apt-get install sip-tester (scripts/apt-packages.txt)")
    _remove_stale_namespaces()
    topology = Topology(f"stdc{os.getpid()}", {"db": DB, "edge": EDGE, **NODES, "caller": CALLER})
    edge = EdgeConfig.model_validate(
        {"listen": EDGE, "nodes": [{"name": n, "address": a} for n, a in NODES.items()]}
    )
    uri = {n: f"sip:{a}:5060" for n, a in NODES.items()}
    work = Path(tempfile.mkdtemp(prefix="std-cluster-"))
    work.chmod(0o711)  # PostgreSQL (its own user) needs to reach its directory
    postgres = NetnsPostgres(topology, "db", work / "pg")
    server = NetnsRedis(topology, "db", work / "redis")
    kamailio = KamailioProcess(edge, work / "edge", launcher=topology.exec_prefix("edge"))
    nodes: dict[str, PbxInstance] = {}
    controllers: dict[str, subprocess.Popen[bytes]] = {}
    configs: dict[str, Path] = {}
    sipp: subprocess.Popen[bytes] | None = None
    failed = True

    def start_controller(name: str) -> None:
        log = (work / f"{name}-serve.log").open("ab")
        controllers[name] = subprocess.Popen(
            [
                *topology.exec_prefix(name),
                sys.executable,
                "-m",
                "standardiste",
                "serve",
                "--config",
                str(configs[name]),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: its CPU is measured apart
        )
        log.close()

    def controller_connected(name: str) -> bool:
        with contextlib.suppress(PbxError):
            return bool(re.search(r"^standardiste\s*$", nodes[name].rx("ari show apps"), re.M))
        return False

    try:
        topology.up()
        postgres.start()
        postgres.create_database("cluster")
        server.start()
        db = Database(postgres.local_url("cluster"))
        db.migrate()  # once, before the nodes (each would otherwise race to migrate)
        key = work / "encryption.key"
        key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        key.chmod(0o600)
        shared = {  # one set of secrets for the cluster (docs/scale.md)
            "ari_password": secrets.token_urlsafe(16),
            "ami_secret": secrets.token_urlsafe(16),
            "session_key": secrets.token_urlsafe(32),
            "redis_password": server.password,
            "agi_secret": secrets.token_urlsafe(16),
        }
        for name, address in NODES.items():
            data = work / name
            _write_node_secrets(data, shared)
            configs[name] = work / f"{name}.toml"
            configs[name].write_text(
                node_config_text(
                    node=name,
                    address=address,
                    edge=EDGE,
                    data_dir=data,
                    key_file=key,
                    database_url=postgres.node_url("cluster"),
                    redis_url=f"redis://{DB}:{server.port}/0",
                )
            )
            deployment = load_config(configs[name]).deployment
            pbx = PbxInstance(
                asterisk_root,
                deployment_instance_dir(asterisk_root, deployment),
                deployment.asterisk,
                load_or_create_secrets(data),
                callers=1,
                patients=0,
                system_name=name,
                launcher=topology.exec_prefix(name),
            )
            nodes[name] = pbx
            pbx.spawn(tie_to_parent=True)
        for pbx in nodes.values():
            _wait_booted(pbx)
        for name in NODES:
            start_controller(name)
        ready = _wait_for(lambda: all(controller_connected(n) for n in NODES), 150, poll=0.5)
        print(f"\nthree controllers connected after {ready} s")
        assert ready is not None, [(n, c.poll()) for n, c in controllers.items()]
        kamailio.start()
        assert _wait_for(
            lambda: {d.uri for d in kamailio.destinations() if d.flags == "AP"} == set(uri.values()), 15
        )

        stats = work / "sipp.csv"
        command = sipp_uac_command(
            topology,
            "caller",
            f"{EDGE}:5060",
            extension="100",
            calls=60,
            rate_per_s=3,
            hold_ms=5000,
            stats=stats,
        )
        sessions = {
            "edge": kamailio.pid,
            **{f"{n}-asterisk": p.pid() for n, p in nodes.items() if n != "node2"},
            **{f"{n}-controller": c.pid for n, c in controllers.items() if n != "node2"},
        }
        cpu_before = {n: session_cpu_s(pid) for n, pid in sessions.items() if pid is not None}
        started = time.monotonic()
        sipp = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(8.0)
        victim = nodes["node2"]
        up_on_victim = victim.active_calls() or 0
        handled_before = _calls_processed(victim)
        killed = _kill_namespace(topology, "node2")
        left_after = _wait_for(lambda: uri["node2"] not in kamailio.active_uris(), 10)
        print(f"node2 died ({len(killed)} processes) with {up_on_victim} calls up; left after {left_after} s")
        assert left_after is not None and left_after <= 5.0
        _, err = sipp.communicate(timeout=150)
        elapsed = time.monotonic() - started
        cpu = {n: session_cpu_s(pid) - cpu_before[n] for n, pid in sessions.items() if pid is not None}
        totals = sipp_totals(stats)
        print(f"SIPp: {totals}")
        assert totals["created"] == 60
        assert totals["failed"] <= up_on_victim, err.decode(errors="replace")[-2000:]
        survivors = {n: _calls_processed(nodes[n]) for n in ("node1", "node3")}
        assert all(survivors.values()) and sum(survivors.values()) + handled_before >= 60
        # Figures for docs/scale.md (printed, never asserted): CPU per call over the whole run.
        on_survivors = sum(survivors.values())
        per_call = {
            "edge": cpu["edge"] / 60,
            "asterisk": (cpu["node1-asterisk"] + cpu["node3-asterisk"]) / on_survivors,
            "controller": (cpu["node1-controller"] + cpu["node3-controller"]) / on_survivors,
        }
        print(
            f"run {elapsed:.1f} s; CPU s { ({n: round(v, 2) for n, v in cpu.items()}) }; CPU ms per call "
            f"{ ({n: round(1000 * v, 1) for n, v in per_call.items()}) }"
        )

        # the shared call log: every survivor's calls, under its node's name, seen from one database
        def logged() -> dict[str, int]:
            with db.engine.connect() as conn:
                rows = conn.execute(text("SELECT node, count(*) FROM calllog_calls GROUP BY node")).all()
            return {str(n): int(c) for n, c in rows}

        _wait_for(lambda: all(logged().get(n, 0) >= survivors[n] for n in survivors), 20, poll=0.5)
        by_node = logged()
        print(f"call log rows per node: {by_node}; Asterisk calls per survivor: {survivors}")
        assert all(by_node.get(n, 0) >= survivors[n] for n in survivors), by_node
        assert by_node.get("node2", 0) >= 1, "node2's calls before it died are in the log"

        # node2 comes back (Asterisk and controller): it rejoins and takes new calls
        controllers.pop("node2").wait(5)
        victim.stop_sync()
        victim.spawn(tie_to_parent=True)
        _wait_booted(victim)
        start_controller("node2")
        assert _wait_for(lambda: controller_connected("node2"), 120, poll=0.5) is not None
        assert _wait_for(lambda: uri["node2"] in kamailio.active_uris(), 10) is not None
        before = by_node.get("node2", 0)
        stats2 = work / "sipp2.csv"
        command = sipp_uac_command(
            topology,
            "caller",
            f"{EDGE}:5060",
            extension="100",
            calls=6,
            rate_per_s=3,
            hold_ms=2000,
            stats=stats2,
        )
        subprocess.run(command, capture_output=True, timeout=90, check=False)
        assert sipp_totals(stats2)["successful"] == 6
        assert _wait_for(lambda: logged().get("node2", 0) > before, 20, poll=0.5) is not None
        db.dispose()
        failed = False
    finally:
        if sipp is not None and sipp.poll() is None:
            sipp.kill()
            sipp.wait(5)
        kamailio.stop()
        for proc in controllers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in controllers.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pbx in nodes.values():
            with contextlib.suppress(Exception):
                pbx.stop_sync()
            if not failed:
                pbx.remove()
        server.stop()
        postgres.stop()
        topology.down()
        if failed:
            print(f"cluster files kept for inspection: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
