"""Spoken calls over real SIP, all of them: task success by voice, per-question recognition, voice-to-voice
latency, CPU and memory per call.

Plays every scripted call of tests/fixtures/spoken_calls.py (the text channel's inbound scripted calls plus
the spoken-only ones: at least 40) through tests/integration/test_spoken_calls.py: real Asterisk, pjsua2
test phones, the real VoiceApp with Whisper base + PocketSphinx, callers' audio from Debian's human French
recordings (days, times, dates, numbers) and SVOX Pico fr-FR (other sentences), the assistant in espeak-ng.

Usage: python bench/bench_spoken_calls.py [--parallel 2] [--calls id1,id2]
Results: bench/results/spoken_calls.json (summary and every call) and a summary on stdout.

CPU and memory are the test process's (the controller, the recognisers and the test phones share it;
Asterisk is not counted): an upper bound for the controller.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "spoken_calls.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=2, help="calls at once (test phones), default 2")
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
        [sys.executable, "-m", "pytest", "tests/integration/test_spoken_calls.py", "-q", "-s",
         "-p", "no:randomly", "-o", "addopts="], cwd=ROOT, env=env,
    )  # fmt: skip
    if not RESULTS.exists():
        print("no results written", file=sys.stderr)
        return 1
    summary = json.loads(RESULTS.read_text(encoding="utf-8"))["summary"]
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
