"""The caller's goals kept as data (dialogue/agenda.py), and the misbehaviours of issue 13, each driven
event by event through the real understanding engine and a fresh SQL agenda, on a pinned clock."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import InvalidRequest
from standardiste.dialogue import prompts as P
from standardiste.dialogue.agenda import Agenda, GoalStatus
from standardiste.dialogue.core import fold
from standardiste.dialogue.manager import DialogueManager, goals_in_sentence
from standardiste.dialogue.messages import (
    CallStarted,
    Expect,
    Heard,
    Keypad,
    OutcomeKind,
    Say,
    Transfer,
    TransferFailed,
)
from standardiste.dialogue.services import ConversationServices
from standardiste.understanding.types import Intent
from tests.fixtures.dialogue import SIM_NOW

PARIS = ZoneInfo("Europe/Paris")
SUNDAY = dt.datetime(2026, 11, 29, 11, 0, tzinfo=PARIS)  # the demo practice is closed
DUPONT = {"last_name": "Dupont", "first_name": "Marie", "birth_date": "1985-03-15", "phone": "+33611111111"}


# --- The agenda as data -------------------------------------------------------------------------


def test_add_keeps_goals_in_order_once():
    agenda = Agenda()
    agenda.start(Intent.CANCEL_APPOINTMENT, "annuler mon rendez-vous")
    agenda.add(Intent.ASK_HOURS, "vos horaires du samedi", {"date_time": "2026-11-28"})
    agenda.add(Intent.ASK_HOURS, "les horaires")  # said twice: one goal
    agenda.add(Intent.RESCHEDULE_APPOINTMENT)  # the same appointment as the current goal: no new goal
    assert [g.intent for g in agenda.goals] == [Intent.CANCEL_APPOINTMENT, Intent.ASK_HOURS]
    assert agenda.current is not None and agenda.current.intent == Intent.CANCEL_APPOINTMENT
    assert agenda.pending[0].slots == {"date_time": "2026-11-28"}


def test_next_pending_finishes_the_current_goal():
    agenda = Agenda()
    agenda.start(Intent.BOOK_APPOINTMENT)
    agenda.add(Intent.PRESCRIPTION_RENEWAL, "une ordonnance")
    goal = agenda.next_pending()
    assert goal is not None and goal.intent == Intent.PRESCRIPTION_RENEWAL
    assert [g.status for g in agenda.goals] == [GoalStatus.DONE, GoalStatus.ACTIVE]
    agenda.done()
    assert agenda.next_pending() is None and agenda.current is None


def test_start_puts_an_interrupted_goal_back_to_wait():
    agenda = Agenda()
    agenda.start(Intent.BOOK_APPOINTMENT)
    agenda.start(Intent.ASK_HOURS)
    assert agenda.current is not None and agenda.current.intent == Intent.ASK_HOURS
    assert [g.intent for g in agenda.pending] == [Intent.BOOK_APPOINTMENT]
    # One family is one goal: "annuler, enfin non, déplacer".
    agenda.done()
    agenda.start(Intent.CANCEL_APPOINTMENT)
    agenda.start(Intent.RESCHEDULE_APPOINTMENT, slots={"date_time": "2026-11-27"})
    assert agenda.current is not None and agenda.current.intent == Intent.RESCHEDULE_APPOINTMENT
    assert len([g for g in agenda.goals if g.status == GoalStatus.ACTIVE]) == 1


def test_switch_drops_the_current_goal():
    agenda = Agenda()
    agenda.start(Intent.MEDICAL_CERTIFICATE, "un certificat")
    agenda.switch(Intent.BOOK_APPOINTMENT, "finalement un rendez-vous")
    assert [(str(g.intent), str(g.status)) for g in agenda.goals] == [
        ("medical_certificate", "dropped"),
        ("book_appointment", "active"),
    ]


def test_drop_and_drop_all():
    agenda = Agenda()
    agenda.start(Intent.BOOK_APPOINTMENT)
    agenda.add(Intent.ASK_HOURS)
    agenda.add(Intent.ASK_PARKING)
    agenda.drop(agenda.pending[0])
    assert [g.intent for g in agenda.pending] == [Intent.ASK_PARKING]
    agenda.drop_all()  # an emergency: nothing else in this call
    assert agenda.current is None and agenda.pending == []
    assert agenda.to_json()[0] == {"intent": "book_appointment", "status": "dropped"}


def test_goals_in_one_sentence():
    assert goals_in_sentence("je voudrais annuler mon rendez-vous et connaître vos horaires du samedi") == [
        Intent.CANCEL_APPOINTMENT,
        Intent.ASK_HOURS,
    ]
    assert goals_in_sentence("un rendez-vous lundi et mardi") == [Intent.BOOK_APPOINTMENT]


# --- Calls ----------------------------------------------------------------------------------------


class Call:
    def __init__(self, simulator, understander, setup=None, wrap=None, **services) -> None:  # type: ignore[no-untyped-def]
        self.db, agenda, inbox, _ = simulator.fresh()
        self.ids = simulator._seed(agenda, setup or {}, SIM_NOW, "t")
        self.agenda, self.inbox = (wrap or (lambda a, i: (a, i)))(agenda, inbox)
        self.raw_agenda = agenda
        self.manager = DialogueManager(
            ConversationServices(simulator.practice, understander, self.agenda, self.inbox, **services)
        )
        self.now = SIM_NOW

    def start(self, now: dt.datetime | None = None, **kw: Any) -> list:
        self.now = now or self.now
        kw.setdefault("caller_id", "+33612345678")
        return self.manager.handle(CallStarted("test-call", self.now, **kw))

    def say(self, text: str) -> list:
        self.now += dt.timedelta(seconds=6)
        return self.manager.handle(Heard(text, self.now))

    def key(self, digits: str) -> list:
        self.now += dt.timedelta(seconds=6)
        return self.manager.handle(Keypad(digits, self.now))

    def texts(self) -> str:
        return " ".join(u.text for u in self.manager.transcript if u.speaker == "assistant")


def said(actions: list) -> str:
    return " ".join(a.text for a in actions if isinstance(a, Say))


def test_two_goals_in_one_sentence_are_both_handled(simulator, understander):
    call = Call(
        simulator,
        understander,
        {"patients": [DUPONT], "appointments": [{"practitioner": "martin", "start": "2026-11-26T09:00:00"}]},
    )
    call.start()
    call.say("bonjour je voudrais annuler mon rendez-vous et connaître vos horaires du samedi")
    assert [str(i) for i, _ in call.manager.pending] == ["ask_hours"]
    call.say("dupont marie")
    call.key("15031985")
    done = said(call.say("oui"))
    assert "annulé" in done and P.also_mentioned("ask_hours") in done and "le samedi" in done
    assert [g["status"] for g in call.manager.agenda.to_json()] == ["done", "done"]
    call.say("non merci")
    assert [o.kind for o in call.manager.state.achieved] == [OutcomeKind.CANCELLED, OutcomeKind.ANSWERED]


def test_pending_goals_are_named_at_what_else(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("les horaires du cabinet et aussi l'adresse et puis le parking")
    text = call.texts()
    assert "Vous m'aviez aussi parlé de l'adresse et du stationnement." in text


def test_identity_said_early_is_not_asked_again(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say(
        "bonjour c'est marie dupont née le 15 mars 1985 "
        "je voudrais un rendez-vous avec le docteur martin jeudi matin"
    )
    next_question = call.say("le premier")
    assert next_question[-1].expect.kind == Expect.YES_NO  # the callback number, not the name
    assert "nom de famille" not in call.texts() and "date de naissance ?" not in call.texts()
    recap = said(call.say("oui"))
    assert "pour Marie Dupont" in recap and "quinze mars" in recap


def test_change_of_mind_drops_the_request(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un certificat médical")
    actions = call.say("finalement je préfère prendre un rendez-vous")
    assert "médecin" in said(actions) and actions[-1].expect.kind == Expect.PRACTITIONER
    assert [g["status"] for g in call.manager.agenda.to_json()] == ["dropped", "active"]
    call.say("le docteur benali")
    call.say("le plus tôt possible")
    call.say("le premier")
    call.say("roux thomas")
    call.key("21091979")
    call.say("oui")
    call.say("oui")
    call.say("non")
    assert call.manager.outcome.kind == OutcomeKind.BOOKED
    assert all(o.kind != OutcomeKind.REQUEST_FILED for o in call.manager.state.achieved)
    assert "pas grave" not in fold(call.texts())


def test_question_without_an_answer_offers_a_message_or_a_human(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    actions = call.say("peut-on se faire vacciner contre la grippe sans rendez-vous ?")
    assert said(actions).startswith(P.NO_INFORMATION) and "message" in said(actions)
    call.say("un message")
    call.say("est-ce que je peux venir me faire vacciner")
    call.say("simon eric")
    call.key("01021970")
    call.say("oui")
    assert call.manager.state.achieved[-1].kind == OutcomeKind.REQUEST_FILED
    assert call.manager.state.achieved[-1].details["request_type"] == "callback"


def test_switching_mid_task_drops_the_task_left(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("ah non en fait je voudrais annuler mon rendez-vous")
    statuses = [(g["intent"], g["status"]) for g in call.manager.agenda.to_json()]
    assert statuses[0] == ("book_appointment", "dropped") and statuses[-1][1] == "active"
    assert call.manager.pending == []


def test_a_message_asked_at_what_else(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("quels sont vos horaires")
    actions = call.say("je voudrais laisser un message")
    assert actions[-1].expect.kind == Expect.OPEN and "message" in said(actions)


def test_no_answer_when_closed_is_a_message(simulator, understander):
    call = Call(simulator, understander)
    call.start(SUNDAY)
    actions = call.say("peut-on se faire vacciner contre la grippe sans rendez-vous ?")
    assert said(actions).startswith(P.NO_INFORMATION) and "laisser un message" in said(actions)
    assert not any(isinstance(a, Transfer) for a in actions)


def test_ald_hears_the_tiers_payant(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    actions = call.say("je suis en ALD, dois-je avancer les frais ?")
    assert said(actions).startswith(simulator.practice.faq.tiers_payant)
    assert "euros" not in said(actions)


def test_secretariat_when_closed_takes_a_message(simulator, understander):
    call = Call(simulator, understander)
    call.start(SUNDAY)
    actions = call.say("je voudrais parler au secrétariat")
    assert not any(isinstance(a, Transfer) for a in actions)
    assert "laisser un message" in said(actions)
    call.say("oui")
    call.say("c'est pour ma facture")
    call.say("simon eric")
    call.key("01021970")
    call.say("oui")
    assert call.manager.state.achieved[-1].details["request_type"] == "callback"


def test_secretariat_when_open_is_a_transfer(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    assert isinstance(call.say("je voudrais parler au secrétariat")[-1], Transfer)


def test_known_patient_new_callback_number_is_kept(simulator, understander):
    call = Call(simulator, understander, {"patients": [DUPONT]})
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    call.say("dupont marie")
    call.key("15031985")
    call.say("oui")  # the number it calls from: +33612345678
    call.say("oui")
    assert call.manager.state.achieved[-1].kind == OutcomeKind.BOOKED
    patient = call.raw_agenda.find_patient(
        __import__("standardiste.agenda.model", fromlist=["PatientIdentity"]).PatientIdentity(
            "Dupont", "Marie", dt.date(1985, 3, 15)
        )
    )
    assert patient is not None and patient.phone == "+33612345678"


def test_name_corrected_at_a_later_question(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    call.say("vasser julie")
    actions = call.say("non, c'est Vasseur avec deux s")
    assert "Julie Vasseur" in said(actions) and actions[-1].expect.kind == Expect.BIRTH_DATE
    call.key("15031985")
    call.say("oui")
    call.say("oui")
    assert call.manager.state.achieved[-1].kind == OutcomeKind.BOOKED
    [appointment] = call.raw_agenda.upcoming(
        call.raw_agenda.find_patient(
            __import__("standardiste.agenda.model", fromlist=["PatientIdentity"]).PatientIdentity(
                "Vasseur", "Julie", dt.date(1985, 3, 15)
            )
        ).id,
        SIM_NOW,
    )
    assert appointment.patient.last_name == "Vasseur"


def test_day_corrected_at_the_offer(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin mardi")
    actions = call.say("pas mardi, jeudi")
    assert "jeudi vingt-six novembre" in said(actions) and "mardi" not in said(actions)


def test_day_corrected_at_the_name_question(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin mardi")
    call.say("le premier")
    assert call.manager.question.name == "name"
    actions = call.say("pas mardi, jeudi")
    assert "jeudi vingt-six novembre" in said(actions) and "mardi" not in said(actions)
    assert call.manager.question.name == "offer" and "time_corrected" in call.manager.state.path
    call.say("le premier")
    call.say("vasseur julie")
    call.key("15031985")
    call.say("oui")
    call.say("oui")
    booked = call.manager.state.achieved[-1]
    assert booked.kind == OutcomeKind.BOOKED and booked.details["start"].startswith("2026-11-26")


def test_day_corrected_at_the_birth_date_question_keeps_the_name(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin mardi")
    call.say("le premier")
    call.say("vasseur julie")
    assert call.manager.question.name == "birth_date"
    actions = call.say("non pas mardi, plutôt jeudi")
    assert "jeudi vingt-six novembre" in said(actions) and call.manager.question.name == "offer"
    actions = call.say("le premier")
    assert call.manager.question.name == "birth_date"  # the name is not asked again
    assert "nom" not in said(actions).lower()


def test_a_birth_date_said_again_is_not_a_day_correction(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin mardi")
    call.say("le premier")
    call.say("vasseur julie")
    call.say("non pas le 12, le 15 mars 1985")
    assert "time_corrected" not in call.manager.state.path
    assert call.manager.question.name != "offer"


def test_a_name_that_is_not_a_time_is_not_a_day_correction(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin mardi")
    call.say("le premier")
    call.say("vasser julie")
    actions = call.say("non, c'est Vasseur avec deux s")
    assert "time_corrected" not in call.manager.state.path and "Julie Vasseur" in said(actions)


def test_name_corrected_at_the_phone_question(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    call.say("vasser julie")
    call.key("15031985")
    assert call.manager.question.name == "phone_confirm"
    actions = call.say("non, c'est Vasseur avec deux s")
    assert "Julie Vasseur" in said(actions) and call.manager.question.name == "phone_confirm"


def test_no_name_correction_once_the_task_is_done(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    call.say("vasser julie")
    call.key("15031985")
    call.say("oui")
    call.say("oui")
    assert call.manager.state.achieved[-1].kind == OutcomeKind.BOOKED
    actions = call.say("non, c'est Vasseur avec deux s")
    assert "corrigé" not in said(actions)  # the booking is made: nothing claims to change it


def test_what_else_names_every_goal_still_pending(simulator, understander):
    call = Call(
        simulator,
        understander,
        {"patients": [DUPONT], "appointments": [{"practitioner": "martin", "start": "2026-11-26T09:00:00"}]},
    )
    call.start()
    call.say("je voudrais annuler mon rendez-vous et aussi l'adresse et puis le parking")
    assert [str(i) for i, _ in call.manager.pending] == ["ask_address_access", "ask_parking"]
    call.say("dupont marie")
    call.key("15031985")
    done = said(call.say("oui"))
    # Where "Puis-je faire autre chose ?" would come: both goals still waiting are named, then taken;
    # the question itself comes once nothing is left.
    named = P.still_pending(["ask_address_access", "ask_parking"])
    assert "annulé" in done and named in done and done.index(named) < done.index(P.WHAT_ELSE)
    assert done.count(P.WHAT_ELSE) == 1 and done.endswith(P.WHAT_ELSE)
    assert [g["status"] for g in call.manager.agenda.to_json()] == ["done", "done", "done"]


# --- A failing action: an apology, then a human or a message; never an abandoned call ----------


class Failing:
    """The real agenda or inbox, with one method refusing."""

    def __init__(self, inner: Any, method: str, error: Exception) -> None:
        self._inner, self._method, self._error = inner, method, error

    def __getattr__(self, name: str) -> Any:
        if name == self._method:

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise self._error

            return fail
        return getattr(self._inner, name)


def failing_agenda(method: str, error: Exception):  # type: ignore[no-untyped-def]
    return lambda agenda, inbox: (Failing(agenda, method, error), inbox)


def assert_recovered(call: Call, actions: list, apology: str) -> None:
    assert apology in said(actions)
    assert call.manager.outcome is None or call.manager.outcome.kind != OutcomeKind.ABANDONED
    assert isinstance(actions[-1], Transfer) or (
        isinstance(actions[-1], Say) and actions[-1].expect is not None and "message" in actions[-1].text
    )


def test_booking_refused_by_the_agenda(simulator, understander):
    call = Call(simulator, understander, wrap=failing_agenda("book", InvalidRequest("refusé")))
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    call.say("roux thomas")
    call.key("21091979")
    call.say("oui")
    actions = call.say("oui")
    assert_recovered(call, actions, P.BOOK_FAILED)
    assert isinstance(actions[-1], Transfer)


def test_booking_refused_when_closed_offers_a_message(simulator, understander):
    call = Call(
        simulator,
        understander,
        wrap=failing_agenda("book", InvalidRequest("refusé")),
        reception_available=False,
    )
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    call.say("roux thomas")
    call.key("21091979")
    call.say("oui")
    actions = call.say("oui")
    assert_recovered(call, actions, P.BOOK_FAILED)
    call.say("oui")
    call.say("mon rendez-vous n'a pas pu être pris")
    call.say("oui")  # the same number
    assert call.manager.state.achieved[-1].kind == OutcomeKind.REQUEST_FILED


REMINDER = {
    "patients": [DUPONT],
    "appointments": [{"practitioner": "benali", "start": "2026-11-27T09:00:00"}],
}


def test_reminder_move_refused_is_not_abandoned(simulator, understander):
    call = Call(
        simulator, understander, REMINDER, wrap=failing_agenda("move", InvalidRequest("rendez-vous passé"))
    )
    call.start(direction="outbound", purpose="reminder", appointment_id=call.ids[0], caller_id="+33611111111")
    call.key("1")
    call.key("3")
    call.key("1")
    call.key("1")
    actions = call.key("1")
    assert_recovered(call, actions, P.MOVE_FAILED)
    assert call.manager.outcome is not None and call.manager.outcome.kind == OutcomeKind.TRANSFERRED


@pytest.mark.parametrize(
    ("key", "method", "apology"), [("2", "cancel", P.CANCEL_FAILED), ("1", "confirm", P.CONFIRM_FAILED)]
)
def test_reminder_cancel_or_confirm_refused(simulator, understander, key, method, apology):
    call = Call(simulator, understander, REMINDER, wrap=failing_agenda(method, InvalidRequest("refusé")))
    call.start(direction="outbound", purpose="reminder", appointment_id=call.ids[0], caller_id="+33611111111")
    call.key("1")
    actions = call.key(key)
    assert_recovered(call, actions, apology)


def test_inbox_down_means_a_human(simulator, understander):
    call = Call(
        simulator, understander, wrap=lambda a, i: (a, Failing(i, "file", RuntimeError("store down")))
    )
    call.start()
    call.say("je voudrais renouveler mon ordonnance")
    call.say("mon traitement pour la tension")
    call.say("roux thomas")
    call.key("21091979")
    actions = call.say("oui")
    assert_recovered(call, actions, P.REQUEST_FAILED)
    assert isinstance(actions[-1], Transfer)


def test_inbox_down_when_closed_never_offers_a_message_into_it(simulator, understander):
    call = Call(
        simulator,
        understander,
        wrap=lambda a, i: (a, Failing(i, "file", RuntimeError("store down"))),
        reception_available=False,
    )
    call.start()
    call.say("je voudrais renouveler mon ordonnance")
    call.say("mon traitement pour la tension")
    call.say("roux thomas")
    call.key("21091979")
    actions = call.say("oui")
    # Nobody to answer and no inbox: the fallback's voice message box keeps the caller's message.
    assert P.REQUEST_FAILED in said(actions) and P.TO_MESSAGE_BOX in said(actions)
    assert isinstance(actions[-1], Transfer) and actions[-1].target == "message"
    assert call.manager.state.finished


def test_store_down_during_search_means_an_apology_and_a_human(simulator, understander):
    call = Call(simulator, understander, wrap=failing_agenda("find_slots", RuntimeError("database is gone")))
    call.start()
    actions = call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    assert_recovered(call, actions, P.ACTION_FAILED)
    assert call.manager.outcome.details["reason"] == "internal_error"


def test_failed_transfer_offers_a_message(simulator, understander):
    call = Call(simulator, understander)
    call.start()
    assert isinstance(call.say("je voudrais parler au secrétariat")[-1], Transfer)
    actions = call.manager.handle(TransferFailed(call.now, "no_answer"))
    assert "laisser un message" in said(actions) and call.manager.outcome is None


# --- Nothing the assistant can say reassures or advises ----------------------------------------

FORBIDDEN = (
    "pas grave", "ne vous inquietez pas", "ne vous en faites pas", "pas d'inquietude", "rassurez-vous",
    "rien de grave", "rien de serieux", "ce n'est rien", "ca va aller", "ca va passer", "c'est normal",
    "c'est benin", "surement rien", "probablement rien", "sans gravite", "pas dangereux",
    "je vous conseille de prendre", "prenez du", "prenez un", "prenez une", "paracetamol", "doliprane",
    "ibuprofene", "aspirine", "reposez-vous", "buvez", "appliquez", "mettez de la glace",
    "vous pouvez attendre", "ca peut attendre", "pas besoin de consulter", "inutile de consulter",
)  # fmt: skip


def catalogue() -> list[str]:
    """Every string literal of the dialogue's modules (prompts, and any text a flow says itself)."""
    root = Path(P.__file__).parent
    texts: list[str] = []
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        texts += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return texts


def test_prompt_catalogue_has_no_reassurance_or_medical_advice():
    texts = catalogue()
    assert len(texts) > 200
    found = [(phrase, text) for text in texts for phrase in FORBIDDEN if phrase in fold(text)]
    assert found == []


def test_the_forbidden_list_catches_what_the_issue_saw():
    assert any(p in fold("Ce n'est pas grave, le secrétariat vous le demandera.") for p in FORBIDDEN)
