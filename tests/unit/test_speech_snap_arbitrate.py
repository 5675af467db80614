"""Snapping an open transcript to a question's grammar by sound, and the per-question arbitration.

Pure logic with the real espeak-ng phonemiser; the transcripts are what Whisper base really wrote for human
French recordings (tests/integration/test_whisper_recognition.py measures it end to end).
"""

from __future__ import annotations

import datetime as dt

import pytest

from standardiste.dialogue.messages import Expect, Expectation, Heard
from standardiste.speech import grammars
from standardiste.speech.arbitrate import AGREED, ArbitratedStream, arbitrate
from standardiste.speech.snap import number_words, snap, spell_out
from standardiste.speech.types import Transcript


def phrases(kind: Expect) -> list[str]:
    return list(grammars.phrases_for(kind))


def test_french_number_words() -> None:
    assert number_words(0) == "zéro" and number_words(21) == "vingt et un"
    assert number_words(71) == "soixante et onze" and number_words(97) == "quatre-vingt-dix-sept"
    assert number_words(80) == "quatre-vingts" and number_words(1986) == "mille neuf cent quatre-vingt-six"


def test_spell_out_reads_whisper_digits() -> None:
    assert spell_out("Mercredi 14h45.") == "mercredi quatorze heures quarante-cinq"
    assert spell_out("0,7,37") == "zéro sept trente-sept"
    assert spell_out("06 12") == "zéro six douze"
    assert spell_out("Oui !") == "oui"


@pytest.mark.parametrize(
    ("kind", "heard", "expected"),
    [
        (Expect.DATE_TIME, "Je dis 19h15.", "jeudi dix-neuf heures quinze"),
        (Expect.DATE_TIME, "Mercredit 14h50.", "mercredi quatorze heures cinquante"),
        (Expect.DATE_TIME, "Vendre dit 13h20.", "vendredi treize heures vingt"),
        (Expect.TIME, "15h5", "quinze heures cinq"),
        (Expect.PHONE, "0,7,37,59,66,15", "zéro sept trente sept cinquante neuf soixante six quinze"),
        (Expect.BIRTH_DATE, "22 juin-1986", "vingt deux juin mille neuf cent quatre-vingt six"),
        (Expect.YES_NO, "Oui.", "oui"),
        (Expect.YES_NO, "Non merci", "non merci"),
        # "As soon as possible" is an answer to "quel jour ?" (the grammar recogniser forced it onto a date)
        (Expect.DATE_TIME, "Dès que possible.", "dès que possible"),
        (Expect.DATE_TIME, "N'importe quand.", "n'importe quand"),
    ],
)
def test_snaps_mistranscribed_answers_by_sound(kind: Expect, heard: str, expected: str) -> None:
    snapped = snap(heard, grammars.for_kind(kind))  # type: ignore[arg-type]
    assert snapped.in_grammar and snapped.text == expected


@pytest.mark.parametrize("heard", ["Samedigal.", "Sametigal", "Samite gal.", "Ça m'est égal."])
def test_any_practitioner_said_ca_m_est_egal_snaps_by_sound(heard: str) -> None:
    # Whisper's words for "ça m'est égal" said by the spoken-call callers (Pico and MBROLA fr4), at the
    # practitioner question (bench/results/spoken_calls.md, 2026-12-07): the grammar holds the phrase.
    practitioners = grammars.from_phrases(
        ("martin", "benali", "peu importe", "n'importe lequel", "ça m'est égal")
    )
    snapped = snap(heard, practitioners)
    assert snapped.in_grammar and snapped.text == "ça m'est égal"
    assert "ça m'est égal" in grammars.ANY_PRACTITIONER


@pytest.mark.parametrize(
    ("kind", "heard"),
    [
        (Expect.YES_NO, "J'ai très mal à la poitrine"),
        (Expect.DATE_TIME, "J'ai très mal à la poitrine"),
        (Expect.DATE_TIME, "I would like an appointment please"),
        (Expect.DATE_TIME, "Merci beaucoup"),
        (Expect.YES_NO, "Ah !"),
        (Expect.DAY, "Toi."),
    ],
)
def test_speech_outside_the_grammar_is_not_forced_into_it(kind: Expect, heard: str) -> None:
    assert not snap(heard, grammars.for_kind(kind)).in_grammar  # type: ignore[arg-type]


def test_open_question_takes_the_open_transcript() -> None:
    v = arbitrate(None, "Je voudrais prendre rendez-vous", None)
    assert v.text == "Je voudrais prendre rendez-vous" and v.why == "open"


def test_agreement_is_accepted_with_the_grammar_words() -> None:
    v = arbitrate(phrases(Expect.DATE_TIME), "Je dis 19h15.", "jeudi dix-neuf heures quinze")
    assert v.why == "agree" and v.confidence == AGREED and v.text == "jeudi dix-neuf heures quinze"


