"""Words that only SOUND like a red flag in a recogniser's transcript: one check question, never more.

The layer (understanding/soundalike.py) on its own, then in the dialogue with the real understanding
engine and agenda: a spoken "je sais ni énormément" in the middle of a booking asks "is it an emergency?";
typed text, exact red flags, routine sentences and negations are left alone.
"""

from __future__ import annotations

import datetime as dt

import pytest

from standardiste.dialogue.messages import Expect, Heard, OutcomeKind, Say, Transfer
from standardiste.understanding.normalize import digits, fold, lower, without_fillers
from standardiste.understanding.soundalike import key, loose, sounds_like_red_flag
from standardiste.understanding.urgency import default_net
from tests.unit.test_dialogue_safety import (
    Call,
    assert_vital,
    at_birth_date_question,
    at_practitioner_question,
)
from tests.unit.tests_mishearings import MISHEARINGS


def folded(text: str) -> str:
    return fold(digits(without_fillers(lower(text)))).text


def test_phonetic_key_hears_the_split_word() -> None:
    assert key("saigne") == key("seigne")
    assert key("sais") + key("ni") == key("saigne")
    assert key("poids") + key("trine") == key("poitrine")
    assert key("in") + key("conscient") == key("inconscient")


def test_loose_key_merges_what_the_telephone_confuses() -> None:
    assert loose(key("boitrine")) == loose(key("poitrine"))  # voicing
    assert loose(key("emouragie")) == loose(key("hemorragie"))  # "o" / "ou"
    assert loose(key("me repond plus")) == loose(key("ne repond plus"))  # m / n (the words glued)
    assert loose(key("cinema")) != loose(key("saignement"))  # far sounds stay apart (a heard form, below)


@pytest.mark.parametrize(("said", "flag"), MISHEARINGS)
def test_whisper_mishearings_of_red_flags_sound_like_one(said: str, flag: str) -> None:
    text = folded(said)
    assert default_net().assess(text).level is None  # the rules alone miss it: why this layer exists
    hit = sounds_like_red_flag(text)
    assert hit is not None and hit.flag == flag, (said, hit)


@pytest.mark.parametrize(
    "said",
    [
        "je voudrais un rendez-vous avec le docteur martin jeudi matin",
        "c'est ni trop tôt ni trop tard pour moi",
        "je sais pas si c'est possible",
        "il saigne un peu du nez",  # the right spelling: the rules read it, with its qualifiers
        "une radio de la poitrine pour le certificat",
        "je voudrais respirer un peu avant de répondre",
        "pas de saignement",
        "il n'a jamais été paralysé",
        "respectez les horaires s'il vous plaît",
        "ça se passe bien merci",
        "dupont marie quinze mars mille neuf cent quatre-vingt-cinq",
        "je sais ni le jour ni l'heure",  # "sais ni" without any intensifier: too common to ask
        "je ne sais ni lire ni écrire très bien",
        # Words Whisper writes for red-flag words, in routine talk (bench/bench_spoken_safety.py):
        # a heard form counts only with its cue, and the repaired turn must still be a red flag.
        "je sors du cinéma je voulais un rendez-vous pour demain",
        "mardi je vais au cinéma plutôt mercredi alors",
        "j'aime énormément aller au cinéma",
        "un cinéma important",
        "c'est sain de marcher le docteur me l'a dit",
        "c'est sain de boire beaucoup d'eau",
        "j'ai le sentiment que ça n'arrête pas",
        "il n'arrête pas de signer des papiers",
        "elle a perdu le son de la télé",
        "il y a beaucoup de son sur la ligne",
        "j'ai du mal à retirer mon ordonnance",
        "son front est bouillant",
        "ma gencive saigne un peu quand je me brosse les dents",
        "le docteur ne me répond plus",
        "je t'aime beaucoup",
        "",
    ],
)
def test_routine_or_exact_or_negated_words_do_not_sound_like_a_red_flag(said: str) -> None:
    assert sounds_like_red_flag(folded(said)) is None


