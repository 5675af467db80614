"""The test phone frees pjsua's media slots: a player per sentence played and a recorder per call are
destroyed once done, so a phone can play many sentences and place many calls (pjsua allows 32 players and
32 recorders per process; the spoken-call bench ran out at its 8th call: PJ_ETOOMANY)."""

from __future__ import annotations

import asyncio

import pytest

from standardiste.pbx import PbxInstance
from standardiste.testphone.audio import tone
from tests.fixtures.pbx import PhoneFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(180)]


async def test_many_sentences_and_calls_do_not_exhaust_pjsua(
    pbx: PbxInstance, phone_factory: PhoneFactory
) -> None:
    await phone_factory(pbx.reception)  # answers at once (no controller: the practice number rings it)
    caller = await phone_factory(pbx.phone("caller1"))
    hub = caller._hub

    def media() -> int:  # players and recorders the hub still holds (the calls' own objects aside)
        return sum(1 for o in hub.objects if type(o).__name__ in ("AudioMediaPlayer", "AudioMediaRecorder"))

    beep = tone(440.0, 0.04)
    for round_ in range(3):
        call = await caller.call(pbx.practice_extension, answer_timeout=15)
        for _ in range(14):  # 42 sentences in all: more than pjsua's 32 players
            await call.play_pcm(beep, wait=True)
        await call.hangup()
        await asyncio.sleep(0.6)  # the media are freed on the hub thread just after the call ends
        assert media() == 0, f"round {round_}: {media()} players or recorders kept"
