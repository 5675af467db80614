"""espeak-ng synthesis (the real engine): slin16 out, caches, never blocking the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from standardiste.speech import tts as tts_mod
from standardiste.speech.audio import duration_s, rms_dbfs
from standardiste.speech.tts import (
    EspeakNotFound,
    EspeakSynthesizer,
    SynthesisError,
    normalize_fr,
    split_sentences,
)


def cached_files(folder: Path, pattern: str = "*.slin16") -> list[Path]:
    return sorted(folder.rglob(pattern))


GREETING = "Cabinet médical des Tilleuls, bonjour. Que puis-je faire pour vous ?"


@pytest.mark.parametrize("engine", ["library", "subprocess"])
async def test_synthesize_gives_slin16_speech(engine: str) -> None:
    synth = EspeakSynthesizer(engine=engine)  # type: ignore[arg-type]
    assert synth.engine == engine
    pcm = await synth.synthesize(GREETING)
    assert len(pcm) % 2 == 0
    assert 2.0 < duration_s(pcm) < 8.0  # a few seconds at 16 kHz, not 22.05 kHz mislabelled
    assert rms_dbfs(pcm) > -35


async def test_both_engines_agree_on_length() -> None:
    a = await EspeakSynthesizer(engine="library").synthesize("Bonjour")
    b = await EspeakSynthesizer(engine="subprocess").synthesize("Bonjour")
    assert abs(duration_s(a) - duration_s(b)) < 0.5


async def test_memory_and_disk_cache(tmp_path: Path) -> None:
    synth = EspeakSynthesizer(cache_dir=tmp_path)
    first = await synth.synthesize(GREETING, persist=True)
    assert (synth.misses, synth.hits) == (1, 0)
    assert await synth.synthesize(f"  {GREETING} ") == first  # same text once whitespace is normalised
    assert synth.hits == 1
    files = cached_files(tmp_path)
    assert len(files) == 1 and await asyncio.to_thread(files[0].read_bytes) == first
    assert not cached_files(tmp_path, "*.tmp")

    fresh = EspeakSynthesizer(cache_dir=tmp_path)  # a new process: the disk cache answers
    assert await fresh.synthesize(GREETING) == first
    assert (fresh.misses, fresh.hits) == (0, 1)

    other_voice = EspeakSynthesizer(voice="fr+m3", cache_dir=tmp_path)
    assert await other_voice.synthesize(GREETING, persist=True) != first
    assert len(cached_files(tmp_path)) == 2


async def test_replies_that_may_hold_personal_data_never_reach_the_disk(tmp_path: Path) -> None:
    synth = EspeakSynthesizer(cache_dir=tmp_path)
    await synth.prewarm([GREETING])
    await synth.synthesize("Je récapitule : Dupont Marie, née le douze mars mille neuf cent quatre-vingts.")
    assert len(cached_files(tmp_path)) == 1  # the fixed greeting only
    # An older install's cache with a reply in it: pruned at the next start.
    stale = tmp_path / "ab" / ("ab" + "0" * 62 + ".slin16")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"\0" * 64)
    await EspeakSynthesizer(cache_dir=tmp_path).prewarm([GREETING], prune=True)
    assert [p.name for p in cached_files(tmp_path)] != [stale.name] and not stale.exists()
    assert len(cached_files(tmp_path)) == 1


async def test_cache_key_depends_on_voice_speed_and_text() -> None:
    a = EspeakSynthesizer(voice="fr+f2", speed_wpm=165)
    keys = {
        await a.cache_key("oui"),
        await a.cache_key("non"),
        await EspeakSynthesizer(voice="fr+m3").cache_key("oui"),
        await EspeakSynthesizer(speed_wpm=180).cache_key("oui"),
    }
    assert len(keys) == 4


async def test_unwritable_cache_still_speaks(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    synth = EspeakSynthesizer(cache_dir=blocker / "cache")
    assert await synth.synthesize("Bonjour")


async def test_prewarm_counts_new_prompts(tmp_path: Path) -> None:
    synth = EspeakSynthesizer(cache_dir=tmp_path)
    assert await synth.prewarm(["Bonjour.", "Au revoir.", "Bonjour."]) == 2
    assert await EspeakSynthesizer(cache_dir=tmp_path).prewarm(["Bonjour.", "Au revoir."]) == 0


async def test_empty_text_is_silence() -> None:
    assert await EspeakSynthesizer().synthesize("   ") == b""


async def test_concurrent_identical_requests_synthesise_once() -> None:
    synth = EspeakSynthesizer()
    results = await asyncio.gather(*(synth.synthesize("Un instant, s'il vous plaît.") for _ in range(5)))
    assert len(set(results)) == 1
    assert synth.misses == 1


@pytest.mark.alone  # asserts a time figure: runs on its own (tests/fixtures/scheduling.py)
@pytest.mark.parametrize("engine", ["library", "subprocess"])
async def test_event_loop_keeps_running_during_synthesis(engine: str) -> None:
    synth = EspeakSynthesizer(engine=engine)  # type: ignore[arg-type]
    long_text = " ".join(["Le cabinet est ouvert du lundi au vendredi de huit heures trente à midi."] * 6)
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
    pcm = await synth.synthesize(long_text)
    done = True
    await task
    assert duration_s(pcm) > 20
    assert worst < 0.05, f"event loop stalled {worst * 1000:.0f} ms"


async def test_stream_yields_sentences_early(tmp_path: Path) -> None:
    synth = EspeakSynthesizer(cache_dir=tmp_path)
    text = (
        "Le cabinet est ouvert du lundi au vendredi. Le samedi, de neuf heures à midi. "
        "Pour une urgence, composez le quinze."
    )
    chunks = [c async for c in synth.synthesize_stream(text)]
    assert len(chunks) == 3
    assert sum(duration_s(c) for c in chunks) > 4
    again = [c async for c in synth.synthesize_stream(text)]  # cached: one piece at once
    assert len(again) == 1 and again[0] == b"".join(chunks)


def test_split_sentences_glues_short_pieces() -> None:
    assert split_sentences("Oui. D'accord, c'est noté. Au revoir !") == [
        "Oui. D'accord, c'est noté.",
        "Au revoir !",
    ]
    assert split_sentences("") == []


async def test_unknown_voice_is_a_clear_error() -> None:
    with pytest.raises(SynthesisError):
        await EspeakSynthesizer(voice="zz-nope", engine="library").synthesize("Bonjour")
    # The library keeps working for the next caller after an error.
    assert await EspeakSynthesizer(engine="library").synthesize("Bonjour")


def test_missing_espeak_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts_mod.shutil, "which", lambda _name: None)
    with pytest.raises(EspeakNotFound, match="apt-get install espeak-ng"):
        EspeakSynthesizer(engine="subprocess")


async def test_cancelled_caller_does_not_break_shared_synthesis(tmp_path: Path) -> None:
    # A caller hangs up while its sentence is being made; another call waits for the same sentence.
    synth = EspeakSynthesizer(cache_dir=tmp_path, engine="subprocess")
    text = "Merci de votre appel, au revoir."
    first = asyncio.create_task(synth.synthesize(text))
    second = asyncio.create_task(synth.synthesize(text))
    await asyncio.sleep(0.002)
    first.cancel()
    pcm = await second
    assert pcm and first.cancelled()
    assert await synth.synthesize(text) == pcm and synth.misses == 1
    assert not synth._inflight


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        (
            "Ouvert de 8h30 à 12h30 et de 14h à 19h.",
            "Ouvert de huit heures trente à douze heures trente et de quatorze heures à dix-neuf heures.",
        ),
        ("le samedi 9:00-12:00", "le samedi neuf heures à midi"),
        ("RDV à 1h05", "rendez-vous à une heure cinq"),
        ("n° 12, Dre Lefèvre, tiers payant ALD", "numéro douze, docteur Lefèvre, tiers payant A L D"),
        ("69003 Lyon, 30 €", "69003 Lyon, trente euros"),
        ("Pardon ?  Je  n'ai pas compris.", "Pardon ? Je n'ai pas compris."),
    ],
)
def test_normalize_fr_rewrites_what_voices_misread(text: str, spoken: str) -> None:
    assert normalize_fr(text) == spoken


async def test_times_are_spoken_as_hours_not_letters() -> None:
    synth = EspeakSynthesizer()
    assert await synth.synthesize("à 8h30") == await synth.synthesize("à huit heures trente")


def test_long_sentences_are_cut_at_commas() -> None:
    long = (
        "Le cabinet est ouvert le lundi, le mardi, le mercredi, le jeudi et le vendredi de huit heures "
        "trente "
        "à midi trente, puis de quatorze heures à dix-neuf heures, et le samedi matin de neuf heures à midi."
    )
    pieces = split_sentences(long)
    assert len(pieces) > 2 and " ".join(pieces) == long
    assert all(len(p) >= 20 for p in pieces)
