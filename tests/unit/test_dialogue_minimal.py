"""The minimal conversation of the voice loop (issue 2): greeting, hours, a human, silence, hang-up.

DialogueManager driven directly with the real understanding engine. The agenda and inbox are a
guard (not a fake): these flows must never touch them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import (
    CallerHungUp,
    CallStarted,
    Hangup,
    Heard,
    Keypad,
    NoInput,
    OutcomeKind,
    Say,
    Transfer,
    TransferFailed,
)
from standardiste.dialogue.prompts import hours_fr, number_fr, time_fr
from standardiste.dialogue.services import ConversationServices

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))  # a Tuesday, open


class Unused:
    """TEST DOUBLE: agenda/inbox the minimal flows must not touch."""

    def __getattr__(self, name: str):
        raise AssertionError(f"minimal flows must not use the agenda ({name})")


@pytest.fixture
def manager(demo_config, understander) -> DialogueManager:
    services = ConversationServices(demo_config.practice, understander, Unused(), Unused())
    return DialogueManager(services)


def start(manager: DialogueManager, **kw) -> list:
    return manager.handle(CallStarted("c1", NOW, caller_id="+33612345678", **kw))


def test_french_numbers_and_times():
    assert number_fr(24) == "vingt-quatre"
    assert number_fr(71) == "soixante et onze"
    assert number_fr(80) == "quatre-vingts"
    assert number_fr(1985) == "mille neuf cent quatre-vingt-cinq"
    assert time_fr(dt.time(14, 30)) == "quatorze heures trente"
    assert time_fr(dt.time(12, 0)) == "midi"
    assert time_fr(dt.time(1, 0)) == "une heure"


def test_hours_are_read_from_config(demo_config):
    assert hours_fr(demo_config.practice.hours) == (
        "du lundi au vendredi de huit heures trente à douze heures trente et de quatorze heures à "
        "dix-neuf heures, le samedi de neuf heures à midi, fermé le dimanche"
    )


def test_greeting(manager):
    actions = start(manager)
    assert len(actions) == 1 and isinstance(actions[0], Say)
    text = actions[0].text
    # Open recognition: short (practice, assistant, one question); the keypad menu only after a failure.
    assert (
        text
        == "Cabinet médical des Tilleuls, bonjour, je suis l'assistant vocal. Que puis-je faire pour vous ?"
    )
    assert "tapez" not in text.lower()
    assert actions[0].expect is not None
    again = manager.handle(Heard("", NOW))[0].text  # spoke, not understood
    assert again.startswith("Excusez-moi, je n'ai pas bien compris.") and "entends" not in again
    assert "Tapez 1 pour les horaires" in again and "0 pour parler au secrétariat" in again


def test_silence_is_no_input(manager):
    start(manager)
    assert manager.handle(NoInput(NOW))[0].text.startswith("Je ne vous entends pas.")


def test_greeting_without_open_speech(demo_config, understander):
    services = ConversationServices(demo_config.practice, understander, Unused(), Unused(), open_speech=False)
    text = DialogueManager(services).handle(CallStarted("c1", NOW))[0].text
    assert "clavier" in text and "Tapez 1 pour les horaires" in text


@pytest.mark.parametrize("event", [Heard("quels sont vos horaires", NOW), Keypad("1", NOW)])
def test_hours_by_voice_or_key(manager, event):
    start(manager)
    actions = manager.handle(event)
    assert "du lundi au vendredi de huit heures trente" in actions[0].text
    assert "autre chose" in actions[0].text
    bye = manager.handle(Heard("non merci", NOW))
    assert isinstance(bye[-1], Hangup)
    assert manager.outcome.kind == OutcomeKind.ANSWERED


@pytest.mark.parametrize("event", [Heard("je voudrais parler à quelqu'un", NOW), Keypad("0", NOW)])
def test_human_by_voice_or_key(manager, event):
    start(manager)
    actions = manager.handle(event)
    assert isinstance(actions[-1], Transfer) and actions[-1].target == "reception"
    assert manager.outcome.kind == OutcomeKind.TRANSFERRED


def test_silence_reprompts_then_transfers(manager):
    start(manager)
    first = manager.handle(NoInput(NOW))
    assert isinstance(first[0], Say) and "Tapez 1" in first[0].text
    second = manager.handle(NoInput(NOW))
    assert isinstance(second[-1], Transfer)
    assert manager.outcome.kind == OutcomeKind.TRANSFERRED


def test_no_match_reprompts_then_transfers(manager):
    start(manager)
    assert isinstance(manager.handle(Heard("blablabla", NOW))[0], Say)
    assert isinstance(manager.handle(Heard("gloubi", NOW))[-1], Transfer)


def test_hangup_is_abandoned_or_what_was_achieved(manager, demo_config, understander):
    start(manager)
    assert manager.handle(CallerHungUp(NOW)) == []
    assert manager.outcome.kind == OutcomeKind.ABANDONED
    services = ConversationServices(demo_config.practice, understander, Unused(), Unused())
    other = DialogueManager(services)
    start(other)
    other.handle(Keypad("1", NOW))
    other.handle(CallerHungUp(NOW))
    assert other.outcome.kind == OutcomeKind.ANSWERED


def test_emergency_rule_transfers_with_priority_then_15(manager):
    start(manager)
    actions = manager.handle(Heard("j'ai une douleur dans la poitrine", NOW))
    assert isinstance(actions[-1], Transfer) and actions[-1].priority
    after = manager.handle(TransferFailed(NOW))
    assert "composez le 15" in after[0].text and isinstance(after[-1], Hangup)
    assert manager.outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED


def test_transcript_records_both_sides(manager):
    start(manager)
    manager.handle(Keypad("1", NOW))
    speakers = [u.speaker for u in manager.transcript]
    assert speakers == ["assistant", "caller", "assistant"]
