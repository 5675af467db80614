"""French speech synthesis as slin16, off the event loop, with disk and memory caches.

The assistant speaks with SVOX Pico fr-FR (speech/pico.py) when it is installed, espeak-ng otherwise
(`load_synthesizer`, setting `speech.synthesizer`: auto/pico/espeak). `CachingSynthesizer` holds the
caches, normalisation and streaming around one `Voice`.

Two engines drive espeak-ng: libespeak-ng through ctypes on one dedicated worker thread
(the library keeps global state, so exactly one thread ever touches it), or the `espeak-ng` binary
as an asyncio subprocess. `engine="auto"` takes the library when it loads (measured faster, see
bench/bench_speech.py) and the binary otherwise.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import hashlib
import logging
import os
import re
import shutil
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from standardiste import metrics
from standardiste.speech import pico
from standardiste.speech.audio import resample
from standardiste.speech.spoken import spoken_fr
from standardiste.speech.types import SAMPLE_RATE

log = logging.getLogger(__name__)

# Bump when the audio we produce from the same espeak-ng output changes (resampling, trimming...).
OUTPUT_VERSION = "1"

Engine = Literal["auto", "library", "subprocess"]


class SynthesisError(RuntimeError):
    """Speech synthesis failed or is unavailable; the message says what to do, in French and English."""


class EspeakNotFound(SynthesisError):
    pass


def _missing_message() -> str:
    return (
        "espeak-ng est introuvable : installez le paquet Debian « espeak-ng » (apt-get install espeak-ng). "
        "/ espeak-ng not found: install the Debian package espeak-ng."
    )


# --- libespeak-ng through ctypes ---

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE = 1
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _EspeakLibrary:
    """The process-wide libespeak-ng, used only from its own single worker thread."""

    _instance: _EspeakLibrary | None = None
    _instance_lock = threading.Lock()

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak-ng")
        self.sample_rate = 0
        self.version = ""
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # keep a reference: C holds this pointer
        self._voice: tuple[str, int] | None = None

    @classmethod
    def get(cls) -> _EspeakLibrary:
        with cls._instance_lock:
            if cls._instance is None:
                name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
                try:
                    lib = ctypes.CDLL(name)
                except OSError as err:
                    raise EspeakNotFound(_missing_message()) from err
                inst = cls(lib)
                inst.executor.submit(inst._initialize).result()
                cls._instance = inst
            return cls._instance

    def _initialize(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, _ESPEAK_INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise SynthesisError(f"libespeak-ng n'a pas démarré / failed to initialise (code {rate})")
        self.sample_rate = rate
        self.version = (lib.espeak_Info(None) or b"?").decode(errors="replace")
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes.Array[ctypes.c_short], numsamples: int, _events: int) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def synth_blocking(self, text: str, voice: str, speed_wpm: int) -> bytes:
        """Runs on the worker thread only; returns s16le at self.sample_rate."""
        lib = self._lib
        if self._voice != (voice, speed_wpm):
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SynthesisError(f"voix espeak-ng inconnue / unknown espeak-ng voice {voice!r}")
            lib.espeak_SetParameter(_ESPEAK_RATE, speed_wpm, 0)
            self._voice = (voice, speed_wpm)
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        if err != 0:
            raise SynthesisError(f"libespeak-ng a échoué / synthesis failed (code {err})")
        out, self._chunks = b"".join(self._chunks), []
        return out


# --- the espeak-ng binary ---


def _wav_payload(data: bytes) -> tuple[bytes, int]:
    """PCM and rate from espeak-ng's stdout WAV (its size fields are bogus when streamed)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthesisError("espeak-ng n'a pas produit de WAV / espeak-ng produced no WAV")
    pos, rate = 12, 22050
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"fmt ":
            rate = struct.unpack("<I", data[pos + 12 : pos + 16])[0]
        elif cid == b"data":
            pcm = data[pos + 8 :]
            return pcm[: len(pcm) - len(pcm) % 2], rate
        pos += 8 + size + (size & 1)
    raise SynthesisError("WAV d'espeak-ng sans données / espeak-ng WAV has no data")


_binary_version: str | None = None


def _espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakNotFound(_missing_message())
    return path


