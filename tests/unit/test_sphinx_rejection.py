"""PocketSphinx grammar mode can reject: a garbage path (a phone loop) beside a flat grammar's phrases takes
speech that is none of them, and the recogniser answers "" (not understood) instead of the nearest phrase.

Real pocketsphinx worker processes; callers' audio: Debian's human French recordings (asterisk-core-sounds-fr-
wav) and SVOX Pico fr-FR (for "non", "d'accord", "bonjour": words the human set does not hold), both through
a G.711 round trip at 8 kHz.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from standardiste.dialogue.messages import Expect
from standardiste.speech import grammars
from standardiste.speech.audio import lin_to_ulaw, resample, ulaw_to_lin
from standardiste.speech.sphinx import SphinxRecognizer, garbage
from standardiste.speech.types import FRAME_BYTES
from tests.fixtures.parts import require_part
from tests.fixtures.speech_corpus import Sample

pytestmark = pytest.mark.timeout(180)


def test_only_flat_grammars_get_the_garbage_path() -> None:
    flat = grammars.for_kind(Expect.YES_NO)
    structured = grammars.for_kind(Expect.DATE_TIME)
    assert flat is not None and structured is not None
    wrapped = garbage.with_garbage(flat.jsgf)
    assert garbage.PREFIX in wrapped and "/1/ (" in wrapped
    assert garbage.with_garbage(wrapped) == wrapped  # once
    assert garbage.with_garbage(structured.jsgf) == structured.jsgf
    assert garbage.strip_rejected(f"{garbage.PREFIX}aa {garbage.PREFIX}on") == ""
    assert garbage.strip_rejected("non merci") == "non merci"


@pytest.fixture
async def recognizer(tmp_path: Path) -> AsyncIterator[SphinxRecognizer]:
    rec = SphinxRecognizer(workers=1, cache_dir=tmp_path / "cache", timeout_s=30)
    yield rec
    await rec.aclose()


async def _heard(recognizer: SphinxRecognizer, phrases: tuple[str, ...] | list[str], pcm: bytes) -> str:
    stream = await recognizer.stream()
    try:
        await stream.set_grammar(list(phrases))
        for i in range(0, len(pcm), FRAME_BYTES):
            await stream.accept(pcm[i : i + FRAME_BYTES])
        return (await stream.finish()).text
    finally:
        await stream.close()


def _human(corpus: list[Sample], text: str) -> bytes:
    return next(s for s in corpus if s.text == text).pcm


async def test_human_words_outside_a_flat_grammar_come_back_not_understood(
    recognizer: SphinxRecognizer, speech_corpus: list[Sample]
) -> None:
    """Every single human word of the corpus against the yes/no grammar (none is a yes or a no) and
    against a flat list of days (the days in it must be kept, other words rejected)."""
    words = sorted({s.text for s in speech_corpus if s.group.startswith("word:")})
    yes_no = grammars.phrases_for(Expect.YES_NO)
    forced = {w: t for w in words if (t := await _heard(recognizer, yes_no, _human(speech_corpus, w)))}
    days = ("lundi", "mardi", "jeudi", "vendredi")
    heard = {w: await _heard(recognizer, days, _human(speech_corpus, w)) for w in words}
    kept = [w for w in days if heard.get(w) == w]
    outside = [w for w in words if w not in days]
    slipped = {w: heard[w] for w in outside if heard[w]}
    print(f"yes/no forced {len(forced)}/{len(words)}: {forced}; days kept {kept}; "
          f"days slipped {len(slipped)}/{len(outside)}: {slipped}")  # fmt: skip
    # Measured 2026-12-07: 9 of 49 still forced (each word alone; live CMN makes the order matter), against
    # 49 of 49 without the garbage path.
    assert len(forced) <= 0.3 * len(words), forced
    assert kept == [w for w in days if w in words]  # every day said is kept
    # Near sounds still pass as a phrase ("mars" -> "mardi"): the open recogniser and the read-back are
    # the checks for those. Without the garbage path every one of them was forced onto a day.
    assert len(slipped) <= 0.2 * len(outside), slipped  # measured: 5 of 45


def _pico_phone(text: str) -> bytes:
    from standardiste.speech import pico

    require_part(pico.available() is None, "SVOX Pico (libttspico0)", "scripts/setup.sh")
    engine = pico.PicoEngine()
    try:
        pcm8 = resample(engine.synthesize(text), 16000, 8000)
    finally:
        engine.close()
    silence = bytes(6400)
    return silence + resample(ulaw_to_lin(lin_to_ulaw(pcm8)), 8000, 16000) + silence


async def test_yes_no_grammar_keeps_its_answers_and_rejects_other_words(recognizer: SphinxRecognizer) -> None:
    yes_no = grammars.phrases_for(Expect.YES_NO)
    kept = {w: await _heard(recognizer, yes_no, _pico_phone(w)) for w in ("non", "d'accord", "non merci")}
    assert kept == {"non": "non", "d'accord": "d'accord", "non merci": "non merci"}, kept
    outside = ("bonjour", "le premier", "pardon")
    rejected = {w: await _heard(recognizer, yes_no, _pico_phone(w)) for w in outside}
    assert rejected == dict.fromkeys(outside, ""), rejected
