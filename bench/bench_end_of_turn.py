"""Adaptive end of turn on real SIP calls (issue 14, item 3): voice-to-voice p50/p95 and the share of turns
cut while the caller was still speaking, with the adaptive end of turn on (250 ms short window) and off
(the fixed 700 ms window), same calls, same audio, same machine.

Callers speak human French (Debian asterisk-core-sounds-fr-wav word recordings spliced into answers; in
about half of them a natural pause of --pause seconds inside the answer: "seize heures | quarante-cinq",
"jeudi | neuf heures trente", a phone number in pairs); yes/no answers in SVOX Pico. The recogniser is the
default one (Whisper base + PocketSphinx grammars). Machinery: bench/bench_capacity.py.

Usage: python bench/bench_end_of_turn.py [--calls 2] [--pause 0.45] [--repeat 1]
Results: bench/results/end_of_turn.json and end_of_turn.md
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_capacity import PAUSED_TURNS, bench, breakdown_lines, table, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2, help="calls at once (each plays every turn)")
    parser.add_argument("--pause", type=float, default=0.3, help="the pause inside paused answers (s)")
    parser.add_argument("--short-ms", type=int, nargs="+", default=[250, 0])
    parser.add_argument("--name", default="end_of_turn", help="results file name in bench/results")
    parser.add_argument("--repeat", type=int, default=1, help="each call says the turns this many times")
    parser.add_argument("--late-pass-ms", type=int, default=None, help="the late pass (0: off; default: on)")
    args = parser.parse_args()
    runs = {}
    for short in args.short_ms:
        runs[short] = asyncio.run(
            bench(
                [args.calls],
                PAUSED_TURNS,
                short,
                pause_s=args.pause,
                repeat=args.repeat,
                late_pass_ms=args.late_pass_ms,
            )
        )
    first = runs[args.short_ms[0]]
    result = {**first, "runs": {str(k): v["levels"] for k, v in runs.items()}}
    lines = []
    for short, run in runs.items():
        lines += [
            f"Short window {short} ms ({'adaptive' if short else 'off: fixed 700 ms'}):",
            "",
            *table(run),
            "",
            *breakdown_lines(run["levels"]),
            "",
        ]
    goal = (
        "Goal: voice-to-voice p50 <= 450 ms and p95 <= 650 ms at the phones, turns cut while the caller "
        "still spoke <= 5 %. 'ended early': turns ended on the short window; 'cut (paused cut)': all turns "
        "cut, and of the answers with a pause inside, those cut."
    )
    write_results(args.name, "Adaptive end of turn on real SIP calls", result, [*lines, goal])


if __name__ == "__main__":
    main()
