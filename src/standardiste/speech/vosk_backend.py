"""Vosk (Kaldi) recogniser: one Model per process shared by all calls, one KaldiRecognizer per call.

Vosk calls run on a thread pool (Vosk releases the GIL, so calls decode in parallel); each stream
serialises its own calls with an asyncio lock, so frames are decoded in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standardiste.speech.types import SAMPLE_RATE, Transcript

log = logging.getLogger(__name__)

UNK = "[unk]"


class VoskUnavailable(RuntimeError):
    """The vosk package or the model folder cannot be used; the message says why, in French and English."""


def _import_vosk() -> Any:
    try:
        import vosk
    except ImportError as err:  # pragma: no cover - vosk is a hard dependency
        raise VoskUnavailable(f"le paquet Python vosk manque / vosk is not installed: {err}") from err
    vosk.SetLogLevel(-1)
    return vosk


def check_model_dir(path: Path) -> None:
    """Raise VoskUnavailable unless `path` looks like a Vosk model folder."""
    if not path.is_dir():
        raise VoskUnavailable(f"modèle Vosk introuvable / Vosk model not found: {path}")
    if not (path / "am" / "final.mdl").is_file():
        raise VoskUnavailable(f"{path} n'est pas un modèle Vosk (am/final.mdl manque) / not a Vosk model")


@dataclass
class _SharedModel:
    model: Any
    has_unk: bool
    words: dict[str, bool] = field(default_factory=dict)  # vocabulary look-ups, cached
    lock: threading.Lock = field(default_factory=threading.Lock)

    def knows(self, word: str) -> bool:
        with self.lock:
            known = self.words.get(word)
            if known is None:
                known = self.words[word] = self.model.vosk_model_find_word(word) >= 0
            return known


_models: dict[Path, _SharedModel] = {}
_models_lock = threading.Lock()


def _shared_model(path: Path) -> _SharedModel:
    """The process-wide Model for `path`, loaded once even when several threads ask at the same time."""
    path = path.resolve()
    with _models_lock:
        shared = _models.get(path)
        if shared is None:
            check_model_dir(path)
            vosk = _import_vosk()
            try:
                model = vosk.Model(str(path))
            except Exception as err:
                raise VoskUnavailable(
                    f"le modèle Vosk {path} ne se charge pas / failed to load: {err}"
                ) from err
            shared = _models[path] = _SharedModel(model, has_unk=model.vosk_model_find_word(UNK) >= 0)
            log.info("Vosk model loaded from %s (has [unk]: %s)", path, shared.has_unk)
        return shared


def _default_workers() -> int:
    return max(4, 2 * (os.cpu_count() or 1))


_NOT_IN_WORDS = re.compile(r"[^\w'\- ]+")


def grammar_words(phrase: str) -> list[str]:
    """A phrase as the model's lexicon spells words: lower case, no punctuation, straight apostrophes."""
    text = phrase.lower().replace("\u2019", "'")
    return _NOT_IN_WORDS.sub(" ", text).split()


def _clean(text: str) -> str:
    return " ".join(w for w in text.split() if w != UNK)


def _confidence(result: dict[str, Any]) -> float | None:
    words = result.get("result") or []
    confs = [float(w["conf"]) for w in words if "conf" in w and w.get("word") != UNK]
    return sum(confs) / len(confs) if confs else None


