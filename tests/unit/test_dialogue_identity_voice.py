"""Identity by voice in whole calls (issue 19): answers heard through a recogniser (they carry its
confidence) are read back; the name is matched to the practice's patients and said back; a "non" asks for
the one wrong part; an identity not confirmed twice becomes a request for the staff, never a booking.

Real dialogue manager, real SQLite agenda and inbox (the simulator's), real understanding, real espeak-ng."""

from __future__ import annotations

import datetime as dt
from typing import Any

from standardiste.agenda.model import PatientIdentity
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dialogue import prompts as P
from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import CallStarted, Heard, Keypad, OutcomeKind, Say
from standardiste.dialogue.services import ConversationServices
from tests.fixtures.dialogue import SIM_NOW

TEXIER = {"last_name": "Texier", "first_name": "Monique", "birth_date": "1955-03-05", "phone": "+33612345678"}
HUSBAND = {"last_name": "Texier", "first_name": "Jean", "birth_date": "1950-01-01", "phone": "+33612345678"}
ASK = "je voudrais un rendez-vous avec le docteur martin jeudi matin"


class Call:
    def __init__(self, simulator: Any, understander: Any, setup: dict[str, Any] | None = None) -> None:
        self.db, self.agenda, self.inbox, _ = simulator.fresh()
        simulator._seed(self.agenda, setup or {}, SIM_NOW, "t")
        self.manager = DialogueManager(
            ConversationServices(simulator.practice, understander, self.agenda, self.inbox)
        )
        self.now = SIM_NOW

    def start(self, caller_id: str | None = "+33612345678") -> list[Any]:
        return self.manager.handle(CallStarted("test-call", self.now, caller_id=caller_id))

    def hear(self, text: str) -> str:
        """An answer heard through a recogniser (with its confidence)."""
        self.now += dt.timedelta(seconds=6)
        return said(self.manager.handle(Heard(text, self.now, confidence=0.8)))

    def key(self, digits: str) -> str:
        self.now += dt.timedelta(seconds=6)
        return said(self.manager.handle(Keypad(digits, self.now)))

    def achieved(self) -> list[OutcomeKind]:
        return [o.kind for o in self.manager.state.achieved]


def said(actions: list[Any]) -> str:
    return " ".join(a.text for a in actions if isinstance(a, Say))


def to_name(call: Call) -> None:
    call.start()
    call.hear(ASK)
    text = call.hear("le premier")
    assert "nom" in text.lower(), text


def test_a_misheard_known_patient_is_found_said_back_and_booked_under_her_file(simulator, understander):
    call = Call(simulator, understander, {"patients": [TEXIER, HUSBAND]})
    to_name(call)
    call.hear("Tessier Monique")
    readback = call.hear("le 5 mars 1955")
    assert "le cinq mars mille neuf cent cinquante-cinq, c'est bien ça ?" in readback
    assert P.is_it_you("Texier Monique") in call.hear("oui")
    assert "numéro" in call.hear("oui")  # the caller ID offered, not asked
    call.hear("oui")
    call.hear("oui")
    assert OutcomeKind.BOOKED in call.achieved()
    patient = call.agenda.find_patient(PatientIdentity("Texier", "Monique", dt.date(1955, 3, 5)))
    assert patient is not None and len(call.agenda.upcoming(patient.id, call.now)) == 1
    assert "name_found_in_file" in call.manager.state.path


def test_a_no_at_the_birth_date_read_back_fixes_only_the_year(simulator, understander):
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    call.hear("Texier Monique")
    assert "quarante-cinq" in call.hear("le 5 mars 1945")
    again = call.hear("non, l'année c'est 1955")
    assert "le cinq mars mille neuf cent cinquante-cinq, c'est bien ça ?" in again
    assert P.is_it_you("Texier Monique") in call.hear("oui")


