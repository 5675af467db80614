"""Whisper base's CPU per turn against what it hears (issue 14): decoding settings compared on the same audio.

Each setting decodes the same turns, one at a time on one thread (CTranslate2 int8, the server's model),
and prints the word error rate and the CPU seconds per second of audio (process CPU time, so the figure
holds on a loaded machine; the wall time is printed too). Audio:
- human: Debian's human French recordings (asterisk-core-sounds-fr-wav, June) spliced into caller-like
  answers (times, dates and times, dates, phone numbers, birth dates; tests/fixtures/speech_corpus.py),
  8 kHz G.711 round trip;
- mbrola, pico: the spoken-call scripts' sentences in the test callers' synthetic voices through the
  telephone (bench/bench_caller_voices.py's set).

Settings: the encoder window (a fixed 10 s, or fitted to the turn: its length plus a margin, rounded up to
a bucket, with a floor) and the beam (5, or greedy 1), optionally a batch of turns decoded together.

Usage: python bench/bench_whisper_cpu.py [--limit 40] [--settings w10b5 w10b1 fit4b5 ...]
Results: bench/results/whisper_cpu.json and whisper_cpu.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Setting:
    name: str
    window_s: float | None  # None: fitted to the turn
    beam: int
    floor_s: float = 4.0  # fitted window: at least this
    margin_s: float = 1.0  # fitted window: the turn plus this
    bucket_s: float = 2.0  # fitted window: rounded up to a multiple of this


SETTINGS = {
    "w10b5": Setting("w10b5", 10.0, 5),
    "w10b1": Setting("w10b1", 10.0, 1),
    "w10b2": Setting("w10b2", 10.0, 2),
    "fit4b5": Setting("fit4b5", None, 5, floor_s=4.0),
    "fit6b5": Setting("fit6b5", None, 5, floor_s=6.0),
    "fit4b1": Setting("fit4b1", None, 1, floor_s=4.0),
    "fit6b1": Setting("fit6b1", None, 1, floor_s=6.0),
    "fit2b5": Setting("fit2b5", None, 5, floor_s=2.0, bucket_s=1.0),
    "w5b5": Setting("w5b5", 5.0, 5),
}


def window_for(setting: Setting, seconds: float) -> float:
    if setting.window_s is not None:
        return setting.window_s
    fitted = math.ceil((seconds + setting.margin_s) / setting.bucket_s) * setting.bucket_s
    return float(min(10.0, max(setting.floor_s, fitted)))


def turns(limit: int) -> dict[str, list[tuple[str, bytes]]]:
    from tests.fixtures.caller_voice import CALLER_VOICES, caller_say
    from tests.fixtures.speech_corpus import build_corpus
    from tests.fixtures.voice_check import padded, telephone

    from bench_caller_voices import sentences

    cache = Path("/tmp/bench-whisper-cpu-corpus")
    human = [s for s in build_corpus("june", cache) if not s.group.startswith("word:")]
    out = {"human": [(s.text, s.pcm) for s in human[: 2 * limit]]}
    texts = sentences(limit)
    for voice in CALLER_VOICES:
        out[voice] = [(t, telephone(padded(caller_say(t, voice)))) for t in texts]
    return out


def decode_with(engine: Any, setting: Setting, pcm: bytes) -> str:
    """Engine.decode with the setting's window and beam (the server's gate and judge)."""
    import ctranslate2

    from standardiste.speech.types import SAMPLE_RATE
    from standardiste.speech.whisper_backend import (
        MAX_TOKENS,
        Decoded,
        split_at_pauses,
        voiced_seconds,
    )

    if voiced_seconds(pcm, engine.gate) < engine.gate.min_voiced_s:
        return ""
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    texts = []
    for piece in split_at_pauses(audio):
        window = window_for(setting, len(piece) / SAMPLE_RATE)
        n = int(window * SAMPLE_RATE)
        padded = np.zeros(n, dtype=np.float32)
        padded[: len(piece)] = piece[:n]
        mel = engine._features(padded, padding=0)[:, : n // 160]
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel, dtype=np.float32)[np.newaxis])
        result = engine._model.generate(
            features, [engine._prompt], beam_size=setting.beam, max_length=len(engine._prompt) + MAX_TOKENS,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=engine._suppress,
        )[0]  # fmt: skip
        ids = [t for t in result.sequences_ids[0] if t < engine._tokenizer.eot]
        k = len(result.sequences_ids[0])
        avg = (result.scores[0] * k) / (k + 1) if k else -10.0
        d = engine._judge(
            Decoded(engine._tokenizer.decode(ids).strip(), avg, float(result.no_speech_prob), k)
        )
        if d.text:
            texts.append(d.text)
    return " ".join(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="synthetic sentences per voice; human: twice")
    parser.add_argument("--settings", nargs="+", default=["w10b5", "w10b1", "fit4b5", "fit6b5", "fit4b1"])
    parser.add_argument("--name", default="whisper_cpu")
    args = parser.parse_args()
    from tests.fixtures.voice_check import word_errors

    from benchinfo import describe, whisper_engine

    engine = whisper_engine()
    sets = turns(args.limit)
    audio_s = {k: sum(len(p) / 32000 for _, p in v) for k, v in sets.items()}
    decode_with(engine, SETTINGS["w10b5"], sets["human"][0][1])  # warm up
    rows: list[dict[str, Any]] = []
    for name in args.settings:
        setting = SETTINGS[name]
        row: dict[str, Any] = {"setting": name}
        for corpus, items in sets.items():
            errors = total = 0
            cpu0, wall0 = time.process_time(), time.monotonic()
            for text, pcm in items:
                e, n = word_errors(text, decode_with(engine, setting, pcm))
                errors, total = errors + e, total + n
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            row[corpus] = {
                "wer": round(errors / max(1, total), 3), "words": total, "turns": len(items),
                "cpu_s_per_audio_s": round(cpu / audio_s[corpus], 3),
                "cpu_s_per_turn": round(cpu / len(items), 3), "wall_s_per_turn": round(wall / len(items), 3),
            }  # fmt: skip
            print(name, corpus, row[corpus], flush=True)
        rows.append(row)
    engine.close()
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "context": describe(
            f"whisper:{engine.model_dir.name} (CTranslate2 int8, one thread)",
            "human French (asterisk-core-sounds-fr-wav June, spliced caller-like answers, G.711) and the "
            "test callers' synthetic voices (MBROLA fr4, SVOX Pico) through G.711",
        ),
        "audio_s": {k: round(v, 1) for k, v in audio_s.items()},
        "settings": {n: SETTINGS[n].__dict__ for n in args.settings},
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    corpora = list(sets)
    lines = [
        f"# Whisper base: CPU per turn against word error rate ({out['date']})",
        "",
        f"Recogniser: {out['context']['recogniser']}. Audio: {out['context']['audio_source']} "
        f"({', '.join(f'{k}: {len(v)} turns, {audio_s[k]:.0f} s' for k, v in sets.items())}). "
        f"Machine: {out['context']['machine']}; "
        f"load (1/5/15 min): {out['context']['machine_load_1_5_15min']}.",
        "",
        "| setting | " + " | ".join(f"{c} WER | {c} CPU-s/audio-s (per turn)" for c in corpora) + " |",
        "|---|" + "---|---|" * len(corpora),
    ]
    for row in rows:
        cells = [
            f"{row[c]['wer']:.1%} | {row[c]['cpu_s_per_audio_s']} ({row[c]['cpu_s_per_turn']} s)"
            for c in corpora
        ]
        lines.append(f"| {row['setting']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Settings: wNbK = a fixed N s encoder window, beam K; fitFbK = the window fitted to the turn (its "
        "length + 1 s, rounded up to 2 s, at least F s, at most 10 s), beam K. CPU: process CPU time of the "
        "decodes (the gate, the mel, encoder and decoder), one thread.",
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
