"""How well Whisper base understands the test callers' synthetic voices through the telephone.

Each distinct sentence the spoken-call scripts say (tests/fixtures/spoken_calls.py, not keypad, not noise)
is synthesised in each caller voice (tests/fixtures/caller_voice.py: MBROLA fr4 through espeak-ng, and
SVOX Pico fr-FR, the assistant's own voice, for comparison), passed through 8 kHz G.711 mu-law and
transcribed by Whisper base (the server's settings); word error rate against what was meant, numbers
compared as words (tests/fixtures/voice_check.py).

Usage: python bench/bench_caller_voices.py [--limit 40]
Results: bench/results/caller_voices.json and a summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "caller_voices.json"


def sentences(limit: int) -> list[str]:
    from tests.fixtures.spoken_calls import _turn_source, load_scripts

    seen: list[str] = []
    for spec in load_scripts():
        for turn in [*spec["turns"], *(spec.get("answers") or {}).values()]:
            if _turn_source(turn) == "pico" and turn not in seen:
                seen.append(turn)
    return seen[:limit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="sentences per voice (default 40)")
    args = parser.parse_args()
    from tests.fixtures.caller_voice import CALLER_VOICES, caller_say
    from tests.fixtures.voice_check import padded, telephone, word_errors

    from benchinfo import whisper_engine

    engine = whisper_engine()
    texts = sentences(args.limit)
    out: dict[str, Any] = {"sentences": len(texts), "run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        for voice in CALLER_VOICES:
            errors = total = exact = 0
            examples = []
            for text in texts:
                heard = engine.decode(telephone(padded(caller_say(text, voice)))).text
                e, n = word_errors(text, heard)
                errors, total, exact = errors + e, total + n, exact + (e == 0)
                examples.append({"said": text, "heard": heard, "errors": e})
            out[voice] = {
                "wer": round(errors / max(1, total), 3),
                "exact": f"{exact}/{len(texts)}",
                "words": total,
                "examples": examples,
            }
            print(f"{voice}: WER {out[voice]['wer']:.1%}, exact {exact}/{len(texts)}", flush=True)
    finally:
        engine.close()
    RESULTS.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"written: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
