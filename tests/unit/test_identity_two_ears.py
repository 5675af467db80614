"""A spoken name heard by two ears (issue 19): Whisper's transcript matched by sound, and PocketSphinx held to
a grammar of the candidates' names with a garbage path, run on the kept audio. Real PocketSphinx, real
SVOX Pico speech through G.711, real dialogue with the simulator's SQLite agenda."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from standardiste.agenda.model import Patient
from standardiste.agenda.sealed import civility_of
from standardiste.dialogue import prompts as P
from standardiste.dialogue.manager import DialogueManager
from standardiste.identity.matching import NameMatch, rank
from standardiste.identity.spelling import parse_spelling
from standardiste.identity.voice import SphinxNameEar, combine, from_grammar, wav_listener
from standardiste.speech import grammars
from standardiste.speech.audio import lin_to_ulaw, resample, silence, ulaw_to_lin, wav_bytes
from standardiste.speech.pico import PicoEngine
from standardiste.speech.sphinx import garbage
from tests.unit.test_dialogue_identity_voice import HUSBAND, TEXIER, Call, to_name

MONIQUE = Patient("p1", "Texier", "Monique", dt.date(1955, 3, 5), "+33612345678")
JEAN = Patient("p2", "Texier", "Jean", dt.date(1950, 1, 1), "+33612345678")
LEA = Patient("p3", "Richard", "Léa", dt.date(1955, 3, 5), None)
POOL = [MONIQUE, JEAN, LEA]


def with_kept_name(call: Call, spoken: bytes) -> Call:
    """The call's dialogue with `spoken` (slin16) as the kept audio of the caller's name."""
    kept = wav_bytes(spoken)
    call.manager = DialogueManager(dataclasses.replace(call.manager.services, spoken_name=lambda: kept))
    return call


@pytest.fixture(scope="module")
def line_voice() -> Any:
    """Pico's French through the phone line (8 kHz G.711 mu-law and back to 16 kHz)."""
    pico = PicoEngine()

    def say(text: str) -> bytes:
        pcm = silence(300) + pico.synthesize(text) + silence(500)
        pcm8 = resample(pcm, 16_000, 8_000)
        return resample(ulaw_to_lin(lin_to_ulaw(pcm8)), 8_000, 16_000)

    yield say
    pico.close()


@pytest.fixture(scope="module")
def ear() -> SphinxNameEar:
    return SphinxNameEar()


def test_the_names_grammar_is_flat_so_it_gets_a_garbage_path() -> None:
    grammar = grammars.patient_names([("Texier", "Monique"), ("Le Gall", "Jean-Pierre")])
    assert garbage.is_flat(grammar.jsgf)
    assert {"texier monique", "monique texier", "texier", "le gall jean-pierre", "le gall"} <= set(
        grammar.phrases
    )
    assert "m'appelle" in grammar.words and "bonjour" in grammar.words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("je m'appelle monique texier", "p1"),
        ("oui texier jean bonjour", "p2"),
        ("richard", "p3"),  # the only Richard
        ("texier", None),  # two Texier: the last name alone chooses nobody
        ("", None),  # rejected by the garbage path
    ],
)
def test_the_grammar_hypothesis_names_one_patient_or_nobody(text: str, expected: str | None) -> None:
    found = from_grammar(text, POOL)
    assert (found.id if found else None) == expected


def fake_phonemes(text: str) -> str:
    return text.lower().replace(" ", "")


def test_both_ears_agreeing_say_the_name_back() -> None:
    match = rank("Texier Monique", POOL, "+33612345678", MONIQUE.birth_date, phonemize=fake_phonemes)
    heard = combine(match, "texier monique", POOL)
    assert heard.patient == MONIQUE and heard.how == "agree"


def test_the_grammar_finds_a_name_whisper_garbled() -> None:
    match = rank("T'exhypons-y", POOL, "+33612345678", MONIQUE.birth_date, phonemize=fake_phonemes)
    assert match.say_back is None
    heard = combine(match, "texier monique", POOL, caller_phone="+33612345678")
    assert heard.patient == MONIQUE and heard.how == "grammar"


