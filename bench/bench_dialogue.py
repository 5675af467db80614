"""Conversation task success on the scripted calls (tests/data/scripted_calls*.jsonl).

Every call is played through the real conversation engine, the real understanding engine and the real
SQL agenda (a fresh SQLite copy per call). Prints task success overall and per expected outcome, caller
turns per successful task, and the engine's time per caller turn (understanding + dialogue + agenda).
Saves bench/results/dialogue.json.

    python bench/bench_dialogue.py [--now ISO] [--script FILE ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCRIPTS = sorted((ROOT / "tests" / "data").glob("scripted_calls*.jsonl"))
DEFAULT_NOW = "2026-11-24T10:00:00+01:00"  # the reference the scripts are written for (a Tuesday)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--script", type=Path, action="append", default=None)
    parser.add_argument("--now", default=DEFAULT_NOW)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dialogue.json")
    args = parser.parse_args()

    from standardiste.config import load_config
    from standardiste.dialogue.simulation import Simulator, summary
    from standardiste.understanding.engine import load_understander

    practice = load_config(None).practice
    started = time.perf_counter()
    understander = load_understander(practice)
    load_s = time.perf_counter() - started
    now = dt.datetime.fromisoformat(args.now).astimezone(ZoneInfo(practice.timezone))

    scripts = args.script or DEFAULT_SCRIPTS
    results = []
    per_script: dict[str, Any] = {}
    started = time.perf_counter()
    with Simulator(practice, understander, now=now) as simulator:
        for script in scripts:
            lines = script.read_text(encoding="utf-8").splitlines()
            these = [simulator.run(json.loads(line)) for line in lines if line.strip()]
            results += these
            part = summary(these)["summary"]
            per_script[script.name] = {
                "calls": part["calls"],
                "task_success": part["task_success"],
                "failed": part["failed"],
            }
    wall_s = time.perf_counter() - started

    report = summary(results)["summary"]
    turn_ms = [ms for r in results for ms in r.turn_ms]
    ok_turns = [sum(1 for d in r.dialogue if d["speaker"] == "caller") for r in results if r.ok]
    figures = {
        "calls": report["calls"],
        "task_success": report["task_success"],
        "by_expected_kind": report["by_expected_kind"],
        "failed": report["failed"],
        "per_script": per_script,
        "caller_turns_per_successful_call_mean": round(statistics.mean(ok_turns), 2) if ok_turns else None,
        "engine_ms_per_turn": {
            "p50": round(percentile(turn_ms, 50), 2),
            "p95": round(percentile(turn_ms, 95), 2),
            "max": round(max(turn_ms), 2) if turn_ms else 0.0,
            "turns": len(turn_ms),
        },
        "understander_load_s": round(load_s, 2),
        "wall_s": round(wall_s, 2),
        "reference_now": args.now,
        "scripts": [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in scripts],
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Shared machine: other work inflates the timings; the load average says how much.
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }

    print(f"calls: {figures['calls']}  task success: {figures['task_success']:.3f}")
    for kind, stats in report["by_expected_kind"].items():
        print(f"  {kind:<24} {stats['succeeded']:>3}/{stats['calls']:<3}")
    if report["failed"]:
        print("failed:", ", ".join(report["failed"]))
    for name, part in per_script.items():
        print(f"  {name}: task success {part['task_success']} over {part['calls']} calls")
    print(f"caller turns per successful call (mean): {figures['caller_turns_per_successful_call_mean']}")
    t = figures["engine_ms_per_turn"]
    print(
        f"engine time per caller turn: p50 {t['p50']} ms, p95 {t['p95']} ms, max {t['max']} ms "
        f"({t['turns']} turns; understanding + dialogue + SQLite agenda)"
    )
    print(f"understander load: {figures['understander_load_s']} s; whole run: {figures['wall_s']} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    figures["context"] = describe("none (scripted text and key turns)", "none")
    args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