async def _binary_synth(text: str, voice: str, speed_wpm: int) -> tuple[bytes, int]:
    proc = await asyncio.create_subprocess_exec(
        _espeak_binary(), "-v", voice, "-s", str(speed_wpm), "-b", "1", "--stdout",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await proc.communicate(text.encode("utf-8"))
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode != 0:
        raise SynthesisError(
            f"espeak-ng a échoué / failed ({proc.returncode}): {err.decode(errors='replace')}"
        )
    return _wav_payload(out)


async def _binary_version_string() -> str:
    global _binary_version
    if _binary_version is None:
        proc = await asyncio.create_subprocess_exec(
            _espeak_binary(), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
        match = re.search(r"speech:\s*([\w.\-]+)", out.decode(errors="replace"))
        _binary_version = match.group(1) if match else out.decode(errors="replace").strip()
    return _binary_version


# --- the synthesiser ---


def normalize_fr(text: str) -> str:
    """What the voice is given: digits, times, dates, phone numbers and abbreviations in words
    (speech/spoken.py), whitespace collapsed."""
    return spoken_fr(text)


_SENTENCE_END = re.compile(r"(?<=[.!?;:…])\s+")


_CLAUSE_END = re.compile(r"(?<=,)\s+")


def split_sentences(text: str, min_chars: int = 20, max_chars: int = 140) -> list[str]:
    """Sentence-sized pieces for streaming: long sentences are cut at commas (where espeak-ng
    pauses anyway), very short pieces are glued to the next one."""
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        parts += _CLAUSE_END.split(sentence) if len(sentence) > max_chars else [sentence]
    pieces: list[str] = []
    for part in parts:
        if pieces and len(pieces[-1]) < min_chars:
            pieces[-1] = f"{pieces[-1]} {part}"
        elif part:
            pieces.append(part)
    return pieces


class Voice(Protocol):
    """One speech engine: renders text to PCM; the synthesiser around it caches and resamples."""

    name: str  # "pico" or "espeak-ng"

    async def identity(self) -> str:
        """Engine version, voice and speed: what makes the same text sound different (cache keys)."""
        ...

    async def render(self, text: str) -> tuple[bytes, int]:
        """s16le mono PCM and its sample rate; never blocks the event loop."""
        ...

    def describe(self) -> str:
        """The voice in a few French words, for logs and `doctor`."""
        ...


class EspeakVoice:
    """espeak-ng through its library (one dedicated thread) or its binary (a subprocess per text)."""

    name = "espeak-ng"

    def __init__(self, voice: str = "fr+f2", speed_wpm: int = 165, engine: Engine = "auto") -> None:
        self.voice = voice
        self.speed_wpm = speed_wpm
        self._library: _EspeakLibrary | None = None
        if engine in ("auto", "library"):
            try:
                self._library = _EspeakLibrary.get()
            except SynthesisError:
                if engine == "library":
                    raise
                log.warning("libespeak-ng unavailable, using the espeak-ng binary")
        if self._library is None:
            _espeak_binary()  # clear error now rather than on the first call
        self.engine: Literal["library", "subprocess"] = "library" if self._library else "subprocess"

    async def version(self) -> str:
        if self._library is not None:
            return self._library.version
        return await _binary_version_string()

    async def identity(self) -> str:
        # Same fields as before voices were pluggable: existing disk caches stay valid.
        return "\x1f".join((await self.version(), self.voice, str(self.speed_wpm)))

    async def render(self, text: str) -> tuple[bytes, int]:
        if self._library is not None:
            lib = self._library
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(
                lib.executor, lib.synth_blocking, text, self.voice, self.speed_wpm
            )
            return raw, lib.sample_rate
        return await _binary_synth(text, self.voice, self.speed_wpm)

    def describe(self) -> str:
        return f"espeak-ng {self.voice} (robotique)"


class PicoVoice:
    """SVOX Pico fr-FR (speech/pico.py): 16 kHz, in-process, a pool of per-thread engines."""

    name = "pico"

    def __init__(self, speed_percent: int = 100, pool: pico.PicoPool | None = None) -> None:
        if not 20 <= speed_percent <= 500:
            raise ValueError(f"Pico speed {speed_percent}% outside 20-500")
        self.speed_percent = speed_percent
        try:
            self._pool = pool if pool is not None else pico.shared_pool()
        except pico.PicoUnavailable as err:
            raise PicoNotFound(str(err)) from err
        self._fingerprint = pico.voice_fingerprint(self._pool.lang_dir)

    async def identity(self) -> str:
        return "\x1f".join(("pico", self._fingerprint, pico.TEXT_ANALYSIS, str(self.speed_percent)))

    def markup(self, text: str) -> str:
        """The text Pico receives: plain, or wrapped in Pico's SSML speed tag when not at 100%."""
        if self.speed_percent == 100:
            return text
        plain = text.replace("<", " ").replace(">", " ")
        return f'<speed level="{self.speed_percent}">{plain}</speed>'

    async def render(self, text: str) -> tuple[bytes, int]:
        try:
            pcm = await asyncio.wrap_future(self._pool.submit(self.markup(text)))
        except pico.PicoError as err:
            raise SynthesisError(str(err)) from err
        if not pcm and not any(c.isalnum() for c in text):  # "…" alone: a pause, not an error
            pcm = bytes(pico.SAMPLE_RATE // 5 * 2)
        return pcm, pico.SAMPLE_RATE

    def describe(self) -> str:
        return "SVOX Pico fr-FR (féminine, 16 kHz)"


class PicoNotFound(SynthesisError):
    pass


class CachingSynthesizer:
    """French speech from one Voice as slin16, with memory and disk caches; never blocks the event loop.

    `await synthesize(text)` returns slin16; identical concurrent requests are rendered once."""

    def __init__(
        self,
        backend: Voice,
        cache_dir: Path | str | None = None,
        memory_cache_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_bytes = 0
        self._memory_limit = memory_cache_bytes
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def voice_name(self) -> str:
        return self.backend.name

    def describe(self) -> str:
        return self.backend.describe()

    async def cache_key(self, text: str) -> str:
        raw = "\x1f".join((OUTPUT_VERSION, await self.backend.identity(), text))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    async def synthesize(self, text: str, persist: bool = False) -> bytes:
        """French speech as slin16; cached prompts come back at once.

        Only `persist=True` texts (the practice's fixed prompts, see `prewarm`) are written to the disk
        cache: other replies may quote a caller's name or birth date and stay in memory only."""
        text = normalize_fr(text)
        if not text:
            return b""
        key = await self.cache_key(text)
        cached = self._memory_get(key)
        if cached is not None:
            self.hits += 1
            return cached
        task = self._inflight.get(key)
        if task is None:
            # A task of its own: a caller hanging up (cancellation) must not waste or break the
            # work that other calls may be waiting for, and the result still lands in the cache.
            task = asyncio.ensure_future(self._produce(key, text, persist))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        return await asyncio.shield(task)

    def _settled(self, key: str, task: asyncio.Task[bytes]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is not None:  # retrieved: no "never retrieved" noise
            log.debug("synthesis failed: %r", task.exception())

    async def _produce(self, key: str, text: str, persist: bool) -> bytes:
        pcm = await self._load_disk(key)
        if pcm is None:
            self.misses += 1
            t0 = time.perf_counter()
            pcm = await self._render(text)
            metrics.SYNTHESIS_SECONDS.observe(time.perf_counter() - t0)
            if persist:
                await self._store_disk(key, pcm)
        else:
            self.hits += 1
        self._memory_put(key, pcm)
        return pcm

    async def synthesize_stream(self, text: str) -> AsyncIterator[bytes]:
        """Yield slin16 sentence by sentence, so a long reply can start playing early."""
        text = normalize_fr(text)
        if not text:
            return
        key = await self.cache_key(text)
        cached = self._memory_get(key)
        if cached is None and self.cache_dir is not None:
            cached = await self._load_disk(key)
        if cached is not None:
            self.hits += 1
            yield cached
            return
        parts: list[bytes] = []
        for sentence in split_sentences(text):
            pcm = await self.synthesize(sentence)
            parts.append(pcm)
            yield pcm
        self._memory_put(key, b"".join(parts))

    async def prewarm(self, texts: Iterable[str], prune: bool = False) -> int:
        """Synthesise the fixed prompts ahead of calls and keep them on disk; returns how many were not
        cached yet. `prune`: also delete every other file of the disk cache (older prompts, another
        voice's, and replies an earlier version may have written, which can hold callers' personal data)."""
        before = self.misses
        keep: set[str] = set()
        for text in texts:
            await self.synthesize(text, persist=True)
            keep.add(await self.cache_key(normalize_fr(text)))
        if prune and self.cache_dir is not None:
            removed = await asyncio.to_thread(_prune, self.cache_dir, keep)
            if removed:
                log.info("TTS disk cache: %d old file(s) removed", removed)
        return self.misses - before

    async def _render(self, text: str) -> bytes:
        raw, rate = await self.backend.render(text)
        if not raw:
            raise SynthesisError(
                f"{self.backend.name} n'a rien produit / produced no audio for {text[:40]!r}"
            )
        if rate == SAMPLE_RATE:
            return raw
        # soxr on a few seconds of audio takes ~1 ms; keep it off the loop anyway.
        return await asyncio.to_thread(resample, raw, rate, SAMPLE_RATE)

    # --- caches ---

    def _memory_get(self, key: str) -> bytes | None:
        pcm = self._memory.get(key)
        if pcm is not None:
            self._memory.move_to_end(key)
        return pcm

    def _memory_put(self, key: str, pcm: bytes) -> None:
        if len(pcm) > self._memory_limit:
            return
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_bytes -= len(old)
        self._memory[key] = pcm
        self._memory_bytes += len(pcm)
        while self._memory_bytes > self._memory_limit:
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= len(evicted)

    def _disk_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.slin16"

    async def _load_disk(self, key: str) -> bytes | None:
        path = self._disk_path(key)
        if path is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as err:
            log.warning("TTS cache unreadable (%s), synthesising again", err)
            return None

    async def _store_disk(self, key: str, pcm: bytes) -> None:
        path = self._disk_path(key)
        if path is None:
            return
        try:
            await asyncio.to_thread(_atomic_write, path, pcm)
        except OSError as err:  # a full or read-only disk must not break the call
            log.warning("TTS cache not written (%s)", err)


def _prune(folder: Path, keep: set[str]) -> int:
    removed = 0
    for path in folder.glob("*/*.slin16"):
        if path.stem not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EspeakSynthesizer(CachingSynthesizer):
    """espeak-ng French voice with the caches (the fallback voice, and the test callers' voice)."""

    def __init__(
        self,
        voice: str = "fr+f2",
        speed_wpm: int = 165,
        cache_dir: Path | str | None = None,
        engine: Engine = "auto",
        memory_cache_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.espeak = EspeakVoice(voice, speed_wpm, engine)
        super().__init__(self.espeak, cache_dir, memory_cache_bytes)
        self.voice = voice
        self.speed_wpm = speed_wpm
        self.engine = self.espeak.engine

    async def engine_version(self) -> str:
        return await self.espeak.version()


class PicoSynthesizer(CachingSynthesizer):
    """SVOX Pico fr-FR with the caches: the assistant's voice when Pico is installed."""

    def __init__(
        self,
        speed_percent: int = 100,
        cache_dir: Path | str | None = None,
        memory_cache_bytes: int = 32 * 1024 * 1024,
        pool: pico.PicoPool | None = None,
    ) -> None:
        self.pico = PicoVoice(speed_percent, pool)
        super().__init__(self.pico, cache_dir, memory_cache_bytes)


VoiceChoice = Literal["auto", "pico", "espeak"]


@dataclass(frozen=True, slots=True)
class SynthesizerChoice:
    synthesizer: CachingSynthesizer
    explanation: str  # one French sentence for the start-up log and `doctor`
    fallback: bool  # True when "auto" wanted Pico and got espeak-ng


def load_synthesizer(
    choice: VoiceChoice = "auto",
    *,
    espeak_voice: str = "fr+f2",
    speed_wpm: int = 165,
    pico_speed_percent: int = 100,
    cache_dir: Path | str | None = None,
) -> SynthesizerChoice:
    """The assistant's voice as configured: Pico, espeak-ng, or Pico with espeak-ng as the fallback."""
    if choice in ("auto", "pico"):
        try:
            synth = PicoSynthesizer(pico_speed_percent, cache_dir=cache_dir)
        except PicoNotFound as err:
            if choice == "pico":
                raise
            why = str(err).split(" / ")[0]
            espeak = EspeakSynthesizer(espeak_voice, speed_wpm, cache_dir=cache_dir)
            return SynthesizerChoice(
                espeak,
                f"voix de secours {espeak.describe()}, peu intelligible au téléphone : {why}",
                fallback=True,
            )
        return SynthesizerChoice(synth, f"voix {synth.describe()}", fallback=False)
    espeak = EspeakSynthesizer(espeak_voice, speed_wpm, cache_dir=cache_dir)
    return SynthesizerChoice(espeak, f"voix {espeak.describe()} (choisie dans la configuration)", False)
