"""Understanding benchmark on the development set tests/data/nlu_dev.yml (separate from training data).

Run: python bench/bench_understanding.py [--compare]. Prints intent accuracy, macro-F1, emergency
recall/precision, urgency accuracy, date accuracy, per-utterance latency p50/p95 on one core and the
model load time (fresh process, packaged model); writes bench/results/understanding.json.
--compare also trains feature variants in memory and reports their dev accuracy (to choose on figures).
"""

from __future__ import annotations

import os

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

# One core, one BLAS thread: the goal is p95 per utterance on one core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "nlu_dev.yml"
HELDOUT = ROOT / "tests" / "data" / "nlu_heldout.yml"
DATES = ROOT / "tests" / "data" / "dates_dev.yml"
RESULTS = ROOT / "bench" / "results" / "understanding.json"

LOAD_SNIPPET = """
import os, time
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
t0 = time.perf_counter()
from standardiste.config import load_config
from standardiste.understanding.engine import load_understander
load_understander(load_config(None).practice)
elapsed = time.perf_counter() - t0
import resource
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, elapsed)
"""


def macro_f1(gold: list[str], pred: list[str]) -> float:
    labels = sorted(set(gold) | set(pred))
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        if tp + fp + fn == 0:
            continue
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def load_dev(path: Path = DEV) -> tuple[dt.datetime, list[dict[str, Any]]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dt.datetime.fromisoformat(doc["now"]), doc["items"]


def evaluate(
    understander: Any, now: dt.datetime, items: list[dict[str, Any]], verbose: bool
) -> dict[str, Any]:
    gold, pred, misses, latencies, cpu = [], [], [], [], []
    urg_ok = 0
    emergency_tp = emergency_fp = emergency_fn = 0
    urgent_tp = urgent_fn = urgent_fp = 0
    dates_total = dates_ok = 0
    date_misses = []
    for item in items:
        t0 = time.perf_counter()
        result = understander.parse(item["text"], now)
        latencies.append((time.perf_counter() - t0) * 1000)
        expected_intent = item["intent"]
        expected_urgency = item.get("urgency", "normal")
        got = str(result.intent)
        gold.append(expected_intent)
        pred.append(got)
        if got != expected_intent:
            misses.append((item["text"], expected_intent, got, round(result.confidence, 2)))
        urg_ok += str(result.urgency) == expected_urgency
        is_em, said_em = expected_intent == "emergency", got == "emergency"
        emergency_tp += is_em and said_em
        emergency_fp += said_em and not is_em
        emergency_fn += is_em and not said_em
        is_urgent, said_urgent = expected_urgency == "urgent", str(result.urgency) == "urgent"
        urgent_tp += is_urgent and said_urgent
        urgent_fp += said_urgent and not is_urgent
        urgent_fn += is_urgent and not said_urgent
        if "date" in item or item.get("asap"):
            dates_total += 1
            found = [e for e in result.entities if str(e.entity) == "date_time"]
            ok = bool(found)
            if ok and "date" in item:
                value = dt.datetime.fromisoformat(found[0].value)
                want = dt.datetime.fromisoformat(item["date"]).replace(tzinfo=value.tzinfo)
                ok = value.replace(second=0, microsecond=0) == want
            if ok and item.get("part_of_day"):
                ok = found[0].extra.get("part_of_day") == item["part_of_day"]
            if ok and item.get("asap"):
                ok = bool(found[0].extra.get("asap"))
            dates_ok += ok
            if not ok:
                date_misses.append((item["text"], item.get("date"), [e.value for e in found]))
    # Latency on warm caches: three more passes. Wall time suffers from other processes on a shared
    # machine; the process CPU time (all its threads) is what one utterance costs.
    for _ in range(3):
        for item in items:
            t0, c0 = time.perf_counter(), time.process_time()
            understander.parse(item["text"], now)
            cpu.append((time.process_time() - c0) * 1000)
            latencies.append((time.perf_counter() - t0) * 1000)
    n = len(items)
    if verbose:
        for text, want, got, conf in misses:
            print(f"  MISS {want:24s} -> {got:24s} {conf:.2f}  {text}")
        for text, want, got in date_misses:
            print(f"  DATE {want} -> {got}  {text}")
    return {
        "utterances": n,
        "intent_accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / n, 4),
        "macro_f1": round(macro_f1(gold, pred), 4),
        "emergency_recall": round(emergency_tp / max(1, emergency_tp + emergency_fn), 4),
        "emergency_precision": round(emergency_tp / max(1, emergency_tp + emergency_fp), 4),
        "urgent_recall": round(urgent_tp / max(1, urgent_tp + urgent_fn), 4),
        "urgent_precision": round(urgent_tp / max(1, urgent_tp + urgent_fp), 4),
        "urgency_accuracy": round(urg_ok / n, 4),
        "date_accuracy": round(dates_ok / max(1, dates_total), 4),
        "dates": dates_total,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "latency_ms_max": round(float(np.max(latencies)), 2),
        "cpu_ms_p50": round(float(np.percentile(cpu, 50)), 2),
        "cpu_ms_p95": round(float(np.percentile(cpu, 95)), 2),
        "misses": len(misses),
        "predicted": dict(Counter(pred)),
    }


def threshold_sweep(understander: Any, now: dt.datetime, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy and wrong actions (a non-out_of_scope intent that is wrong) per confidence threshold."""
    rows = []
    for item in items:
        result = understander.parse(item["text"], now)
        top, p = result.alternatives[0] if result.alternatives else (result.intent, result.confidence)
        rows.append((item["intent"], str(top), p, result.emergency_rule is not None))
    sweep = []
    for threshold in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55):
        right = wrong_acted = 0
        for gold, top, p, rule in rows:
            pred = "emergency" if rule else ("out_of_scope" if p < threshold and top != "emergency" else top)
            right += pred == gold
            wrong_acted += pred != gold and pred != "out_of_scope"
        sweep.append(
            {"threshold": threshold, "accuracy": round(right / len(rows), 4), "wrong_acted": wrong_acted}
        )
    return sweep


def evaluate_dates(understander: Any, verbose: bool) -> dict[str, Any]:
    """Date phrases alone: the first date_time entity against the expected day/time/part of day."""
    now, items = load_dev(DATES)
    right = 0
    for item in items:
        found = understander.parse(item["text"], now).first("date_time")
        ok = found is not None
        if ok:
            value = dt.datetime.fromisoformat(found.value)
            extra = found.extra
            ok = (
                ("date" not in item or value.date().isoformat() == item["date"])
                and ("time" not in item or value.strftime("%H:%M") == item["time"])
                and ("part_of_day" not in item or extra.get("part_of_day") == item["part_of_day"])
                and (not item.get("asap") or bool(extra.get("asap")))
                and ("range_end" not in item or str(extra.get("range_end", ""))[:10] == item["range_end"])
            )
        right += ok
        if verbose and not ok:
            print(f"  DATE {item} -> {found}")
    return {"phrases": len(items), "accuracy": round(right / len(items), 4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", action="store_true", help="also train and score feature variants")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from standardiste.config import load_config
    from standardiste.understanding.classifier import load_examples, packaged_nlu, train
    from standardiste.understanding.engine import LocalUnderstander, load_understander

    practice = load_config(None).practice
    now, items = load_dev()

    load_runs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", LOAD_SNIPPET],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"STANDARDISTE_CACHE_DIR": tempfile.mkdtemp()},
        )
        rss_mb, seconds = out.stdout.strip().splitlines()[-1].split()
        load_runs.append(float(seconds))
    understander = load_understander(practice)
    report: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model_load_s": round(min(load_runs), 2),
        "model_load_runs_s": [round(x, 2) for x in load_runs],
        "peak_rss_mb_after_load": int(rss_mb),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "cpus": os.cpu_count(),
        "training_examples": len(load_examples([packaged_nlu()])),
    }
    print(f"dev set: {len(items)} utterances, training examples: {report['training_examples']}")
    report["engine"] = evaluate(understander, now, items, verbose=not args.quiet)
    report["date_set"] = evaluate_dates(understander, verbose=not args.quiet)
    report["threshold_sweep_dev"] = threshold_sweep(understander, now, items)
    h_now, h_items = load_dev(HELDOUT)
    # Held-out misses are not printed: reading them would turn the held-out set into a dev set.
    report["heldout"] = evaluate(understander, h_now, h_items, verbose=False)

    if args.compare:
        examples = load_examples([packaged_nlu()])
        variants: dict[str, Any] = {}
        for name, use_char, c in (
            ("use_only_C10", False, 10.0),
            ("use_only_C30", False, 30.0),
            ("use_char_C10", True, 10.0),
            ("use_char_C30", True, 30.0),
            ("use_char_C100", True, 100.0),
        ):
            t0 = time.perf_counter()
            model = train(examples, use_char=use_char, c=c)
            train_s = time.perf_counter() - t0
            variant = LocalUnderstander(practice, model.predict, dates=understander.dates)
            scores = evaluate(variant, now, items, verbose=False)
            variants[name] = {k: scores[k] for k in ("intent_accuracy", "macro_f1", "emergency_precision")}
            variants[name]["train_s"] = round(train_s, 1)
            print(f"  {name:14s} {variants[name]}")
        report["variants"] = variants

    e = report["engine"]
    print(
        f"intent accuracy {e['intent_accuracy']:.3f}  macro-F1 {e['macro_f1']:.3f}  "
        f"emergency recall {e['emergency_recall']:.3f} precision {e['emergency_precision']:.3f}  "
        f"(urgent rules recall {e['urgent_recall']:.3f} precision {e['urgent_precision']:.3f})  "
        f"urgency accuracy {e['urgency_accuracy']:.3f}"
    )
    print(
        f"date accuracy {e['date_accuracy']:.3f} ({e['dates']})  latency p50 {e['latency_ms_p50']} ms "
        f"p95 {e['latency_ms_p95']} ms wall, "
        f"CPU p50 {e['cpu_ms_p50']} ms p95 {e['cpu_ms_p95']} ms (one core)  "
        f"model load {report['model_load_s']} s, {report['peak_rss_mb_after_load']} MB "
        f"(load average {report['load_average_at_start']})"
    )
    print(f"date set: {report['date_set']['accuracy']:.3f} of {report['date_set']['phrases']} phrases")
    h = report["heldout"]
    print(
        f"held-out ({h['utterances']}): intent accuracy {h['intent_accuracy']:.3f}  "
        f"macro-F1 {h['macro_f1']:.3f}  "
        f"emergency recall {h['emergency_recall']:.3f} precision {h['emergency_precision']:.3f}  "
        f"date accuracy {h['date_accuracy']:.3f} ({h['dates']})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report["context"] = describe("none (transcripts given as text)", "none")
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"saved {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
