"""The assistant's SVOX Pico voice over a real SIP call: real Asterisk, real pjsua2 phone, the app loading
its configured voice as in production; what the phone heard is transcribed by the Whisper base model."""

from __future__ import annotations

import asyncio

import pytest

from standardiste.dialogue import prompts
from standardiste.pbx import PbxInstance
from standardiste.speech.tts import PicoSynthesizer
from standardiste.speech.whisper_backend import WhisperEngine
from standardiste.testphone import TestPhone
from tests.fixtures.voice import AppFactory, ended_record, synth, wait_found
from tests.fixtures.voice_check import require_pico, words_for_scoring
from tests.fixtures.whisper import whisper_model_path

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.mark.alone  # a Whisper decode of what the phone heard (tests/fixtures/scheduling.py)
async def test_caller_hears_the_pico_greeting_and_understands_it(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone
) -> None:
    require_pico()
    whisper = WhisperEngine(whisper_model_path(), workers=1)
    app = await app_factory(synthesizer="pico")
    try:
        assert isinstance(app.synthesizer, PicoSynthesizer)
        text = prompts.greeting(app.config.practice, False)  # keypad-only recogniser: the long greeting
        greeting = await synth(app, text)  # from the app's cache: the very audio the call plays
        call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
        at = await wait_found(call, greeting[: 32000 * 3])
        window_s = 7.0
        async with asyncio.timeout(30):
            while call.heard_seconds() < at + window_s:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        heard = call.heard_pcm()[int(at * 16000) * 2 : int((at + window_s) * 16000) * 2]
        await call.hangup()
        await ended_record(app)
        transcript = (await asyncio.to_thread(whisper.decode, heard)).text
        print(f"\ngreeting heard at {at:.2f} s; Whisper heard: {transcript!r}")
        # The greeting's first sentence after the practice's name (Whisper base mishears "Cabinet" and
        # "Tilleuls" on any voice), as words: most must come back.
        first = text.split(".")[0].removeprefix(app.config.practice.name)
        said = words_for_scoring(first)
        got = set(words_for_scoring(transcript))
        recall = sum(w in got for w in said) / len(said)
        print(f"recall {recall:.0%} of {said}")
        assert len(said) >= 6 and recall >= 0.6, (said, transcript)
    finally:
        whisper.close()
