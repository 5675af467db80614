"""Understanding's cost per utterance on ordinary, adversarial and random French (issue 14, item 1).

Cost = CPU time: the calling thread's (the parse runs in it) plus the Duckling child process's spent
on that utterance (dates.py runs Duckling there under a CPU budget). CPU time, not wall time, so
that the other work on this shared machine does not count; wall time is printed too.

Recogniser: none (text given directly to the understander). Audio source: none.

Usage: python bench/bench_understanding_bounds.py [--random 300] [--repeat 2]
Results: bench/results/understanding_bounds.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
RECOGNISER = "none (text given to the understander)"
AUDIO_SOURCE = "none"

ORDINARY = [
    "bonjour je voudrais prendre rendez-vous avec le docteur martin",
    "demain matin si possible",
    "jeudi prochain à quatorze heures trente",
    "le plus tôt possible",
    "je m'appelle jean dupont né le douze mars mille neuf cent quatre-vingt-cinq",
    "mon numéro c'est le zéro six douze trente-quatre cinquante-six soixante-dix-huit",
    "je voudrais annuler mon rendez-vous de mardi",
    "quels sont vos horaires",
    "oui",
    "non merci",
    "j'ai très mal à la poitrine",
    "le mardi huit décembre deux mille vingt-six à quatorze heures trente",
]
ADVERSARIAL = [
    "le deux mars " * 6,
    "le deux mars " * 160,
    "lundi " * 400,
    "semaine vingt matin avril " * 80,
    "mars week-end week-end prochain minuit " * 50,
    "après avril le minuit à minuit le matin " * 40,
    "mardi 3 mars 2026 à 14 h 30 le matin " * 50,
    "à dix heures trente " * 100,
    "1" * 2000,
    "0612345678 " * 180,
    " ".join(["un deux trois quatre cinq six sept huit neuf dix"] * 40),
    "日本語 العربية ελληνικά русский 中文 " * 60,
    "\x00\x01\x7f" * 600,
    "🙂😷🚑 " * 500,
    ("je voudrais un rendez-vous avec le docteur martin demain matin vers dix heures " * 30)[:2000],
]
_WORDS_TEXT = (
    "je voudrais un rendez vous avec le docteur martin demain matin lundi mardi mercredi jeudi vendredi "
    "samedi prochain semaine mois mars avril mai décembre à vers heures h midi minuit soir après-midi "
    "matinée fin début de la du au en dans entre et ou quinze huit deux trois dix vingt trente premier "
    "2 3 14 30 2026 1985 né le plus tôt possible euh oui non merci j'ai mal poitrine 日本 ελληνικά"
)
WORDS = _WORDS_TEXT.split()


def random_turns(n: int, seed: int = 14) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 6)):
            phrase = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 8)))
            parts.append(" ".join([phrase] * (rnd.randint(1, 120) if rnd.random() < 0.3 else 1)))
        out.append(" ".join(parts)[:2000])
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from standardiste.config import load_config
    from standardiste.understanding.dates import DUCKLING_BUDGET_S
    from standardiste.understanding.engine import load_understander

    load_before = os.getloadavg()
    print(
        f"understanding bounds; recogniser: {RECOGNISER}; audio: {AUDIO_SOURCE}; "
        f"machine: {platform.node()} {os.cpu_count()} CPU, load (1/5/15 min) {load_before}",
        flush=True,
    )
    engine = load_understander(load_config(None).practice)
    sets = {"ordinary": ORDINARY, "adversarial": ADVERSARIAL, "random": random_turns(args.random)}
    result: dict[str, Any] = {
        "bench": "understanding_bounds",
        "recogniser": RECOGNISER,
        "audio_source": AUDIO_SOURCE,
        "machine": f"{platform.node()} {os.cpu_count()} CPU",
        "duckling_budget_ms": DUCKLING_BUDGET_S * 1000,
        "sets": {},
    }
    for name, texts in sets.items():
        for text in texts:  # warm-up: the first overrun of a kind also starts the spare Duckling process
            engine.parse(text, NOW)
        cpu: list[float] = []
        wall: list[float] = []
        worst = ("", 0.0)
        over = engine.dates.over_budget
        for _ in range(args.repeat):
            for text in texts:
                w0, t0 = time.perf_counter(), time.thread_time()
                engine.parse(text, NOW)
                c = time.thread_time() - t0 + engine.dates.last_duckling_cpu()
                wall.append(time.perf_counter() - w0)
                cpu.append(c)
                if c > worst[1]:
                    worst = (text[:60], c)
        figures = {
            "utterances": len(cpu),
            "cpu_ms_p50": round(statistics.median(cpu) * 1000, 2),
            "cpu_ms_p95": round(pct(cpu, 0.95) * 1000, 2),
            "cpu_ms_max": round(max(cpu) * 1000, 2),
            "wall_ms_p50": round(statistics.median(wall) * 1000, 2),
            "wall_ms_p95": round(pct(wall, 0.95) * 1000, 2),
            "wall_ms_max": round(max(wall) * 1000, 2),
            "duckling_over_budget": engine.dates.over_budget - over,
            "worst": worst[0],
        }
        result["sets"][name] = figures
        print(
            f"{name:12s} n={figures['utterances']:4d}  CPU p50 {figures['cpu_ms_p50']:6.2f}  "
            f"p95 {figures['cpu_ms_p95']:6.2f}  max {figures['cpu_ms_max']:6.2f} ms   "
            f"wall p50 {figures['wall_ms_p50']:6.2f}  p95 {figures['wall_ms_p95']:6.2f}  "
            f"max {figures['wall_ms_max']:7.2f} ms  Duckling over budget {figures['duckling_over_budget']}",
            flush=True,
        )
    result["machine_load_1min"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    print(f"machine load (1 min) before/after: {result['machine_load_1min']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "understanding_bounds.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
