"""Checking what a phone heard: is a reference sound in the capture, where, and how sure.

Audio crosses G.711 and a jitter buffer that may insert or drop a 20 ms frame, so a single
whole-signal correlation is fragile. The reference is cut into chunks; each chunk is found by
normalised cross-correlation within a window around where the previous chunks put it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FloatArray = np.ndarray


def pcm_to_float(pcm: bytes) -> FloatArray:
    return np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32) / 32768.0


def resample(samples: FloatArray, rate_in: int, rate_out: int) -> FloatArray:
    if rate_in == rate_out:
        return samples
    import soxr

    return soxr.resample(samples, rate_in, rate_out).astype(np.float32)


@dataclass(frozen=True)
class Match:
    found: bool
    offset_s: float  # where the reference starts in the capture
    score: float  # median normalised correlation of the matched chunks (0..1)
    matched_fraction: float  # share of chunks whose correlation passed the threshold
    chunk_scores: tuple[float, ...]


def _ncc(haystack: FloatArray, needle: FloatArray) -> FloatArray:
    """Normalised cross-correlation of needle at every position of haystack (valid mode)."""
    n, m = len(haystack), len(needle)
    if n < m or m == 0:
        return np.zeros(0, dtype=np.float32)
    needle = needle - needle.mean()
    norm_needle = float(np.sqrt(np.sum(needle**2)))
    if norm_needle == 0:
        return np.zeros(n - m + 1, dtype=np.float32)
    size = 1 << int(np.ceil(np.log2(n + m)))
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)[: n - m + 1]
    csum = np.concatenate(([0.0], np.cumsum(haystack.astype(np.float64))))
    csum2 = np.concatenate(([0.0], np.cumsum(haystack.astype(np.float64) ** 2)))
    win_sum = csum[m:] - csum[:-m]
    win_sq = csum2[m:] - csum2[:-m]
    win_var = np.maximum(win_sq - win_sum**2 / m, 1e-12)
    return (corr / (np.sqrt(win_var) * norm_needle)).astype(np.float32)


def find_reference(
    reference: bytes | FloatArray,
    captured: bytes | FloatArray,
    rate: int = 16000,
    reference_rate: int | None = None,
    chunk_ms: int = 250,
    threshold: float = 0.5,
    min_fraction: float = 0.6,
    slack_ms: int = 120,
) -> Match:
    """Find `reference` (PCM bytes or floats) in `captured` (same `rate` unless reference_rate)."""
    ref = pcm_to_float(reference) if isinstance(reference, bytes) else np.asarray(reference, np.float32)
    cap = pcm_to_float(captured) if isinstance(captured, bytes) else np.asarray(captured, np.float32)
    if reference_rate and reference_rate != rate:
        ref = resample(ref, reference_rate, rate)
    chunk = int(rate * chunk_ms / 1000)
    slack = int(rate * slack_ms / 1000)
    starts = [i for i in range(0, len(ref) - chunk + 1, chunk) if np.std(ref[i : i + chunk]) > 1e-3]
    if not starts or len(cap) < chunk:
        return Match(False, 0.0, 0.0, 0.0, ())
    scores: list[float] = []
    anchor: int | None = None  # capture position minus reference position, once found
    for start in starts:
        piece = ref[start : start + chunk]
        if anchor is None:
            lo, hi = 0, len(cap)
        else:
            lo, hi = max(0, anchor + start - slack), min(len(cap), anchor + start + chunk + slack)
        ncc = _ncc(cap[lo:hi], piece)
        if len(ncc) == 0:
            scores.append(0.0)
            continue
        best = int(np.argmax(ncc))
        score = float(ncc[best])
        scores.append(score)
        if score >= threshold and anchor is None:
            anchor = lo + best - start
        elif score >= threshold and anchor is not None:
            anchor = lo + best - start  # follow small drifts (inserted/dropped frames)
    passed = [s for s in scores if s >= threshold]
    fraction = len(passed) / len(scores)
    offset = (anchor or 0) / rate
    median = float(np.median(passed)) if passed else 0.0
    return Match(fraction >= min_fraction, max(offset, 0.0), median, fraction, tuple(scores))


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def first_sound(
    pcm: bytes, rate: int = 16000, threshold: float = 300.0, start_s: float = 0.0
) -> float | None:
    """Seconds from the start of pcm to the first 20 ms frame louder than threshold (RMS), or None."""
    frame = rate // 50 * 2
    begin = int(start_s * rate) * 2
    for pos in range(begin, len(pcm) - frame + 1, frame):
        if rms(pcm[pos : pos + frame]) > threshold:
            return pos / (2 * rate)
    return None


def sound_segments(
    pcm: bytes, rate: int = 16000, threshold: float = 300.0, min_gap_s: float = 0.4, min_len_s: float = 0.1
) -> list[tuple[float, float]]:
    """(start_s, end_s) of the sounding parts of pcm, gaps shorter than min_gap_s merged."""
    frame = rate // 50 * 2
    segments: list[tuple[float, float]] = []
    current: list[float] | None = None
    for pos in range(0, len(pcm) - frame + 1, frame):
        t = pos / (2 * rate)
        loud = rms(pcm[pos : pos + frame]) > threshold
        if loud:
            if current is not None and t - current[1] <= min_gap_s:
                current[1] = t + 0.02
            else:
                if current is not None:
                    segments.append((current[0], current[1]))
                current = [t, t + 0.02]
    if current is not None:
        segments.append((current[0], current[1]))
    return [(a, b) for a, b in segments if b - a >= min_len_s]


def tone(freq: float, seconds: float, rate: int = 16000, amplitude: float = 0.3) -> bytes:
    """A sine tone as slin PCM (test signals)."""
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2").tobytes()


def chirps(seconds: float, rate: int = 16000, seed: int = 7) -> bytes:
    """A speech-band test signal with no periodicity (random chirps), easy to locate by correlation."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    pos = 0
    while pos < len(out):
        n = min(int(rng.uniform(0.08, 0.25) * rate), len(out) - pos)
        f0, f1 = rng.uniform(300, 3000, size=2)
        t = np.arange(n) / rate
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * max(t[-1], 1e-3)))
        out[pos : pos + n] = np.sin(phase) * np.hanning(n) * rng.uniform(0.2, 0.5)
        pos += n
    return (out * 32767).astype("<i2").tobytes()
