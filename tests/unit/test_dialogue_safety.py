"""The safety net at every turn of every flow: real understanding engine, real SQL agenda.

A vital red flag said at any question (opening, booking, identity, recap, requests, reminder and
follow-up calls) transfers at once with priority after the 15 instruction; a distress cue asks one check
question first; a same-day flag puts the caller through to a human; key 0 always reaches a human.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import PatientIdentity, SlotQuery, Source
from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import (
    CallStarted,
    Expect,
    Hangup,
    Heard,
    Keypad,
    OutcomeKind,
    Say,
    Transfer,
)
from standardiste.dialogue.services import ConversationServices
from tests.fixtures.dialogue import SIM_NOW

PARIS = ZoneInfo("Europe/Paris")


class Call:
    def __init__(self, simulator, understander, **services) -> None:  # type: ignore[no-untyped-def]
        self.db, self.agenda, self.inbox, _ = simulator.fresh()
        self.practice = simulator.practice
        self.manager = DialogueManager(
            ConversationServices(self.practice, understander, self.agenda, self.inbox, **services)
        )
        self.now = SIM_NOW

    def start(self, **kw) -> list:  # type: ignore[no-untyped-def]
        kw.setdefault("caller_id", "+33612345678")
        return self.manager.handle(CallStarted("safety-call", self.now, **kw))

    def say(self, text: str) -> list:
        self.now += dt.timedelta(seconds=5)
        return self.manager.handle(Heard(text, self.now))

    def key(self, digits: str) -> list:
        self.now += dt.timedelta(seconds=5)
        return self.manager.handle(Keypad(digits, self.now))

    def appointment(self):  # type: ignore[no-untyped-def]
        patient = PatientIdentity("Durand", "Paul", dt.date(1970, 5, 2), "+33611111111")
        start = dt.datetime(2026, 11, 27, 9, 0, tzinfo=PARIS)
        query = SlotQuery(
            practitioner_id="benali", earliest=start, latest=start + dt.timedelta(hours=1), limit=1
        )
        slot = self.agenda.find_slots(query, SIM_NOW)[0]
        return self.agenda.book(slot, patient, Source.STAFF, SIM_NOW)


@pytest.fixture
def call(simulator, understander) -> Call:
    return Call(simulator, understander)


def assert_vital(actions: list, call: Call) -> None:
    says = [a for a in actions if isinstance(a, Say)]
    assert says and "composez le 15" in says[0].text and "112" in says[0].text, actions
    assert isinstance(actions[-1], Transfer) and actions[-1].priority, actions
    assert call.manager.outcome is not None
    assert call.manager.outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED


def at_practitioner_question(call: Call) -> None:
    call.start()
    asked = call.say("bonjour je voudrais prendre un rendez-vous")
    assert asked[0].expect.kind == Expect.PRACTITIONER


def at_birth_date_question(call: Call) -> None:
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    call.say("le premier")
    asked = call.say("dupont marie")
    assert asked[0].expect.kind == Expect.BIRTH_DATE


def at_recap(call: Call) -> None:
    at_birth_date_question(call)
    call.key("15031985")
    recap = call.say("oui")
    assert recap[0].text.startswith("Je récapitule")


def at_request_question(call: Call) -> None:
    call.start()
    asked = call.say("je voudrais renouveler mon ordonnance")
    assert call.manager.question is not None and asked


def at_reminder(call: Call) -> None:
    appointment = call.appointment()
    call.start(direction="outbound", purpose="reminder", appointment_id=appointment.id)


def at_follow_up(call: Call) -> None:
    appointment = call.appointment()
    call.start(direction="outbound", purpose="follow_up", appointment_id=appointment.id)
    call.say("oui c'est moi")


FLOWS = {
    "opening": lambda call: call.start(),
    "practitioner": at_practitioner_question,
    "birth_date": at_birth_date_question,
    "recap": at_recap,
    "request": at_request_question,
    "reminder": at_reminder,
    "follow_up": at_follow_up,
}


@pytest.mark.parametrize("where", sorted(FLOWS))
@pytest.mark.parametrize(
    "said",
    [
        "il ne respire plus",
        "euh ma fille elle convulse",
        "he can't breathe",
        "c'est pour le suivi de mon diabète mais là j'ai une douleur dans la poitrine qui serre très fort",
    ],
)
def test_vital_red_flag_at_every_question(call: Call, where: str, said: str) -> None:
    FLOWS[where](call)
    assert_vital(call.say(said), call)


@pytest.mark.parametrize("where", sorted(FLOWS))
def test_distress_asks_one_check_question_first(call: Call, where: str) -> None:
    FLOWS[where](call)
    asked = call.say("c'est grave je vous dis il faut quelqu'un")
    assert "urgence" in asked[0].text and asked[0].expect.kind == Expect.YES_NO
    assert call.manager.question is not None and call.manager.question.name == "emergency_confirm"
    assert_vital(call.say("oui"), call)


def test_distress_denied_goes_back_to_the_practitioner_question(call: Call) -> None:
    at_practitioner_question(call)
    call.say("c'est grave je vous dis il faut quelqu'un")
    back = call.say("non")
    assert call.manager.outcome is None
    assert back[0].expect.kind == Expect.PRACTITIONER


def test_unclear_answer_to_the_check_twice_is_an_emergency(call: Call) -> None:
    at_practitioner_question(call)
    call.say("vite vite aidez moi")
    call.say("patati patata")
    assert_vital(call.say("patati patata"), call)


def test_check_question_by_keypad(call: Call) -> None:
    at_birth_date_question(call)
    call.say("au secours")
    assert_vital(call.key("1"), call)


def test_red_flag_at_the_check_question_transfers(call: Call) -> None:
    at_practitioner_question(call)
    call.say("c'est grave")
    assert_vital(call.say("elle ne répond plus"), call)


@pytest.mark.parametrize("where", sorted(FLOWS))
def test_key_0_reaches_a_human_everywhere(call: Call, where: str) -> None:
    FLOWS[where](call)
    actions = call.key("0")
    assert isinstance(actions[-1], Transfer)


def test_key_0_at_the_check_question_reaches_a_human(call: Call) -> None:
    at_practitioner_question(call)
    call.say("c'est grave")
    assert isinstance(call.key("0")[-1], Transfer)


def same_day_answer(call: Call, text: str) -> list:
    """What a same-day flag gives; when the classifier also says emergency, a check comes first."""
    actions = call.say(text)
    if call.manager.question is not None and call.manager.question.name == "emergency_confirm":
        actions = call.say("non")
    return actions


def test_same_day_red_flag_puts_through_to_a_human(call: Call) -> None:
    call.start()
    actions = same_day_answer(
        call, "ma mère est tombée et elle s'est cognée la tête je voudrais un rendez-vous"
    )
    assert isinstance(actions[-1], Transfer) and not actions[-1].priority
    assert "aujourd'hui" in actions[0].text and "composez le 15" in actions[0].text
    assert "same_day:head_knock" in call.manager.state.path


def test_dark_thoughts_give_the_3114(call: Call) -> None:
    call.start()
    actions = same_day_answer(call, "j'ai des idées noires en ce moment")
    assert isinstance(actions[-1], Transfer)
    assert "31 14" in actions[0].text


def test_same_day_without_reception_offers_a_message(simulator, understander) -> None:
    call = Call(simulator, understander, reception_available=False)
    call.start()
    actions = same_day_answer(call, "mon fils a fait une crise d'asthme")
    assert not any(isinstance(a, Transfer) for a in actions)
    assert "same_day:asthma_attack" in call.manager.state.path


def test_vital_without_reception_says_15_and_hangs_up(simulator, understander) -> None:
    call = Call(simulator, understander, reception_available=False)
    at_birth_date_question(call)
    actions = call.say("il ne respire plus")
    assert "composez le 15" in actions[0].text and isinstance(actions[-1], Hangup)
    assert call.manager.outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED


def test_nothing_queues_before_the_emergency(call: Call) -> None:
    call.start()
    # A second request mentioned in passing is dropped, the 15 instruction comes first.
    actions = call.say("je voudrais un rendez-vous et aussi une ordonnance mais là mon mari s'écroule")
    assert_vital(actions, call)
    assert call.manager.pending == []


def test_past_event_does_not_interrupt_booking(call: Call) -> None:
    call.start()
    actions = call.say("mon père a fait un infarctus il y a dix ans je voudrais un rendez-vous de suivi")
    assert not any(isinstance(a, Transfer) for a in actions)
    assert call.manager.outcome is None
