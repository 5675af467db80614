"""Turn detection over real espeak-ng speech, silence, noise, clicks and holes in the frame stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from standardiste.speech import audio as A
from standardiste.speech.turn import (
    EndOfTurn,
    NoSpeech,
    SpeechStarted,
    TurnDetector,
    TurnEvent,
    TurnSettings,
)
from tests.fixtures.parts import require_part
from tests.fixtures.speech import espeak_pcm

FRAME = 0.02


def speech_bounds(pcm: bytes, threshold: int = 500) -> tuple[float, float]:
    """Where the signal really has speech (first/last loud sample), in seconds."""
    loud = np.nonzero(np.abs(A.to_array(pcm).astype(int)) > threshold)[0]
    return loud[0] / 16000, loud[-1] / 16000


def run(detector: TurnDetector, pcm: bytes, start: float = 0.0) -> list[TurnEvent]:
    events: list[TurnEvent] = []
    for i, frame in enumerate(A.split_frames(pcm)):
        events += detector.feed(frame, start + i * FRAME)
    return events


def kinds(events: list[TurnEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_speech_start_and_end_of_turn(french_sentence: bytes) -> None:
    begin, end = speech_bounds(french_sentence)
    detector = TurnDetector()
    detector.listen(0.0)
    events = run(detector, french_sentence + A.silence(1000))
    assert kinds(events) == ["SpeechStarted", "EndOfTurn"]
    started, ended = events
    assert isinstance(started, SpeechStarted) and isinstance(ended, EndOfTurn)
    assert abs(started.at - begin) <= 3 * FRAME
    assert started.detected_at - started.at <= 1.5 * FRAME  # confirmed on the 2nd voiced frame: barge-in fast
    assert ended.reason == "silence"
    assert 0.7 <= ended.at - end <= 0.7 + 0.15
    assert abs(ended.speech_s - (end - begin)) < 0.3


def test_configurable_silence_window(french_sentence: bytes) -> None:
    _, end = speech_bounds(french_sentence)
    detector = TurnDetector(TurnSettings(end_of_turn_ms=1200))
    detector.listen(0.0)
    ended = [e for e in run(detector, french_sentence + A.silence(2000)) if isinstance(e, EndOfTurn)]
    assert len(ended) == 1 and 1.2 <= ended[0].at - end <= 1.35


def test_pauses_inside_a_sentence_do_not_end_the_turn() -> None:
    one = espeak_pcm("Je voudrais un rendez-vous.")
    two = espeak_pcm("Mardi matin si possible.")
    detector = TurnDetector()
    detector.listen(0.0)
    events = run(detector, A.silence(300) + one + A.silence(350) + two + A.silence(1000))
    assert kinds(events) == ["SpeechStarted", "EndOfTurn"]


def test_frames_stop_arriving_tick_ends_the_turn(french_sentence: bytes) -> None:
    # The caller's phone stops sending RTP right after speaking: no frames at all, only the timer.
    _, end = speech_bounds(french_sentence)
    speech_only = french_sentence[: int((end + 0.02) * 16000) * 2]
    detector = TurnDetector()
    detector.listen(0.0)
    events = run(detector, speech_only)
    assert kinds(events) == ["SpeechStarted"]
    last = len(list(A.split_frames(speech_only))) * FRAME
    assert detector.tick(last + 0.3) == []
    ended = detector.tick(last + 0.8)
    assert kinds(ended) == ["EndOfTurn"]
    assert detector.tick(last + 2.0) == []  # reported once


def test_hole_in_the_stream_counts_as_silence() -> None:
    # A DTMF press leaves a 740 ms hole in the middle of speaking: with a 1 s window the turn goes on;
    # the hole itself counts as silence (700 ms window: the turn ends at the hole).
    pcm = espeak_pcm("Mon numéro est le zéro six douze.")
    half = len(pcm) // 2 // 640 * 640
    one_turn = ["SpeechStarted", "EndOfTurn"]
    for window, expected in ((1000, one_turn), (700, one_turn * 2)):
        detector = TurnDetector(TurnSettings(end_of_turn_ms=window))
        detector.listen(0.0)
        events = run(detector, pcm[:half])
        t_resume = half // 640 * FRAME + 0.74
        events += run(detector, pcm[half:] + A.silence(1500), start=t_resume)
        assert kinds(events) == expected
        ended = events[1]
        assert isinstance(ended, EndOfTurn)
        if window == 1000:
            assert ended.at > t_resume  # one turn across the hole
        else:
            assert ended.at <= t_resume  # closed by the hole, a second turn after it


def test_barge_in_detected_while_not_listening(french_sentence: bytes) -> None:
    # While we talk (stop()), SpeechStarted still fires; listen() then keeps that speech in the turn.
    detector = TurnDetector()
    detector.stop()
    events: list[TurnEvent] = []
    frames = list(A.split_frames(french_sentence + A.silence(1000)))
    for i, frame in enumerate(frames):
        new = detector.feed(frame, i * FRAME)
        if any(isinstance(e, SpeechStarted) for e in new):
            detector.listen(i * FRAME)
        events += new
    assert kinds(events) == ["SpeechStarted", "EndOfTurn"]


@pytest.mark.parametrize("dbfs", [-50, -35, -25])
def test_steady_noise_alone_is_not_speech(dbfs: float) -> None:
    detector = TurnDetector()
    detector.listen(0.0)
    assert run(detector, A.white_noise(3000, dbfs)) == []


@pytest.mark.parametrize("dbfs", [-45, -30])
def test_noise_burst_after_silence_is_not_speech(dbfs: float) -> None:
    detector = TurnDetector()
    detector.listen(0.0)
    assert run(detector, A.silence(1000) + A.white_noise(1500, dbfs, seed=3)) == []


@pytest.mark.parametrize("dbfs", [-45, -35, -28])
def test_speech_in_noise_starts_and_ends(french_sentence: bytes, dbfs: float) -> None:
    begin, end = speech_bounds(french_sentence)
    total_ms = int(A.duration_s(french_sentence) * 1000) + 2000
    noisy = A.mix(french_sentence + A.silence(2000), A.white_noise(total_ms, dbfs, seed=7))
    detector = TurnDetector()
    detector.listen(0.0)
    events = run(detector, noisy)
    assert kinds(events) == ["SpeechStarted", "EndOfTurn"]
    assert abs(events[0].at - begin) < 0.1
    assert events[1].at - end < 1.6


def test_clicks_are_not_speech() -> None:
    pcm = np.zeros(16000 * 2, dtype="<i2")
    for at in (4000, 12000, 20000):
        pcm[at : at + 40] = 20000
        pcm[at + 40 : at + 80] = -20000
    detector = TurnDetector()
    detector.listen(0.0)
    assert run(detector, pcm.tobytes()) == []


def test_max_turn_cap() -> None:
    long_speech = b"".join(espeak_pcm("Je parle sans arrêt de mon problème de santé.") for _ in range(3))
    detector = TurnDetector(TurnSettings(max_turn_s=3.0))
    detector.listen(0.0)
    events = run(detector, long_speech)
    ended = [e for e in events if isinstance(e, EndOfTurn)]
    assert ended and ended[0].reason == "max_turn"
    assert 2.9 <= ended[0].at - ended[0].speech_started_at <= 3.1


def test_no_speech_timeout_with_and_without_frames() -> None:
    detector = TurnDetector(TurnSettings(no_input_s=2.0))
    detector.listen(10.0)
    events = run(detector, A.silence(1000), start=10.0)
    assert events == []
    assert detector.tick(11.5) == []
    waited = detector.tick(12.1)
    assert len(waited) == 1 and isinstance(waited[0], NoSpeech) and waited[0].waited_s >= 2.0
    assert detector.tick(20.0) == []  # once per listen()


def test_wrong_frame_size_is_refused() -> None:
    with pytest.raises(ValueError):
        TurnDetector().feed(b"\x00" * 100, 0.0)


def test_8khz_frames() -> None:
    pcm8 = A.downsample_16k_to_8k(A.silence(500) + espeak_pcm("Bonjour madame.") + A.silence(1000))
    detector = TurnDetector(sample_rate=8000)
    detector.listen(0.0)
    events: list[TurnEvent] = []
    for i, frame in enumerate(A.split_frames(pcm8, 8000)):
        events += detector.feed(frame, i * FRAME)
    assert kinds(events) == ["SpeechStarted", "EndOfTurn"]


HUMAN_PROMPTS = Path("/usr/share/asterisk/sounds/fr_CA_f_June")


def test_human_telephone_speech() -> None:
    # Real human French (Debian asterisk-core-sounds-fr-wav, 8 kHz) after a G.711 round trip, with
    # line noise: every prompt is detected, onsets within a few frames, turns end ~0.7 s after speech.
    files = sorted(HUMAN_PROMPTS.glob("*.wav"))[::6]
    require_part(len(files) >= 20, "Debian package asterisk-core-sounds-fr-wav", "scripts/apt-packages.txt")
    onset_errors: list[float] = []
    end_delays: list[float] = []
    for path in files:
        pcm8, rate = A.read_wav(path)
        pcm = A.resample(A.ulaw_to_lin(A.lin_to_ulaw(pcm8)), rate, 16000)
        if A.rms_dbfs(pcm) < -60:
            continue
        begin, end = speech_bounds(A.silence(500) + pcm, threshold=600)
        signal = A.silence(500) + pcm + A.silence(1500)
        signal = A.mix(signal, A.white_noise(int(A.duration_s(signal) * 1000), -55))
        events = run(TurnDetector(), signal)
        started = [e for e in events if isinstance(e, SpeechStarted)]
        ended = [e for e in events if isinstance(e, EndOfTurn)]
        assert started and ended, f"{path.name}: no turn detected"
        onset_errors.append(abs(started[0].at - begin))
        end_delays.append(ended[-1].at - end)
    assert len(onset_errors) >= 20
    assert float(np.percentile(onset_errors, 95)) <= 0.06
    assert 0.69 <= float(np.percentile(end_delays, 50)) <= 0.8
    assert float(np.percentile(end_delays, 95)) <= 1.0