class VoskRecognizer:
    """Shared per process; `await stream()` gives one recogniser per call.

    Open-vocabulary KaldiRecognizers are pooled: a fresh one decodes its first utterance several
    times slower than a used one (measured 3.3-4.9 s against 0.4-1.0 s for 6.5 s of audio with the
    Korean model), so a closed call's recogniser is reset and handed to the next call.
    """

    open_vocabulary = True

    def __init__(
        self,
        model_path: Path | str,
        *,
        understands_french: bool = True,
        name: str | None = None,
        executor: ThreadPoolExecutor | None = None,
        chunk_ms: int = 100,
        pool_size: int = 4,
    ) -> None:
        self.model_path = Path(model_path)
        self.name = name or f"vosk:{self.model_path.name}"
        self.understands_french = understands_french
        self.chunk_ms = chunk_ms
        self.pool_size = pool_size
        self._executor = executor or ThreadPoolExecutor(
            max_workers=_default_workers(), thread_name_prefix="vosk"
        )
        self._shared: _SharedModel | None = None
        self._pool: dict[int, list[Any]] = {}
        self._pool_lock = threading.Lock()

    def describe(self) -> str:
        if self.understands_french:
            return (
                f"Reconnaissance vocale Vosk ({self.model_path.name}) : les appelants peuvent parler "
                "librement en français ; le clavier reste toujours possible."
            )
        return (
            f"Reconnaissance vocale Vosk ({self.model_path.name}) : ce modèle ne comprend pas le français, "
            "les appelants doivent utiliser le clavier."
        )

    @property
    def loaded(self) -> bool:
        return self._shared is not None

    async def load(self) -> None:
        """Load the shared Model off the event loop (about 2 s); safe to call from many tasks."""
        if self._shared is None:
            loop = asyncio.get_running_loop()
            self._shared = await loop.run_in_executor(self._executor, _shared_model, self.model_path)

    def load_blocking(self) -> None:
        if self._shared is None:
            self._shared = _shared_model(self.model_path)

    @property
    def has_unk(self) -> bool:
        self.load_blocking()
        assert self._shared is not None
        return self._shared.has_unk

    async def stream(self, sample_rate: int = SAMPLE_RATE) -> VoskStream:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"sample rate {sample_rate} Hz not supported (8000 or 16000)")
        await self.load()
        assert self._shared is not None
        stream = VoskStream(self, self._shared, sample_rate, self._executor, self.chunk_ms)
        await stream._run(stream._use_open)
        return stream

    async def warm_up(self, pcm: bytes, count: int = 1, sample_rate: int = SAMPLE_RATE) -> None:
        """Decode some speech (e.g. a synthesised prompt) on `count` recognisers and pool them,
        so the first calls after start-up do not pay the cold first utterance."""
        streams = [await self.stream(sample_rate) for _ in range(min(count, self.pool_size))]
        for stream in streams:
            await stream.accept(pcm)
            await stream.finish()
        for stream in streams:
            await stream.close()

    def idle_recognizers(self, sample_rate: int = SAMPLE_RATE) -> int:
        with self._pool_lock:
            return len(self._pool.get(sample_rate, []))

    # Blocking helpers, run on the executor.

    def _take_open(self, sample_rate: int) -> Any:
        with self._pool_lock:
            idle = self._pool.get(sample_rate)
            if idle:
                return idle.pop()
        assert self._shared is not None
        rec = _import_vosk().KaldiRecognizer(self._shared.model, sample_rate)
        rec.SetWords(True)
        return rec

    def _give_back(self, sample_rate: int, rec: Any) -> None:
        rec.Reset()
        with self._pool_lock:
            idle = self._pool.setdefault(sample_rate, [])
            if len(idle) < self.pool_size:
                idle.append(rec)

    def shutdown(self) -> None:
        with self._pool_lock:
            self._pool.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)


