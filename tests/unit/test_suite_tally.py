"""The run-wide tally that keeps a selection's floor when xdist spreads its pieces (fixtures/tally.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.tally import Tally, WithinAllowance, allowance, check_within

ROOT = Path(__file__).resolve().parents[2]


def test_allowance_keeps_the_success_floor() -> None:
    assert allowance(8, 0.8) == 1  # 7/8 = 0.875 holds, 6/8 = 0.75 does not
    assert allowance(5, 0.8) == 1
    assert allowance(10, 0.8) == 2
    assert allowance(4, 0.8) == 0
    assert allowance(119, 1.0) == 0


def test_tally_counts_each_piece_once(tmp_path: Path) -> None:
    tally = Tally(tmp_path, "t")
    assert tally.add("a", []) == {"a": []}
    assert tally.add("b", ["b missed"]) == {"a": [], "b": ["b missed"]}
    assert tally.add("b", []) == {"a": [], "b": []}  # played again: its last result counts


def test_a_miss_within_the_allowance_warns_and_the_next_fails(tmp_path: Path) -> None:
    tally = Tally(tmp_path, "t")
    check_within(tally, "a", [], 1, "floor")
    with pytest.warns(WithinAllowance, match="b missed"):
        check_within(tally, "b", ["b missed"], 1, "floor")
    with pytest.raises(pytest.fail.Exception, match="2 misses in this run, at most 1 allowed"):
        check_within(tally, "c", ["c missed"], 1, "floor")


SAMPLE = """
import pytest
from tests.fixtures.tally import Tally, check_within, run_dir

@pytest.mark.parametrize("piece", ["p1", "p2", "p3", "p4"])
def test_piece(piece, tmp_path_factory):
    misses = [piece] if piece in ("p2", "p3", "p4") else []
    check_within(Tally(run_dir(tmp_path_factory), "sample"), piece, misses, 1, "floor")
"""


def test_the_tally_is_shared_by_the_xdist_workers_of_one_run(tmp_path: Path) -> None:
    (tmp_path / "test_pieces.py").write_text(SAMPLE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    options = ["-n", "2", "-p", "no:cacheprovider", "-q", "--basetemp", str(tmp_path / "base")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *options, str(tmp_path / "test_pieces.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Three misses, one allowed over the run: whichever pieces come second and third fail, on any worker.
    assert "2 failed, 2 passed" in done.stdout, done.stdout + done.stderr
