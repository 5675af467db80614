"""French for the ear (speech/spoken.py and the dialogue's date phrases): phone numbers in pairs, times in
words, dates with their weekday, birth dates in full. Every date here is pinned, never today's."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import RequestKind
from standardiste.dialogue import prompts as P
from standardiste.speech.spoken import (
    birth_date_fr,
    date_fr,
    number_fr,
    phone_fr,
    spoken_fr,
    time_fr,
)

PARIS = ZoneInfo("Europe/Paris")
MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)  # the pinned "now": Monday 7 December 2026


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        ("+33612345678", "zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit"),
        ("06 12 34 56 78", "zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit"),
        ("01.40.00.00.01", "zéro un, quarante, zéro zéro, zéro zéro, zéro un"),
        (
            "0033 4 72 80 71 91",
            "zéro quatre, soixante-douze, quatre-vingts, soixante et onze, quatre-vingt-onze",
        ),
        ("+447911123456", "quatre, quatre, sept, neuf, un, un, un, deux, trois, quatre, cinq, six"),
    ],
)
def test_phone_numbers_in_pairs(number: str, spoken: str) -> None:
    assert phone_fr(number) == spoken


@pytest.mark.parametrize(
    ("time", "spoken"),
    [
        (dt.time(9, 30), "neuf heures trente"),
        (dt.time(14, 0), "quatorze heures"),
        (dt.time(12, 0), "midi"),
        (dt.time(0, 0), "minuit"),
        (dt.time(1, 5), "une heure cinq"),
        (dt.time(21, 21), "vingt et une heures vingt et une"),
        (dt.time(8, 45), "huit heures quarante-cinq"),
    ],
)
def test_times_in_words(time: dt.time, spoken: str) -> None:
    assert time_fr(time) == spoken


def test_dates_with_weekday_and_birth_dates_in_full() -> None:
    assert date_fr(dt.date(2026, 12, 14)) == "lundi quatorze décembre"
    assert date_fr(dt.date(2027, 1, 1)) == "vendredi premier janvier"
    assert date_fr(dt.date(2026, 12, 14), with_year=True) == "lundi quatorze décembre deux mille vingt-six"
    assert birth_date_fr(dt.date(1955, 3, 5)) == "cinq mars mille neuf cent cinquante-cinq"
    assert birth_date_fr(dt.date(2001, 11, 1)) == "premier novembre deux mille un"
    assert number_fr(1980) == "mille neuf cent quatre-vingts"


def test_appointment_dates_always_name_the_date() -> None:
    at = lambda d, h, m=0: dt.datetime(2026, 12, d, h, m, tzinfo=PARIS)  # noqa: E731
    assert P.datetime_fr(at(7, 16, 30), MONDAY) == "aujourd'hui, lundi sept décembre à seize heures trente"
    assert P.datetime_fr(at(8, 9, 30), MONDAY) == "demain, mardi huit décembre à neuf heures trente"
    assert P.datetime_fr(at(14, 14), MONDAY) == "le lundi quatorze décembre à quatorze heures"
    assert P.datetime_fr(at(31, 12), MONDAY) == "le jeudi trente et un décembre à midi"
    assert (
        P.of_datetime_fr(at(7, 16, 30), MONDAY) == "d'aujourd'hui, lundi sept décembre à seize heures trente"
    )
    assert P.of_datetime_fr(at(8, 9), MONDAY) == "de demain, mardi huit décembre à neuf heures"
    assert P.of_datetime_fr(at(14, 9), MONDAY) == "du lundi quatorze décembre à neuf heures"


def test_read_backs_a_caller_can_check() -> None:
    assert (
        P.recap_birth(dt.date(1955, 3, 5))
        == ", date de naissance le cinq mars mille neuf cent cinquante-cinq"
    )
    assert P.recap_phone("+33612345678") == (
        ", joignable au zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit"
    )
    assert P.confirm_caller_id("+33478000102").endswith(
        "le zéro quatre, soixante-dix-huit, zéro zéro, zéro un, zéro deux ?"
    )


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        (
            "Rappelez le 06 12 34 56 78.",
            "Rappelez le zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit.",
        ),
        ("ou le +33 1 40 00 00 01", "ou le zéro un, quarante, zéro zéro, zéro zéro, zéro un"),
        ("à 9 h 30", "à neuf heures trente"),
        ("à 9h30", "à neuf heures trente"),
        ("de 9:00 à 12:00", "de neuf heures à midi"),
        ("de 14h à 18h30", "de quatorze heures à dix-huit heures trente"),
        ("le samedi 9h-12h", "le samedi neuf heures à midi"),
        ("à 8 heures 30", "à huit heures trente"),
        ("le 14/12/2026", "le lundi quatorze décembre deux mille vingt-six"),
        ("le 1/3/27", "le lundi premier mars deux mille vingt-sept"),
        ("le 31/02/2026", "le trente et un deux deux mille vingt-six"),  # no such date: no weekday
        ("le 1er mars", "le premier mars"),
        ("Composez le 15, ou le 112.", "Composez le quinze, ou le cent douze."),
        ("Tapez 1 pour oui, 2 pour non.", "Tapez un pour oui, deux pour non."),
        ("0 5 0 3 1 9 8 5", "zéro cinq zéro trois un neuf huit cinq"),
        (
            "La consultation coûte 30 €, 26,50 € avec la carte.",
            "La consultation coûte trente euros, 26,50 euros avec la carte.",
        ),
        ("24 heures sur 24, 48 heures", "vingt-quatre heures sur vingt-quatre, quarante-huit heures"),
        ("Dr. Martin, Dre Lefèvre, RDV, n° 3", "docteur Martin, docteur Lefèvre, rendez-vous, numéro trois"),
        ("12 rue des Lilas, 69003 Lyon", "douze rue des Lilas, 69003 Lyon"),
    ],
)
def test_spoken_fr_rewrites_digits_for_the_ear(text: str, spoken: str) -> None:
    assert spoken_fr(text) == spoken


def test_spoken_fr_leaves_words_alone_and_is_idempotent() -> None:
    text = "Votre rendez-vous est demain, mardi huit décembre à quatorze heures, au zéro six, douze."
    assert spoken_fr(text) == text
    messy = "Le 14/12/2026 à 9h30, rappelez le 06 12 34 56 78 ; 30 €."
    assert spoken_fr(spoken_fr(messy)) == spoken_fr(messy)


def _module_sentences() -> list[str]:
    texts = [v for k, v in vars(P).items() if k.isupper() and isinstance(v, str)]
    for table in (P.REQUEST_WHAT, P.REQUEST_INTRO, P.PART_OF_DAY, P.CLARIFY, P.OTHER_REQUEST):
        texts += [str(v) for v in table.values()]
    texts += [v.format(phone=P.phone_fr("0612345678")) for v in P.REQUEST_NEXT.values()]
    return texts


def test_no_digit_reaches_the_voice_from_the_fixed_sentences() -> None:
    assert len(_module_sentences()) > 50
    for text in _module_sentences():
        assert not re.search(r"\d", spoken_fr(text)), text
    assert RequestKind.CALLBACK in P.REQUEST_NEXT
