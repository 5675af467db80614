"""Identity by voice: matching heard names to patients by sound, spelling, read-back corrections.

The name matching runs the real espeak-ng phonemiser (installed by the set-up)."""

from __future__ import annotations

import datetime as dt

import pytest

from standardiste.agenda.model import Patient
from standardiste.identity.matching import heard_name, key_phonemizer, rank, say_back_name
from standardiste.identity.readback import date_fix, part_value, phone_fix, replace_part, which_part
from standardiste.identity.spelling import parse_spelling

TODAY = dt.date(2026, 12, 7)
BORN = dt.date(1955, 3, 5)
PHONE = "+33612345678"

TEXIER = Patient("p1", "Texier", "Monique", BORN, PHONE)
HUSBAND = Patient("p2", "Texier", "Jean", dt.date(1950, 1, 1), PHONE)
OTHER = Patient("p3", "Tessier", "Monica", BORN, None)
LEFEVRE = Patient("p4", "Lefèvre", "Claire", dt.date(1980, 6, 2), "+33147000000")


@pytest.mark.parametrize(
    "heard",
    [
        "Texier Monique",
        "Monique Texier",
        "Oui bonjour, je m'appelle Monique Texier, née le 5 mars 1955",
        "Texié Monique",
        "Tex y est Monique",
        "Madame Texier Monique",
    ],
)
def test_a_known_patient_is_found_by_sound_and_said_back(heard: str) -> None:
    match = rank(heard, [TEXIER, HUSBAND, LEFEVRE], caller_phone=PHONE)
    assert match.say_back is not None, match
    assert match.say_back.patient == TEXIER
    assert say_back_name(match.say_back.patient) == "Texier Monique"


def test_the_household_is_told_apart_by_first_name() -> None:
    match = rank("Texier Jean", [TEXIER, HUSBAND], caller_phone=PHONE)
    assert match.say_back is not None and match.say_back.patient == HUSBAND
    assert [c.patient.id for c in match.candidates][:2] == ["p2", "p1"]


def test_last_name_alone_in_a_household_is_not_enough_to_choose() -> None:
    match = rank("Texier", [TEXIER, HUSBAND], caller_phone=PHONE)
    assert match.say_back is None  # two Texier on this number: ask the first name or the birth date
    assert {c.patient.id for c in match.candidates} == {"p1", "p2"}


def test_two_close_names_born_the_same_day_are_not_guessed() -> None:
    match = rank("Tessier Monique", [TEXIER, OTHER], birth_date=BORN)
    assert match.say_back is None or match.say_back.patient in (TEXIER, OTHER)
    assert len(match.candidates) == 2


def test_a_stranger_matches_nobody() -> None:
    match = rank("Durand Paul", [TEXIER, HUSBAND, LEFEVRE], caller_phone=PHONE)
    assert match.say_back is None
    assert all(c.score < 0.62 for c in match.candidates)


def test_narrowing_bonuses_rank_the_caller_ids_patient_first() -> None:
    twin = Patient("p9", "Lefèvre", "Claire", dt.date(1980, 6, 2), None)
    match = rank(
        "Lefaivre Claire", [twin, LEFEVRE], caller_phone="01 47 00 00 00", birth_date=LEFEVRE.birth_date
    )
    assert match.best is not None and match.best.patient == LEFEVRE and match.best.same_phone


def test_without_espeak_the_spelling_key_still_matches() -> None:
    match = rank("Lefaivre Claire", [LEFEVRE, TEXIER], phonemize=key_phonemizer)
    assert match.say_back is not None and match.say_back.patient == LEFEVRE