def test_a_bare_no_asks_which_part_then_that_part_only(simulator, understander):
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    call.hear("Texier Monique")
    call.hear("le 5 mai 1955")
    assert P.WHICH_DATE_PART in call.hear("non")
    assert P.ASK_DATE_PART["month"] in call.hear("le mois")
    assert "le cinq mars mille neuf cent cinquante-cinq" in call.hear("mars")
    assert P.is_it_you("Texier Monique") in call.hear("oui")


def test_a_caller_not_in_the_file_confirms_the_name_heard_or_spells_it(simulator, understander):
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    call.hear("Durant Paul")
    call.hear("le 12 juin 1978")
    assert P.name_noted("Durant Paul") in call.hear("oui")
    assert P.ASK_SPELLING in call.hear("non")
    assert P.spelled_back("Durand", "Paul") in call.hear("D, U, R, A, N, D comme Denise")
    call.hear("oui")  # spelled name confirmed
    call.hear("oui")  # the caller ID
    call.hear("oui")  # the recap
    assert OutcomeKind.BOOKED in call.achieved()
    assert call.agenda.find_patient(PatientIdentity("Durand", "Paul", dt.date(1978, 6, 12))) is not None


def test_an_identity_refused_twice_becomes_a_staff_request_never_a_booking(simulator, understander):
    call = Call(simulator, understander, {"patients": [TEXIER]})
    to_name(call)
    call.hear("Texier Monique")
    call.hear("le 5 mars 1955")
    assert P.is_it_you("Texier Monique") in call.hear("oui")
    call.hear("non")  # not her: spell
    assert P.spelled_back("Tessier", "Monique") in call.hear("T E deux S I E R")
    end = call.hear("non")
    assert P.IDENTITY_TO_STAFF in end
    assert OutcomeKind.BOOKED not in call.achieved() and OutcomeKind.REQUEST_FILED in call.achieved()
    [request] = RequestsAdmin(call.db, getattr(call.inbox, "cipher", None)).list()
    assert request.caller_name == f"Texier Monique {P.NAME_NOT_CONFIRMED}" and request.call_id == "test-call"
    assert request.birth_date == dt.date(1955, 3, 5) and request.callback_number == "+33612345678"
    assert not call.agenda.upcoming(
        call.agenda.find_patient(PatientIdentity("Texier", "Monique", dt.date(1955, 3, 5))).id, call.now
    )


def test_a_spoken_callback_number_is_read_back_and_one_pair_fixed(simulator, understander):
    call = Call(simulator, understander, {"patients": [TEXIER]})
    call.start(caller_id=None)
    call.hear(ASK)
    call.hear("le premier")
    call.hear("Texier Monique")
    call.hear("le 5 mars 1955")
    call.hear("oui")  # the birth date
    asked = call.hear("oui")  # Texier Monique, c'est bien vous ?
    assert "numéro" in asked
    readback = call.hear("06 12 34 46 78")
    assert "quarante-six" in readback and "c'est bien ça" in readback
    fixed = call.hear("non, pas quarante-six, cinquante-six")
    assert "cinquante-six, soixante-dix-huit, c'est bien ça" in fixed
    call.hear("oui")
    call.hear("oui")  # the recap
    assert OutcomeKind.BOOKED in call.achieved()


def test_a_cancel_goes_to_the_file_the_caller_confirmed(simulator, understander):
    setup = {
        "patients": [TEXIER],
        "appointments": [{"practitioner": "martin", "start": "2026-11-26T09:00:00"}],
    }
    call = Call(simulator, understander, setup)
    call.start()
    call.hear("bonjour je voudrais annuler mon rendez-vous")
    call.hear("Texiez Monica")  # heard wrong: not the spelling of the file
    call.hear("le 5 mars 1955")
    assert P.is_it_you("Texier Monique") in call.hear("oui")
    offered = call.hear("oui")
    assert "vingt-six novembre" in offered, offered
    call.hear("oui")
    assert OutcomeKind.CANCELLED in call.achieved()
