"""The spoken-call harness's caller side (tests/fixtures/spoken_calls.py): what a caller pronounces for a
script's written turn, and which synthetic voice each call speaks with."""

from __future__ import annotations

from tests.fixtures.caller_voice import CALLER_VOICES
from tests.fixtures.spoken_calls import _turn_source, as_said, load_scripts


def test_written_forms_are_said_as_a_caller_says_them() -> None:
    assert as_said("je veux annuler mon rdv") == "je veux annuler mon rendez-vous"
    # A name spelled letter by letter: the letters' French names, with pauses (Pico and MBROLA read
    # "P A U L" as a word).
    assert as_said("P A U L") == "pé, a, u, elle."
    assert as_said("D U R A N T") == "dé, u, erre, a, enne, té."
    assert as_said("dupont marie") == "dupont marie"


def test_calls_alternate_the_synthetic_caller_voices() -> None:
    scripts = load_scripts()
    voices = [s["voice"] for s in scripts]
    assert set(voices) == set(CALLER_VOICES)
    for voice in CALLER_VOICES:  # about half each
        assert abs(voices.count(voice) - len(voices) / len(CALLER_VOICES)) <= 1
    assert load_scripts()[0]["voice"] == voices[0]  # stable from one run to the next


def test_turn_source_names_the_voice() -> None:
    assert _turn_source("je voudrais un rendez-vous", "mbrola") == "mbrola"
    assert _turn_source("#1", "mbrola") == "keypad"
    assert _turn_source("jeudi", "mbrola") == "human"  # Debian's human recording of the word


def test_the_score_checks_every_expected_key_the_harness_can_play() -> None:
    """A booking at another hour than the script's is a failure, not a success (the text channel scores
    the same keys); a script's "transferred": false (no reception) is not played by the spoken harness."""
    from tests.fixtures.spoken_calls import outcome_problems

    expect = {"kind": "booked", "practitioner": "martin", "start": "2026-11-26T08:30:00+01:00"}
    right = {"kind": "booked", "practitioner": "martin", "start": "2026-11-26T07:30:00+00:00"}
    assert outcome_problems(expect, right) == []  # the same instant
    wrong = {**right, "start": "2026-11-26T09:00:00+01:00"}
    assert outcome_problems(expect, wrong) == [
        "start: expected '2026-11-26T08:30:00+01:00', got '2026-11-26T09:00:00+01:00'"
    ]
    assert outcome_problems({"kind": "answered", "topic": "parking"}, {"kind": "answered", "topic": "x"})
    no_reception = {"kind": "emergency_transferred", "transferred": False}
    assert outcome_problems(no_reception, {"kind": "emergency_transferred", "transferred": True}) == []


def test_an_unplanned_recap_is_confirmed_only_when_it_is_the_booking_wanted() -> None:
    from tests.fixtures.spoken_calls import recap_is_wanted

    spec = {"expect": {"kind": "booked", "practitioner": "martin", "start": "2026-11-26T08:30:00+01:00"}}
    said = (
        "Je récapitule : une consultation avec le docteur Martin, le jeudi vingt-six novembre à huit heures "
        "trente, pour Marie Dupont. Je confirme ce rendez-vous ?"
    )
    assert recap_is_wanted(spec, "recap", said)
    assert not recap_is_wanted(spec, "recap", said.replace("huit heures trente", "neuf heures"))
    assert not recap_is_wanted(spec, "recap", said.replace("Martin", "Benali"))
    assert recap_is_wanted(spec, "check_birth_date", "Vous êtes né le ... ?")  # not a recap
    assert recap_is_wanted({"expect": {"kind": "booked"}}, "recap", said)  # nothing to check against


def test_asked_when_the_caller_repeats_the_day_of_their_first_sentence() -> None:
    from tests.fixtures.spoken_calls import time_wanted

    assert time_wanted({"turns": ["je voudrais voir le docteur martin jeudi dans la matinée"]}) == (
        "jeudi dans la matinée"
    )
    assert time_wanted({"turns": ["un rendez-vous avec le docteur benali le plus tôt possible"]}) == (
        "le plus tôt possible"
    )
    afternoon = {"turns": ["bonjour je voudrais voir un médecin demain après-midi"]}
    assert time_wanted(afternoon) == "demain après-midi"
    move = {"turns": ["je voudrais déplacer mon rendez-vous de vendredi à lundi après-midi"]}
    assert time_wanted({**move, "expect": {"kind": "rescheduled"}}) == "lundi après-midi"
    assert time_wanted({"turns": ["je voudrais un rendez-vous"]}) is None
    assert time_wanted({"turns": ["#1"]}) is None


def test_not_understood_at_the_greeting_the_caller_says_their_goal_simply() -> None:
    from tests.fixtures.spoken_calls import goal_words

    assert goal_words({"expect": {"kind": "cancelled"}}) == "annuler un rendez-vous"
    assert goal_words({"expect": {"kind": "booked", "practitioner": "martin"}}) == "prendre rendez-vous"
    assert goal_words({"expect": {"kind": "answered", "topic": "hours"}}) == "les horaires"
    assert goal_words({"expect": {"kind": "request_filed", "request_type": "test_results"}}) == (
        "des résultats d'examen"
    )
    assert goal_words({"expect": {"kind": "answered", "topic": "tiers_payant"}}) is None  # no short form
    assert goal_words({"expect": {"kind": "emergency_transferred"}}) is None
    assert goal_words({"expect": {"kind": "transferred"}}) is None
    no_upcoming = {"turns": ["annulez mon rendez-vous s'il vous plaît"], "expect": {"kind": "answered"}}
    assert goal_words(no_upcoming, "cancel_or_move") == "annuler"


def test_asked_which_doctor_the_caller_names_the_one_they_asked_for() -> None:
    from tests.fixtures.spoken_calls import _doctor_wanted

    refuses = {"turns": ["je voudrais un rendez-vous avec le docteur benali vendredi matin"]}
    assert _doctor_wanted({**refuses, "expect": {"kind": "abandoned"}}) == "le docteur benali"
    assert _doctor_wanted({"turns": ["bonjour"], "expect": {"kind": "booked"}}) == "peu importe"
    assert _doctor_wanted({"turns": ["annuler"], "expect": {"kind": "cancelled"}}) is None