def test_heard_name_keeps_only_the_name() -> None:
    assert heard_name("Euh, c'est madame Texier Monique, née le 5 mars") == "Texier Monique"
    assert heard_name("Je m'appelle Jean-Pierre Le Goff") == "Jean-Pierre Le Goff"
    assert heard_name("") == ""


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("T E X I E R", "Texier"),
        ("thé, eu, ixe, i, eu, erre", "Texier"),
        ("D comme Denise, U, P, O, N, T", "Dupont"),
        ("V comme Victor, A, deux S, E, U, R", "Vasseur"),
        ("L, E, F, E accent grave, V, R, E", "Lefèvre"),
        ("L E tiret G O double F", "Le-Goff"),
        ("double V, A, L, T, E, R", "Walter"),
        ("N, G, U, Y, E, N", "Nguyen"),
        ("c'est D U R A N D", "Durand"),
        ("haine, i grec", "Ny"),
    ],
)
def test_spelling_letter_by_letter(said: str, name: str) -> None:
    spelled = parse_spelling(said)
    assert spelled.text == name
    assert spelled.complete


def test_spelling_with_unknown_pieces_is_not_complete() -> None:
    spelled = parse_spelling("T E X bonjour I E R")
    assert not spelled.complete and spelled.unknown == ("bonjour",)
    assert not parse_spelling("Texier").complete  # a word, not letters


@pytest.mark.parametrize(
    ("said", "part", "fixed"),
    [
        ("non, cinquante-six", "year", dt.date(1956, 3, 5)),
        ("non, 1956", "year", dt.date(1956, 3, 5)),
        ("non c'est avril", "month", dt.date(1955, 4, 5)),
        ("non le mois c'est juin", "month", dt.date(1955, 6, 5)),
        ("non le douze", "day", dt.date(1955, 3, 12)),
        ("non, le jour", "day", None),
        ("non l'année", "year", None),
        ("non", None, None),
        ("non le six mars mille neuf cent cinquante-cinq", "day", dt.date(1955, 3, 6)),
    ],
)
def test_a_no_at_the_birth_date_read_back_names_the_wrong_part(
    said: str, part: str | None, fixed: dt.date | None
) -> None:
    fix = date_fix(said, BORN, TODAY)
    assert (fix.part, fix.date) == (part, fixed)


def test_the_one_part_asked_again() -> None:
    assert which_part("le mois") == "month" and which_part("3") == "year" and which_part("bof") is None
    assert part_value("cinquante-six", "year", BORN, TODAY) == 1956
    assert part_value("avril", "month", BORN, TODAY) == 4
    assert replace_part(BORN, "day", 31, TODAY) == dt.date(1955, 3, 31)
    assert replace_part(BORN, "month", 2, TODAY) == dt.date(1955, 2, 5)
    assert replace_part(dt.date(1955, 3, 31), "month", 2, TODAY) is None  # no 31 February
    assert replace_part(BORN, "year", 2030, TODAY) is None  # not born yet


@pytest.mark.parametrize(
    ("said", "fixed"),
    [
        ("non pas quarante-six, quarante-cinq", "0612344578"),
        ("la fin c'est cinquante-six soixante-dix-huit", "0612345678"),
        ("trente-quatre, quarante-cinq", "0612344578"),
        ("zéro six douze trente-quatre quarante-six soixante-dix-neuf", "0612344679"),
        ("non", None),
        ("soixante-dix-huit", None),  # one pair with nothing around it: which one?
    ],
)
def test_a_no_at_the_phone_read_back_fixes_the_pairs_said(said: str, fixed: str | None) -> None:
    assert phone_fix(said, "+33612344678") == fixed


def test_names_espeak_reads_as_english_are_phonemised_the_french_way() -> None:
    from standardiste.identity.matching import default_phonemizer

    assert default_phonemizer("Mathilde") == "matild" and "(" not in default_phonemizer("Rémy Joly")
    perrot = Patient("p5", "Perrot", "Mathilde", BORN, PHONE)
    match = rank("Oui, Péromatilde, bonjour.", [perrot, HUSBAND], caller_phone=PHONE)
    assert match.say_back is not None and match.say_back.patient == perrot
