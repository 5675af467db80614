"""Identity per field on the spoken-call bench (tests/fixtures/identity_fields.py): what is right comes from
the script, what the call ended with from the dialogue and the agenda."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from standardiste.agenda.model import Patient
from standardiste.dialogue.messages import Outcome, OutcomeKind
from tests.fixtures.identity_fields import call_identity, expected_identity, summarise_identity

TODAY = dt.date(2026, 12, 7)
KINDS = ["open", "name", "birth_date", "yes_no"]


def spec(name: str, born: str = "#15031985", setup: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "c", "caller_id": "+33612345678", "turns": ["rdv", name, born, "oui"], "setup": setup}


def conversation(
    last: str, first: str, born: dt.date | None, booked: list[Patient], patient_id: str | None = None
) -> Any:
    appointments = {f"a{i}": SimpleNamespace(patient=p) for i, p in enumerate(booked)}
    return SimpleNamespace(
        caller=SimpleNamespace(
            identity=SimpleNamespace(last_name=last, first_name=first, birth_date=born, phone="+33612345678"),
            check=SimpleNamespace(state=SimpleNamespace(patient_id=patient_id)),
        ),
        services=SimpleNamespace(agenda=SimpleNamespace(get=lambda i: appointments[i])),
        state=SimpleNamespace(
            achieved=[Outcome(OutcomeKind.BOOKED, {"appointment_id": a}) for a in appointments]
        ),
    )


MARIE = Patient("p", "Dupont", "Marie", dt.date(1985, 3, 15), "+33612345678")


def test_the_expected_identity_comes_from_the_script() -> None:
    want = expected_identity(spec("je m'appelle marie dupont"), KINDS, TODAY)
    assert want["name"] == ["dupont", "marie"] and want["birth_date"] == dt.date(1985, 3, 15)
    assert want["phone"] == "+33612345678" and not want["known"]
    paul = {"patients": [{"last_name": "Durand", "first_name": "Paul", "birth_date": "1970-05-02"}]}
    known = expected_identity(spec("durant paule", "#02051970", paul), KINDS, TODAY)
    assert known["name"] == ["durand", "paul"] and known["known"]  # the file's name, said another way
    together = {**spec("dupont marie née le quinze mars mille neuf cent quatre-vingt-cinq", "oui")}
    assert (
        expected_identity(together, ["open", "name", "yes_no", "yes_no"], TODAY)["birth_date"]
        == MARIE.birth_date
    )


def test_a_booking_under_the_callers_own_name_is_right() -> None:
    got = call_identity(
        spec("dupont marie"), KINDS, conversation("Dupont", "Marie", MARIE.birth_date, [MARIE]), TODAY
    )
    assert (got["name"], got["birth_date"], got["phone"]) == ("right", "right", "right")
    assert (got["actions_right"], got["actions_misspelled"], got["actions_wrong"]) == (1, 0, 0)


def test_a_misspelled_new_file_and_a_wrong_patient_are_told_apart() -> None:
    sofie = Patient("n", "Dupont", "Mari", MARIE.birth_date, None)  # same sounds, same birth date
    other = Patient("o", "Texier", "Monique", dt.date(1955, 3, 5), None)
    got = call_identity(
        spec("dupont marie"), KINDS, conversation("Dupont", "Mari", MARIE.birth_date, [sofie, other]), TODAY
    )
    assert got["name"] == "wrong"
    assert (got["actions_right"], got["actions_misspelled"], got["actions_wrong"]) == (0, 1, 1)


def test_the_summary_counts_per_field_and_voice() -> None:
    right = {"name": "right", "birth_date": "right", "phone": None, "known": True, "found_in_file": True,
             "actions_right": 1, "actions_misspelled": 0, "actions_wrong": 0}  # fmt: skip
    missing = {"name": "missing", "birth_date": "right", "phone": "right", "known": False,
               "actions_right": 0, "actions_misspelled": 0, "actions_wrong": 1}  # fmt: skip
    summary = summarise_identity([("pico/a", right), ("mbrola/b", missing)])
    assert summary["fields"]["name"] == "1/2" and summary["fields"]["name/mbrola"] == "0/1"
    assert summary["fields"]["phone"] == "1/1" and summary["known_found_in_file"] == "1/1"
    assert summary["actions_under_right_patient"] == "1/2" and summary["actions_under_wrong_identity"] == 1
    assert summary["calls_with_a_wrong_identity_action"] == ["b"]
