"""End to end over a real SIP call: the booking flow gets the day and time by voice alone, with the
PocketSphinx French grammar recogniser, from human French recordings (Debian asterisk-core-sounds-fr-wav)
played by the test phone into a real Asterisk.

The menu and the practitioner are chosen by keypad (no human recording of "rendez-vous" or the doctors'
names exists here); the day and time ("lundi quatorze heures trente") are spoken, on a Monday morning:
a bare weekday said that same weekday means next week's, confirmed with its date.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from standardiste.dialogue.messages import Conversation
from standardiste.pbx import PbxInstance
from standardiste.speech.audio import silence
from standardiste.speech.sphinx import SphinxRecognizer
from standardiste.testphone import TestPhone
from tests.fixtures.clock import PARIS, running_from
from tests.fixtures.parts import require_part
from tests.fixtures.speech_corpus import utterance, voice_dir
from tests.fixtures.voice import AppFactory, ended_record, synth, wait_found

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(240)]

MONDAY_9H = dt.datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)


async def _assistant_says(conversation: Conversation, fragment: str, limit_s: float = 30.0) -> str:
    async with asyncio.timeout(limit_s):
        while True:
            said = [u.text for u in conversation.transcript if u.speaker == "assistant"]
            if said and fragment.lower() in said[-1].lower():
                return said[-1]
            await asyncio.sleep(0.1)


async def test_booking_day_and_time_by_voice_with_sphinx(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone, tmp_path: Path
) -> None:
    require_part(voice_dir("june"), "Debian package asterisk-core-sounds-fr-wav", "scripts/apt-packages.txt")
    recognizer = SphinxRecognizer(workers=1, cache_dir=tmp_path / "sphinx")
    await recognizer.warm_up()
    app = await app_factory(recognizer=recognizer, clock=running_from(MONDAY_9H))
    # The session gives the recogniser each question's grammar (speech.grammars.hint); we only keep
    # a handle on the conversation to follow what the assistant says.
    conversations: list[Conversation] = []
    plain = app.new_conversation

    def recorded(open_speech: bool, practice: Any = None, spoken_name: Any = None) -> Conversation:
        conversation = plain(open_speech, practice, spoken_name)
        conversations.append(conversation)
        return conversation

    app.new_conversation = recorded  # type: ignore[method-assign]
    try:
        call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
        await call.wait_sound(timeout=10)
        assert conversations, "the call did not reach the dialogue"
        conversation = conversations[0]
        await call.send_dtmf("2")  # book an appointment
        await _assistant_says(conversation, "quel médecin")
        await call.send_dtmf("1")  # Dr Martin
        question = await _assistant_says(conversation, "pour quand")
        prompt = await synth(app, question)
        start = await wait_found(call, prompt[: 32000 * 2], limit_s=30)
        # Let the question finish, then answer like a caller, in a human voice.
        await asyncio.sleep(max(0.0, start + len(prompt) / 32000 - call.heard_seconds()) + 0.5)
        answer = utterance(["lundi", "quatorze", "heures", "trente"])
        await call.play_pcm(silence(300) + answer + silence(1200), wait=True)
        confirmation = await _assistant_says(conversation, "j'ai compris", limit_s=30)
        heard = [u.text for u in conversation.transcript if u.speaker == "caller"]
        print(f"\ncaller heard as: {heard[-1]!r}; assistant: {confirmation!r}")
        # Said on Monday 7 December: Monday the 14th, never "aujourd'hui".
        assert "lundi quatorze décembre" in confirmation and "quatorze heures trente" in confirmation
        assert "aujourd'hui" not in confirmation
        await call.send_dtmf("1")  # yes
        offer = await _assistant_says(conversation, "quatorze heures trente", limit_s=30)
        print(f"offer: {offer!r}")
        await call.hangup()
        record = await ended_record(app)
        assert any(p.startswith("heard:") for p in record.path)
    finally:
        await recognizer.aclose()
