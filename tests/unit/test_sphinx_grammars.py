"""Grammars per question kind, the pronunciation dictionary and the patched model folder (no audio)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from standardiste.config import Config
from standardiste.dialogue.messages import Expect, Expectation
from standardiste.speech import grammars
from standardiste.speech.sphinx.lexicon import SUPPLEMENT, Lexicon, _rules
from standardiste.speech.sphinx.model import feat_params_text, prepared_model_dir, source_model_dir

GRAMMAR_KINDS = [k for k in Expect if k not in (Expect.NAME, Expect.CHOICE, Expect.PRACTITIONER)]


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load(source_model_dir() / "dict.txt")


@pytest.fixture(scope="module")
def phoneset() -> set[str]:
    return set(json.loads((source_model_dir() / "phoneset.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("kind", GRAMMAR_KINDS)
def test_every_directed_kind_has_a_small_grammar(kind: Expect) -> None:
    grammar = grammars.for_kind(kind)
    assert grammar is not None
    assert grammar.phrases and grammar.jsgf.startswith("#JSGF V1.0;")
    assert "public <answer>" in grammar.jsgf
    assert len(grammar.words) < 120  # small per question: accuracy depends on it
    assert grammars.from_phrases(grammar.phrases) is grammar  # the phrase hint gives the JSGF back


def test_no_grammar_for_names_or_open_choice() -> None:
    assert grammars.for_kind(Expect.NAME) is None
    assert grammars.phrases_for(Expect.NAME) == ()
    assert grammars.from_phrases(None) is None
    assert grammars.from_phrases([]) is None


def test_practitioner_grammar_comes_from_the_practice(demo_config: Config) -> None:
    grammar = grammars.for_kind(Expect.PRACTITIONER, demo_config.practice)
    assert grammar is not None
    for phrase in ("docteur claire martin", "docteur benali", "lefèvre", "la pédiatre", "peu importe"):
        assert phrase in grammar.phrases
    assert grammars.from_phrases(grammar.phrases) is grammar
    assert grammars.for_kind(Expect.PRACTITIONER) is None  # no practice: nothing to list


def test_question_phrases_win_over_the_kind() -> None:
    expect = Expectation(kind=Expect.CHOICE, phrases=("Le matin", "L'après-midi !"))
    grammar = grammars.for_expectation(expect)
    assert grammar is not None
    assert "le matin" in grammar.jsgf and "l'après-midi" in grammar.jsgf
    assert grammar.words == {"le", "matin", "l'après-midi"}
    only_unk = grammars.from_phrases(["[unk]"])
    assert only_unk is None


def test_jsgf_words_are_only_those_reachable() -> None:
    phone = grammars.for_kind(Expect.PHONE)
    assert phone is not None
    assert "lundi" not in phone.words and "janvier" not in phone.words  # shared rules left out
    assert {"zéro", "six", "quatre-vingt", "soixante"} <= phone.words
    assert "+" not in phone.jsgf.split("public")[1]  # exactly five pairs or ten digits: no loop
    time = grammars.for_kind(Expect.TIME)
    assert time is not None and {"heures", "midi", "quart", "demie"} <= time.words


def test_to_text_tidies_decoder_output() -> None:
    raw = "<s> lundi(2) <sil> quatorze heures [NOISE] trente </s>"
    assert grammars.to_text(raw) == "lundi quatorze heures trente"
    assert grammars.to_text("") == ""


@pytest.mark.parametrize("kind", GRAMMAR_KINDS)
def test_every_grammar_word_gets_valid_phones(kind: Expect, lexicon: Lexicon, phoneset: set[str]) -> None:
    grammar = grammars.for_kind(kind)
    assert grammar is not None
    text, added = lexicon.trimmed(grammar.words)
    lines = [line.split() for line in text.splitlines() if line.strip()]
    listed = {line[0].split("(")[0] for line in lines}
    assert listed == set(grammar.words)
    for line in lines:
        assert line[1:] and set(line[1:]) <= phoneset, line
    assert len(added) <= 3  # nearly everything comes from the real dictionary


def test_supplement_and_guessed_pronunciations(lexicon: Lexicon, phoneset: set[str]) -> None:
    for word in ("appuyez", "composez", "veuillez", "dièse", "allo"):
        assert word in SUPPLEMENT and word in lexicon
    assert "in" in lexicon.pronunciations("un")  # added variant, the real ones kept
    assert "un" in lexicon.pronunciations("un")
    for word in ("benalou", "nguyen", "chevalier", "d'ouverture", "qu'aujourd'hui", "rendez-vous-là"):
        pron = lexicon.guess(word)
        assert pron and set(pron.split()) <= phoneset, (word, pron)
    assert lexicon.guess("l'adresse").startswith("ll ")
    assert _rules("martin") == "mm aa rr tt in"


def test_patched_model_has_no_cmn_or_noise_override(tmp_path: Path) -> None:
    text = feat_params_text(source_model_dir())
    assert "-cmn" not in text and "-remove_noise" not in text
    assert "-upperf 3700" in text and "-feat 1s_c_d_dd" in text
    first = prepared_model_dir(tmp_path)
    assert (first / "feat.params").read_text(encoding="utf-8") == text
    assert (first / "noisedict").exists() and (first / "mdef").exists()
    assert prepared_model_dir(tmp_path) == first  # made once


def test_hint_gives_every_question_its_grammar(demo_config: Config) -> None:
    practice = demo_config.practice
    assert grammars.hint(None) is None
    assert grammars.hint(Expectation(Expect.NAME)) is None
    date_time = grammars.hint(Expectation(Expect.DATE_TIME, digits=1))
    assert date_time is not None and "lundi" in date_time
    assert grammars.from_phrases(date_time) is grammars.for_kind(Expect.DATE_TIME)
    assert grammars.hint(Expectation(Expect.CHOICE, ("oui", "annuler"))) == ["oui", "annuler"]
    names = grammars.hint(Expectation(Expect.PRACTITIONER), practice)
    assert names is not None and "docteur benali" in names
    assert grammars.hint(Expectation(Expect.OPEN)) is None  # open vocabulary stays open


def test_structured_day_grammars_have_a_flat_fallback() -> None:
    for kind in (Expect.DAY, Expect.DATE_TIME):
        grammar = grammars.for_kind(kind)
        assert grammar is not None and grammar.fallback_jsgf is not None
        flat = grammars.jsgf_words(grammar.fallback_jsgf)
        assert "lundi" in flat and "demain" in flat and "cinq" not in flat
        assert set(flat) <= grammar.all_words
    phone = grammars.for_kind(Expect.PHONE)
    assert phone is not None and phone.fallback_jsgf is None


def test_odd_names_in_the_configuration_give_clean_words(demo_config: Config) -> None:
    odd = {"name": "Dr Jean-Pierre O'Brien (ORL) - 2e", "aliases": ["--", "'", "Ω"]}
    first = demo_config.practice.practitioners[0].model_copy(update=odd)
    practice = demo_config.practice.model_copy(update={"practitioners": [first]})
    grammar = grammars.practitioners(practice)
    assert "dr jean-pierre o'brien orl e" in grammar.phrases
    assert all(w[0].isalpha() for w in grammar.words)


def test_sorted_lexicon_searched_in_place_matches_the_dictionary(tmp_path: Path, lexicon: Lexicon) -> None:
    from standardiste.speech.sphinx.model import LEXICON_FILE

    in_place = Lexicon.open(prepared_model_dir(tmp_path) / LEXICON_FILE)
    for word in ("lundi", "quatorze", "quatre-vingt", "aujourd'hui", "un", "appuyez", "zzzz", "a", "été"):
        assert sorted(in_place.pronunciations(word)) == sorted(lexicon.pronunciations(word)), word
    assert "zzzz" not in in_place and "lundi" in in_place
