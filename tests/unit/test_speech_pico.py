"""SVOX Pico fr-FR, the real engine (Debian libttspico0 + libttspico-data, installed by scripts/setup.sh).

Without Pico these tests fail in CI (CI=true) and skip on a developer's machine (tests/fixtures/parts.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from standardiste.config import Config, SpeechConfig
from standardiste.dialogue.messages import Expect
from standardiste.speech import grammars, pico
from standardiste.speech import tts as tts_mod
from standardiste.speech.audio import duration_s, lin_to_ulaw, resample, rms_dbfs, silence, ulaw_to_lin
from standardiste.speech.tts import (
    EspeakSynthesizer,
    PicoNotFound,
    PicoSynthesizer,
    SynthesisError,
    load_synthesizer,
)
from tests.fixtures.voice_check import require_pico

SENTENCE = "Bonjour, cabinet médical des Tilleuls. Que puis-je faire pour vous ?"


@pytest.fixture(autouse=True)
def _pico_installed() -> None:
    require_pico()  # before any test replaces pico.shared_pool


@pytest.fixture(scope="module")
def engine() -> pico.PicoEngine:
    found = pico.PicoEngine()
    yield found
    found.close()


def test_engine_speaks_french_at_16khz(engine: pico.PicoEngine) -> None:
    pcm = engine.synthesize(SENTENCE)
    assert pico.SAMPLE_RATE == 16_000
    assert len(pcm) % 2 == 0
    assert 2.5 < duration_s(pcm) < 7.0  # about 11 words at ~2.7 words/s, read at 16 kHz
    assert rms_dbfs(pcm) > -30
    # Speech, not a tone: the level moves between syllables and pauses.
    levels = [rms_dbfs(pcm[i : i + 3200]) for i in range(0, len(pcm) - 3200, 3200)]
    assert max(levels) - min(levels) > 20


def test_same_text_same_length_and_empty_text_is_empty(engine: pico.PicoEngine) -> None:
    # Pico's noise excitation differs from run to run; the timing does not.
    assert len(engine.synthesize("Au revoir.")) == len(engine.synthesize("Au revoir."))
    assert engine.synthesize("") == b""


def test_long_text_goes_through_in_pieces(engine: pico.PicoEngine) -> None:
    text = " ".join(["Le cabinet est ouvert du lundi au vendredi."] * 40)  # ~1,700 bytes
    assert duration_s(engine.synthesize(text)) > 80


def test_engine_recovers_after_an_error(engine: pico.PicoEngine) -> None:
    with pytest.raises(pico.PicoError):
        engine.synthesize("x" * 40_000)  # one 40,000-letter word overflows Pico's buffers
    assert duration_s(engine.synthesize("Bonjour.")) > 0.3


def test_close_is_idempotent_and_final() -> None:
    one = pico.PicoEngine()
    one.close()
    one.close()
    with pytest.raises(pico.PicoError):
        one.synthesize("Bonjour.")


def test_missing_voice_files_say_how_to_install(tmp_path: Path) -> None:
    assert "non-free" in (pico.available(tmp_path) or "")
    with pytest.raises(pico.PicoUnavailable, match="libttspico-data"):
        pico.PicoEngine(tmp_path)


def test_pool_gives_each_thread_its_own_engine_and_same_speech() -> None:
    pool = pico.PicoPool(workers=2)
    try:
        texts = [f"Rendez-vous numéro {i}." for i in range(6)] * 3
        with ThreadPoolExecutor(max_workers=6) as callers:  # several calls at once
            results = list(callers.map(lambda t: pool.submit(t).result(), texts))
        assert pool.engines <= 2
        for text, pcm in zip(texts, results, strict=True):
            assert len(pcm) == len(results[texts.index(text)]) and duration_s(pcm) > 0.5
    finally:
        pool.close()
    assert pool.engines == 0
    with pytest.raises(pico.PicoError):
        pool.submit("Bonjour.")


def test_threads_run_in_parallel_outside_the_gil() -> None:
    # ctypes releases the GIL: a Python thread keeps running while Pico works.
    pool = pico.PicoPool(workers=1)
    try:
        ticks = 0
        stop = threading.Event()

        def count() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.001)

        counter = threading.Thread(target=count)
        counter.start()
        pool.submit(" ".join(["Le cabinet est ouvert du lundi au vendredi."] * 10)).result()
        stop.set()
        counter.join()
        assert ticks > 5
    finally:
        pool.close()


async def test_pico_synthesizer_caches_on_disk(tmp_path: Path) -> None:
    synth = PicoSynthesizer(cache_dir=tmp_path)
    assert synth.voice_name == "pico" and "Pico" in synth.describe()
    first = await synth.synthesize(SENTENCE, persist=True)
    assert 2.5 < duration_s(first) < 7.0
    again = PicoSynthesizer(cache_dir=tmp_path)
    assert await again.synthesize(SENTENCE) == first
    assert (again.misses, again.hits) == (0, 1)
    espeak = EspeakSynthesizer(cache_dir=tmp_path)
    assert await espeak.cache_key(SENTENCE) != await synth.cache_key(SENTENCE)


async def test_speed_setting_changes_pace_and_cache_key() -> None:
    normal, slow = PicoSynthesizer(), PicoSynthesizer(speed_percent=70)
    assert await normal.cache_key("Bonjour") != await slow.cache_key("Bonjour")
    a = await normal.synthesize(SENTENCE)
    b = await slow.synthesize(SENTENCE)
    assert duration_s(b) > duration_s(a) * 1.2
    assert slow.pico.markup("a < b") == '<speed level="70">a   b</speed>'


@pytest.mark.alone  # asserts a time figure: runs on its own (tests/fixtures/scheduling.py)
async def test_event_loop_keeps_running_during_pico_synthesis() -> None:
    synth = PicoSynthesizer()
    text = " ".join(["Le cabinet est ouvert du lundi au vendredi de huit heures trente à midi."] * 6)
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            worst = max(worst, time.perf_counter() - before)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    pcm = await synth.synthesize(text)
    done = True
    await task
    assert duration_s(pcm) > 20
    assert worst < 0.05, f"event loop stalled {worst * 1000:.0f} ms"


async def test_punctuation_alone_is_a_pause_not_an_error() -> None:
    pcm = await PicoSynthesizer().synthesize("…")
    assert 0.1 < duration_s(pcm) < 1.0


async def test_concurrent_identical_requests_synthesise_once() -> None:
    synth = PicoSynthesizer()
    results = await asyncio.gather(*(synth.synthesize("Un instant, s'il vous plaît.") for _ in range(5)))
    assert len(set(results)) == 1 and synth.misses == 1


# --- choosing the voice ---


def test_auto_takes_pico_and_says_so() -> None:
    choice = load_synthesizer("auto")
    assert choice.synthesizer.voice_name == "pico" and not choice.fallback
    assert "Pico" in choice.explanation


def test_espeak_when_configured() -> None:
    choice = load_synthesizer("espeak", espeak_voice="fr+m3")
    assert choice.synthesizer.voice_name == "espeak-ng" and not choice.fallback
    assert "fr+m3" in choice.explanation and "configuration" in choice.explanation


def _no_pico(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> pico.PicoPool:
        raise pico.PicoUnavailable(pico.install_hint())

    monkeypatch.setattr(pico, "shared_pool", missing)


def test_auto_falls_back_to_espeak_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pico(monkeypatch)
    choice = load_synthesizer("auto")
    assert choice.synthesizer.voice_name == "espeak-ng" and choice.fallback
    assert "secours" in choice.explanation and "non-free" in choice.explanation


def test_pico_required_but_missing_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pico(monkeypatch)
    with pytest.raises(PicoNotFound, match="libttspico0"):
        load_synthesizer("pico")
    assert issubclass(PicoNotFound, SynthesisError)


def test_setting_is_validated() -> None:
    assert SpeechConfig().synthesizer == "auto"
    assert SpeechConfig(synthesizer="pico", pico_speed_percent=90).pico_speed_percent == 90
    with pytest.raises(ValueError, match="synthesizer"):
        SpeechConfig(synthesizer="festival")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pico_speed_percent"):
        SpeechConfig(pico_speed_percent=300)
    with pytest.raises(ValueError):
        tts_mod.PicoVoice(speed_percent=5)


# --- intelligibility through the telephone path ---


def telephone(pcm16: bytes) -> bytes:
    """16 kHz speech as a caller hears it: 8 kHz G.711 mu-law, back to slin16."""
    pcm8 = resample(pcm16, 16_000, 8_000)
    return resample(ulaw_to_lin(lin_to_ulaw(pcm8)), 8_000, 16_000)


GRAMMAR_WORDS = [
    (Expect.DAY, w) for w in ("mercredi", "jeudi", "vendredi", "dimanche", "demain", "après-midi")
] + [(Expect.YES_NO, "non"), (Expect.YES_NO, "d'accord")]


@pytest.mark.timeout(120)
async def test_pico_words_survive_g711_for_the_grammar_recogniser() -> None:
    # PocketSphinx grammars on synthetic single words are not a fine measure (Pico's noise excitation
    # varies between runs; "mardi" and "samedi" often come out "lundi"): a floor, the words listed.
    from standardiste.speech.sphinx import SphinxRecognizer

    synth = PicoSynthesizer()
    rec = SphinxRecognizer(workers=1, timeout_s=30)
    heard: list[tuple[str, str]] = []
    try:
        for kind, text in GRAMMAR_WORDS:
            pcm = telephone(silence(300) + await synth.synthesize(text) + silence(600))
            stream = await rec.stream()
            try:
                await stream.set_grammar(grammars.phrases_for(kind))
                for i in range(0, len(pcm), 640):
                    await stream.accept(pcm[i : i + 640])
                heard.append((text, (await stream.finish()).text))
            finally:
                await stream.close()
    finally:
        await rec.aclose()
    right = sum(said == got for said, got in heard)
    assert right >= len(GRAMMAR_WORDS) - 1, heard


# --- what the start-up log and `doctor` say ---


def _with_speech(config: Config, **speech: object) -> Config:
    deployment = config.deployment.model_copy(
        update={"speech": config.deployment.speech.model_copy(update=speech)}
    )
    return config.model_copy(update={"deployment": deployment})


def test_doctor_names_the_active_voice(demo_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from standardiste.cli.doctor import Level, check_synthesis

    found = check_synthesis(demo_config)
    assert found.level is Level.OK and "Pico" in found.message
    espeak = check_synthesis(_with_speech(demo_config, synthesizer="espeak"))
    assert espeak.level is Level.OK and "espeak-ng" in espeak.message
    _no_pico(monkeypatch)
    fallback = check_synthesis(demo_config)
    assert fallback.level is Level.WARNING and "secours" in fallback.message
    required = check_synthesis(_with_speech(demo_config, synthesizer="pico"))
    assert required.level is Level.PROBLEM and "libttspico0" in required.message


async def test_start_up_log_says_which_voice(
    demo_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from standardiste.app import VoiceApp

    config = _with_speech(demo_config)
    config = config.model_copy(
        update={"deployment": config.deployment.model_copy(update={"data_dir": tmp_path})}
    )
    app = VoiceApp(config)
    with caplog.at_level(logging.INFO, logger="standardiste.app"):
        await app._load_synthesizer()
    assert isinstance(app.synthesizer, PicoSynthesizer)
    assert app.synthesizer.cache_dir == tmp_path / "prompts"
    assert any("synthèse vocale" in r.getMessage() and "Pico" in r.getMessage() for r in caplog.records)

    _no_pico(monkeypatch)
    caplog.clear()
    fallback = VoiceApp(config)
    with caplog.at_level(logging.INFO, logger="standardiste.app"):
        await fallback._load_synthesizer()
    assert isinstance(fallback.synthesizer, EspeakSynthesizer)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and "secours" in warned[0].getMessage()
