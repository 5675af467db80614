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
