"""Recognition accuracy on human French speech, per grammar, for every installed French backend.

The test set (tests/fixtures/speech_corpus.py) is built at test time from Debian's Asterisk French prompts,
spliced into caller-like answers and passed through G.711 as on a call. Floors sit a little under what was
measured on this set (docs/recognition.md has the figures); they guard against regressions (a setting lost,
a broken dictionary), they do not promise accuracy on every caller.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from standardiste.config import load_config
from standardiste.speech.sphinx import SphinxRecognizer
from tests.fixtures.parts import unavailable_here
from tests.fixtures.speech_corpus import Sample, Score, recognise

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
log = logging.getLogger(__name__)

# (group, measure) -> floor. "exact": the whole answer word for word; a slot name: that value right.
# Measured with PocketSphinx (docs/recognition.md): days 1.0, months 0.92, numbers 0.75-0.86; date_time
# day 1.0, hour 0.67-0.79, minute 0.83-0.96; time hour 0.83-0.92, minute 1.0; date month 1.0, day 1.0;
# phone 0.67; birth date month 0.9, year 0.5-0.6. Borderline answers flip from one process to the next
# (pocketsphinx is not bit-for-bit repeatable across runs), hence the margins.
JUNE_FLOORS: dict[tuple[str, str], float] = {
    ("word:day", "exact"): 0.85,
    ("word:month", "exact"): 0.75,
    ("word:number", "exact"): 0.65,
    ("date_time", "day"): 0.9,
    ("date_time", "hour"): 0.5,
    ("date_time", "minute"): 0.75,
    ("time", "hour"): 0.65,
    ("time", "minute"): 0.8,
    ("date", "month"): 0.8,
    ("date", "monthday"): 0.8,
    ("phone", "phone"): 0.4,
    ("birth_date", "month"): 0.7,
    ("birth_date", "year"): 0.3,
}
# The muffled GSM voice: a stress set. Floors only catch a collapse.
# Measured: single days 0.89 (0.22 before the flat fallback), months 0.50, numbers 0.36, day in date_time
# 0.46, hours 0.
ARMELLE_FLOORS: dict[tuple[str, str], float] = {
    ("word:day", "day"): 0.6,
    ("word:month", "month"): 0.3,
    ("word:number", "number"): 0.2,
    ("date_time", "day"): 0.3,
}


def _french_vosk() -> tuple[object | None, str]:
    """The speech helper's Vosk backend with a French model, when one is installed."""
    try:
        from standardiste.speech.models import find_vosk_model
        from standardiste.speech.select import looks_french
        from standardiste.speech.vosk_backend import VoskRecognizer
    except ImportError as err:
        return None, f"Vosk backend not importable: {err}"
    path = find_vosk_model(load_config(None).deployment)
    if path is None or not looks_french(path.name):
        return None, "no French Vosk model installed (`standardiste models install`): Sphinx measured only"
    return VoskRecognizer(path), ""


@pytest.fixture(params=["sphinx", "vosk"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    if request.param == "sphinx":
        rec = SphinxRecognizer(workers=2, cache_dir=tmp_path / "cache", timeout_s=30)
        await rec.warm_up()
        yield rec
        await rec.aclose()
        return
    rec, why = _french_vosk()
    if rec is None:
        unavailable_here(why)
    yield rec
    close = getattr(rec, "aclose", None) or getattr(rec, "close", None)
    if close is not None:
        result = close()
        if hasattr(result, "__await__"):
            await result


async def _score(recognizer: object, samples: list[Sample], parallel: int = 2) -> dict[str, Score]:
    """Two calls at a time, as on a real server (each sample is its own stream)."""
    scores: dict[str, Score] = collections.defaultdict(Score)
    gate = asyncio.Semaphore(parallel)

    async def one(sample: Sample) -> tuple[Sample, str]:
        async with gate:
            return sample, await recognise(recognizer, sample)

    for sample, hypothesis in await asyncio.gather(*(one(s) for s in samples)):
        if not scores[sample.group].add(sample, hypothesis):
            log.info("%s: %r -> %r", sample.group, sample.text, hypothesis)
    return scores


def _check(scores: dict[str, Score], floors: dict[tuple[str, str], float], label: str) -> None:
    report = {group: score.to_json() for group, score in sorted(scores.items())}
    print(f"\n{label}: {report}")
    failures = []
    for (group, measure), floor in floors.items():
        score = scores[group]
        value = score.exact_rate if measure == "exact" else score.slot_rate(measure)
        if value < floor:
            failures.append(f"{group}/{measure}: {value:.2f} < {floor:.2f}")
    assert not failures, f"{label} under its floors: {failures}"


async def test_accuracy_on_human_speech(backend: object, speech_corpus: list[Sample]) -> None:
    scores = await _score(backend, speech_corpus)
    _check(scores, JUNE_FLOORS, f"{backend.name} / june")  # type: ignore[attr-defined]
    total = sum(s.samples for s in scores.values())
    assert total == len(speech_corpus)


async def test_accuracy_on_the_stress_voice(backend: object, speech_corpus_armelle: list[Sample]) -> None:
    scores = await _score(backend, speech_corpus_armelle)
    _check(scores, ARMELLE_FLOORS, f"{backend.name} / armelle")  # type: ignore[attr-defined]
