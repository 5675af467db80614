"""Hand-written multi-clause turns: one live red-flag clause makes the turn an emergency, whatever else
it asks for; history, negation, hypothesis and "for someone else" stay in their own clause."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from standardiste.config import Config
from standardiste.understanding.engine import LocalUnderstander, load_understander
from standardiste.understanding.normalize import digits, fold, lower, without_fillers
from standardiste.understanding.types import Intent, Urgency
from standardiste.understanding.urgency import (
    SafetyDataError,
    assess,
    load_red_flags,
    packaged_red_flags,
    split_clauses,
)

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture(scope="module")
def engine(demo_config: Config) -> LocalUnderstander:
    return load_understander(demo_config.practice)


def rules(text: str):  # type: ignore[no-untyped-def]
    return assess(fold(digits(without_fillers(lower(text)))).text)


# The eight turns of issue 12, then more of the same kind.
VITAL = [
    ("je voudrais un rendez-vous pour ma fille elle ne respire plus", "cardiac_arrest", "fille"),
    ("rendez-vous pour mon fils il convulse", "seizure", "fils"),
    ("j'ai déjà eu de l'asthme et là je n'arrive plus à respirer", "breathing", "self"),
    (
        "c'est pour le suivi de mon diabète mais là j'ai une douleur dans la poitrine qui serre très fort",
        "chest_pain",
        "self",
    ),
    ("j'ai le bras gauche tout engourdi et mal à la mâchoire depuis une heure", "chest_pain", "self"),
    (
        "je voulais juste savoir les horaires mais là mon père s'écroule il est tout pâle",
        "unconscious",
        "pere",
    ),
    ("ma mère est tombée elle ne répond plus", "unconscious", "mere"),
    ("il y a dix ans mon père a fait un infarctus et là il a très mal à la poitrine", "chest_pain", "pere"),
    ("ce n'est pas urgent mais en fait mon mari a la bouche de travers", "stroke", "mari"),
    ("mon voisin a eu un AVC l'année dernière et là c'est ma femme elle sent plus son bras", "stroke", None),
    ("je n'ai pas de fièvre mais le bébé de deux mois est tout chaud", "infant_fever", "bebe"),
    ("euh il il ne ne respire pu", "cardiac_arrest", None),
    ("jai ma fille qui setouffe avec un bonbon", "breathing", None),
    ("mon fils de 3 ans a avalé une pile bouton", "poisoning", "fils"),
    ("he can't breathe", "breathing", "other"),
    ("my husband has chest pain", "chest_pain", None),
    (
        "il est tombé dans l'escalier il s'est cogné la tête et maintenant il est tout confus",
        "fall_head_injury",
        None,
    ),
    ("elle est diabétique et là elle est toute confuse", "hypoglycaemia", None),
    ("j'ai accouché il y a dix jours et je saigne énormément avec des caillots", "bleeding", "self"),
    ("d'un coup j'ai un mal de tête horrible", "thunderclap_headache", "self"),
    ("mon bébé respire très vite et se creuse sous les côtes", "infant_danger", "bebe"),
    ("mon père est mort il y a deux ans et là ma mère fait un AVC", "stroke", "mere"),
]


@pytest.mark.parametrize(("text", "flag", "who"), VITAL)
def test_one_live_red_flag_clause_is_an_emergency(
    engine: LocalUnderstander, text: str, flag: str, who: str | None
) -> None:
    verdict = rules(text)
    assert verdict.level == "vital", verdict.clauses
    assert verdict.red_flag == flag
    if who is not None:
        assert verdict.who == who
    result = engine.parse(text, NOW)
    assert result.intent is Intent.EMERGENCY and result.urgency is Urgency.URGENT
    assert result.emergency_rule == flag and result.safety_level == "vital"
    assert result.to_json()["safety_level"] == "vital"


NOT_VITAL = [
    "mon père a fait un infarctus il y a dix ans je voudrais un rendez-vous de suivi",
    "il y a dix ans mon père a fait un infarctus",
    "je n'ai pas de douleur dans la poitrine mais je tousse",
    "le bébé n'a pas de fièvre",
    "ma fille n'a jamais fait de convulsions",
    "quel est le numéro du SAMU",
    "mon mari est décédé ce matin d'une crise cardiaque je dois annuler son rendez-vous",
    "c'est pour le suivi de mon diabète",
    "je voudrais renouveler le stylo d'adrénaline de ma fille",
    "ce n'est pas urgent je voudrais un certificat",
    "le secrétariat ne répond pas quand vous pourrez",
    "ma grand-mère est morte d'un AVC la semaine dernière il faut annuler ses rendez-vous",
]


@pytest.mark.parametrize("text", NOT_VITAL)
def test_qualified_clauses_are_not_vital(engine: LocalUnderstander, text: str) -> None:
    assert rules(text).level != "vital"
    assert engine.parse(text, NOW).urgency is not Urgency.URGENT


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("j'ai eu mal à la poitrine hier soir", "chest_pain"),
        ("il a perdu connaissance mais maintenant ça va mieux", "unconscious"),
        ("ma mère est tombée elle s'est cognée la tête", "head_knock"),
        ("mon fils a fait une crise d'asthme", "asthma_attack"),
        ("j'ai des idées noires", "dark_thoughts"),
    ],
)
def test_recent_or_resolved_is_same_day(text: str, flag: str) -> None:
    verdict = rules(text)
    assert verdict.level == "same_day" and verdict.red_flag == flag
    assert verdict.urgency is Urgency.SOON


@pytest.mark.parametrize(
    "text",
    [
        "c'est grave je vous dis il faut quelqu'un",
        "vite vite",
        "au secours",
        "aidez moi aidez moi",
        "qu'est-ce qu'il faut faire si quelqu'un fait un AVC",
        "si jamais mon fils ne respire plus qu'est-ce que je fais",
    ],
)
def test_distress_or_hypothesis_asks_a_check(engine: LocalUnderstander, text: str) -> None:
    assert rules(text).level == "check"
    result = engine.parse(text, NOW)
    assert result.needs_emergency_confirmation and result.urgency is not Urgency.URGENT


def test_not_grave_is_no_distress() -> None:
    assert rules("ce n'est pas grave je voudrais un rendez-vous").level is None


def test_clauses_split_without_punctuation() -> None:
    clauses = [
        c.text
        for c in split_clauses("je voudrais un rendez vous mais la mon pere s ecroule il est tout pale")
    ]
    assert clauses == ["je voudrais un rendez vous", "mais la mon pere s ecroule", "il est tout pale"]
    assert len(split_clauses("j ai mal a la tete depuis ce matin")) == 1
    # A clause that is only a time passes it on: "il y a dix ans | il a fait un infarctus" is history.
    assert rules("il y a dix ans il a fait un infarctus").level is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "1234567890" * 200,
        "a" * 2000,
        "mal " * 500,
        "bébé de 2 mois " * 130,
        "\x00\x01 euh",
        "😀" * 50,
    ],
)
def test_bad_input_is_safe(engine: LocalUnderstander, text: str) -> None:
    rules(text)  # never an exception
    engine.parse(text, NOW)


def test_long_mixed_turn_with_an_emergency_at_the_end() -> None:
    text = ("je voudrais un rendez-vous pour le suivi de mon diabète " * 12) + " and now he can't breathe"
    assert rules(text).level == "vital"


@pytest.mark.alone  # asserts a time figure: runs on its own (tests/fixtures/scheduling.py)
def test_rules_are_bounded_on_hostile_input() -> None:
    worst = 0.0
    for text in ("il " * 660, "douleur a la " * 150, "he can t breathe " * 110, "tombe tete " * 180):
        t0 = time.perf_counter()
        rules(text)
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 2.0  # generous bound on a shared machine: what matters is no exponential blow-up


# --- Red flags as data ------------------------------------------------------------------------


def test_every_packaged_flag_has_a_french_public_health_source() -> None:
    flags = load_red_flags()
    assert len(flags) >= 20
    names = ("Santé publique France", "SAMU", "HAS", "ANSM", "ameli.fr", "Centres antipoison", "SFMU", "3114")
    for flag in flags:
        assert any(n in flag.source for n in names), flag.id
    categories = {f.category for f in flags if f.level == "vital"}
    assert {
        "breathing", "chest_pain", "stroke", "unconscious", "fall_head_injury", "seizure", "bleeding",
        "anaphylaxis", "poisoning", "burn", "infant", "hypoglycaemia", "headache", "suicide",
    } <= categories  # fmt: skip


def test_a_practice_adds_a_red_flag(tmp_path: Path, demo_config: Config) -> None:
    extra = tmp_path / "flags.yml"
    extra.write_text(
        "flags:\n"
        "  - id: dialysis_catheter\n"
        "    level: vital\n"
        "    category: bleeding\n"
        '    source: "HAS, « Hémodialyse » (saignement du cathéter)"\n'
        "    patterns:\n"
        "      - '\\bcatheter\\b{GAP} (?:saigne|arrache)'\n",
        encoding="utf-8",
    )
    practice = demo_config.practice.model_copy(update={"red_flags_extra": [extra]})
    understander = LocalUnderstander(practice, lambda text: [(Intent.OUT_OF_SCOPE, 0.0)])
    result = understander.parse("mon mari a le cathéter qui saigne", NOW)
    assert result.emergency_rule == "dialysis_catheter"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("flags: []\nparts: 3\n", "parts"),
        ("flags:\n  - id: x\n    level: soon\n    source: 'SAMU 15'\n    patterns: ['a']\n", "level"),
        ("flags:\n  - id: x\n    level: vital\n    patterns: ['a']\n", "source"),
        ("flags:\n  - id: x\n    level: vital\n    source: 'SAMU 15'\n    patterns: ['(a']\n", "invalid"),
        ("flags:\n  - id: x\n    level: vital\n    source: 'SAMU 15'\n    patterns: ['{NOPE}']\n", "NOPE"),
        (
            "flags:\n  - id: x\n    level: vital\n    source: 'SAMU 15'\n    patterns: ['(?:a+)+b']\n",
            "nested",
        ),
        (
            "flags:\n  - id: x\n    level: vital\n    source: 'SAMU 15'\n    colour: red\n"
            "    patterns: ['a']\n",
            "colour",
        ),
        ("not: [valid\n", "YAML"),
    ],
)
def test_a_bad_red_flag_file_stops_the_start(
    tmp_path: Path, demo_config: Config, body: str, message: str
) -> None:
    extra = tmp_path / "flags.yml"
    extra.write_text(body, encoding="utf-8")
    with pytest.raises(SafetyDataError, match=message):
        load_red_flags([extra])
    with pytest.raises(ValueError, match="red_flags_extra"):
        type(demo_config.practice).model_validate(
            demo_config.practice.model_dump() | {"red_flags_extra": [extra]}
        )


def test_packaged_file_is_the_one_documented() -> None:
    assert packaged_red_flags().name == "red_flags.yml" and packaged_red_flags().exists()


def test_an_emergency_at_the_end_of_a_2000_character_turn(engine: LocalUnderstander) -> None:
    text = ("bonjour je voudrais un rendez-vous pour le suivi de mon diabète " * 30)[
        :1950
    ] + " he can't breathe"
    assert len(text) <= 2000
    result = engine.parse(text, NOW)
    assert result.urgency is Urgency.URGENT and result.emergency_rule == "breathing"


# Phrasings written apart from the generator's templates (the way callers say them).
MORE_VITAL = [
    "il fait un malaise il est tout blanc et il répond pas",
    "elle respire bizarrement et elle est toute bleue",
    "elle a du mal à reprendre son souffle",
    "ma fille a avalé des comprimés de doliprane",
    "j'ai pris 20 comprimés",
    "ma mère est tombée dans la salle de bain et elle ne peut plus se relever elle est confuse",
    "mon fils a mis une pile dans sa bouche et il l'a avalée",
    "he is not breathing",
    "je ne sens plus mes jambes d'un coup",
    "elle a des plaques partout et la gorge qui serre",
    "il a une douleur au thorax",
    "le bébé respire pas bien il creuse le ventre",
    "mon mari ne se réveille pas il est diabétique",
    "il fait une crise il tremble de partout et il bave",
    "ma femme parle bizarrement depuis ce matin et son bras est tout mou",
    "mon fils a été piqué par une abeille il a du mal à respirer",
    "elle est enceinte de 7 mois et elle perd du sang",
    "j'ai avalé toute ma boîte de xanax",
    "le petit a de la fièvre il a 2 mois",
    "ma fille s'est étouffée avec une cacahuète elle devient bleue",
    "il ne réagit pas quand je lui parle",
]


@pytest.mark.parametrize("text", MORE_VITAL)
def test_more_vital_phrasings(text: str) -> None:
    assert rules(text).level == "vital"


@pytest.mark.parametrize(
    "text",
    [
        "il est tombé malade et il vomit",
        "le secrétariat il répond pas",
        "j'ai pris 2 comprimés de doliprane ce matin",
        "le docteur ne répond pas au téléphone il est tombé en panne",
        "ça tombe bien le secrétariat ne répond pas",
    ],
)
def test_more_ordinary_phrasings(text: str) -> None:
    assert rules(text).level != "vital"


def test_infant_fever_is_under_three_months() -> None:
    assert rules("mon bébé de 6 semaines a 38").level == "vital"
    assert rules("mon bébé a de la fièvre").level == "vital"  # no age said: doubt stays an alarm
    assert rules("le bébé de 8 mois a de la fièvre").level is None


def test_an_older_age_said_apart_lowers_infant_fever_to_same_day() -> None:
    verdict = rules("je voudrais prendre rendez-vous pour mon bébé il a de la fièvre il a un an")
    assert verdict.level == "same_day" and verdict.red_flag == "infant_fever"
    assert rules("mon bébé a de la fièvre il a 2 mois").level == "vital"


def test_an_insect_bite_that_swells_a_little_is_not_anaphylaxis() -> None:
    assert rules("j'ai été piqué par un moustique ça gonfle un peu").level != "vital"
    assert rules("elle est allergique aux arachides elle a la gorge qui gonfle").level == "vital"