def test_disagreement_on_a_slot_is_a_doubt_to_confirm() -> None:
    v = arbitrate(phrases(Expect.DATE_TIME), "Mardi 9h45", "mardi neuf heures quarante")
    assert v.why == "disagree" and v.confidence < AGREED and v.text


def test_yes_no_doubt_is_never_an_answer() -> None:
    assert arbitrate(phrases(Expect.YES_NO), "Oui.", "non").text == ""  # contradicted: asked again
    assert arbitrate(phrases(Expect.YES_NO), "Oui.", "oui").why == "agree"
    assert arbitrate(phrases(Expect.YES_NO), "", "oui").text == ""  # the grammar alone forced it
    assert arbitrate(phrases(Expect.YES_NO), "Oui.", "non", voice=False).text == ""


def test_one_short_word_whisper_doubts_is_no_yes_or_no() -> None:
    """Whisper base hears a short synthetic "oui" as "Un." or "On..." at a low probability, and
    PocketSphinx then said "non" as often as "oui": neither is an answer; asked again, keypad offered."""
    for grammar_said in ("oui", "non", ""):
        v = arbitrate(phrases(Expect.YES_NO), "On...", grammar_said, open_confidence=0.35)
        assert v.text == "" and v.why == "doubt_yes_no", v
    # A word Whisper is sure of goes on as heard (the dialogue does not find a yes or no in it).
    v = arbitrate(phrases(Expect.YES_NO), "Attendez.", "oui", open_confidence=0.9)
    assert v.text == "Attendez." and v.why == "outside"


def test_a_yes_whisper_wrote_itself_and_the_grammar_heard_too_is_a_yes() -> None:
    """MBROLA's "oui" came back "Oui." at 0.3-0.45 with PocketSphinx "oui" and was asked again 6 times in 6
    (spoken calls, 2026-12-07). Both ears agreeing on the word Whisper WROTE is an answer; a word that only
    sounds near it ("On...", "Un.", "Eh." for "euh") is not, whatever the grammar says; nor is a contradicted
    one. Measured on 336 synthetic answers (Pico and MBROLA fr4 at three speeds, with and without line noise,
    through G.711): no "non ..." and no "euh", "attendez", "pardon", "quoi" became a yes."""
    yes_no = phrases(Expect.YES_NO)
    for heard in ("Oui.", "Oui, oui !", "Ouais."):
        v = arbitrate(yes_no, heard, "oui", open_confidence=0.35)
        assert v.why == "weak_agree" and v.text == "oui", (heard, v)
    assert arbitrate(yes_no, "Non.", "non", open_confidence=0.4).text == "non"
    for heard, grammar_said in (
        ("Oui.", "non"),
        ("Oui.", ""),
        ("On...", "oui"),
        ("Eh.", "oui"),
        ("Un.", "oui"),
    ):
        assert arbitrate(yes_no, heard, grammar_said, open_confidence=0.35).text == "", (heard, grammar_said)
    assert arbitrate(yes_no, "Oui mais non.", "oui", open_confidence=0.35).why != "weak_agree"


def test_a_doubted_phrase_the_grammar_hears_as_the_other_answer_is_no_answer() -> None:
    """ "comment ?" came back "C'est bon ?" (a yes to the dialogue) at 0.45-0.48 with PocketSphinx "non":
    at a recap that was a booking nobody confirmed. Whisper sure of it, or the grammar silent, it goes on."""
    yes_no = phrases(Expect.YES_NO)
    assert arbitrate(yes_no, "C'est bon ?", "non", open_confidence=0.48).text == ""
    assert arbitrate(yes_no, "Oui, bien sûr.", "non merci", open_confidence=0.73).text == "Oui, bien sûr."
    assert arbitrate(yes_no, "Non plus tard.", "", open_confidence=0.46).text == "Non plus tard."
    assert arbitrate(yes_no, "Non, tu t'as.", "non", open_confidence=0.39).text == "Non, tu t'as."


def test_grammar_words_unrelated_to_what_whisper_is_sure_of_are_no_answer() -> None:
    """ "le plus vite possible" came back "Le plus impossible." from Whisper and "sept juillet" from the
    grammar, and the call searched July (spoken calls, 2026-12-07): words Whisper is sure of that share
    nothing with the grammar's are passed on as heard (not an answer: asked again), never a date nobody
    said. Sharing a word, the grammar's more precise slot is still read back."""
    v = arbitrate(phrases(Expect.DATE_TIME), "Le plus impossible.", "sept juillet", open_confidence=0.8)
    assert v.why == "unrelated" and v.text == "Le plus impossible."
    v = arbitrate(phrases(Expect.DATE_TIME), "Le plus impossible.", "sept juillet", open_confidence=0.3)
    assert v.text == "sept juillet"  # Whisper unsure of its own words: the grammar's, read back
    v = arbitrate(phrases(Expect.DATE_TIME), "Mardi 9h45", "mardi neuf heures quarante", open_confidence=0.8)
    assert v.why == "disagree" and v.text == "mardi neuf heures quarante"


