"""The decoding side of the PocketSphinx backend: runs in a worker process (pocketsphinx holds the GIL).

One worker serves several streams, one decoder each; requests arrive one at a time over a pipe as
tuples `(op, stream_id, *args)` and each gets one reply `("ok", ...)` or `("error", message)`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from standardiste.speech.grammars import to_text
from standardiste.speech.sphinx import garbage
from standardiste.speech.sphinx.lexicon import Lexicon
from standardiste.speech.sphinx.model import DECODER_SETTINGS, LEXICON_FILE, SAMPLE_RATE

log = logging.getLogger(__name__)


class SpeechGate:
    """Feeds the decoder speech only: line noise before the caller speaks (and long after) makes a grammar
    decoder insert words ("seize zéro" for "zéro"). Keeps a short pre-roll, and pauses between words."""

    min_rms = 100.0

    def __init__(self, preroll_ms: int = 300, hangover_ms: int = 500, onset_frames: int = 3) -> None:
        from pocketsphinx import Vad

        self._vad = Vad(Vad.LOOSE, SAMPLE_RATE, 0.01)
        self._frame = self._vad.frame_bytes
        self._preroll = preroll_ms // 10
        self._hangover = hangover_ms // 10
        self._onset = onset_frames
        self.reset()

    def reset(self) -> None:
        self._rest = b""
        self._ring: list[bytes] = []
        self._pending: list[bytes] = []
        self._run = 0
        self.started = False

    def process(self, pcm: bytes) -> bytes:
        data = self._rest + pcm
        cut = len(data) - len(data) % self._frame
        self._rest = data[cut:]
        out: list[bytes] = []
        for i in range(0, cut, self._frame):
            frame = data[i : i + self._frame]
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
            # The VAD alone takes near-silence (a few LSB) for speech; speech is far above -50 dBFS.
            speech = self._vad.is_speech(frame) and float(np.sqrt(np.mean(samples**2))) > self.min_rms
            if not self.started:
                self._ring = [*self._ring[-self._preroll :], frame]
                self._run = self._run + 1 if speech else 0
                if self._run >= self._onset:
                    self.started = True
                    out.extend(self._ring)
                    self._ring = []
            elif speech:
                out.extend(self._pending)
                self._pending = []
                out.append(frame)
            else:
                self._pending.append(frame)
        return b"".join(out)

    def flush(self) -> bytes:
        """End of turn: a short tail of the trailing silence."""
        tail = b"".join(self._pending[: self._hangover])
        self.reset()
        return tail


@dataclass
class _Stream:
    sample_rate: int
    decoder: Any = None
    resampler: Any = None
    gate: SpeechGate | None = None
    search: str | None = None  # active grammar; None: no grammar, audio is ignored
    fallback: str | None = None  # flat grammar tried when `search` finds no complete answer
    audio: bytearray = field(default_factory=bytearray)  # this utterance's speech (8 kHz), for the fallback
    searches: set[str] = field(default_factory=set)
    garbage_words: bool = False  # the garbage path's phone "words" are in this decoder's dictionary
    in_utterance: bool = False
    fed: bool = False  # speech reached the decoder in this utterance
    partial: str = ""


class Engine:
    """All decoders of one worker process (also usable in-process, e.g. by the benchmark)."""

    def __init__(self, model_dir: Path, dict_path: Path, gate: bool = True) -> None:
        self.model_dir = model_dir
        self.gate = gate
        sorted_dict = model_dir / LEXICON_FILE
        self.lexicon = Lexicon.open(sorted_dict) if sorted_dict.exists() else Lexicon.load(dict_path)
        self.streams: dict[int, _Stream] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="standardiste-sphinx-")
        self._seed_dict = Path(self._tmp.name) / "seed.dict"
        # A decoder starts from a one-word dictionary; each grammar adds the words it needs.
        self._seed_dict.write_text("oui ou ii\n", encoding="utf-8")

    def handle(self, op: str, sid: int, *args: Any) -> tuple[Any, ...]:
        if op == "ping":
            return ("ok", os.getpid())
        if op == "open":
            self.streams[sid] = _Stream(sample_rate=int(args[0]))
            return ("ok",)
        if op == "close":
            self.streams.pop(sid, None)
            return ("ok",)
        stream = self.streams.get(sid)
        if stream is None:
            raise KeyError(f"unknown stream {sid}")
        if op == "grammar":
            return ("ok", self._set_grammar(stream, *args))
        if op == "audio":
            return ("ok", self._audio(stream, args[0]))
        if op == "finish":
            if args and args[0]:
                self._audio(stream, args[0])
            return ("ok", self._finish(stream))
        raise ValueError(f"unknown request {op!r}")

    def _decoder(self, stream: _Stream) -> Any:
        if stream.decoder is None:
            from pocketsphinx import Decoder

            stream.decoder = Decoder(hmm=str(self.model_dir), dict=str(self._seed_dict), **DECODER_SETTINGS)
            stream.gate = SpeechGate() if self.gate else None
            if stream.sample_rate != SAMPLE_RATE:
                from standardiste.speech.audio import StreamResampler

                stream.resampler = StreamResampler(stream.sample_rate, SAMPLE_RATE)
        return stream.decoder

    def _set_grammar(
        self, stream: _Stream, jsgf: str | None, words: list[str], fallback: str | None = None
    ) -> dict[str, str]:
        if stream.in_utterance:
            self._finish(stream)
        if jsgf is None:
            stream.search = None
            return {}
        decoder = self._decoder(stream)
        added = self._add_words(stream, words)
        # Flat grammars get a garbage path: speech that is none of their phrases is rejected.
        jsgf, fallback = garbage.with_garbage(jsgf), garbage.with_garbage(fallback) if fallback else None
        if garbage.PREFIX in jsgf + (fallback or "") and not stream.garbage_words:
            for word, phone in garbage.WORDS.items():
                decoder.add_word(word, phone, False)
            stream.garbage_words = True
        stream.search = self._search(stream, jsgf)
        stream.fallback = self._search(stream, fallback) if fallback else None
        decoder.activate_search(stream.search)
        return added

    def _search(self, stream: _Stream, jsgf: str) -> str:
        name = "g" + hashlib.sha1(jsgf.encode()).hexdigest()[:12]
        if name not in stream.searches:
            stream.decoder.add_jsgf_string(name, jsgf)
            stream.searches.add(name)
        return name

    def _add_words(self, stream: _Stream, words: list[str]) -> dict[str, str]:
        decoder = stream.decoder
        added: dict[str, str] = {}
        for word in words:
            if decoder.lookup_word(word) is not None:
                continue
            prons = self.lexicon.pronunciations(word)
            if not prons:
                prons = [self.lexicon.guess(word)]
                added[word] = prons[0]
            for n, pron in enumerate(p for p in prons if p):
                decoder.add_word(word if n == 0 else f"{word}({n + 1})", pron, False)
        return added

    def _audio(self, stream: _Stream, pcm: bytes) -> str | None:
        if stream.search is None or not pcm:
            return None
        decoder = stream.decoder
        if stream.resampler is not None:
            pcm = stream.resampler.process(pcm)
        if stream.gate is not None:
            pcm = stream.gate.process(pcm)
        if not stream.in_utterance:
            decoder.start_utt()
            stream.in_utterance = True
            stream.fed = False
            stream.partial = ""
        if not pcm:
            return None
        decoder.process_raw(pcm, False, False)
        stream.fed = True
        if stream.fallback:
            stream.audio += pcm
        hyp = decoder.hyp()
        text = garbage.strip_rejected(to_text(hyp.hypstr)) if hyp is not None else ""
        if text and text != stream.partial:
            stream.partial = text
            return text
        return None

    def _finish(self, stream: _Stream) -> str:
        if not stream.in_utterance:
            return ""
        stream.in_utterance = False
        tail = b""
        if stream.resampler is not None:
            from standardiste.speech.audio import StreamResampler

            tail = stream.resampler.process(b"", last=True)
            stream.resampler = StreamResampler(stream.sample_rate, SAMPLE_RATE)
        if stream.gate is not None:
            tail = stream.gate.process(tail) + stream.gate.flush()
        if tail:
            stream.decoder.process_raw(tail, False, False)
            stream.fed = True
            if stream.fallback:
                stream.audio += tail
        stream.decoder.end_utt()
        audio, stream.audio = bytes(stream.audio), bytearray()
        if not stream.fed:
            return ""  # silence: no match
        hyp = stream.decoder.hyp()
        if hyp is None and stream.fallback and stream.search and audio:
            hyp = self._decode_again(stream, stream.fallback, audio)
        # Still no complete answer, or the garbage path took it: a no-match (partials are not answers;
        # the dialogue reprompts).
        return garbage.strip_rejected(to_text(hyp.hypstr)) if hyp is not None else ""

    def _decode_again(self, stream: _Stream, search: str, audio: bytes) -> Any:
        decoder = stream.decoder
        decoder.activate_search(search)
        try:
            decoder.start_utt()
            decoder.process_raw(audio, False, True)
            decoder.end_utt()
            return decoder.hyp()
        finally:
            decoder.activate_search(stream.search)


def serve(incoming: Connection, outgoing: Connection, model_dir: str, dict_path: str) -> None:
    """Serve requests until the pipe closes."""
    engine = Engine(Path(model_dir), Path(dict_path))
    try:
        outgoing.send(("ok", os.getpid()))
    except (BrokenPipeError, OSError):  # the recogniser was closed while we started
        return
    while True:
        try:
            request = incoming.recv()
        except (EOFError, OSError):
            return
        try:
            reply = engine.handle(*request)
        except Exception as err:  # one stream's error must not end the others
            log.exception("sphinx worker request failed")
            reply = ("error", f"{type(err).__name__}: {err}")
        try:
            outgoing.send(reply)
        except (BrokenPipeError, OSError):
            return


def main(argv: list[str]) -> int:
    """`python -m standardiste.speech.sphinx.worker MODEL_DIR DICT IN_FD OUT_FD` (run by the recognizer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    os.dup2(2, 1)  # stray prints from C libraries must not reach the parent's pipe
    logging.basicConfig(level=logging.WARNING, format="sphinx-worker %(process)d %(levelname)s %(message)s")
    model_dir, dict_path, in_fd, out_fd = argv[1:5]
    incoming, outgoing = Connection(int(in_fd), writable=False), Connection(int(out_fd), readable=False)
    serve(incoming, outgoing, model_dir, dict_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