def test_the_grammar_alone_does_not_name_a_stranger_born_the_same_day() -> None:
    """Whisper lost the name and the grammar forced it onto the one patient born that day, who does not
    share the caller's number and sounds nothing like the transcript: nobody is said back."""
    match = NameMatch("pour choisir cela", ())  # nobody sounds like it
    heard = combine(match, "richard léa", [LEA], caller_phone="+33700000000")
    assert heard.patient is None and heard.how == "unsupported"


def test_whisper_alone_when_the_grammar_rejects() -> None:
    match = rank("Texier Monique", POOL, "+33612345678", MONIQUE.birth_date, phonemize=fake_phonemes)
    heard = combine(match, "", POOL)
    assert heard.patient == MONIQUE and heard.how == "open"
    assert combine(match, None, POOL).how == "open"


def test_ears_naming_two_different_patients_say_nobody_back() -> None:
    match = rank("Richard Léa", POOL, None, LEA.birth_date, phonemize=fake_phonemes)
    assert match.say_back is not None and match.say_back.patient == LEA
    heard = combine(match, "texier jean", POOL)
    assert heard.patient is None and heard.how == "disagree"


def test_pocketsphinx_hears_the_candidates_name_from_the_line(line_voice: Any, ear: SphinxNameEar) -> None:
    assert from_grammar(ear.hear(line_voice("Texier Monique."), 16_000, POOL), POOL) == MONIQUE
    assert from_grammar(ear.hear(line_voice("Je m'appelle Jean Texier."), 16_000, POOL), POOL) == JEAN


def test_pocketsphinx_rejects_a_name_that_is_none_of_the_candidates(
    line_voice: Any, ear: SphinxNameEar
) -> None:
    assert ear.hear(line_voice("Bonjour, je voudrais un rendez-vous."), 16_000, POOL) == ""
    assert from_grammar(ear.hear(line_voice("Fournier Aurélie."), 16_000, POOL), POOL) is None


def test_a_kept_wav_is_listened_to(line_voice: Any, ear: SphinxNameEar) -> None:
    listen = wav_listener(wav_bytes(line_voice("Texier Monique.")), ear)
    assert listen is not None and from_grammar(listen(POOL), POOL) == MONIQUE
    assert wav_listener(None) is None and wav_listener(b"not a wav") is None


def test_in_a_call_the_kept_audio_finds_the_name_whisper_garbled(
    simulator: Any, understander: Any, line_voice: Any
) -> None:
    couple = {"patients": [TEXIER, HUSBAND]}
    call = with_kept_name(Call(simulator, understander, couple), line_voice("Texier Monique."))
    to_name(call)
    call.hear("Tex y est mon nique")  # what Whisper may write: no patient's name by sound alone
    call.hear("le 5 mars 1955")
    assert P.is_it_you("Texier Monique") in call.hear("oui")
    assert "name_heard_grammar" in call.manager.state.path or "name_heard_agree" in call.manager.state.path


def test_a_name_whisper_dropped_is_found_in_the_kept_audio_and_still_said_back(
    simulator: Any, understander: Any, line_voice: Any
) -> None:
    couple = {"patients": [TEXIER, HUSBAND]}
    call = with_kept_name(Call(simulator, understander, couple), line_voice("Texier Monique."))
    to_name(call)
    asked = call.hear("")  # Whisper's gate dropped the name
    assert "naissance" in asked, asked
    assert "name_unheard_kept" in call.manager.state.path  # no second reading here: nothing but the audio
    call.hear("le 5 mars 1955")
    assert P.is_it_you("Texier Monique") in call.hear("oui")  # said back before anything is filed


def test_a_dropped_name_with_no_kept_audio_is_not_understood(simulator: Any, understander: Any) -> None:
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    assert "naissance" not in call.hear("")


def test_an_unmatched_caller_is_told_the_spoken_name_is_kept(
    simulator: Any, understander: Any, line_voice: Any
) -> None:
    call = with_kept_name(Call(simulator, understander, {"patients": [TEXIER]}), line_voice("Durant Paul."))
    to_name(call)
    call.hear("Durant Paul")
    assert P.name_noted("Durant Paul", kept=True) in call.hear("le 12 juin 1970") + call.hear("oui")


