"""Recognition benchmark on human French speech, per installed backend.

Run: python bench/bench_recognition.py [--quick]. Prints figures and writes bench/results/recognition.json.
- accuracy per grammar on the human test set (tests/fixtures/speech_corpus.py: Debian's Asterisk French
  prompts spliced into caller-like answers, G.711 round trip, 16 kHz), and on the Armelle stress voice;
- CPU seconds per second of audio (worker processes included), while streaming 20 ms frames;
- end of audio (finish()) to final result latency, p50/p95;
- memory per concurrent call with 1, 5 and 10 streams open, each with a grammar set and a turn decoded.
The Vosk backend is measured only when a French Vosk model is installed (none can be had on build machines).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fixtures.speech_corpus

from tests.fixtures.speech_corpus import Sample, Score, build_corpus, voice_dir  # noqa: E402

from standardiste.speech.sphinx import SphinxRecognizer  # noqa: E402

FRAME = 640
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError):
        return 0.0


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pids(recognizer: Any) -> list[int]:
    workers = getattr(recognizer, "worker_pids", None)
    return [os.getpid(), *(workers() if workers else [])]


async def _decode(recognizer: Any, sample: Sample, latencies: list[float]) -> str:
    stream = await recognizer.stream()
    try:
        await stream.set_grammar(sample.phrases())
        for i in range(0, len(sample.pcm), FRAME):
            await stream.accept(sample.pcm[i : i + FRAME])
        start = time.perf_counter()
        result = await stream.finish()
        latencies.append(time.perf_counter() - start)
        return result.text
    finally:
        await stream.close()


async def accuracy(recognizer: Any, samples: list[Sample]) -> dict[str, Any]:
    scores: dict[str, Score] = collections.defaultdict(Score)
    latencies: list[float] = []
    pids = _pids(recognizer)
    cpu0 = sum(_cpu_s(p) for p in pids)
    wall0 = time.perf_counter()
    for sample in samples:  # one call at a time: CPU per audio second of one stream
        scores[sample.group].add(sample, await _decode(recognizer, sample, latencies))
    cpu = sum(_cpu_s(p) for p in _pids(recognizer)) - cpu0
    audio_s = sum(s.seconds for s in samples)
    total = Score()
    for score in scores.values():
        total.samples += score.samples
        total.exact += score.exact
        total.word_errors += score.word_errors
        total.ref_words += score.ref_words
    latencies.sort()
    return {
        "samples": len(samples),
        "audio_s": round(audio_s, 1),
        "overall": {"exact": round(total.exact_rate, 3), "wer": round(total.wer, 3)},
        "per_grammar": {g: s.to_json() for g, s in sorted(scores.items())},
        "cpu_per_audio_s": round(cpu / audio_s, 4),
        "wall_per_audio_s": round((time.perf_counter() - wall0) / audio_s, 4),
        "finish_latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 2),
            "p95": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
    }


async def memory(make: Any, samples: list[Sample], counts: tuple[int, ...]) -> dict[str, Any]:
    """RSS of the process and its workers with N calls open, against the recogniser loaded and idle."""
    out: dict[str, Any] = {}
    for n in counts:
        recognizer = make()
        warm = getattr(recognizer, "warm_up", None)
        if warm:
            await warm()
        base = sum(_rss_mb(p) for p in _pids(recognizer))
        streams = []
        for i in range(n):
            stream = await recognizer.stream()
            sample = samples[i % len(samples)]
            await stream.set_grammar(sample.phrases())
            for j in range(0, len(sample.pcm), FRAME):
                await stream.accept(sample.pcm[j : j + FRAME])
            await stream.finish()
            streams.append(stream)
        loaded = sum(_rss_mb(p) for p in _pids(recognizer))
        out[str(n)] = {
            "rss_idle_mb": round(base, 1),
            "rss_with_calls_mb": round(loaded, 1),
            "per_call_mb": round((loaded - base) / n, 2),
            "workers": len(_pids(recognizer)) - 1,
        }
        for stream in streams:
            await stream.close()
        close = getattr(recognizer, "aclose", None)
        if close:
            await close()
    return out


def _vosk_french() -> tuple[Any, str]:
    try:
        from standardiste.config import load_config
        from standardiste.speech.models import find_vosk_model
        from standardiste.speech.select import looks_french
        from standardiste.speech.vosk_backend import VoskRecognizer
    except ImportError as err:
        return None, f"Vosk backend not importable: {err}"
    path = find_vosk_model(load_config(None).deployment)
    if path is None or not looks_french(path.name):
        return None, "no French Vosk model installed (standardiste models install)"
    return (lambda: VoskRecognizer(path)), ""


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one sample in three, memory with 1 and 5 calls")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "recognition.json")
    args = parser.parse_args()

    corpora = {v: build_corpus(v) for v in ("june", "armelle") if voice_dir(v) is not None}
    if args.quick:
        corpora = {v: s[::3] for v, s in corpora.items()}
    counts = (1, 5) if args.quick else (1, 5, 10)
    backends: dict[str, Any] = {"sphinx": lambda: SphinxRecognizer(workers=2)}
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_start": os.getloadavg()[0]},
        "test_set": {v: {"samples": len(s), "audio_s": round(sum(x.seconds for x in s), 1)}
                     for v, s in corpora.items()},
        "backends": {},
    }  # fmt: skip
    vosk, why = _vosk_french()
    if vosk is None:
        results["backends"]["vosk"] = {"skipped": why}
        print(f"vosk: skipped ({why})")
    else:
        backends["vosk"] = vosk
    for name, make in backends.items():
        recognizer = make()
        warm = getattr(recognizer, "warm_up", None)
        if warm:
            await warm()
        entry: dict[str, Any] = {"recognizer": recognizer.name}
        for voice, samples in corpora.items():
            entry[voice] = await accuracy(recognizer, samples)
            r = entry[voice]
            print(f"{name} / {voice}: exact {r['overall']['exact']:.0%}, WER {r['overall']['wer']:.1%}, "
                  f"CPU/audio {r['cpu_per_audio_s']}, finish p50/p95 {r['finish_latency_ms']['p50']}/"
                  f"{r['finish_latency_ms']['p95']} ms")  # fmt: skip
            for group, score in r["per_grammar"].items():
                print(f"    {group:12s} exact {score['exact']:.0%}  slots {score['slots']}")
        close = getattr(recognizer, "aclose", None)
        if close:
            await close()
        entry["memory"] = await memory(make, corpora.get("june", next(iter(corpora.values()))), counts)
        for n, m in entry["memory"].items():
            print(f"{name}: {n} calls: {m['per_call_mb']} MB per call (idle {m['rss_idle_mb']} MB)")
        results["backends"][name] = entry
    results["context"] = describe(
        "each backend in 'backends': " + ", ".join(results["backends"]), "recorded French speech corpora"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
