"""CallSession with a recorded call (privacy.record_audio): the notice statement, keys pressed during
it, and the recording's name kept for the call log. Doubles from test_telephony_session (the leg
stands for Asterisk; the real one is in tests/integration/test_call_recording.py)."""

from __future__ import annotations

from standardiste.dialogue.messages import Action, CallerEvent, CallStarted, Keypad, Say, Transfer
from standardiste.dialogue.prompts import RECORDING_NOTICE
from tests.unit.test_telephony_session import MENU, Harness

GREETING = "Bonjour, cabinet des Tilleuls."


def announced(event: CallerEvent) -> list[Action]:
    if isinstance(event, CallStarted):
        return [Say(RECORDING_NOTICE, interruptible=False), Say(GREETING, expect=MENU)]
    if isinstance(event, Keypad) and event.digits == "0":
        return [Transfer()]
    return []


async def test_notice_then_greeting_and_recording_name_kept() -> None:
    h = Harness(announced)
    h.leg.recording = "appel-chan-1-abcd1234"  # type: ignore[attr-defined]  # set by AriCallLeg when recording
    h.start()
    await h.until(lambda: len(h.leg.played) == 2)
    assert h.leg.played == [len(RECORDING_NOTICE), len(GREETING)]  # in this order, both whole
    h.session.digit("0")
    await h.until(lambda: bool(h.leg.transfers))
    h.session.hung_up()
    record = await h.finish()
    assert record.recording == "appel-chan-1-abcd1234"
    assert h.logged[-1][1].recording == "appel-chan-1-abcd1234"


async def test_key_during_the_notice_skips_the_greeting() -> None:
    h = Harness(announced)
    h.start()
    await h.until(lambda: h.leg.playing.is_set())
    h.session.digit("0")  # while the notice plays: not cut, but the menu need not be read
    await h.until(lambda: bool(h.leg.transfers))
    assert h.leg.played == [len(RECORDING_NOTICE)]  # the notice whole, nothing else
    assert GREETING not in h.synth.texts
    h.session.hung_up()
    record = await h.finish()
    assert "keypad:0" in record.path
    assert record.recording is None  # a leg that does not record
