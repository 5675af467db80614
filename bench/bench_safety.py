"""Safety-net benchmark on the generated adversarial set (understanding/safety_corpus.py).

Run: python bench/bench_safety.py [--seed N] [--full]. Prints recall on vital red flags and false alarms per
category, precision, the levels given to hard negatives, and the time per utterance (p50/p95/max) for
the rules alone (folded text in) and for the whole normalisation + rules path the engine runs; with
--full, also the whole engine (classifier and entities included) on a sample. Also the worst time on
hostile 2,000-character inputs. Writes bench/results/safety.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from standardiste.understanding.normalize import digits, fold, lower, without_fillers  # noqa: E402
from standardiste.understanding.safety_corpus import SEED, generate  # noqa: E402
from standardiste.understanding.urgency import VITAL, default_net, load_red_flags  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "safety.json"

HOSTILE = {
    "2000 x 'a '": "a " * 1000,
    "digits only": "1234567890" * 200,
    "one 2000-letter word": "x" * 2000,
    "'il ' repeated": "il " * 666,
    "'douleur a la ' repeated": "douleur a la " * 150,
    "'bebe de 2 mois ' repeated": "bebe de 2 mois " * 130,
    "English 'he can t breathe' repeated": "he can t breathe " * 110,
    "'tombe tete ' repeated": "tombe tete " * 180,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--full", action="store_true", help="also time the whole engine on 500 utterances")
    args = parser.parse_args()

    net = default_net()
    items = generate(args.seed)
    positives = sum(i.vital for i in items)
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    negative_levels: dict[str, Counter[str]] = defaultdict(Counter)
    rules_ms: list[float] = []
    path_ms: list[float] = []
    misses: list[str] = []
    false_alarms: list[str] = []
    for item in items:
        t0 = time.perf_counter()
        folded = fold(digits(without_fillers(lower(item.text)))).text
        t1 = time.perf_counter()
        verdict = net.assess(folded)
        t2 = time.perf_counter()
        rules_ms.append((t2 - t1) * 1000)
        path_ms.append((t2 - t0) * 1000)
        vital = verdict.level == VITAL
        counts = per_category[item.category]
        counts["n"] += 1
        if item.vital:
            counts["caught" if vital else "missed"] += 1
            if not vital:
                misses.append(item.text)
        else:
            counts["false_alarm" if vital else "ok"] += 1
            negative_levels[item.category][verdict.level or "none"] += 1
            if vital:
                false_alarms.append(item.text)
    caught = sum(c["caught"] for c in per_category.values())
    alarms = sum(c["false_alarm"] for c in per_category.values())
    recall = caught / positives if positives else 1.0
    precision = caught / (caught + alarms) if caught + alarms else 1.0

    hostile: dict[str, float] = {}
    for name, text in HOSTILE.items():
        t0 = time.perf_counter()
        net.assess(text)
        hostile[name] = round((time.perf_counter() - t0) * 1000, 2)

    engine_ms: dict[str, float] | None = None
    if args.full:
        from standardiste.config import load_config
        from standardiste.understanding.engine import load_understander

        understander = load_understander(load_config(None).practice)
        now = dt.datetime(2026, 12, 7, 10, 0, tzinfo=understander.tz)
        times = []
        for item in items[:: max(1, len(items) // 500)]:
            t0 = time.perf_counter()
            understander.parse(item.text, now)
            times.append((time.perf_counter() - t0) * 1000)
        engine_ms = {"p50": round(statistics.median(times), 2), "p95": round(percentile(times, 0.95), 2)}

    print(
        f"adversarial set (seed {args.seed}): {positives} positives, {len(items) - positives} hard negatives"
    )
    print(f"red flags: {len(load_red_flags())} ({sum(f.level == VITAL for f in net.flags)} vital)")
    print(f"{'category':20s} {'n':>6s} {'recall':>8s} {'false alarms':>13s}")
    for category, c in sorted(per_category.items()):
        if c["caught"] + c["missed"]:
            print(f"{category:20s} {c['n']:6d} {c['caught'] / (c['caught'] + c['missed']):8.3f} {'':>13s}")
        else:
            levels = dict(negative_levels[category])
            print(f"{category:20s} {c['n']:6d} {'':>8s} {c['false_alarm']:13d}   levels {levels}")
    print(f"recall {recall:.4f}  precision {precision:.4f}  ({len(misses)} missed, {alarms} false alarms)")
    for text in misses[:10]:
        print("  MISSED:", text)
    for text in false_alarms[:10]:
        print("  FALSE ALARM:", text)
    print(
        f"rules alone: p50 {statistics.median(rules_ms):.2f} ms, p95 {percentile(rules_ms, 0.95):.2f} ms, "
        f"max {max(rules_ms):.2f} ms"
    )
    print(
        f"normalisation + rules: p50 {statistics.median(path_ms):.2f} ms, "
        f"p95 {percentile(path_ms, 0.95):.2f} ms, max {max(path_ms):.2f} ms"
    )
    if engine_ms:
        print(f"whole engine (sample of 500): p50 {engine_ms['p50']} ms, p95 {engine_ms['p95']} ms")
    print("hostile inputs (ms):", hostile)

    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "seed": args.seed,
        "positives": positives,
        "hard_negatives": len(items) - positives,
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "missed": len(misses),
        "false_alarms": alarms,
        "per_category": {k: dict(v) for k, v in sorted(per_category.items())},
        "negative_levels": {k: dict(v) for k, v in sorted(negative_levels.items())},
        "rules_ms": {
            "p50": round(statistics.median(rules_ms), 3),
            "p95": round(percentile(rules_ms, 0.95), 3),
            "max": round(max(rules_ms), 3),
        },
        "normalisation_and_rules_ms": {
            "p50": round(statistics.median(path_ms), 3),
            "p95": round(percentile(path_ms, 0.95), 3),
            "max": round(max(path_ms), 3),
        },
        "engine_ms": engine_ms,
        "hostile_ms": hostile,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
