"""The test callers' second voice (MBROLA fr4 through espeak-ng): installed, speaks French at the test
phones' rate, and stays out of the product (its licence forbids selling it)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tests.fixtures.caller_voice import RATE, mbrola_available, mbrola_say
from tests.fixtures.parts import require_part

SRC = Path(__file__).resolve().parents[2] / "src"


def test_mbrola_fr4_speaks_a_sentence_at_16_khz() -> None:
    require_part(
        mbrola_available() is None, "MBROLA fr4 (Debian mbrola, mbrola-fr4)", "scripts/apt-packages.txt"
    )
    pcm = mbrola_say("je voudrais un rendez-vous avec le docteur martin")
    seconds = len(pcm) / (2 * RATE)
    assert 1.5 < seconds < 5.0, seconds  # a sentence, at the right rate (fr4 is 22.05 kHz, resampled)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    assert float(np.sqrt(np.mean(x * x))) > 500  # speech, not silence


# What using the voice takes: espeak-ng's MBROLA voice names, the voice data, or the test fixture (the word
# "MBROLA" alone may appear in a comment that quotes a measurement).
_USES = re.compile(r"\bmb-[a-z]{2}\d\b|/mbrola/|caller_voice|\bimport mbrola|mbrola_say", re.IGNORECASE)


def test_the_product_never_uses_the_mbrola_voice() -> None:
    users = [p for p in SRC.rglob("*.py") if _USES.search(p.read_text(encoding="utf-8"))]
    assert not users, users


def test_the_check_would_see_a_use() -> None:
    assert _USES.search('subprocess.run(["espeak-ng", "-v", "mb-fr4", text])')
    assert _USES.search('Path("/usr/share/mbrola/fr4/fr4")')
    assert not _USES.search("# names heard 75 % (MBROLA fr4)")
