"""Open French recognition with Whisper base (CTranslate2 int8), one model shared by every call.

Settings measured on human French telephone speech (shared notes/speech.md): the encoder is fed a 10 s
zero-padded log-mel (not the stock 30 s: 0.12 CPU-s per audio second instead of 0.40, and a better WER),
beam 5, at most 60 generated tokens, one thread per decode. CTranslate2 releases the GIL, so decodes run in
a small thread pool shared by all calls (the model's `inter_threads` lets them run in parallel): the event
loop never waits on a decode.

Whisper invents text on silence, noise and music. So nothing is decoded unless a voice-activity gate finds
enough speech, and a result is dropped when the model itself says there was no speech, when its average
token probability is very low, or when it loops (the token cap is reached, or the text is repetitive).
An empty result means "not understood", never a guess.

Turns longer than the window are cut at their quietest pauses into pieces of at most 10 s, each decoded.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import webrtcvad

from standardiste.speech.types import FRAME_BYTES, SAMPLE_RATE, Transcript

log = logging.getLogger(__name__)

WINDOW_S = 10.0
MAX_TOKENS = 96  # a 10 s window of fast French is ~60 tokens; the cap stops repetition loops
BEAM_SIZE = 5
MAX_TURN_AUDIO_S = 60.0  # audio kept per turn; more is dropped (the turn detector caps turns anyway)


@dataclass(frozen=True, slots=True)
class GateSettings:
    """When audio is worth decoding, and when a decode is trusted."""

    vad_mode: int = 3  # webrtcvad aggressiveness (0-3)
    min_voiced_s: float = 0.1  # less voiced audio than this: nothing to decode ("oui": 0.2 s)
    min_level_dbfs: float = -45.0  # voiced frames quieter than this do not count
    no_speech_prob: float = 0.6  # the model's own no-speech probability above this ...
    low_logprob: float = -0.8  # ... with an average token log-probability below this: dropped
    min_logprob: float = -1.2  # below this whatever the no-speech probability: dropped
    max_compression: float = 2.4  # zlib ratio above this: a repetition loop


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    avg_logprob: float
    no_speech_prob: float
    tokens: int
    rejected: str = ""  # why the text was dropped ("" when kept)
    # What the model decoded before the gate dropped it ("" when kept): never an answer by itself; read
    # only for a kept spoken name, looked up in the patient file (identity/voice.py open_reader).
    dropped: str = ""

    @property
    def confidence(self) -> float:
        return math.exp(self.avg_logprob) if self.text else 0.0


def voiced_seconds(pcm: bytes, gate: GateSettings = GateSettings()) -> float:
    """Seconds of 20 ms slin16 frames that webrtcvad calls speech and that are loud enough."""
    vad = webrtcvad.Vad(gate.vad_mode)
    floor = 32768.0 * 10 ** (gate.min_level_dbfs / 20)
    voiced = 0
    for start in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        frame = pcm[start : start + FRAME_BYTES]
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
        if float(np.sqrt(np.mean(samples * samples))) < floor:
            continue
        if vad.is_speech(frame, SAMPLE_RATE):
            voiced += 1
    return voiced * FRAME_BYTES / (2 * SAMPLE_RATE)


def split_at_pauses(
    audio: np.ndarray, window_s: float = WINDOW_S, rate: int = SAMPLE_RATE
) -> list[np.ndarray]:
    """Pieces of at most `window_s`, each cut at the quietest 100 ms in the last third of its span."""
    limit = int(window_s * rate)
    hop = rate // 10
    pieces: list[np.ndarray] = []
    start = 0
    while len(audio) - start > limit:
        span = audio[start : start + limit]
        lo = int(limit * 0.6) // hop
        energies = [float(np.mean(span[i * hop : (i + 1) * hop] ** 2)) for i in range(lo, limit // hop)]
        cut = (lo + int(np.argmin(energies))) * hop + hop // 2
        pieces.append(span[:cut])
        start += cut
    pieces.append(audio[start:])
    return [p for p in pieces if len(p) >= rate // 10]


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


class WhisperEngine:
    """The loaded model, its tokenizer and mel front end; `decode` is thread-safe and releases the GIL."""

    def __init__(self, model_dir: Path, workers: int = 2, gate: GateSettings = GateSettings()) -> None:
        self.model_dir = model_dir
        self.workers = max(1, workers)
        self.gate = gate
        self._model: Any = None
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="whisper")

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import ctranslate2
            import tokenizers
            from faster_whisper.feature_extractor import FeatureExtractor
            from faster_whisper.tokenizer import Tokenizer

            model = ctranslate2.models.Whisper(
                str(self.model_dir), device="cpu", compute_type="int8",
                inter_threads=self.workers, intra_threads=1,
            )  # fmt: skip
            hf = tokenizers.Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            self._tokenizer = Tokenizer(hf, multilingual=True, task="transcribe", language="fr")
            self._features = FeatureExtractor(feature_size=model.n_mels)
            self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
            self._suppress = sorted(
                {*self._tokenizer.non_speech_tokens, self._tokenizer.transcribe, self._tokenizer.translate,
                 self._tokenizer.sot, self._tokenizer.sot_prev, self._tokenizer.sot_lm,
                 self._tokenizer.no_speech}
            )  # fmt: skip
            self._model = model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _mel(self, audio: np.ndarray) -> np.ndarray:
        frames = int(WINDOW_S * SAMPLE_RATE) // 160
        padded = np.zeros(int(WINDOW_S * SAMPLE_RATE), dtype=np.float32)
        padded[: len(audio)] = audio[: len(padded)]
        mel = self._features(padded, padding=0)
        return np.ascontiguousarray(mel[:, :frames], dtype=np.float32)

    def _decode_piece(self, audio: np.ndarray) -> Decoded:
        import ctranslate2

        features = ctranslate2.StorageView.from_array(self._mel(audio)[np.newaxis])
        result = self._model.generate(
            features, [self._prompt], beam_size=BEAM_SIZE, max_length=len(self._prompt) + MAX_TOKENS,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]  # fmt: skip
        ids = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        text = self._tokenizer.decode(ids).strip()
        n = len(result.sequences_ids[0])
        avg = (result.scores[0] * n) / (n + 1) if n else -10.0
        decoded = Decoded(text, avg, float(result.no_speech_prob), n)
        return self._judge(decoded)

    def _judge(self, d: Decoded) -> Decoded:
        g = self.gate
        why = ""
        if not d.text:
            why = "empty"
        elif d.no_speech_prob > g.no_speech_prob and d.avg_logprob < g.low_logprob:
            why = "no_speech"
        elif d.avg_logprob < g.min_logprob:
            why = "low_logprob"
        elif d.tokens >= MAX_TOKENS or compression_ratio(d.text) > g.max_compression:
            why = "loop"
        if why:
            return Decoded("", d.avg_logprob, d.no_speech_prob, d.tokens, why, d.text)
        return d

    def decode(self, pcm: bytes) -> Decoded:
        """slin16 -> text (blocking; call from a worker thread). Empty text: nothing trustworthy heard."""
        if voiced_seconds(pcm, self.gate) < self.gate.min_voiced_s:
            return Decoded("", 0.0, 1.0, 0, "no_voice")
        self.load()
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        parts = [self._decode_piece(p) for p in split_at_pauses(audio)]
        kept = [p for p in parts if p.text]
        if not kept:
            return parts[0] if parts else Decoded("", 0.0, 1.0, 0, "empty")
        text = " ".join(p.text for p in kept)
        avg = sum(p.avg_logprob for p in kept) / len(kept)
        return Decoded(text, avg, min(p.no_speech_prob for p in kept), sum(p.tokens for p in kept))

    async def decode_async(self, pcm: bytes) -> Decoded:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.decode, pcm)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class WhisperStream:
    """One call's turns: audio is buffered, decoded at `finish()` off the event loop."""

    def __init__(self, engine: WhisperEngine) -> None:
        self._engine = engine
        self._buffer = bytearray()
        self._closed = False
        self.last: Decoded | None = None
        # A speculative pass over the turn so far (bytes it covered, its decode): finish() reuses it
        # when nothing voiced came after it (telephony.endpointing, adaptive end of turn).
        self._peeked: tuple[int, asyncio.Future[Decoded]] | None = None
        self.reused = 0  # final results taken from a speculative pass (no second decode)
        self.decodes = 0  # decodes started for this call (passes and finals): CPU per turn (issue 14)
        self.turns = 0

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        return None  # open vocabulary always; grammars are the arbiter's business

    async def accept(self, pcm: bytes) -> Transcript | None:
        if self._closed:
            raise RuntimeError("recognition stream is closed")
        if len(self._buffer) < MAX_TURN_AUDIO_S * SAMPLE_RATE * 2:
            self._buffer.extend(pcm)
        return None

    async def peek(self) -> Transcript | None:
        """The turn so far, decoded without ending it (off the event loop); the turn goes on.

        None: the pass was called off before it ran (a newer pass, or the turn's end, replaced it)."""
        if self._closed:
            raise RuntimeError("recognition stream is closed")
        covered = len(self._buffer)
        if self._peeked is not None:
            self._peeked[1].cancel()  # an older pass not started yet never takes a decoding thread
        future = asyncio.ensure_future(self._counted(bytes(self._buffer)))
        self._peeked = (covered, future)
        try:
            decoded = await asyncio.shield(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and (task is None or not task.cancelling()):
                return None
            raise
        return Transcript(decoded.text, False, round(decoded.confidence, 3))

    async def _reusable_peek(self, pcm: bytes) -> Decoded | None:
        peeked, self._peeked = self._peeked, None
        if peeked is None:
            return None
        covered, future = peeked
        if covered > len(pcm) or voiced_seconds(pcm[covered:], self._engine.gate) > 0.0:
            future.cancel()  # the caller spoke again after the pass: decode the whole turn instead
            return None
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return None  # the pass itself was called off: decode the turn now
            raise
        except Exception:
            return None

    async def finish(self) -> Transcript:
        pcm = bytes(self._buffer)
        self._buffer.clear()
        decoded = await self._reusable_peek(pcm)
        if decoded is not None:
            self.reused += 1
        else:
            decoded = await self._counted(pcm)
        self.turns += 1
        self.last = decoded
        if decoded.rejected:
            log.info("open recogniser dropped a turn", extra={"why": decoded.rejected})
        return Transcript(decoded.text, True, round(decoded.confidence, 3))

    async def _counted(self, pcm: bytes) -> Decoded:
        self.decodes += 1  # a pass called off before its task ran is not counted
        return await self._engine.decode_async(pcm)

    async def close(self) -> None:
        if not self._closed and self.turns:
            extra = {"turns": self.turns, "decodes": self.decodes, "reused": self.reused}
            log.info("open recogniser work", extra=extra)
        self._closed = True
        self._buffer.clear()
        if self._peeked is not None:
            self._peeked[1].cancel()  # a pass not started yet: the call is over
            self._peeked = None


class WhisperRecognizer:
    open_vocabulary = True
    understands_french = True

    def __init__(self, model_dir: Path, workers: int = 2, gate: GateSettings = GateSettings()) -> None:
        self.model_dir = model_dir
        self.engine = WhisperEngine(model_dir, workers, gate)
        self.name = f"whisper:{model_dir.name}"

    def describe(self) -> str:
        return (
            f"Reconnaissance ouverte du français : Whisper base ({self.model_dir}), les appelants peuvent "
            "parler librement ; le clavier reste proposé en cas d'échec."
        )

    async def load(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.engine.executor, self.engine.load)

    async def warm_up(self, pcm: bytes, count: int = 1) -> None:
        for _ in range(max(1, count)):
            await self.engine.decode_async(pcm)

    async def stream(self, sample_rate: int = SAMPLE_RATE) -> WhisperStream:
        if sample_rate != SAMPLE_RATE:
            raise ValueError("the Whisper backend takes 16 kHz slin16")
        return WhisperStream(self.engine)

    def close(self) -> None:
        self.engine.close()