def test_words_split_in_two_are_glued_back_and_the_rules_decide() -> None:
    hit = sounds_like_red_flag(folded("mon mari n arri ve plus a respir er"))
    assert hit is not None and hit.flag == "breathing"
    # The qualifiers are glued back too: a split negation or history still silences the flag.
    assert sounds_like_red_flag(folded("il n a jam ais fait de con vulsions")) is None
    assert sounds_like_red_flag(folded("j ai des ante cedents d in farctus")) is None


def test_bounded_on_a_runaway_transcript() -> None:
    assert sounds_like_red_flag("sais ni enormement " * 300) is not None  # the head is read
    assert sounds_like_red_flag("sais ni " * 1000 + "enormement") is None  # the cue is past the limit
    assert sounds_like_red_flag("a b c " * 2000) is None


@pytest.fixture
def call(simulator, understander) -> Call:  # type: ignore[no-untyped-def]
    return Call(simulator, understander)


def say_spoken(call: Call, text: str, open_text: str | None = None) -> list:  # type: ignore[type-arg]
    call.now += dt.timedelta(seconds=5)
    return call.manager.handle(Heard(text, call.now, 0.6, open_text, from_recognizer=True))


def test_spoken_mishearing_mid_booking_asks_the_one_check_question(call: Call) -> None:
    at_birth_date_question(call)
    asked = say_spoken(call, "je sais ni énormément")
    assert "urgence" in asked[0].text and asked[0].expect.kind == Expect.YES_NO
    assert call.manager.question is not None and call.manager.question.name == "emergency_confirm"
    assert not any(isinstance(a, Transfer) for a in asked)  # never vital by itself
    assert "sounds_like:bleeding" in call.manager.core.state.path
    assert_vital(say_spoken(call, "oui"), call)


def test_check_denied_goes_back_to_the_booking(call: Call) -> None:
    at_practitioner_question(call)
    say_spoken(call, "il est in conscient")
    back = say_spoken(call, "non")
    assert call.manager.outcome is None
    assert back[0].expect.kind == Expect.PRACTITIONER


def test_open_words_behind_a_grammar_answer_are_heard_too(call: Call) -> None:
    at_practitioner_question(call)
    asked = say_spoken(call, "le premier", open_text="le premier il con vulse")
    assert call.manager.question is not None and call.manager.question.name == "emergency_confirm", asked


def test_the_classifiers_half_guess_does_not_silence_the_layer_at_a_slot_question(call: Call) -> None:
    """Mid-booking, the classifier's weak emergency guess (a check level with no red flag, under the slot
    questions' bar) used to stand in for the rules, and "je sais ni énormément" went unheard."""
    at_birth_date_question(call)
    u = call.manager.core.services.understander.parse("ma mère s'était vanouille", call.now)
    assert u.red_flag is None and u.emergency_rule is None  # the rules find nothing
    asked = say_spoken(call, "ma mère s'était vanouille")
    assert call.manager.question is not None and call.manager.question.name == "emergency_confirm", asked
    assert "sounds_like:unconscious" in call.manager.core.state.path


def test_the_missed_emergency_of_the_spoken_calls_is_heard_mid_booking(call: Call) -> None:
    """bench/results/spoken_calls.md: MBROLA's "je saigne énormément ... le saignement" heard so."""
    at_practitioner_question(call)
    heard = "En fait, je sain d'énormément, je n'arrive pas à arrêter le cinéma."
    asked = say_spoken(call, heard)
    assert call.manager.question is not None and call.manager.question.name == "emergency_confirm", asked
    assert not any(isinstance(a, Transfer) for a in asked)  # a sound alone: the check question only
    assert_vital(say_spoken(call, "oui"), call)


def test_typed_text_is_not_read_for_sounds(call: Call) -> None:
    at_practitioner_question(call)
    asked = call.say("je sais ni énormément")  # Heard without from_recognizer: typed or scripted text
    assert call.manager.question is None or call.manager.question.name != "emergency_confirm", asked


def test_an_exact_red_flag_stays_vital(call: Call) -> None:
    at_practitioner_question(call)
    actions = say_spoken(call, "je saigne énormément")
    assert_vital(actions, call)
    assert call.manager.outcome is not None
    assert call.manager.outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED
    assert isinstance(actions[0], Say)
