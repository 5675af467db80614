"""End-of-turn and barge-in detection over 20 ms slin16 frames. Pure: no I/O, no clock of its own.

Frames follow the caller's RTP, not a clock: nothing arrives while the phone sends nothing and a
keypress leaves a ~740 ms hole. So every frame carries its own timestamp, a gap counts as silence,
and `tick(now)` lets the session close a turn on a timer when frames stop coming at all.

A frame is "voiced" when webrtcvad says speech AND its level is above an absolute floor AND above
the tracked noise floor by a margin (webrtcvad alone fires on steady noise). Speech starts after
`start_frames` voiced frames in a row (default 2: one click is not a caller, and barge-in still
reacts within 40 ms); starting frames must also not be hiss-like (spectral flatness). The turn
ends after `end_of_turn_ms` without voiced frames, or at `max_turn_s` of speech.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import webrtcvad

from standardiste.speech.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

FRAME_S = FRAME_MS / 1000


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking (use it for barge-in). `at`: timestamp of the first voiced frame."""

    at: float
    detected_at: float  # timestamp of the frame that confirmed it


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    """The caller's turn is over. `speech_s`: from the first to the last voiced frame."""

    at: float
    reason: Literal["silence", "max_turn", "complete"]  # complete: ended early by the session
    speech_started_at: float
    last_speech_at: float

    @property
    def speech_s(self) -> float:
        return self.last_speech_at + FRAME_S - self.speech_started_at


@dataclass(frozen=True, slots=True)
class NoSpeech:
    """Nothing was said within `no_input_s` after `listen()`."""

    at: float
    waited_s: float


TurnEvent = SpeechStarted | EndOfTurn | NoSpeech


@dataclass(frozen=True, slots=True)
class TurnSettings:
    end_of_turn_ms: int = 700
    max_turn_s: float = 15.0
    no_input_s: float | None = None  # None: never emit NoSpeech
    vad_mode: int = 2  # webrtcvad aggressiveness 0-3
    start_frames: int = 2  # consecutive voiced frames to declare speech
    min_level_dbfs: float = -50.0  # quieter frames are never speech
    noise_margin_db: float = 8.0  # to start, voiced frames must exceed the noise floor by this much
    continue_margin_db: float = 4.0  # hysteresis: once speaking, a smaller margin keeps the turn open
    noise_window_s: float = 1.5  # noise floor = lowest frame level seen over this window
    # Spectral flatness (1 = white noise); speech frames measured 95% below 0.17, white noise above 0.48.
    max_start_flatness: float = 0.35


_WINDOWS: dict[int, np.ndarray] = {}


def spectral_flatness(frame: bytes) -> float:
    """Geometric over arithmetic mean of the power spectrum: near 1 for hiss, near 0 for voiced speech."""
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    window = _WINDOWS.get(samples.size)
    if window is None:
        window = _WINDOWS[samples.size] = np.hanning(samples.size).astype(np.float32)
    power = np.abs(np.fft.rfft(samples * window))[4:] ** 2 + 1e-6  # skip DC and hum bins
    return float(np.exp(np.mean(np.log(power))) / np.mean(power))


