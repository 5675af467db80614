"""SphinxRecognizer: French recognition for directed questions, where no French Vosk model is installed.

PocketSphinx holds the GIL, so decoders live in a small pool of worker processes; each stream is pinned to
one worker (one decoder there). The async API hands each request to a per-worker thread that talks to the
worker over a pipe, so the event loop never blocks and calls on different workers never wait on each other.
A worker that dies is replaced for new streams; the streams it served fail with SphinxWorkerError so their
sessions fall back (keypad, then a human).

Grammar mode only: without a grammar (open question) a stream returns an empty final result, a no-match.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from standardiste.speech import grammars
from standardiste.speech.sphinx.model import prepared_model_dir, source_model_dir
from standardiste.speech.types import FRAME_MS, SAMPLE_RATE, Transcript

log = logging.getLogger(__name__)


class SphinxWorkerError(RuntimeError):
    """The decoding worker failed or died; the stream is unusable (the session falls back)."""


class _Worker:
    def __init__(self, index: int, model_dir: Path, dict_path: Path, timeout_s: float) -> None:
        # A plain child process (not multiprocessing): no fork of a process running an event loop and
        # threads, and no re-import of the caller's __main__ as the "spawn" method does.
        self.index = index
        self.timeout_s = timeout_s
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "standardiste.speech.sphinx.worker", str(model_dir), str(dict_path),
                 str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sphinx-{index}")
        self.streams = 0
        self.dead = False
        self._ready = False
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _call(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        with self._lock:
            if self.dead:
                raise SphinxWorkerError(f"worker {self.index} is dead")
            try:
                if not self._ready:  # the worker says hello once its dictionary is loaded
                    if not self._recv.poll(max(self.timeout_s, 30.0)):
                        raise TimeoutError("worker did not start")
                    self._recv.recv()
                    self._ready = True
                self._send.send(request)
                if not self._recv.poll(self.timeout_s):
                    raise TimeoutError(f"no reply in {self.timeout_s} s")
                reply = self._recv.recv()
            except (EOFError, OSError, TimeoutError) as err:
                self.dead = True
                self._kill()
                raise SphinxWorkerError(f"worker {self.index} failed: {err!r}") from err
        if reply[0] == "error":
            raise SphinxWorkerError(f"worker {self.index}: {reply[1]}")
        return reply[1:]

    async def call(self, *request: Any) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, self._call, request)
        except RuntimeError as err:  # executor shut down
            if isinstance(err, SphinxWorkerError):
                raise
            raise SphinxWorkerError(str(err)) from err

    def _kill(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            log.error("sphinx worker %s did not exit", self.pid)

    def stop(self) -> None:
        self.dead = True
        for conn in (self._send, self._recv):
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)  # the worker exits when its pipe closes
        self._kill()
        self.executor.shutdown(wait=False, cancel_futures=True)


class SphinxStream:
    """One call's recognition stream, pinned to one worker."""

    def __init__(
        self, owner: SphinxRecognizer, worker: _Worker, sid: int, sample_rate: int, batch_ms: int
    ) -> None:
        self._owner = owner
        self._worker = worker
        self._sid = sid
        self._batch_bytes = sample_rate * batch_ms // 1000 * 2
        self._buffer = bytearray()
        self._has_grammar = False
        self._closed = False
        self.grammar: grammars.Grammar | None = None

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        grammar = grammars.from_phrases(phrases)
        await self.use_grammar(grammar)

    async def use_grammar(self, grammar: grammars.Grammar | None) -> None:
        """Set a grammar directly (e.g. `grammars.for_kind(Expect.TIME)`); None: open question, no-match."""
        self._check()
        self._buffer.clear()
        self.grammar = grammar
        self._has_grammar = grammar is not None
        if grammar is None:
            (added,) = await self._worker.call("grammar", self._sid, None, [], None)
        else:
            try:
                (added,) = await self._worker.call(
                    "grammar", self._sid, grammar.jsgf, sorted(grammar.all_words), grammar.fallback_jsgf
                )
            except SphinxWorkerError:
                if self._worker.dead:
                    raise
                # A grammar the engine refuses (odd words in the configuration): this question gets a
                # no-match, so the keypad; the call goes on.
                log.error("grammar refused by pocketsphinx: %s", grammar.phrases, exc_info=True)
                self.grammar, self._has_grammar = None, False
                await self._worker.call("grammar", self._sid, None, [], None)
                return
        self._owner._note_added(added)

    async def accept(self, pcm: bytes) -> Transcript | None:
        self._check()
        if not self._has_grammar:
            return None  # open question: nothing to recognise without a grammar
        self._buffer += pcm
        if len(self._buffer) < self._batch_bytes:
            return None
        even = len(self._buffer) - len(self._buffer) % 2  # a torn sample waits for the next frame
        chunk = bytes(self._buffer[:even])
        del self._buffer[:even]
        (partial,) = await self._worker.call("audio", self._sid, chunk)
        return Transcript(partial, final=False) if partial else None

    async def finish(self) -> Transcript:
        self._check()
        tail = bytes(self._buffer[: len(self._buffer) - len(self._buffer) % 2])
        self._buffer.clear()
        if not self._has_grammar:
            return Transcript("", final=True)
        (text,) = await self._worker.call("finish", self._sid, tail)
        return Transcript(text, final=True)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.streams -= 1
        if not self._worker.dead:
            with contextlib.suppress(SphinxWorkerError):
                await self._worker.call("close", self._sid)

    def _check(self) -> None:
        if self._closed:
            raise SphinxWorkerError("stream closed")
        if self._worker.dead:
            raise SphinxWorkerError("the recognition worker of this call died")


