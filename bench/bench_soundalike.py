"""The "sounds like a red flag" layer (understanding/soundalike.py): how often it asks for nothing.

Run: python bench/bench_soundalike.py. Reads routine sentences (tests/data nlu files, the packaged
training data, every spoken turn of the scripted calls) and the generated hard negatives of the safety
corpus, as a recogniser would write them (folded), and counts those on which the layer would add a
check question (the rules having found nothing), also garbled as a recogniser garbles them (long words
split in two). Also the mishearings of the unit test (all must hit), the generated positives with long
words split (rules alone vs with the layer), and the time per turn (p50/p95/max, ms). Writes
bench/results/soundalike.json.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from standardiste.understanding.normalize import digits, fold, lower, without_fillers  # noqa: E402
from standardiste.understanding.safety_corpus import asr_noise, generate  # noqa: E402
from standardiste.understanding.soundalike import sounds_like_red_flag  # noqa: E402
from standardiste.understanding.urgency import default_net  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "soundalike.json"


def _folded(text: str) -> str:
    return fold(digits(without_fillers(lower(text)))).text


def routine_sentences() -> list[str]:
    out: list[str] = []
    for name in ("tests/data/nlu_dev.yml", "tests/data/nlu_heldout.yml"):
        doc = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        out += [i["text"] for i in doc["items"] if i.get("intent") != "emergency"]
    packaged = yaml.safe_load(
        (ROOT / "src/standardiste/understanding/data/nlu.yml").read_text(encoding="utf-8")
    )
    for block in packaged.get("nlu", []):
        if block.get("intent") == "emergency":
            continue
        out += [
            line.lstrip("- ").strip() for line in str(block.get("examples", "")).splitlines() if line.strip()
        ]
    for name in ("scripted_calls.jsonl", "scripted_calls_holdout.jsonl", "scripted_multigoal_calls.jsonl"):
        for line in (ROOT / "tests/data" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                call = json.loads(line)
                out += [t for t in call["turns"] if isinstance(t, str) and not t.startswith("#")]
    return out


def main() -> None:
    net = default_net()
    report: dict[str, Any] = {}
    times: list[float] = []

    def run(texts: list[str]) -> list[tuple[str, str]]:
        hits: list[tuple[str, str]] = []
        for text in texts:
            folded = _folded(text)
            if net.assess(folded).level is not None:
                continue  # the rules already spoke: the layer is not asked
            t0 = time.perf_counter()
            hit = sounds_like_red_flag(folded)
            times.append((time.perf_counter() - t0) * 1000)
            if hit is not None:
                hits.append((text, f"{hit.heard} ~ {hit.term}"))
        return hits

    # Routine: what the rules leave alone said as written (the scripted calls also hold emergencies).
    routine = [t for t in routine_sentences() if net.assess(_folded(t)).level is None]
    routine_hits = run(routine)
    # The same routine sentences garbled the way a recogniser garbles them: recogniser noise
    # (accents, elisions, stutters, fillers), and long words split in two ("rendez vous" -> "rang des
    # vous" is beyond reach, but "consultation" -> "consul tation" is not), three draws each.
    rng = random.Random(20261207)

    def split_words(text: str) -> str:
        out = []
        for word in text.split():
            if len(word) >= 6 and rng.random() < 0.3:
                cut = rng.randint(2, len(word) - 2)
                out += [word[:cut], word[cut:]]
            else:
                out.append(word)
        return " ".join(out)

    garbled = [split_words(asr_noise(t, rng)) for t in routine for _ in range(3)]
    garbled_hits = run(garbled)
    corpus = generate()
    negatives = [i.text for i in corpus if not i.vital]
    negative_hits = run(negatives)
    # Hard negatives the rules leave alone as written (those in a hypothesis get a check anyway).
    quiet_negatives = [t for t in negatives if net.assess(_folded(t)).level is None]
    split_negatives = [split_words(t) for t in quiet_negatives]
    split_negative_hits = run(split_negatives)
    positives = [i.text for i in corpus if i.vital]
    positive_hits = run(positives)
    # Recall on garbled red flags: the generated positives with long words split in two; how many the
    # rules alone now miss, and how many of those the layer turns into a check question.
    split_positives = [split_words(t) for t in positives]
    rules_missed = [t for t in split_positives if net.assess(_folded(t)).level is None]
    split_caught = run(rules_missed)
    from tests_mishearings import MISHEARINGS  # type: ignore[import-not-found]

    misheard = [t for t, _flag in MISHEARINGS]
    caught = sum(1 for t in misheard if sounds_like_red_flag(_folded(t)) is not None)
    hostile: dict[str, float] = {}
    for name, text in {
        "2000 chars of 'sais ni '": "sais ni " * 250,
        "2000 chars of 'in con scient pa '": "in con scient pa " * 118,
        "2000 chars of 'a '": "a " * 1000,
        "one 2000-letter word": "x" * 2000,
    }.items():
        t0 = time.perf_counter()
        sounds_like_red_flag(text)
        hostile[name] = (time.perf_counter() - t0) * 1000
    times.sort()
    report = {
        "routine": {"n": len(routine), "check": len(routine_hits), "rate": len(routine_hits) / len(routine)},
        "routine_garbled": {
            "n": len(garbled),
            "check": len(garbled_hits),
            "rate": len(garbled_hits) / len(garbled),
        },
        "hard_negatives": {
            "n": len(negatives),
            "check": len(negative_hits),
            "rate": len(negative_hits) / len(negatives),
        },
        "hard_negatives_split": {
            "n": len(split_negatives),
            "check": len(split_negative_hits),
            "rate": len(split_negative_hits) / len(split_negatives),
        },
        "positives_seen_by_layer": {"hits": len(positive_hits)},
        "positives_split": {
            "n": len(split_positives),
            "rules_missed": len(rules_missed),
            "layer_caught": len(split_caught),
        },
        "mishearings": {"n": len(misheard), "caught": caught},
        "ms": {
            "p50": statistics.median(times),
            "p95": times[int(0.95 * (len(times) - 1))],
            "max": times[-1],
            "n": len(times),
        },
        "hostile_ms": hostile,
        "examples_routine": routine_hits[:30],
        "examples_garbled": garbled_hits[:30],
        "examples_negatives": negative_hits[:30],
        "examples_negatives_split": split_negative_hits[:30],
        "examples_split_missed": [t for t in rules_missed if t not in {h[0] for h in split_caught}][:30],
    }
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("examples")}, indent=1))
    for text, why in routine_hits[:30] + garbled_hits[:30] + negative_hits[:30] + split_negative_hits[:30]:
        print(f"  check: {text!r}  ({why})")
    RESULTS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    main()