def test_digits_written_by_whisper_are_a_slot_not_a_sentence() -> None:
    """ "deux mai mille neuf cent soixante-dix" came back "2,000,970.": not a sentence to understand but a
    slot the grammar recogniser heard better, read back to the caller."""
    v = arbitrate(phrases(Expect.BIRTH_DATE), "2,000,970.", "deux mai mille neuf cent soixante-dix")
    assert v.why == "disagree" and v.text == "deux mai mille neuf cent soixante-dix"
    assert v.confidence < AGREED


def test_sentence_outside_the_grammar_goes_to_understanding_as_heard() -> None:
    heard = "J'ai une douleur dans la poitrine et je respire mal"
    v = arbitrate(phrases(Expect.YES_NO), heard, "non non")  # the grammar forces "non non"
    assert v.why == "outside" and v.text == heard
    v = arbitrate(phrases(Expect.DATE_TIME), heard, "dix heures")
    assert v.why == "outside" and v.text == heard


def test_noise_gives_nothing_whatever_the_grammar_forced() -> None:
    v = arbitrate(phrases(Expect.DATE_TIME), "", "lundi", voice=False)
    assert v.text == "" and v.why == "no_voice"


class _Fake:
    def __init__(self, text: str) -> None:
        self.text = text
        self.grammar: list[str] | None = ["unset"]
        self.fed = 0

    async def set_grammar(self, phrases: list[str] | None) -> None:
        self.grammar = phrases

    async def accept(self, pcm: bytes) -> Transcript | None:
        self.fed += len(pcm)
        return None

    async def finish(self) -> Transcript:
        return Transcript(self.text, True)

    async def close(self) -> None:
        return None


async def test_stream_feeds_both_and_passes_the_open_words_on() -> None:
    open_, grammar = _Fake("Oui, j'ai très mal à la poitrine depuis ce matin"), _Fake("oui")
    stream = ArbitratedStream(open_, grammar)  # type: ignore[arg-type]
    await stream.set_grammar(grammars.hint(Expectation(Expect.YES_NO)))
    await stream.accept(b"\0" * 640)
    final = await stream.finish()
    assert open_.fed == grammar.fed == 640 and grammar.grammar is not None
    assert final.open_text == "Oui, j'ai très mal à la poitrine depuis ce matin"
    await stream.set_grammar(None)  # open question: the grammar recogniser is not fed
    await stream.accept(b"\0" * 640)
    assert grammar.fed == 640 and (await stream.finish()).text == open_.text


def test_red_flag_in_the_open_words_wins_over_the_grammar_answer(simulator, understander) -> None:  # type: ignore[no-untyped-def]
    """At a closed question (birth date) the grammar answered a date; the caller said a red flag."""
    from standardiste.dialogue.manager import DialogueManager
    from standardiste.dialogue.messages import CallStarted, Say
    from standardiste.dialogue.services import ConversationServices
    from tests.fixtures.dialogue import SIM_NOW

    _, agenda, inbox, _ = simulator.fresh()
    manager = DialogueManager(ConversationServices(simulator.practice, understander, agenda, inbox))
    now = SIM_NOW
    manager.handle(CallStarted("c1", now, caller_id="+33612345678"))
    for text in (
        "je voudrais un rendez-vous avec le docteur martin jeudi matin",
        "le premier",
        "dupont marie",
    ):
        now += dt.timedelta(seconds=5)
        actions = manager.handle(Heard(text, now))
    assert manager.question is not None and manager.question.expect.kind == Expect.BIRTH_DATE
    said = (
        "quinze mars mille neuf cent quatre-vingt-cinq mais là j'ai une douleur dans la poitrine "
        "et je respire mal"
    )
    actions = manager.handle(
        Heard("quinze mars mille neuf cent quatre-vingt-cinq", now, 0.45, open_text=said)
    )
    assert any(p.startswith("emergency") for p in manager.state.path), manager.state.path
    assert any(isinstance(a, Say) and "15" in a.text for a in actions)


def test_callers_name_the_doctor_with_the_article() -> None:
    """ "le docteur Benali": without the article in the grammar PocketSphinx rejected it (Pico) or forced it
    onto "pédiatre" (MBROLA fr4); with it, both voices came back "le docteur bénali" through G.711."""
    from types import SimpleNamespace

    doctor = SimpleNamespace(name="Docteur Karim Benali", aliases=("docteur benali", "docteur bénali"))
    said = grammars.practitioners(SimpleNamespace(practitioners=(doctor,))).phrases
    assert {"le docteur benali", "le docteur bénali", "le docteur karim benali", "benali"} <= set(said)
    assert len(said) == len(set(said))
    # Whisper's garble and the grammar's name share a sound, not a word: the name, read back.
    v = arbitrate(said, "Le bacteur de Mali.", "le docteur bénali", open_confidence=0.52)
    assert v.text == "le docteur bénali"