class VoskStream:
    """One call's recogniser. `finish()` returns the whole turn, even if Vosk cut it at a pause.

    It holds up to two KaldiRecognizers: the open-vocabulary one (from the pool) and, once a grammar
    is set, a grammar one that later grammars switch with SetGrammar. Vosk aborts the whole process
    when SetGrammar meets a recogniser in the middle of an utterance, so a recogniser is always
    Reset() before its grammar changes: `set_grammar` starts a fresh turn.
    """

    def __init__(
        self,
        owner: VoskRecognizer,
        shared: _SharedModel,
        sample_rate: int,
        executor: ThreadPoolExecutor,
        chunk_ms: int,
    ) -> None:
        self._owner = owner
        self._shared = shared
        self.sample_rate = sample_rate
        self._executor = executor
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()
        self._open_rec: Any = None
        self._grammar_rec: Any = None
        self._rec: Any = None  # the active one
        self._grammar: list[str] | None = None
        self._buffer = bytearray()
        self._chunk_bytes = sample_rate * chunk_ms // 1000 * 2
        self._segments: list[Transcript] = []  # finals Vosk gave within the current turn
        self._last_partial = ""
        self._closed = False
        self.dropped_phrases: list[str] = []  # grammar phrases with words outside the model

    @property
    def grammar(self) -> list[str] | None:
        return self._grammar

    async def _run(self, fn: Any, *args: Any) -> Any:
        # The thread lock outlives a cancelled await (hang-up): a decode still running in the pool
        # finishes before anything else touches this stream's recognisers.
        def locked() -> Any:
            with self._thread_lock:
                return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, locked)

    def _use_open(self) -> None:
        if self._open_rec is None:
            self._open_rec = self._owner._take_open(self.sample_rate)
        self._rec = self._open_rec

    def _use_grammar(self) -> None:
        grammar = self._grammar_json()
        if self._grammar_rec is None:
            rec = _import_vosk().KaldiRecognizer(self._shared.model, self.sample_rate, grammar)
            rec.SetWords(True)
            self._grammar_rec = rec
        else:
            self._grammar_rec.Reset()
            self._grammar_rec.SetGrammar(grammar)
        self._rec = self._grammar_rec

    def _switch_blocking(self) -> None:
        if self._rec is not None:
            self._rec.Reset()  # drop any unfinished utterance before switching
        if self._grammar is None:
            self._use_open()
        else:
            self._use_grammar()

    def _grammar_json(self) -> str:
        assert self._grammar is not None
        phrases = list(self._grammar)
        if self._shared.has_unk:
            phrases.append(UNK)
        return json.dumps(phrases, ensure_ascii=False)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("recognition stream is closed")

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        """Restrict to these phrases from now on (None: open vocabulary). Starts a fresh turn.

        Phrases with a word the model does not know are dropped (Vosk would drop the word and
        distort the phrase); if none is left, the stream goes open-vocabulary.
        """
        self._check_open()
        async with self._lock:
            if phrases is None:
                wanted = None
                self.dropped_phrases = []
            else:
                kept: list[str] = []
                dropped: list[str] = []
                for phrase in phrases:
                    words = grammar_words(phrase)
                    if words and all(self._shared.knows(w) for w in words):
                        kept.append(" ".join(words))
                    else:
                        dropped.append(phrase)
                if dropped:
                    log.info("grammar phrases outside the model's vocabulary dropped: %s", dropped)
                self.dropped_phrases = dropped
                wanted = sorted(set(kept)) or None
            self._buffer = bytearray()
            self._segments, self._last_partial = [], ""
            if wanted == self._grammar and self._rec is not None:
                await self._run(self._rec.Reset)
                return
            self._grammar = wanted
            await self._run(self._switch_blocking)

    def _accept_blocking(self, chunk: bytes) -> Transcript | None:
        rec = self._rec
        if rec.AcceptWaveform(chunk):
            result = json.loads(rec.Result())
            self._last_partial = ""
            text = _clean(result.get("text", ""))
            if not text:
                return None
            final = Transcript(text=text, final=True, confidence=_confidence(result))
            self._segments.append(final)
            return final
        partial = _clean(json.loads(rec.PartialResult()).get("partial", ""))
        if partial and partial != self._last_partial:
            self._last_partial = partial
            prefix = " ".join(s.text for s in self._segments)
            return Transcript(text=f"{prefix} {partial}".strip(), final=False)
        return None

    async def accept(self, pcm: bytes) -> Transcript | None:
        """Feed audio (any length). Decodes in `chunk_ms` chunks; returns a new partial, a final, or None."""
        self._check_open()
        if len(pcm) % 2:
            raise ValueError("PCM s16le must have an even number of bytes")
        self._buffer += pcm
        if len(self._buffer) < self._chunk_bytes:
            return None
        chunk, self._buffer = bytes(self._buffer), bytearray()
        async with self._lock:
            return await self._run(self._accept_blocking, chunk)

    def _finish_blocking(self, rest: bytes) -> Transcript:
        rec = self._rec
        if rest:
            self._accept_blocking(rest)
        result = json.loads(rec.FinalResult())
        text = _clean(result.get("text", ""))
        if text:
            self._segments.append(Transcript(text=text, final=True, confidence=_confidence(result)))
        rec.Reset()
        segments, self._segments, self._last_partial = self._segments, [], ""
        confs = [s.confidence for s in segments if s.confidence is not None]
        return Transcript(
            text=" ".join(s.text for s in segments),
            final=True,
            confidence=min(confs) if confs else None,
        )

    async def finish(self) -> Transcript:
        """End of turn: flush, return the whole turn's text ("" when nothing was understood), reset."""
        self._check_open()
        rest, self._buffer = bytes(self._buffer), bytearray()
        async with self._lock:
            return await self._run(self._finish_blocking, rest)

    async def close(self) -> None:
        """Release the call's recognisers; the open-vocabulary one goes back to the shared pool."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            rec, self._open_rec, self._grammar_rec, self._rec = self._open_rec, None, None, None
            self._buffer = bytearray()
            if rec is not None:
                try:
                    await self._run(self._owner._give_back, self.sample_rate, rec)
                except Exception:  # a broken recogniser is simply not reused
                    log.exception("Vosk recogniser not returned to the pool")
