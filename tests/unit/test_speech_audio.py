"""Audio helpers: resampling keeps the signal, mu-law matches G.711, WAV round trips, framing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from standardiste.speech import audio as A


def sine(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * math.pi * freq * t) * amplitude * 32767).astype("<i2").tobytes()


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = A.to_array(pcm).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * rate / x.size)


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (22050, 16000)])
def test_resample_keeps_length_and_pitch(src: int, dst: int) -> None:
    out = A.resample(sine(440, src), src, dst)
    assert abs(len(out) // 2 - dst) <= 2
    assert abs(dominant_hz(out, dst) - 440) < 3
    assert abs(A.rms_dbfs(out) - A.rms_dbfs(sine(440, src))) < 0.5


def test_downsampling_removes_what_8k_cannot_carry() -> None:
    # 5 kHz is above the 4 kHz Nyquist limit of 8 kHz audio: it must vanish, not alias to 3 kHz.
    out = A.resample(sine(5000, 16000), 16000, 8000)
    assert A.rms_dbfs(out[800:-800]) < -60  # away from the edges' transients


def test_stream_resampler_matches_whole_signal() -> None:
    pcm = sine(300, 8000, 0.5)
    stream = A.StreamResampler(8000, 16000)
    chunks = [stream.process(f) for f in A.split_frames(pcm, 8000)]
    chunks.append(stream.process(b"", last=True))
    joined = b"".join(chunks)
    assert abs(len(joined) - 2 * len(pcm)) <= 8
    assert abs(dominant_hz(joined, 16000) - 300) < 5


def test_ulaw_round_trip_error_is_small_and_silence_is_exact() -> None:
    pcm = sine(1000, 8000, 0.2, amplitude=0.3)
    back = A.ulaw_to_lin(A.lin_to_ulaw(pcm))
    err = A.to_array(back).astype(int) - A.to_array(pcm).astype(int)
    assert np.max(np.abs(err)) < 0.04 * 32767 * 0.3 + 16
    assert A.lin_to_ulaw(b"\x00\x00") == b"\xff"  # G.711 mu-law code for 0
    assert len(A.lin_to_ulaw(pcm)) == len(pcm) // 2


def test_ulaw_known_codes() -> None:
    # Reference values of G.711 (ITU-T) mu-law: 0x00 is the most negative, 0x80 the most positive.
    decoded = A.to_array(A.ulaw_to_lin(bytes([0x00, 0x80, 0xFF, 0x7F])))
    assert list(decoded) == [-32124, 32124, 0, 0]


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = sine(440, 16000, 0.3)
    path = tmp_path / "a.wav"
    A.write_wav(path, pcm, 16000)
    back, rate = A.read_wav(path)
    assert (back, rate) == (pcm, 16000)
    assert A.read_wav_as(path, 8000) == A.resample(pcm, 16000, 8000)
    assert not list(tmp_path.glob(".*tmp"))


def test_read_wav_mixes_stereo_down() -> None:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.array([1000, 3000] * 100, dtype="<i2").tobytes())
    pcm, rate = A.read_wav(buf.getvalue())
    assert rate == 8000 and set(A.to_array(pcm)) == {2000}


def test_split_frames_pads_or_drops_the_tail() -> None:
    pcm = b"\x01\x00" * 500  # 500 samples = 1.5625 frames of 320
    frames = list(A.split_frames(pcm))
    assert [len(f) for f in frames] == [640, 640]
    assert frames[1].endswith(b"\x00" * 100)
    assert len(list(A.split_frames(pcm, pad=False))) == 1
    assert A.frame_bytes(8000) == 320


def test_levels_and_noise() -> None:
    assert A.rms_dbfs(A.silence(20)) == -100.0
    assert abs(A.rms_dbfs(A.white_noise(500, -30)) + 30) < 0.5
    assert A.duration_s(A.silence(1500)) == 1.5
    assert A.mix(b"\xff\x7f", b"\xff\x7f\x01\x00") == b"\xff\x7f\x01\x00"  # clipped, padded


def test_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError):
        A.to_array(b"\x00\x00\x00")