def frame_level_dbfs(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    power = float(np.mean(samples * samples)) if samples.size else 0.0
    return 10 * float(np.log10(power / (32768.0 * 32768.0))) if power > 0 else -100.0


class TurnDetector:
    """Feed frames with `feed(frame, t)`, call `tick(now)` on a timer; both return events.

    States: idle (before `listen`, or after a turn ended: frames still update the noise floor and
    still report SpeechStarted, which is what barge-in needs), listening, speaking.
    """

    def __init__(self, settings: TurnSettings | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"webrtcvad does not support {sample_rate} Hz")
        self.settings = settings or TurnSettings()
        self.sample_rate = sample_rate
        self.frame_bytes = FRAME_BYTES * sample_rate // SAMPLE_RATE
        self._vad = webrtcvad.Vad(self.settings.vad_mode)
        self._noise_levels: deque[tuple[float, float]] = deque()  # (t, level), increasing levels
        self._listening_since: float | None = None
        self._run_start: float | None = None
        self._run_length = 0
        self._speech_start: float | None = None
        self._last_voiced: float | None = None
        self._last_t: float | None = None

    # --- control ---

    def listen(self, now: float) -> None:
        """Start waiting for a caller turn (after our question was asked, or at barge-in).

        Speech already under way (barge-in) stays part of this turn.
        """
        self._listening_since = now

    def stop(self) -> None:
        """Stop waiting for a turn (the session is talking or gone); SpeechStarted still fires."""
        self._listening_since = None

    @property
    def speaking(self) -> bool:
        return self._speech_start is not None

    @property
    def speech_started_at(self) -> float | None:
        """Timestamp of the current turn's first voiced frame (None: no turn in progress)."""
        return self._speech_start

    @property
    def last_voiced_at(self) -> float | None:
        """Timestamp of the current turn's last voiced frame (None: no turn in progress)."""
        return self._last_voiced

    def end_turn(self, now: float) -> EndOfTurn | None:
        """End the turn in progress now (the session found a complete answer: telephony.endpointing)."""
        if self._speech_start is None or self._last_voiced is None:
            return None
        return self._end(now, "complete")

    @property
    def noise_floor_dbfs(self) -> float:
        return self._noise_levels[0][1] if self._noise_levels else -100.0

    # --- input ---

    def feed(self, frame: bytes, t: float) -> list[TurnEvent]:
        """One 20 ms frame received at timestamp `t` (seconds, any monotonic origin)."""
        if len(frame) != self.frame_bytes:
            raise ValueError(f"expected {self.frame_bytes}-byte frames, got {len(frame)}")
        events: list[TurnEvent] = []
        if self._last_t is not None and t - self._last_t > 2.5 * FRAME_S:
            self._run_length = 0  # a hole in the stream breaks a run of voiced frames
            events += self.tick(t)  # and counts as silence up to now
        self._last_t = t
        level = frame_level_dbfs(frame)
        voiced = self._is_voiced(frame, level)
        self._track_noise(t, level, voiced)
        if voiced:
            if self._run_length == 0:
                self._run_start = t
            self._run_length += 1
            if self._speech_start is not None:
                self._last_voiced = t
            elif self._run_length >= self.settings.start_frames:
                assert self._run_start is not None
                self._speech_start = self._run_start
                self._last_voiced = t
                events.append(SpeechStarted(at=self._run_start, detected_at=t))
        else:
            self._run_length = 0
        events += self.tick(t + FRAME_S)
        return events

    def tick(self, now: float) -> list[TurnEvent]:
        """Time passed with or without frames: close the turn or report no input when due."""
        s = self.settings
        if self._speech_start is not None and self._last_voiced is not None:
            if now - (self._last_voiced + FRAME_S) >= s.end_of_turn_ms / 1000:
                return [self._end(now, "silence")]
            if now - self._speech_start >= s.max_turn_s:
                return [self._end(now, "max_turn")]
        elif (
            self._listening_since is not None
            and s.no_input_s is not None
            and now - self._listening_since >= s.no_input_s
        ):
            waited = now - self._listening_since
            self._listening_since = None
            return [NoSpeech(at=now, waited_s=waited)]
        return []

    # --- internals ---

    def _end(self, now: float, reason: Literal["silence", "max_turn", "complete"]) -> EndOfTurn:
        assert self._speech_start is not None and self._last_voiced is not None
        event = EndOfTurn(
            at=now, reason=reason, speech_started_at=self._speech_start, last_speech_at=self._last_voiced
        )
        self._speech_start = None
        self._last_voiced = None
        self._run_length = 0
        self._listening_since = None
        return event

    def _is_voiced(self, frame: bytes, level: float) -> bool:
        s = self.settings
        if level < s.min_level_dbfs:
            return False
        speaking = self._speech_start is not None
        margin = s.continue_margin_db if speaking else s.noise_margin_db
        if self._noise_levels and level < self.noise_floor_dbfs + margin:
            return False
        if not speaking and spectral_flatness(frame) > s.max_start_flatness:
            return False
        try:
            return self._vad.is_speech(frame, self.sample_rate)
        except Exception:  # webrtcvad raises a bare Error on malformed frames; treat as silence
            return False

    def _track_noise(self, t: float, level: float, voiced: bool) -> None:
        # Sliding-window minimum (monotonic deque): the quietest recent frame approximates the
        # background. Speech has pauses, so it never becomes the floor for long.
        q = self._noise_levels
        while q and q[-1][1] >= level:
            q.pop()
        q.append((t, level))
        while q and q[0][0] < t - self.settings.noise_window_s:
            q.popleft()
