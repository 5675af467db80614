"""Scripted calls where the caller wants several things (tests/data/scripted_multigoal_calls.jsonl),
written from how callers talk: each says what the conversation's agenda of goals and the practice's
agenda and inbox must hold at the end. Played through the real engine on a pinned clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from standardiste.dialogue.simulation import CallResult, Simulator

DATA = Path(__file__).resolve().parents[1] / "data"
CALLS = [
    json.loads(line)
    for line in (DATA / "scripted_multigoal_calls.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
PASS_RATE = 0.98


def end_state(sim: Simulator, spec: dict[str, Any]) -> tuple[CallResult, list[str]]:
    """The call played, and what differs from its expected outcome, goals, appointments and requests."""
    result = sim.run(spec, with_state=True)
    problems = list(result.mismatches)
    manager = sim.last_manager
    assert manager is not None and result.state is not None
    goals = [[g["intent"], g["status"]] for g in manager.agenda.to_json()]
    if goals != spec["expect_goals"]:
        problems.append(f"goals: expected {spec['expect_goals']}, got {goals}")
    expected = spec["expect_state"]
    got_appointments = [
        [a["practitioner"], a["status"], a["patient"], a["phone"]] for a in result.state["appointments"]
    ]
    for want in expected["appointments"]:
        if not any(got[: len(want)] == want for got in got_appointments):
            problems.append(f"appointments: expected {want} in {got_appointments}")
    if len(got_appointments) != len(expected["appointments"]):
        problems.append(f"appointments: expected {len(expected['appointments'])}, got {got_appointments}")
    requests = [r["kind"] for r in result.state["requests"]]
    if requests != expected["requests"]:
        problems.append(f"requests: expected {expected['requests']}, got {requests}")
    if "pas grave" in " ".join(t["text"] for t in result.dialogue if t["speaker"] == "assistant"):
        problems.append("reassurance said")
    return result, problems


def test_there_are_enough_multigoal_calls():
    assert len(CALLS) >= 60
    assert len({c["id"] for c in CALLS}) == len(CALLS)
    assert sum(len(c["expect_goals"]) >= 2 for c in CALLS) >= 45


def test_multigoal_calls_reach_the_expected_end(simulator):
    failures: dict[str, list[str]] = {}
    for spec in CALLS:
        _, problems = end_state(simulator, spec)
        if problems:
            failures[spec["id"]] = problems
    rate = 1 - len(failures) / len(CALLS)
    print(f"multi-goal calls: {len(CALLS) - len(failures)}/{len(CALLS)} ({rate:.1%})")
    assert rate >= PASS_RATE, json.dumps(failures, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("spec", CALLS[:3], ids=lambda c: c["id"])
def test_a_few_calls_one_by_one(simulator, spec):
    _, problems = end_state(simulator, spec)
    assert problems == []