@pytest.mark.parametrize(
    ("text", "name"),
    [("L-E-B-R-U-N", "Lebrun"), ("P-I-C-A-R-D.", "Picard"), ("Vé-vé-a-l.", "Vval")],
)
def test_letters_whisper_joins_with_hyphens_are_letters(text: str, name: str) -> None:
    spelled = parse_spelling(text)
    assert spelled.complete and spelled.text == name
    assert not parse_spelling("Jean-Pierre").complete  # a compound first name is not spelling


def test_a_spelled_name_over_the_line_through_whisper(line_voice: Any, whisper_recognizer: Any) -> None:
    """Pico spelling "C, O, L, I, N" through G.711: Whisper writes letters joined by hyphens ("C-O-L-I-N",
    "C-U-L-U-N"), read as five letters and spelled back to the caller. Letters are hard: in a run of 10
    names per voice Whisper spelled 3-4 exactly, PocketSphinx held to a letter loop none."""
    heard = whisper_recognizer.engine.decode(line_voice("C, O, L, I, N.")).text
    spelled = parse_spelling(heard)
    assert spelled.complete and spelled.letters == 5 and spelled.text[0] == "C", heard


def test_the_name_found_is_said_back_with_the_files_civility(simulator: Any, understander: Any) -> None:
    call = Call(simulator, understander, {"patients": [{**TEXIER, "civility": "Mme"}, HUSBAND]})
    to_name(call)
    call.hear("Tessier Monique")
    call.hear("le 5 mars 1955")
    assert P.is_it_you("Madame Texier Monique") in call.hear("oui")


def test_no_civility_is_said_where_the_file_has_none(simulator: Any, understander: Any) -> None:
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    call.hear("Tessier Monique")
    call.hear("le 5 mars 1955")
    said = call.hear("oui")
    assert P.is_it_you("Texier Monique") in said and "Madame" not in said and "Monsieur" not in said


@pytest.mark.parametrize(
    ("held", "civility"),
    [("Mme", "Madame"), ("madame", "Madame"), ("F", "Madame"), ("M.", "Monsieur"), ("male", "Monsieur"),
     ("Dr", None), ("", None), (None, None)],
)  # fmt: skip
def test_civility_from_what_a_file_holds(held: str | None, civility: str | None) -> None:
    assert civility_of(held) == civility


def test_a_name_whisper_glued_into_one_word_is_found_after_the_birth_date(
    simulator: Any, understander: Any, line_voice: Any
) -> None:
    """'Routuma.' for 'Roux Thomas': one word is not refused at the name question when the audio is kept;
    the birth date narrows the file, both ears look the name up, and it is said back before anything."""
    couple = {"patients": [TEXIER, HUSBAND]}
    call = with_kept_name(Call(simulator, understander, couple), line_voice("Texier Monique."))
    to_name(call)
    asked = call.hear("Texiermonique.")
    assert "naissance" in asked, asked
    call.hear("le 5 mars 1955")
    assert P.is_it_you("Texier Monique") in call.hear("oui")


def test_a_glued_word_that_finds_nobody_is_spelled_not_said_back(
    simulator: Any, understander: Any, line_voice: Any
) -> None:
    call = with_kept_name(Call(simulator, understander, {"patients": [TEXIER]}), line_voice("Lambert Chloé."))
    to_name(call)
    call.hear("Lenvercleau.")
    reply = call.hear("le 12 juin 1970") + call.hear("oui")
    assert P.ASK_SPELLING in reply, reply
    assert "Lenvercleau" not in reply
    assert "glued_name_not_found" in call.manager.state.path


@pytest.mark.parametrize("word", ["quoi", "pardon"])
def test_a_short_word_at_the_name_question_is_not_a_name(
    simulator: Any, understander: Any, line_voice: Any, word: str
) -> None:
    call = with_kept_name(Call(simulator, understander, {"patients": [TEXIER]}), line_voice(word))
    to_name(call)
    assert "naissance" not in call.hear(word)


def test_one_word_with_no_kept_audio_is_asked_again(simulator: Any, understander: Any) -> None:
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    assert "naissance" not in call.hear("Texiermonique")  # nothing to look the name up with later
