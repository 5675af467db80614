"""Small audio helpers: resampling, G.711 mu-law, WAV files, 20 ms framing, levels.

Everything works on signed 16-bit little-endian mono PCM held in `bytes`.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soxr

from standardiste.speech.types import FRAME_MS, SAMPLE_RATE

SAMPLE_WIDTH = 2  # bytes per sample (s16le)


def frame_bytes(sample_rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> int:
    return sample_rate * frame_ms // 1000 * SAMPLE_WIDTH


def to_array(pcm: bytes) -> np.ndarray:
    if len(pcm) % 2:
        raise ValueError("PCM s16le must have an even number of bytes")
    return np.frombuffer(pcm, dtype="<i2")


def resample(pcm: bytes, from_rate: int, to_rate: int, quality: str = "HQ") -> bytes:
    """Resample s16le mono with soxr (band-limited, no aliasing); returns s16le."""
    if from_rate == to_rate or not pcm:
        return pcm
    out = soxr.resample(to_array(pcm), from_rate, to_rate, quality=quality)
    return np.asarray(out, dtype="<i2").tobytes()


def upsample_8k_to_16k(pcm8: bytes) -> bytes:
    return resample(pcm8, 8000, 16000)


def downsample_16k_to_8k(pcm16: bytes) -> bytes:
    return resample(pcm16, 16000, 8000)


class StreamResampler:
    """Frame-by-frame resampling that keeps filter state between frames (no clicks at frame joins)."""

    def __init__(self, from_rate: int, to_rate: int, quality: str = "HQ") -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, "int16", quality)
        )

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        out = self._stream.resample_chunk(to_array(pcm), last=last)
        return np.asarray(out, dtype="<i2").tobytes()


# --- G.711 mu-law (table based; audioop is gone in Python 3.13) ---

_BIAS = 0x84


def _build_ulaw_decode() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_ulaw_encode() -> np.ndarray:
    # Same arithmetic as the classic G.711 reference (14-bit magnitude, bias 33, clip 8159).
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + 33
    seg = np.maximum(np.floor(np.log2(magnitude)).astype(np.int32) - 5, 0)
    uval = np.where(seg > 7, 0x7F, (seg << 4) | ((magnitude >> (np.minimum(seg, 7) + 1)) & 0x0F))
    return ((uval ^ mask) & 0xFF).astype(np.uint8)


_ULAW_DECODE = _build_ulaw_decode()
_ULAW_ENCODE = _build_ulaw_encode()


def ulaw_to_lin(data: bytes) -> bytes:
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def lin_to_ulaw(pcm: bytes) -> bytes:
    return _ULAW_ENCODE[to_array(pcm).astype(np.int32) + 32768].tobytes()


# --- WAV files ---


def read_wav(source: str | Path | bytes) -> tuple[bytes, int]:
    """Read a PCM WAV (file path or bytes); returns (mono s16le, sample rate). Stereo is mixed down."""
    with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        data = w.readframes(w.getnframes())
    if width == 1:
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(data, dtype="<i2")
    elif width == 4:
        samples = (np.frombuffer(data, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise ValueError(f"unsupported WAV sample width: {width} bytes")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples.astype("<i2").tobytes(), rate


def read_wav_as(source: str | Path | bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Read a WAV and resample it to `sample_rate` mono s16le."""
    pcm, rate = read_wav(source)
    return resample(pcm, rate, sample_rate)


def wav_bytes(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: str | Path, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a mono s16le WAV atomically (temporary file then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(wav_bytes(pcm, sample_rate))
    tmp.replace(path)


# --- framing and levels ---


def split_frames(
    pcm: bytes, sample_rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS, pad: bool = True
) -> Iterator[bytes]:
    """Cut PCM into fixed frames; the last partial frame is padded with silence (or dropped)."""
    size = frame_bytes(sample_rate, frame_ms)
    for start in range(0, len(pcm), size):
        frame = pcm[start : start + size]
        if len(frame) < size:
            if not pad:
                return
            frame = frame + b"\x00" * (size - len(frame))
        yield frame


def silence(ms: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    return b"\x00" * (sample_rate * ms // 1000 * SAMPLE_WIDTH)


def duration_s(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    return len(pcm) / (SAMPLE_WIDTH * sample_rate)


def rms_dbfs(pcm: bytes) -> float:
    """Level relative to full scale; -inf dB for digital silence is reported as -100."""
    samples = to_array(pcm).astype(np.float64)
    if samples.size == 0:
        return -100.0
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20 * math.log10(rms / 32768) if rms > 0 else -100.0


def white_noise(ms: int, dbfs: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> bytes:
    """Gaussian noise at a given RMS level (for tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    n = sample_rate * ms // 1000
    amplitude = 32768 * 10 ** (dbfs / 20)
    samples = np.clip(rng.normal(0, amplitude, n), -32768, 32767)
    return samples.astype("<i2").tobytes()


def mix(a: bytes, b: bytes) -> bytes:
    """Sum two s16le signals (the shorter one padded with silence), clipped."""
    x, y = to_array(a).astype(np.int32), to_array(b).astype(np.int32)
    n = max(x.size, y.size)
    x = np.pad(x, (0, n - x.size))
    y = np.pad(y, (0, n - y.size))
    return np.clip(x + y, -32768, 32767).astype("<i2").tobytes()
