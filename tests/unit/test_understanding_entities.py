"""Phones, birth dates, practitioners and names, through the real engine (offsets into the original)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.config import Config, Practitioner
from standardiste.understanding.engine import LocalUnderstander, load_understander
from standardiste.understanding.types import EntityKind, Intent

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture(scope="module")
def engine(demo_config: Config) -> LocalUnderstander:
    return load_understander(demo_config.practice)


def entity(engine: LocalUnderstander, text: str, kind: EntityKind):  # type: ignore[no-untyped-def]
    return engine.parse(text, NOW).first(kind)


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("mon numéro c'est le zéro six douze trente-quatre cinquante-six soixante-dix-huit", "+33612345678"),
        ("zéro six un deux trois quatre cinq six sept huit", "+33612345678"),
        ("plus trente-trois six douze trente-quatre cinquante-six soixante-dix-huit", "+33612345678"),
        ("rappelez-moi au zéro quatre soixante-dix-huit zéro zéro zéro zéro zéro zéro", "+33478000000"),
        ("06 12 34 56 78", "+33612345678"),
    ],
)
def test_phone(engine: LocalUnderstander, text: str, e164: str) -> None:
    found = entity(engine, text, EntityKind.PHONE)
    assert found is not None and found.value == e164
    assert text[found.start : found.end].split()[-1] == text.split()[-1]  # ends on the last spoken group


@pytest.mark.parametrize(
    "text",
    ["zéro six douze trente", "zéro zéro douze trente-quatre cinquante-six soixante-dix-huit", "douze"],
)
def test_invalid_phone_rejected(engine: LocalUnderstander, text: str) -> None:
    assert entity(engine, text, EntityKind.PHONE) is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("je suis né le douze mars mille neuf cent quatre-vingt-cinq", "1985-03-12"),
        ("née le premier avril deux mille dix", "2010-04-01"),
        ("né le douze zéro trois quatre-vingt-cinq", "1985-03-12"),
        ("le vingt-neuf février deux mille", "2000-02-29"),
    ],
)
def test_birth_date(engine: LocalUnderstander, text: str, iso: str) -> None:
    found = entity(engine, text, EntityKind.BIRTH_DATE)
    assert found is not None and found.value == iso


@pytest.mark.parametrize(
    "text",
    [
        "née le trente et un février mille neuf cent quatre-vingt",
        "né le vingt-neuf février mille neuf cent quatre-vingt-dix-neuf",
        "né le trente et un juin deux mille",
    ],
)
def test_impossible_birth_date_is_flagged(engine: LocalUnderstander, text: str) -> None:
    found = entity(engine, text, EntityKind.BIRTH_DATE)
    assert found is not None and found.value == "" and found.extra == {"invalid": True}
    assert engine.parse(text, NOW).first(EntityKind.DATE_TIME) is None


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("je voudrais voir le docteur martin", "martin"),
        ("avec le docteur mare tin", "martin"),
        ("docteurs mare tin", "martin"),
        ("un rendez-vous avec benali", "benali"),
        ("docteur bénali s'il vous plaît", "benali"),
        ("docteur bes nali", "benali"),
        ("avec la pédiatre", "lefevre"),
        ("docteur lefèvre", "lefevre"),
        ("docteur le fèvre", "lefevre"),
        ("karim benali", "benali"),
    ],
)
def test_practitioner_fuzzy(engine: LocalUnderstander, text: str, who: str) -> None:
    found = entity(engine, text, EntityKind.PRACTITIONER)
    assert found is not None and found.value == who


@pytest.mark.parametrize("text", ["demain matin", "un rendez-vous mardi matin", "docteur marteau", "merci"])
def test_no_practitioner_in_everyday_words(engine: LocalUnderstander, text: str) -> None:
    assert entity(engine, text, EntityKind.PRACTITIONER) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("je m'appelle jean dupont", "Dupont Jean"),
        ("c'est madame durand martine", "Durand Martine"),
        ("moi c'est euh sophie lambert née le trois mars", "Lambert Sophie"),
        ("mon nom est garcia", "Garcia"),
        ("je suis monsieur le goff", "Le Goff"),
    ],
)
def test_patient_name(engine: LocalUnderstander, text: str, name: str) -> None:
    found = entity(engine, text, EntityKind.PATIENT_NAME)
    assert found is not None and found.value == name


def test_identity_utterance_carries_everything(engine: LocalUnderstander) -> None:
    text = "je m'appelle claire moreau née le dix-sept août mille neuf cent soixante-dix-neuf"
    result = engine.parse(text, NOW)
    assert result.intent is Intent.GIVE_IDENTITY
    assert result.first(EntityKind.PATIENT_NAME).value == "Moreau Claire"  # type: ignore[union-attr]
    birth = result.first(EntityKind.BIRTH_DATE)
    assert birth is not None and birth.value == "1979-08-17"
    assert text[birth.start : birth.end] == "dix-sept août mille neuf cent soixante-dix-neuf"


def test_phone_digits_are_not_a_date(engine: LocalUnderstander) -> None:
    result = engine.parse("zéro six douze trente-quatre cinquante-six soixante-dix-huit", NOW)
    assert [e.entity for e in result.entities] == [EntityKind.PHONE]


def test_practitioners_come_from_the_configuration(demo_config: Config) -> None:
    """The packaged training data names no practice's doctors: another practice's practitioners are
    recognised from its configuration alone, and the demo's are then unknown."""
    other = demo_config.practice.model_copy(
        update={
            "practitioners": [
                Practitioner(id="kowalski", name="Docteur Agnès Kowalski", specialty="médecine générale"),
                Practitioner(id="nguyen", name="Docteur Minh Nguyen", specialty="pédiatrie"),
            ]
        }
    )
    engine = load_understander(other)
    result = engine.parse("je voudrais un rendez-vous avec le docteur kowalski", NOW)
    assert result.intent is Intent.BOOK_APPOINTMENT
    found = result.first(EntityKind.PRACTITIONER)
    assert found is not None and found.value == "kowalski"
    found = engine.parse("docteur nguyen s'il vous plaît", NOW).first(EntityKind.PRACTITIONER)
    assert found is not None and found.value == "nguyen"
    assert engine.parse("avec le docteur benali", NOW).first(EntityKind.PRACTITIONER) is None
