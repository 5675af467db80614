"""SphinxRecognizer through its async API, with real pocketsphinx worker processes and real human recordings
(Debian asterisk-core-sounds-fr-wav): mechanics, bad input, a dead worker, concurrency."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from standardiste.dialogue.messages import Expect
from standardiste.speech import grammars
from standardiste.speech.sphinx import SphinxRecognizer, SphinxWorkerError
from standardiste.speech.types import FRAME_BYTES, Recognizer
from tests.fixtures.speech_corpus import Sample, recognise

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def recognizer(tmp_path: Path) -> AsyncIterator[SphinxRecognizer]:
    rec = SphinxRecognizer(workers=2, cache_dir=tmp_path / "cache", timeout_s=20)
    yield rec
    await rec.aclose()


def _by_text(corpus: list[Sample], text: str) -> Sample:
    return next(s for s in corpus if s.text == text)


async def _feed(stream: object, pcm: bytes, frame: int = FRAME_BYTES) -> None:
    for i in range(0, len(pcm), frame):
        await stream.accept(pcm[i : i + frame])  # type: ignore[attr-defined]


async def test_it_is_a_grammar_only_french_recognizer(recognizer: SphinxRecognizer) -> None:
    typed: Recognizer = recognizer
    assert typed.name == "sphinx-fr-8k-grammar"
    assert recognizer.open_vocabulary is False and recognizer.understands_french is True
    assert "clavier" in recognizer.describe()


async def test_recognises_human_words_with_the_question_grammar(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    assert await recognise(recognizer, _by_text(speech_corpus, "lundi")) == "lundi"
    assert await recognise(recognizer, _by_text(speech_corpus, "mars")) == "mars"


async def test_one_stream_serves_several_turns_and_grammars(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    stream = await recognizer.stream()
    try:
        partials = []
        await stream.set_grammar(grammars.phrases_for(Expect.DAY))
        for i in range(0, len(_by_text(speech_corpus, "mardi").pcm), FRAME_BYTES):
            result = await stream.accept(_by_text(speech_corpus, "mardi").pcm[i : i + FRAME_BYTES])
            if result is not None:
                assert result.final is False
                partials.append(result.text)
        final = await stream.finish()
        assert final.final and final.text == "mardi"
        assert partials  # live partial results while the caller speaks
        await stream.set_grammar(grammars.phrases_for(Expect.YES_NO))
        await stream.set_grammar(grammars.phrases_for(Expect.DAY))  # back again: the grammar is reused
        await _feed(stream, _by_text(speech_corpus, "vendredi").pcm)
        assert (await stream.finish()).text == "vendredi"
        assert (await stream.finish()).text == ""  # nothing new heard
    finally:
        await stream.close()


async def test_open_question_gives_a_no_match(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    stream = await recognizer.stream()
    await stream.set_grammar(None)
    for i in range(0, 32000, FRAME_BYTES):
        assert await stream.accept(_by_text(speech_corpus, "lundi").pcm[i : i + FRAME_BYTES]) is None
    result = await stream.finish()
    assert result.final and result.text == ""
    await stream.close()


async def test_silence_noise_and_torn_frames_are_safe(recognizer: SphinxRecognizer) -> None:
    stream = await recognizer.stream()
    await stream.set_grammar(grammars.phrases_for(Expect.YES_NO))
    await _feed(stream, bytes(32000))  # one second of digital silence
    assert (await stream.finish()).text == ""
    noise = np.random.default_rng(1).integers(-2000, 2000, 8000, dtype=np.int16).tobytes()
    await _feed(stream, noise, frame=333)  # odd-sized pieces: a sample torn across frames
    await stream.accept(b"\x01")
    result = await stream.finish()  # a grammar cannot reject: whatever it is, it is one of its phrases
    assert result.final
    assert result.text == "" or result.text in grammars.phrases_for(Expect.YES_NO)
    await stream.close()
    with pytest.raises(SphinxWorkerError):
        await stream.accept(bytes(640))


async def test_narrowband_input_is_accepted(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    from standardiste.speech.audio import resample

    stream = await recognizer.stream(sample_rate=8000)
    await stream.set_grammar(grammars.phrases_for(Expect.DAY))
    await _feed(stream, resample(_by_text(speech_corpus, "jeudi").pcm, 16000, 8000), frame=320)
    assert (await stream.finish()).text == "jeudi"
    await stream.close()


async def test_a_dead_worker_fails_its_streams_cleanly_and_is_replaced(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    await recognizer.warm_up()
    first = await recognizer.stream()
    await first.set_grammar(grammars.phrases_for(Expect.DAY))
    victim = first._worker.pid
    assert victim in recognizer.worker_pids()
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(SphinxWorkerError):
        await _feed(first, _by_text(speech_corpus, "lundi").pcm)
        await first.finish()
    await first.close()  # closing a failed stream is fine
    # New calls still work: the dead worker is restarted.
    for _ in range(3):
        assert await recognise(recognizer, _by_text(speech_corpus, "samedi")) == "samedi"
    assert victim not in recognizer.worker_pids()
    assert len(recognizer.worker_pids()) == 2


@pytest.mark.alone  # asserts a time figure: runs on its own (tests/fixtures/scheduling.py)
async def test_concurrent_calls_do_not_block_the_event_loop(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    await recognizer.warm_up()
    samples = [s for s in speech_corpus if s.group == "date_time"][:4]
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - start - 0.005)

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(recognise(recognizer, s) for s in samples))
    done.set()
    await tick
    assert all(results)  # every call got a result
    assert max(lags) < 0.25, f"event loop blocked for {max(lags):.3f} s"
    assert len({s.pid for s in recognizer._workers if s is not None}) == 2  # streams spread over workers


async def test_closed_recognizer_refuses_new_streams(tmp_path: Path) -> None:
    rec = SphinxRecognizer(workers=1, cache_dir=tmp_path)
    await rec.warm_up()
    pids = rec.worker_pids()
    await rec.aclose()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(SphinxWorkerError):
        await rec.stream()


async def test_noise_after_a_short_answer_falls_back_to_the_flat_list(
    recognizer: SphinxRecognizer, speech_corpus_armelle: list[Sample]
) -> None:
    # The muffled voice's "lundi" ends in GSM noise: the structured day grammar finds no complete answer
    # (it hears "vingt deux..."); the flat list of days still recognises it.
    days = [s for s in speech_corpus_armelle if s.group == "word:day"]
    right = [await recognise(recognizer, s) == s.text for s in days]
    assert sum(right) >= len(days) // 2, right


async def test_chosen_and_started_by_speech_select_when_configured(tmp_path: Path) -> None:
    # With "auto", Whisper (installed by the set-up) wins and PocketSphinx is paired with it for closed
    # questions (tests/unit/test_speech_select.py); asked for alone, PocketSphinx starts its workers at load.
    from standardiste.config import load_config
    from standardiste.speech.select import load_recognizer_ready

    deployment = load_config(None).deployment
    speech = deployment.speech.model_copy(update={"recognizer": "sphinx"})
    deployment = deployment.model_copy(update={"data_dir": tmp_path, "speech": speech})
    choice = await load_recognizer_ready(deployment)
    try:
        assert choice.backend == "sphinx"
        assert isinstance(choice.recognizer, SphinxRecognizer)
        assert len(choice.recognizer.worker_pids()) == choice.recognizer.size  # started at load
        assert "PocketSphinx" in choice.explanation
    finally:
        close = getattr(choice.recognizer, "aclose", None)
        if close is not None:
            await close()


async def test_a_grammar_the_engine_refuses_gives_a_no_match_not_a_dead_call(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    stream = await recognizer.stream()
    jsgf = "#JSGF V1.0;\ngrammar broken;\npublic <answer> = ( lundi | ;\n"  # a syntax error
    broken = grammars.Grammar("broken", jsgf, ("lundi",))
    await stream.use_grammar(broken)
    assert stream.grammar is None
    await _feed(stream, _by_text(speech_corpus, "lundi").pcm)
    assert (await stream.finish()).text == ""
    await stream.set_grammar(grammars.phrases_for(Expect.DAY))  # the next question works again
    await _feed(stream, _by_text(speech_corpus, "lundi").pcm)
    assert (await stream.finish()).text == "lundi"
    await stream.close()
