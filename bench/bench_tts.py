"""The assistant's voice: SVOX Pico fr-FR against espeak-ng.

Run: python bench/bench_tts.py [--rounds N] [--no-whisper]. Prints and writes bench/results/tts.json:
- time per sentence (wall, uncached) and CPU seconds per second of audio, for each voice, on the
  dialogue's own sentences (speech/spoken.py applied, as the synthesiser does);
- start-up cost (first engine) and memory per Pico engine;
- Pico with 2 threads (one engine each) against 1;
- intelligibility on the phone: word error rate after 8 kHz G.711 and the Whisper base model (a
  listener that never heard either voice), when the Whisper model is installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fixtures.voice_check

from tests.fixtures.voice_check import assistant_sentences, padded, telephone, word_errors  # noqa: E402

from standardiste.speech import pico  # noqa: E402
from standardiste.speech.audio import duration_s, resample  # noqa: E402
from standardiste.speech.spoken import spoken_fr  # noqa: E402
from standardiste.speech.tts import _EspeakLibrary  # noqa: E402

Synth = Callable[[str], bytes]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of the process
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def espeak_synth() -> tuple[Synth, float]:
    t0 = time.perf_counter()
    lib = _EspeakLibrary.get()
    start = time.perf_counter() - t0

    def synth(text: str) -> bytes:
        raw = lib.executor.submit(lib.synth_blocking, text, "fr+f2", 165).result()
        return resample(raw, lib.sample_rate, 16_000)

    return synth, start


def pico_synth() -> tuple[Synth, float, pico.PicoEngine]:
    t0 = time.perf_counter()
    engine = pico.PicoEngine()
    return engine.synthesize, time.perf_counter() - t0, engine


def measure(synth: Synth, texts: list[str], rounds: int) -> dict[str, Any]:
    synth(texts[0])  # warm
    walls: list[float] = []
    audio = 0.0
    c0 = cpu_s()
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            pcm = synth(text)
            walls.append(time.perf_counter() - t0)
            audio += duration_s(pcm)
    cpu = cpu_s() - c0
    return {
        "sentences": len(walls),
        "audio_s": round(audio, 1),
        "per_sentence_ms": {
            "mean": round(1000 * statistics.mean(walls), 1),
            "p50": round(1000 * pct(walls, 0.5), 1),
            "p95": round(1000 * pct(walls, 0.95), 1),
            "max": round(1000 * max(walls), 1),
        },
        "cpu_s_per_audio_s": round(cpu / audio, 4),
        "audio_s_per_sentence": round(audio / len(walls), 2),
    }


def pico_threads(texts: list[str], rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for workers in (1, 2):
        pool = pico.PicoPool(workers=workers)
        try:
            jobs = texts * rounds
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers * 2) as callers:
                run = pool.submit
                audio = sum(duration_s(p) for p in callers.map(lambda t, run=run: run(t).result(), jobs))
            wall = time.perf_counter() - t0
        finally:
            pool.close()
        out[f"{workers}_threads"] = {"wall_s": round(wall, 2), "audio_s_per_wall_s": round(audio / wall, 1)}
    return out


def intelligibility(voices: dict[str, Synth]) -> dict[str, Any]:
    from standardiste.speech.whisper_backend import WhisperEngine
    from standardiste.speech.whisper_model import find_whisper_model

    model = find_whisper_model()
    if model is None:
        return {"skipped": "Whisper base model not installed (standardiste models install whisper)"}
    engine = WhisperEngine(model, workers=1)
    engine.load()
    out: dict[str, Any] = {}
    try:
        for name, synth in voices.items():
            errors = total = 0
            examples = []
            for sentence in assistant_sentences():
                heard = engine.decode(telephone(padded(synth(spoken_fr(sentence))))).text
                e, n = word_errors(sentence, heard)
                errors, total = errors + e, total + n
                examples.append({"said": sentence, "heard": heard})
            out[name] = {"wer": round(errors / total, 3), "words": total, "examples": examples[:4]}
    finally:
        engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-whisper", action="store_true")
    args = parser.parse_args()

    texts = [spoken_fr(s) for s in assistant_sentences()]
    rss0 = rss_mb()
    pico_fn, pico_start, engine = pico_synth()
    pico_rss = rss_mb() - rss0
    espeak_fn, espeak_start = espeak_synth()
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "note": "uncached synthesis of the dialogue's sentences, 16 kHz out; the machine is shared",
        "pico": {"start_s": round(pico_start, 3), "engine_rss_mb": round(pico_rss, 1)},
        "espeak-ng": {"start_s": round(espeak_start, 3)},
    }
    results["pico"].update(measure(pico_fn, texts, args.rounds))
    results["espeak-ng"].update(measure(espeak_fn, texts, args.rounds))
    results["pico"]["threads"] = pico_threads(texts, 1)
    if not args.no_whisper:
        results["phone_intelligibility_g711_whisper_base"] = intelligibility(
            {"pico": pico_fn, "espeak-ng": espeak_fn}
        )
    engine.close()

    for voice in ("pico", "espeak-ng"):
        r = results[voice]
        print(
            f"{voice:10s} start {r['start_s']:.3f} s | per sentence mean {r['per_sentence_ms']['mean']} ms, "
            f"p95 {r['per_sentence_ms']['p95']} ms ({r['audio_s_per_sentence']} s of audio) | "
            f"CPU {r['cpu_s_per_audio_s']} s per audio s"
        )
    print(f"pico engine memory: {results['pico']['engine_rss_mb']} MB; threads: {results['pico']['threads']}")
    wer = results.get("phone_intelligibility_g711_whisper_base", {})
    for voice, r in wer.items():
        print(f"phone intelligibility {voice}: WER {r['wer']:.1%} on {r['words']} words" if "wer" in r else r)
    out = ROOT / "bench" / "results" / "tts.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
