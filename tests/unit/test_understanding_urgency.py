"""Emergency rule layer: every emergency caught, hard negatives left alone, through the real engine."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.config import Config
from standardiste.understanding.engine import LocalUnderstander, load_understander
from standardiste.understanding.normalize import digits, fold, lower, without_fillers
from standardiste.understanding.types import Intent, Urgency
from standardiste.understanding.urgency import assess

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture(scope="module")
def engine(demo_config: Config) -> LocalUnderstander:
    return load_understander(demo_config.practice)


def rules(text: str):  # type: ignore[no-untyped-def]
    return assess(fold(digits(without_fillers(lower(text)))).text)


EMERGENCIES = [
    ("j'ai une douleur dans la poitrine", "chest_pain"),
    ("euh j'ai euh très mal à la poitrine", "chest_pain"),
    ("ça me serre la poitrine comme un étau", "chest_pain"),
    ("mon mari a une douleur thoracique", "chest_pain"),
    ("je crois que je fais une crise cardiaque", "chest_pain"),
    ("j'arrive pas à respirer", "breathing"),
    ("je n'arrive plus à respirer", "breathing"),
    ("ma fille a du mal à respirer", "breathing"),
    ("il a les lèvres bleues", "breathing"),
    ("il s'étouffe", "breathing"),
    ("ça saigne énormément", "bleeding"),
    ("il perd beaucoup de sang", "bleeding"),
    ("ça n'arrête pas de saigner", "bleeding"),
    ("je n'arrive pas à arrêter le saignement", "bleeding"),  # said on a spoken call (spoken_calls.md)
    ("il n'arrive plus à arrêter de saigner", "bleeding"),
    ("mon père a perdu connaissance", "unconscious"),
    ("elle s'est évanouie", "unconscious"),
    ("il ne se réveille pas", "unconscious"),
    ("elle ne respire plus", "cardiac_arrest"),
    ("je crois qu'il fait un avc", "stroke"),
    ("elle a le visage qui tombe d'un côté", "stroke"),
    ("il a la bouche de travers et il parle bizarrement", "stroke"),
    ("son bras ne bouge plus", "stroke"),
    ("je veux me suicider", "suicidal"),
    ("j'ai envie d'en finir", "suicidal"),
    ("je n'ai plus envie de vivre", "suicidal"),
    ("mon bébé de deux mois a trente-neuf de fièvre", "infant_fever"),
    ("mon nourrisson a de la fièvre", "infant_fever"),
    ("il a la gorge qui gonfle après une piqûre de guêpe", "allergic_reaction"),
    ("je fais un choc anaphylactique", "allergic_reaction"),
    ("mon fils convulse", "seizure"),
    ("elle fait une crise d'épilepsie", "seizure"),
    ("il s'est brûlé gravement au visage", "serious_burn"),
    ("mon fils a bu de l'eau de javel", "poisoning"),
    ("elle a pris toute une boîte de somnifères", "poisoning"),
    ("il a des taches violettes et de la fièvre", "meningitis_signs"),
    ("appelez le samu", "ambulance_request"),
    ("on a eu un accident de voiture mon mari saigne de la tête", "severe_trauma"),
    ("mon bébé est tout chaud il a trois semaines", "infant_fever"),
    ("je suis enceinte et je saigne beaucoup", "bleeding"),
]


@pytest.mark.parametrize(("text", "rule"), EMERGENCIES)
def test_emergency_rules_fire(engine: LocalUnderstander, text: str, rule: str) -> None:
    result = engine.parse(text, NOW)
    assert result.intent is Intent.EMERGENCY
    assert result.urgency is Urgency.URGENT
    assert result.emergency_rule == rule
    assert result.confidence == 1.0
    assert not result.needs_emergency_confirmation


HARD_NEGATIVES = [
    "mon père a fait un infarctus il y a dix ans",
    "ma mère a fait un avc l'année dernière je voudrais un rendez-vous de suivi",
    "c'est pas urgent",
    "ce n'est pas une urgence je voudrais juste un certificat",
    "je n'ai pas de douleur à la poitrine mais je tousse",
    "j'ai eu une crise d'épilepsie il y a cinq ans",
    "je voudrais un rendez-vous de contrôle après mon infarctus",
    "c'est pour renouveler l'ordonnance de mon stylo d'adrénaline",
    "le secrétariat ne répond pas",
    "je voudrais un rendez-vous demain matin",
    "mon grand-père est décédé d'une crise cardiaque en deux mille dix",
    "j'ai eu une hémorragie l'an dernier",
    "il fait chaud dans la chambre du bébé",
    "je voudrais un certificat pour l'assurance après mon accident de voiture",
    "j'ai fait un malaise la semaine dernière je voudrais en parler au docteur",
    "je n'arrive pas à arrêter de fumer",
    "je n'arrive pas à arrêter ça c'est le robinet de la cuisine",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_do_not_alarm(engine: LocalUnderstander, text: str) -> None:
    result = engine.parse(text, NOW)
    assert result.urgency is not Urgency.URGENT
    assert result.emergency_rule is None


def test_history_suppresses_but_present_tense_wins() -> None:
    assert rules("il a fait un infarctus il y a dix ans").urgency is Urgency.NORMAL
    assert rules("il a fait un infarctus il y a dix ans et là maintenant il a mal à la poitrine").urgency is (
        Urgency.URGENT
    )


@pytest.mark.parametrize(
    "text",
    [
        "j'ai de la fièvre depuis trois jours",
        "la douleur s'aggrave",
        "c'est assez pressé",
        "c'est un peu urgent",
        "mon fils a quarante de fièvre",
    ],
)
def test_soon(text: str) -> None:
    assert rules(text).urgency is Urgency.SOON


def test_not_urgent_said() -> None:
    result = rules("c'est pas urgent du tout")
    assert result.urgency is Urgency.NORMAL and result.said_not_urgent


def test_classifier_only_emergency_asks_confirmation(engine: LocalUnderstander) -> None:
    result = engine.parse("c'est très grave venez vite", NOW)
    assert result.intent is Intent.EMERGENCY
    assert result.emergency_rule is None
    assert result.urgency is Urgency.SOON
    assert result.needs_emergency_confirmation


def test_rules_never_overridden_by_not_urgent(engine: LocalUnderstander) -> None:
    result = engine.parse("c'est pas urgent mais j'ai une douleur dans la poitrine", NOW)
    assert result.urgency is Urgency.URGENT and result.emergency_rule == "chest_pain"


def test_a_glued_elision_is_split_before_a_word_the_rules_write_after_a_word_boundary() -> None:
    """The glued-elision repair ("loedeme" -> "l oedeme") looks the word up in the rules' vocabulary: a
    rule written "\\boedeme" gives "oedeme", not "boedeme" (the regex escape is not part of the word)."""
    from standardiste.understanding.urgency import _vocabulary

    vocabulary = _vocabulary()
    assert {"antecedents", "oedeme", "hemiplegie"} <= vocabulary
    assert not {"bantecedents", "boedeme", "bhemiplegie"} & vocabulary
    assert rules("elle fait loedeme de quincke").rule == "allergic_reaction"
    assert rules("elle a une lhemiplegie").rule == "stroke"


@pytest.mark.alone  # asserts a time figure: runs on its own (tests/fixtures/scheduling.py)
def test_rule_layer_is_fast() -> None:
    import time

    t0 = time.perf_counter()
    for _ in range(200):
        rules("euh bonjour je voudrais un rendez-vous avec le docteur martin demain matin vers dix heures")
    assert (time.perf_counter() - t0) / 200 < 0.02  # generous: shared CI machine
