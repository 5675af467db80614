"""SVOX Pico French (fr-FR) through ctypes: 16 kHz speech in-process, no subprocess per sentence.

Debian `libttspico0` (the library) + `libttspico-data` (the voice files in /usr/share/pico/lang):
Apache-2.0, filed by Debian under non-free because the voice data has no source (see docs/speech.md).

A Pico "system" owns a memory block, the loaded resources and at most one engine, and is not
thread-safe. `PicoEngine` is one such system with the French voice loaded; `PicoPool` gives each of
its worker threads its own `PicoEngine` (created on first use on that thread, ~3 MB each), so
sentences for different calls are made in parallel (ctypes releases the GIL during the C calls) and
no engine is ever touched by two threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
LANG_DIR = Path("/usr/share/pico/lang")
TEXT_ANALYSIS = "fr-FR_ta.bin"
SIGNAL_GENERATION = "fr-FR_nk0_sg.bin"
VOICE_NAME = b"standardiste-fr-FR"

_MEMORY_BYTES = 2_500_000  # what pico2wave uses; the French resources are loaded into it
_PICO_OK = 0
_PICO_STEP_IDLE = 200
_PICO_STEP_BUSY = 201
_PICO_DATA_PCM_16BIT = 1
_PICO_RESET_SOFT = 0x10
_OUT_BUFFER = 1024  # bytes per pico_getData call
_MAX_PUT = 32_000  # pico_putTextUtf8 takes an Int16 length

_c_system = ctypes.c_void_p
_c_resource = ctypes.c_void_p
_c_engine = ctypes.c_void_p
_status = ctypes.c_int16


class PicoUnavailable(RuntimeError):
    """The library or the French voice files are missing; the message says how to install them."""


class PicoError(RuntimeError):
    """Pico returned an error code."""


def install_hint() -> str:
    return (
        "la voix SVOX Pico est absente : lancez « bash scripts/setup.sh » (il active la section "
        "non-free de Debian puis installe libttspico0 et libttspico-data). / SVOX Pico missing: "
        "enable Debian non-free and apt-get install libttspico0 libttspico-data."
    )


def _load_library() -> ctypes.CDLL:
    name = ctypes.util.find_library("ttspico") or "libttspico.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise PicoUnavailable(install_hint()) from err
    p = ctypes.POINTER
    sigs: dict[str, list[object]] = {
        "pico_initialize": [ctypes.c_void_p, ctypes.c_uint32, p(_c_system)],
        "pico_terminate": [p(_c_system)],
        "pico_getSystemStatusMessage": [_c_system, _status, ctypes.c_char_p],
        "pico_loadResource": [_c_system, ctypes.c_char_p, p(_c_resource)],
        "pico_unloadResource": [_c_system, p(_c_resource)],
        "pico_getResourceName": [_c_system, _c_resource, ctypes.c_char_p],
        "pico_createVoiceDefinition": [_c_system, ctypes.c_char_p],
        "pico_addResourceToVoiceDefinition": [_c_system, ctypes.c_char_p, ctypes.c_char_p],
        "pico_releaseVoiceDefinition": [_c_system, ctypes.c_char_p],
        "pico_newEngine": [_c_system, ctypes.c_char_p, p(_c_engine)],
        "pico_disposeEngine": [_c_system, p(_c_engine)],
        "pico_putTextUtf8": [_c_engine, ctypes.c_char_p, ctypes.c_int16, p(ctypes.c_int16)],
        "pico_getData": [
            _c_engine,
            ctypes.c_void_p,
            ctypes.c_int16,
            p(ctypes.c_int16),
            p(ctypes.c_int16),
        ],
        "pico_getEngineStatusMessage": [_c_engine, _status, ctypes.c_char_p],
        "pico_resetEngine": [_c_engine, ctypes.c_int32],
    }
    for fn, argtypes in sigs.items():
        func = getattr(lib, fn)
        func.argtypes = argtypes
        func.restype = _status
    return lib


def voice_files(lang_dir: Path = LANG_DIR) -> tuple[Path, Path]:
    """The two French resource files, or PicoUnavailable."""
    files = (lang_dir / TEXT_ANALYSIS, lang_dir / SIGNAL_GENERATION)
    for path in files:
        if not path.is_file():
            raise PicoUnavailable(f"{path} manquant / missing — " + install_hint())
    return files


def voice_fingerprint(lang_dir: Path = LANG_DIR) -> str:
    """A short hash of the French voice files (the library has no version call): part of cache keys."""
    files = voice_files(lang_dir)
    return _fingerprint(tuple((p, p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=8)
def _fingerprint(files: tuple[tuple[Path, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _size, _mtime in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def available(lang_dir: Path = LANG_DIR) -> str | None:
    """None when Pico French can be used here, else why not (in French and English)."""
    try:
        _load_library()
        voice_files(lang_dir)
    except PicoUnavailable as err:
        return str(err)
    return None


class PicoEngine:
    """One Pico system with the French voice and its engine. Not thread-safe: one thread uses it."""

    def __init__(self, lang_dir: Path = LANG_DIR) -> None:
        self._lib = _load_library()
        ta, sg = voice_files(lang_dir)
        self._memory = ctypes.create_string_buffer(_MEMORY_BYTES)  # referenced for Pico's lifetime
        self._system = _c_system()
        self._resources: list[ctypes.c_void_p] = []
        self._engine = _c_engine()
        self._voice_defined = False
        self._check(
            self._lib.pico_initialize(self._memory, _MEMORY_BYTES, ctypes.byref(self._system)),
            "pico_initialize",
        )
        try:
            names: list[bytes] = []
            for path in (ta, sg):
                res = _c_resource()
                self._check(
                    self._lib.pico_loadResource(self._system, str(path).encode(), ctypes.byref(res)),
                    f"pico_loadResource {path.name}",
                )
                self._resources.append(res)
                name = ctypes.create_string_buffer(200)
                self._check(self._lib.pico_getResourceName(self._system, res, name), "pico_getResourceName")
                names.append(name.value)
            self._check(self._lib.pico_createVoiceDefinition(self._system, VOICE_NAME), "voice definition")
            self._voice_defined = True
            for name_value in names:
                self._check(
                    self._lib.pico_addResourceToVoiceDefinition(self._system, VOICE_NAME, name_value),
                    "pico_addResourceToVoiceDefinition",
                )
            self._check(
                self._lib.pico_newEngine(self._system, VOICE_NAME, ctypes.byref(self._engine)),
                "pico_newEngine",
            )
        except BaseException:
            self.close()
            raise

    def _message(self, status: int) -> str:
        buf = ctypes.create_string_buffer(200)
        if self._engine:
            self._lib.pico_getEngineStatusMessage(self._engine, status, buf)
        elif self._system:
            self._lib.pico_getSystemStatusMessage(self._system, status, buf)
        return buf.value.decode(errors="replace")

    def _check(self, status: int, what: str) -> None:
        if status != _PICO_OK:
            raise PicoError(f"Pico : {what} a échoué / failed ({status}: {self._message(status)})")

    def synthesize(self, text: str) -> bytes:
        """Blocking: s16le mono at 16 kHz for `text` (plain text or Pico's SSML subset)."""
        if not self._engine:
            raise PicoError("Pico : moteur fermé / engine closed")
        data = text.encode("utf-8") + b"\0"  # the final NUL flushes the last sentence
        out: list[bytes] = []
        buffer = ctypes.create_string_buffer(_OUT_BUFFER)
        put = ctypes.c_int16()
        received = ctypes.c_int16()
        kind = ctypes.c_int16()
        pos = 0
        try:
            while pos < len(data):
                chunk = data[pos : pos + _MAX_PUT]
                self._check(
                    self._lib.pico_putTextUtf8(self._engine, chunk, len(chunk), ctypes.byref(put)),
                    "pico_putTextUtf8",
                )
                pos += put.value
                while True:
                    status = self._lib.pico_getData(
                        self._engine, buffer, _OUT_BUFFER, ctypes.byref(received), ctypes.byref(kind)
                    )
                    if received.value > 0 and kind.value == _PICO_DATA_PCM_16BIT:
                        out.append(buffer.raw[: received.value])
                    if status == _PICO_STEP_BUSY:
                        continue
                    if status != _PICO_STEP_IDLE:
                        self._check(status, "pico_getData")
                    break
                if put.value == 0 and pos < len(data):  # the engine took nothing and is idle
                    raise PicoError("Pico : le texte n'a pas été accepté / text not accepted")
        except BaseException:
            self._lib.pico_resetEngine(self._engine, _PICO_RESET_SOFT)  # ready for the next sentence
            raise
        pcm = b"".join(out)
        return pcm[: len(pcm) - len(pcm) % 2]

    def close(self) -> None:
        """Dispose of the engine, the voice definition, the resources and the system (idempotent)."""
        lib = self._lib
        if self._engine:
            lib.pico_disposeEngine(self._system, ctypes.byref(self._engine))
            self._engine = _c_engine()
        if self._voice_defined:
            lib.pico_releaseVoiceDefinition(self._system, VOICE_NAME)
            self._voice_defined = False
        while self._resources:
            res = self._resources.pop()
            lib.pico_unloadResource(self._system, ctypes.byref(res))
        if self._system:
            lib.pico_terminate(ctypes.byref(self._system))
            self._system = _c_system()


class PicoPool:
    """Worker threads, each with its own PicoEngine; `submit(text)` returns a Future of slin16 bytes."""

    def __init__(self, workers: int = 2, lang_dir: Path = LANG_DIR) -> None:
        self.lang_dir = lang_dir
        voice_files(lang_dir)
        _load_library()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pico")
        self._local = threading.local()
        self._engines: list[PicoEngine] = []
        self._lock = threading.Lock()
        self._closed = False
        # Fail now (not on a caller's first sentence) if the voice does not load.
        self._executor.submit(self._engine).result()

    def _engine(self) -> PicoEngine:
        engine: PicoEngine | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = PicoEngine(self.lang_dir)
            self._local.engine = engine
            with self._lock:
                self._engines.append(engine)
        return engine

    def _run(self, text: str) -> bytes:
        return self._engine().synthesize(text)

    def submit(self, text: str) -> Future[bytes]:
        if self._closed:
            raise PicoError("Pico : fermé / closed")
        return self._executor.submit(self._run, text)

    @property
    def engines(self) -> int:
        with self._lock:
            return len(self._engines)

    def close(self) -> None:
        """Wait for running sentences, then free every engine."""
        self._closed = True
        self._executor.shutdown(wait=True)
        with self._lock:
            engines, self._engines = self._engines, []
        for engine in engines:
            engine.close()


_shared: PicoPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> PicoPool:
    """The process-wide pool (the voice files load once per worker thread, not per synthesiser)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PicoPool()
        return _shared
