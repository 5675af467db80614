"""Asterisk without root and without personal data in its logs (issue 15, items 3 and 4), on a
real Asterisk 22: it drops to the root's "asterisk" user right after start, cannot rewrite its own
configuration, still answers calls; its log files are 0640, rotated, and name no caller by default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from standardiste.pbx import PbxInstance
from standardiste.pbx.instance import root_user_ids, rotate_file
from tests.fixtures.pbx import PbxFactory, PhoneFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(120)]


def _ids(pid: int) -> tuple[set[int], set[int]]:
    status = Path(f"/proc/{pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
    return {int(u) for u in uids}, {int(g) for g in gids}


async def test_asterisk_runs_without_root_and_logs_no_caller(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    pbx: PbxInstance = await pbx_factory(asterisk={"run_as_user": "asterisk"}, log_dialplan=False)
    uid, gid = root_user_ids(pbx.root, "asterisk")
    assert uid != 0
    pid = pbx.pid()
    assert pid is not None
    assert _ids(pid) == ({uid}, {gid})  # real, effective, saved and filesystem ids: no way back to root
    # Its configuration: readable, never writable by Asterisk (owner root, 0640).
    for conf in (pbx.instance_dir / "etc").glob("*.conf"):
        info = conf.stat()
        assert info.st_uid == 0 and info.st_mode & 0o777 == 0o640, conf
    # It still answers a call.
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("*43", answer_timeout=10)
    await call.hangup()
    await call.wait_disconnected(10)
    pbx.rx("logger rotate")  # flush and reopen: whatever it logged is on disk
    for log in (pbx.log_path, pbx.console_log_path):
        assert log.exists(), log
        assert log.stat().st_mode & 0o077 in (0o040, 0o000), (log, oct(log.stat().st_mode))
        text = log.read_text(errors="replace")
        assert "caller1" not in text, text[-2000:]


def test_rotation_keeps_the_mode_and_a_bounded_history(tmp_path: Path) -> None:
    log = tmp_path / "messages.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    writer = os.fdopen(fd, "ab")
    for round_ in range(8):
        writer.write(b"x" * 2000)
        writer.flush()
        assert rotate_file(log, 1000, 3)
        writer.write(f"round {round_}\n".encode())  # the writer goes on, at the start of the emptied file
        writer.flush()
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "messages.log",
        "messages.log.1",
        "messages.log.2",
        "messages.log.3",
    ]
    assert log.read_bytes() == b"round 7\n"
    for p in tmp_path.iterdir():
        assert p.stat().st_mode & 0o777 == 0o640
