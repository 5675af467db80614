"""privacy.record_audio: a recorded call is announced first, before the greeting (issue 6).

DialogueManager driven directly with the real understanding engine; the agenda and inbox are a
guard (not a fake): the greeting flows must never touch them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from standardiste.dialogue import prompts
from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import CallStarted, Hangup, Heard, Keypad, Say
from standardiste.dialogue.services import ConversationServices

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))  # a Tuesday, open


class Unused:
    """TEST DOUBLE: agenda/inbox the greeting must not touch."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the greeting must not use the agenda ({name})")


def manager(demo_config, understander, **kw) -> DialogueManager:
    return DialogueManager(ConversationServices(demo_config.practice, understander, Unused(), Unused(), **kw))


def test_notice_is_french_and_says_recorded():
    assert prompts.RECORDING_NOTICE == "Pour la qualité du service, cet appel est enregistré."


def test_no_notice_by_default(demo_config, understander):
    m = manager(demo_config, understander)
    actions = m.handle(CallStarted("c1", NOW))
    assert len(actions) == 1 and isinstance(actions[0], Say)
    assert actions[0].text == prompts.greeting(demo_config.practice, True)
    assert all("enregistré" not in u.text for u in m.transcript)


def test_notice_comes_first_whole_then_the_greeting(demo_config, understander):
    m = manager(demo_config, understander, recording_notice=True)
    actions = m.handle(CallStarted("c1", NOW))
    assert [type(a) for a in actions] == [Say, Say]
    notice, greeting = actions
    assert notice.text == prompts.RECORDING_NOTICE
    assert notice.interruptible is False  # the caller cannot talk over it
    assert notice.expect is None  # a statement; the greeting asks the question
    assert greeting.text == prompts.greeting(demo_config.practice, True)
    assert greeting.expect is not None
    assert [u.text for u in m.transcript[:2]] == [prompts.RECORDING_NOTICE, greeting.text]


def test_notice_with_keypad_only_recogniser(demo_config, understander):
    m = manager(demo_config, understander, recording_notice=True, open_speech=False)
    actions = m.handle(CallStarted("c1", NOW))
    assert actions[0].text == prompts.RECORDING_NOTICE
    assert actions[1].text == prompts.greeting(demo_config.practice, False)


def test_the_call_goes_on_as_usual_and_repeat_skips_the_notice(demo_config, understander):
    m = manager(demo_config, understander, recording_notice=True)
    m.handle(CallStarted("c1", NOW))
    again = m.handle(Heard("vous pouvez répéter ?", NOW))
    assert all(prompts.RECORDING_NOTICE not in a.text for a in again if isinstance(a, Say))
    hours = m.handle(Keypad("1", NOW))
    assert "du lundi au vendredi" in hours[0].text
    assert sum(u.text == prompts.RECORDING_NOTICE for u in m.transcript) == 1


def test_outbound_calls_are_announced_too(simulator, understander):
    _, agenda, inbox, _ = simulator.fresh()  # a real embedded agenda (SQLite in tmp_path)
    services = ConversationServices(simulator.practice, understander, agenda, inbox, recording_notice=True)
    m = DialogueManager(services)
    actions = m.handle(
        CallStarted("c1", NOW, direction="outbound", purpose="reminder", appointment_id="unknown")
    )
    assert isinstance(actions[0], Say) and actions[0].text == prompts.RECORDING_NOTICE
    assert isinstance(actions[-1], Hangup)
