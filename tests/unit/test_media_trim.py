"""Leading quiet of synthesised speech is cut before playback (the caller hears the reply sooner)."""

from __future__ import annotations

import numpy as np

from standardiste.telephony.media import ONSET_KEEP_S, trim_leading_quiet

RATE = 16000


def _pcm(quiet_s: float, loud_s: float, hiss: int = 20) -> bytes:
    rng = np.random.default_rng(1)
    quiet = rng.normal(0, hiss / 3, int(quiet_s * RATE)).clip(-hiss, hiss)
    loud = 8000 * np.sin(np.arange(int(loud_s * RATE)) * 2 * np.pi * 200 / RATE)
    return np.concatenate([quiet, loud]).astype("<i2").tobytes()


def test_leading_quiet_is_cut_keeping_the_onset() -> None:
    pcm = _pcm(0.08, 0.5)
    out = trim_leading_quiet(pcm)
    cut_s = (len(pcm) - len(out)) / (2 * RATE)
    assert 0.08 - ONSET_KEEP_S - 0.002 <= cut_s <= 0.08 - ONSET_KEEP_S + 0.002
    assert out.endswith(pcm[-2000:])  # nothing but the quiet start is touched
    assert len(out) % 2 == 0


def test_prompt_that_starts_loud_or_stays_quiet_is_unchanged() -> None:
    loud = _pcm(0.0, 0.3)
    assert trim_leading_quiet(loud) == loud
    quiet = _pcm(1.0, 0.0)
    assert trim_leading_quiet(quiet) == quiet
    late = _pcm(0.7, 0.3)  # a deliberate pause longer than the scan: kept
    assert trim_leading_quiet(late) == late
    assert trim_leading_quiet(b"") == b""
