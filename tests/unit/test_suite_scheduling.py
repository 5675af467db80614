"""The suite's own scheduling over xdist workers (tests/fixtures/scheduling.py): longest first, each
worker starting with one long test, durations read back from a junit report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.scheduling import (
    BATCH_NICE,
    DEFAULT_S,
    ROOT,
    SLOW_S,
    durations_from_junit,
    expected_s,
    load_durations,
    longest_first,
    realtime_at_once,
)


def test_longest_first_pairs_each_long_test_with_a_short_one() -> None:
    weights = [1.0, 600.0, 2.0, 330.0, 0.5, 100.0, 5.0, 0.1, 50.0, 3.0]
    order = longest_first(weights, workers=3)
    assert sorted(order) == list(range(len(weights)))  # every test, once
    # xdist sends two tests to each worker first: (long, short) x 3, then the rest longest first
    assert [weights[i] for i in order[:6]] == [600.0, 1.0, 330.0, 0.5, 100.0, 0.1]
    rest = [weights[i] for i in order[6:]]
    assert rest == sorted(rest, reverse=True)


def test_a_test_not_measured_yet_is_weighed_from_its_kin() -> None:
    durations = {"t.py::test_calls": 600.0, "t.py::test_x[a]": 5.0, "t.py::test_x[b]": 9.0}
    assert expected_s(durations, "t.py::test_calls") == 600.0
    assert expected_s(durations, "t.py::test_calls[goals]") == 600.0  # newly parametrized
    assert expected_s(durations, "t.py::test_x[c]") == 9.0  # a new case
    assert expected_s(durations, "t.py::test_new", slow=True) == SLOW_S
    assert expected_s(durations, "t.py::test_new") == DEFAULT_S


def test_one_worker_or_few_tests_keep_a_plain_order() -> None:
    assert longest_first([1.0, 3.0, 2.0], workers=1) == [1, 2, 0]
    assert longest_first([1.0, 3.0, 2.0], workers=4) == [1, 2, 0]


def test_durations_from_a_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.unit.test_clock" name="test_slow[a]" time="12.34"/>'
        '<testcase classname="tests.unit.test_suite_scheduling.TestX" name="test_y" time="3.0"/>'
        '<testcase classname="tests.unit.test_clock" name="test_fast" time="0.2"/>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    assert durations_from_junit([report]) == {
        "tests/unit/test_clock.py::test_slow[a]": 12.3,
        "tests/unit/test_suite_scheduling.py::TestX::test_y": 3.0,
    }


def test_the_measured_durations_are_readable() -> None:
    durations = load_durations()
    assert durations and all(v > 0 for v in durations.values())
    assert load_durations(Path("/nonexistent.json")) == {}


def _phase(tmp_path: Path, phase: str, *select: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\ndef test_plain():\n    pass\n\n@pytest.mark.alone\ndef test_timed():\n    pass\n",
        encoding="utf-8",
    )
    options = ["-p", "tests.fixtures.scheduling", "-p", "no:cacheprovider", "--strict-markers", "-q", "-rA"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *options,
            "--suite-phase",
            phase,
            str(tmp_path / "test_sample.py"),
            *select,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_two_phases_split_the_suite_and_an_empty_phase_passes(tmp_path: Path) -> None:
    parallel = _phase(tmp_path, "parallel")
    assert parallel.returncode == 0 and "PASSED test_sample.py::test_plain" in parallel.stdout
    assert "test_timed" not in parallel.stdout.replace("deselected", "")
    alone = _phase(tmp_path, "alone")
    assert alone.returncode == 0 and "PASSED test_sample.py::test_timed" in alone.stdout
    assert "test_plain" not in alone.stdout
    nothing = _phase(tmp_path, "alone", "-k", "plain")  # nothing of the phase among those asked for
    assert nothing.returncode == 0, nothing.stdout


def test_a_worker_runs_batch_tests_at_a_lower_priority_and_calls_at_its_own(tmp_path: Path) -> None:
    (tmp_path / "test_kinds.py").write_text(
        "import os, threading, pytest\n\n"
        "def nice():\n"
        "    return os.getpriority(os.PRIO_PROCESS, 0)\n\n"
        "def test_batch():\n"
        "    out = []\n"
        "    t = threading.Thread(target=lambda: out.append(nice())); t.start(); t.join()\n"
        "    print('BATCH', nice(), out[0])\n\n"
        "@pytest.mark.asterisk\n"
        "def test_call():\n"
        "    print('CALL', nice())\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_XDIST_WORKER_COUNT": "2"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.fixtures.scheduling", "-p", "no:cacheprovider", "-s",
         "-q", "-W", "ignore::pytest.PytestUnknownMarkWarning",
         str(tmp_path / "test_kinds.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    base = os.getpriority(os.PRIO_PROCESS, 0)
    batch, call = re.search(r"BATCH (\d+) (\d+)", run.stdout), re.search(r"CALL (\d+)", run.stdout)
    assert batch and call, run.stdout
    if os.geteuid() == 0:  # lowering the niceness again needs the right to
        assert batch.groups() == (str(min(19, base + BATCH_NICE)),) * 2  # a thread started in it too
        assert call.group(1) == str(base)


def test_at_most_so_many_real_time_tests_run_at_once_under_xdist(tmp_path: Path) -> None:
    log = tmp_path / "spans.log"
    (tmp_path / "test_mix.py").write_text(
        "import os, time, pytest\n\n"
        f"LOG = {str(log)!r}\n\n"
        "def span(kind, seconds):\n"
        "    start = time.monotonic(); time.sleep(seconds)\n"
        "    with open(LOG, 'a') as f: f.write(f'{kind} {start} {time.monotonic()}\\n')\n\n"
        "@pytest.mark.asterisk\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_call(n):\n"
        "    span('call', 0.8)\n\n"
        "@pytest.mark.parametrize('n', range(30))\n"
        "def test_batch(n):\n"
        "    span('batch', 0.25)\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.fixtures.scheduling", "-p", "no:cacheprovider", "-q",
         "-n", "6", "--dist", "load", "--maxschedchunk", "1", "-W", "ignore::pytest.PytestUnknownMarkWarning",
         str(tmp_path / "test_mix.py")],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    spans = [line.split() for line in log.read_text().splitlines()]
    calls = [(float(a), float(b)) for kind, a, b in spans if kind == "call"]
    assert len(calls) == 6 and len(spans) == 36
    at_once = max(sum(a <= start < b for a, b in calls) for start, _ in calls)
    assert at_once <= realtime_at_once(6) == 4 and realtime_at_once(4) == 4