class SphinxRecognizer:
    """PocketSphinx + the French 8 kHz telephone model, one JSGF grammar per question."""

    name = "sphinx-fr-8k-grammar"
    open_vocabulary = False
    understands_french = True  # for directed questions (grammars), not open speech

    def __init__(
        self,
        workers: int | None = None,
        cache_dir: Path | None = None,
        timeout_s: float = 10.0,
        batch_ms: int = 5 * FRAME_MS,
    ) -> None:
        self.model_dir = prepared_model_dir(cache_dir)
        self.dict_path = source_model_dir() / "dict.txt"
        self.size = workers or max(1, min(4, (os.cpu_count() or 2)))
        self.timeout_s = timeout_s
        self.batch_ms = batch_ms
        self._workers: list[_Worker | None] = [None] * self.size
        self._ids = itertools.count(1)
        self._added: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)

    @classmethod
    def from_deployment(cls, deployment: object) -> SphinxRecognizer:
        """Built by speech.select; the patched model goes in the standard cache folder."""
        return cls()

    async def load(self) -> None:
        """Start the workers now (select.load_recognizer_ready calls it at start-up)."""
        await self.warm_up()

    def describe(self) -> str:
        return (
            "Reconnaissance vocale française limitée (PocketSphinx, modèle téléphonique 8 kHz, hors ligne) : "
            "les appelants peuvent répondre oui ou non, un jour, une heure, une date, un numéro ou le nom "
            "d'un praticien ; chaque réponse leur est confirmée, et pour une demande libre ils passent par "
            "le clavier ou sont mis en relation avec le secrétariat."
        )

    def _pick(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise SphinxWorkerError("recognizer closed")
            for i, worker in enumerate(self._workers):
                if worker is None or worker.dead or not worker.alive():
                    if worker is not None:
                        log.warning("reconnaissance vocale : processus %s arrêté, redémarrage", worker.pid)
                        worker.dead = True
                        worker.executor.shutdown(wait=False)
                    self._workers[i] = _Worker(i, self.model_dir, self.dict_path, self.timeout_s)
            live = [w for w in self._workers if w is not None]
            worker = min(live, key=lambda w: w.streams)
            worker.streams += 1
            return worker

    async def stream(self, sample_rate: int = SAMPLE_RATE) -> SphinxStream:
        loop = asyncio.get_running_loop()
        worker = await loop.run_in_executor(None, self._pick)  # may spawn a process
        sid = next(self._ids)
        try:
            await worker.call("open", sid, sample_rate)
        except SphinxWorkerError:
            worker.streams -= 1
            raise
        return SphinxStream(self, worker, sid, sample_rate, self.batch_ms)

    async def warm_up(self, pcm: bytes | None = None, count: int = 1, sample_rate: int = SAMPLE_RATE) -> None:
        """Start every worker now (each loads the dictionary once) instead of on the first calls.
        Same signature as the Vosk backend's (speech.select passes a sentence): decoders are made per call
        in under 20 ms, so there is nothing else to warm."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._start_all)
        await asyncio.gather(*(w.call("ping", 0) for w in self._workers if w is not None))

    def _start_all(self) -> None:
        with self._lock:
            for i, worker in enumerate(self._workers):
                if worker is None or worker.dead:
                    self._workers[i] = _Worker(i, self.model_dir, self.dict_path, self.timeout_s)

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w is not None and w.pid is not None and not w.dead]

    def _note_added(self, added: dict[str, str]) -> None:
        new = {w: p for w, p in added.items() if w not in self._added}
        if new:
            self._added.update(new)
            log.info("mots ajoutés au dictionnaire (prononciation devinée) : %s", new)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, [None] * self.size
        for worker in workers:
            if worker is not None:
                worker.stop()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)
