"""Spoken calls over real SIP, all of them: task success by voice, per-question recognition, voice-to-voice
latency, CPU and memory per call.

Plays every scripted call of tests/fixtures/spoken_calls.py (the text channel's inbound scripted calls plus
the spoken-only ones: at least 40) through tests/integration/test_spoken_calls.py: real Asterisk, pjsua2
test phones, the real VoiceApp with Whisper base + PocketSphinx, callers' audio from Debian's human French
recordings (days, times, dates, numbers) and, for other sentences, a synthetic voice alternating per call:
MBROLA fr4 through espeak-ng (a voice the product never uses) or SVOX Pico fr-FR (the product's own voice);
the assistant speaks espeak-ng. Task success and recognition are reported per caller voice. With more than
2 calls at once the reception phone answers from a pjsua2 process of its own, so transfers succeed.

Usage: python bench/bench_spoken_calls.py [--parallel 3] [--calls id1,id2]
Results: bench/results/spoken_calls.json (summary and every call), bench/results/spoken_calls.md (summary,
per-question recognition, the failed calls with what each question heard) and a summary on stdout.

CPU and memory are the test process's (the controller, the recognisers and the test phones share it;
Asterisk is not counted): an upper bound for the controller.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "spoken_calls.json"
REPORT = ROOT / "bench" / "results" / "spoken_calls.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=3, help="calls at once (test phones), default 3")
    parser.add_argument("--calls", default="all", help="comma-separated script ids, default all")
    args = parser.parse_args()
    env = {
        **os.environ,
        "SPOKEN_CALLS": args.calls,
        "SPOKEN_PARALLEL": str(args.parallel),
        "SPOKEN_RESULTS": str(RESULTS),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/integration/test_spoken_calls.py::"
         "test_spoken_calls_reach_the_callers_goals[goals]", "-q", "-s",
         "-p", "no:randomly", "-o", "addopts="], cwd=ROOT, env=env,
    )  # fmt: skip
    if not RESULTS.exists():
        print("no results written", file=sys.stderr)
        return 1
    report = json.loads(RESULTS.read_text(encoding="utf-8"))
    summary = report["summary"]
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    REPORT.write_text(markdown(report), encoding="utf-8")
    print(f"written: {RESULTS.relative_to(ROOT)}, {REPORT.relative_to(ROOT)}")
    return done.returncode


def markdown(report: dict[str, Any]) -> str:
    """A short human summary of one run (bench/results/spoken_calls.md)."""
    s = report["summary"]
    v2v = s["voice_to_voice_ms"]
    lines = [
        "# Spoken calls over real SIP (bench/bench_spoken_calls.py)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {s['calls']} calls, "
        f"{s['parallel']} at once, {s['cpus']} CPUs, machine load average {s['load_avg_mean']} "
        f"(max {s['load_avg_max']}; the machine was shared with other work).",
        "",
        f"- task success by voice: **{s['task_success']:.1%}**",
        *(
            f"  - callers in {voice}: {v['ok']}/{v['calls']} ({v['task_success']:.1%})"
            for voice, v in s.get("task_success_per_voice", {}).items()
        ),
        f"- emergencies: {s['emergencies']}, missed: {s['emergencies_missed'] or 'none'}",
        f"- bookings the caller did not confirm: {s['unconfirmed_bookings'] or 'none'}",
        *identity_lines(s.get("identity")),
        f"- voice-to-voice latency: p50 {v2v['p50']} ms, p95 {v2v['p95']} ms ({v2v['n']} turns)",
        f"- CPU per call: {s['cpu_s_per_call']} s in the test process (controller, Whisper, test phones) + "
        f"{s['asterisk_and_sphinx_cpu_s_per_call']} s in Asterisk and the PocketSphinx workers; "
        f"peak RSS of the test process {s['max_rss_mb']} MB",
        f"- wall time {s['wall_s']} s, {s['seconds_per_call']} s per call",
        "",
        "## Recognition per question (question kind / caller voice)",
        "",
        "| question | exact | WER |",
        "|---|---|---|",
    ]
    for key, exact in s["per_question_exact"].items():
        lines.append(f"| {key} | {exact} | {s['per_question_wer'].get(key, '')} |")
    lines += ["", "## Calls that did not reach the caller's goal", ""]
    for call in report["calls"]:
        if call["ok"]:
            continue
        lines.append(f"- {call['id']} [{call.get('voice', 'pico')}]: {'; '.join(call['problems'])}")
        for turn in call["turns"]:
            late = f" (late: {turn['heard_late']!r})" if turn.get("heard_late") else ""
            lines.append(f"  - [{turn['question']}] {turn['intended']!r} -> {turn['heard']!r}{late}")
    return "\n".join(lines) + "\n"


def identity_lines(identity: dict[str, Any] | None) -> list[str]:
    """Identity per field (tests/fixtures/identity_fields.py): right / calls whose script gives it."""
    if not identity:
        return []
    fields = identity["fields"]
    per = ", ".join(f"{k} {v}" for k, v in fields.items())
    wrong = identity["calls_with_a_wrong_identity_action"]
    return [
        f"- identity right at the end of the call (field, field/voice: right/planned): {per}",
        f"  - known patients found in the file: {identity['known_found_in_file']}",
        f"  - actions (book, move, cancel, confirm) under the right patient: "
        f"{identity['actions_under_right_patient']} (right patient, name misspelled: "
        f"{identity['actions_right_patient_name_misspelled']}); under a wrong identity: "
        f"**{identity['actions_under_wrong_identity']}** {wrong or ''}",
    ]


if __name__ == "__main__":
    sys.exit(main())
