"""DialogueManager edge cases, driven event by event with the real understanding engine and the real
SQL agenda (a fresh migrated SQLite database per test)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import PatientIdentity, SlotQuery, Source
from standardiste.config import Faq
from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import (
    CallerHungUp,
    CallStarted,
    Expect,
    Hangup,
    Heard,
    Keypad,
    NoInput,
    OutcomeKind,
    Say,
    Transfer,
    TransferFailed,
)
from standardiste.dialogue.services import ConversationServices
from tests.fixtures.dialogue import SIM_NOW

PARIS = ZoneInfo("Europe/Paris")


class Call:
    """One call: a manager over fresh data, and a clock that moves on a few seconds per turn."""

    def __init__(self, simulator, understander, practice=None, **services) -> None:  # type: ignore[no-untyped-def]
        self.db, self.agenda, self.inbox, _ = simulator.fresh()
        self.practice = practice or simulator.practice
        self.manager = DialogueManager(
            ConversationServices(self.practice, understander, self.agenda, self.inbox, **services)
        )
        self.now = SIM_NOW

    def start(self, now: dt.datetime | None = None, **kw) -> list:  # type: ignore[no-untyped-def]
        self.now = now or self.now
        kw.setdefault("caller_id", "+33612345678")
        return self.manager.handle(CallStarted("test-call", self.now, **kw))

    def say(self, text: str, after_s: float = 5) -> list:
        self.now += dt.timedelta(seconds=after_s)
        return self.manager.handle(Heard(text, self.now))

    def key(self, digits: str, after_s: float = 5) -> list:
        self.now += dt.timedelta(seconds=after_s)
        return self.manager.handle(Keypad(digits, self.now))

    def last_question(self, actions: list) -> Say:
        says = [a for a in actions if isinstance(a, Say)]
        assert says, actions
        return says[-1]


@pytest.fixture
def call(simulator, understander) -> Call:
    return Call(simulator, understander)


def book_up_to_recap(call: Call) -> list:
    call.start()
    offer = call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    assert "Je peux vous proposer" in offer[0].text
    call.say("le premier")
    call.say("dupont marie")
    call.key("15031985")
    recap = call.say("oui")
    assert recap[0].text.startswith("Je récapitule")
    return recap


def test_expectations_follow_the_question(call):
    greeting = call.start()
    assert greeting[0].expect.kind == Expect.OPEN
    offer = call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    expect = offer[0].expect
    assert expect.kind == Expect.CHOICE and "le premier" in expect.phrases and "jeudi" in expect.phrases
    name = call.say("le premier")
    assert name[0].expect.kind == Expect.NAME
    birth = call.say("dupont marie")
    assert birth[0].expect.kind == Expect.BIRTH_DATE and birth[0].expect.digits == 8
    phone = call.key("15031985")
    assert phone[0].expect.kind == Expect.YES_NO and phone[0].expect.digits == 1
    call.say("non")
    # Refused caller ID: the number is asked, 10 keypad digits.
    assert call.manager.question.expect.kind == Expect.PHONE
    assert call.manager.question.expect.digits == 10


def test_practitioner_question_offers_names_and_keys(call):
    call.start()
    actions = call.say("bonjour je voudrais prendre un rendez-vous")
    expect = actions[0].expect
    assert expect.kind == Expect.PRACTITIONER
    assert "docteur martin" in expect.phrases and "peu importe" in expect.phrases
    reprompt = call.manager.handle(NoInput(call.now))
    assert "Tapez 1 pour le docteur Claire Martin" in reprompt[0].text


def test_slot_taken_at_booking_offers_alternatives(call):
    book_up_to_recap(call)
    chosen = call.manager.booking.chosen[0]
    # Our hold has expired and someone else booked that very slot meanwhile.
    later = call.now + dt.timedelta(minutes=10)
    call.agenda.book(chosen, PatientIdentity("Autre", "Patient", dt.date(1970, 1, 1)), Source.STAFF, later)
    call.now = later
    actions = call.say("oui")
    assert actions[0].text.startswith("Je suis désolé, ce créneau vient d'être pris.")
    assert "Je peux vous proposer" in actions[0].text
    assert call.manager.outcome is None  # still talking
    call.say("le premier")
    final = call.say("oui")
    assert "C'est noté" in final[0].text
    booked = call.manager.state.achieved[-1]
    assert booked.kind == OutcomeKind.BOOKED and booked.details["start"] != chosen.start.isoformat()


def test_holds_are_released_when_the_caller_hangs_up(call, simulator, understander):
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    offered = [slot for slot, _ in call.manager.booking.offered]
    call.manager.handle(CallerHungUp(call.now))
    assert call.manager.outcome.kind == OutcomeKind.ABANDONED
    # Another caller can hold the very same slots at once.
    for slot in offered:
        call.agenda.hold(slot, "someone-else", call.now)


def test_correction_at_recap_searches_again(call):
    book_up_to_recap(call)
    actions = call.say("non pas jeudi plutôt vendredi")
    assert "vendredi vingt-sept novembre" in actions[0].text


def test_missing_practical_information_goes_to_a_human(simulator, understander):
    practice = simulator.practice.model_copy(update={"faq": Faq(parking="")})
    call = Call(simulator, understander, practice=practice)
    call.start()
    actions = call.say("est-ce qu'il y a un parking pour se garer")
    assert actions[0].text.startswith("Le cabinet ne m'a pas donné cette information.")
    assert "message" in actions[0].text  # a message or a human, the caller chooses
    actions = call.say("passez-moi le secrétariat")
    assert isinstance(actions[-1], Transfer)


def test_failed_transfer_offers_a_message_once(call):
    call.start()
    assert isinstance(call.key("0")[-1], Transfer)
    offer = call.manager.handle(TransferFailed(call.now, "busy"))
    assert "laisser un message" in offer[0].text
    assert call.manager.outcome is None
    call.say("oui")
    call.say("rappelez-moi pour ma facture s'il vous plaît")
    call.say("simon eric")
    call.key("06061966")
    done = call.say("oui")
    assert "Votre message est transmis" in done[0].text
    [request] = call.inbox.list()
    assert request.kind == "callback" and request.callback_number == "+33612345678"
    # Asking for a human again: nobody can take it, no second message loop.
    again = call.key("0")
    assert isinstance(again[-1], Hangup)


def test_transfer_failed_without_a_transfer_is_ignored(call):
    call.start()
    call.key("1")
    assert call.manager.handle(TransferFailed(call.now)) == []
    bye = call.say("non merci")
    assert isinstance(bye[-1], Hangup)
    assert call.manager.handle(TransferFailed(call.now)) == []
    assert call.manager.outcome.kind == OutcomeKind.ANSWERED


def test_emergency_outside_hours_says_15(call):
    sunday = dt.datetime(2026, 11, 29, 15, 0, tzinfo=PARIS)
    call.start(now=sunday)
    actions = call.say("ma femme a une douleur très forte dans la poitrine")
    assert "composez le 15" in actions[0].text and isinstance(actions[-1], Hangup)
    outcome = call.manager.outcome
    assert outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED and outcome.details["transferred"] is False


def test_classifier_only_emergency_asks_once(call):
    candidates = ["c'est une urgence", "c'est urgent", "mon fils s'est cassé le bras"]
    understander = call.manager.services.understander
    phrase = next(
        (t for t in candidates if understander.parse(t, SIM_NOW).needs_emergency_confirmation), None
    )
    # The packaged model decides which; none flagged would lose this path's test: a failure, not a skip.
    assert phrase is not None, f"the classifier flags none of {candidates} as an emergency to confirm"
    call.start()
    actions = call.say(phrase)
    assert "urgence" in actions[0].text
    assert actions[0].expect.kind == Expect.YES_NO
    final = call.say("oui")
    assert isinstance(final[-1], Transfer) and final[-1].priority


def test_classifier_only_emergency_denied_resumes(call):
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur benali")
    understander = call.manager.services.understander
    phrase = "c'est une urgence"
    assert understander.parse(phrase, SIM_NOW).needs_emergency_confirmation, "the packaged model changed"
    asked = call.say(phrase)
    assert "urgence" in asked[0].text
    resumed = call.say("non")
    assert "Pour quand" in resumed[0].text  # back to the booking question


def test_asking_to_repeat_is_not_a_failure(call):
    call.start()
    call.say("patati patata")  # one real failure
    assert call.manager.failures == 1
    again = call.say("vous pouvez répéter")
    assert again[0].text.startswith("Je répète.") and call.manager.failures == 1
    assert call.manager.outcome is None
    assert "Le cabinet est ouvert" in call.say("vos horaires s'il vous plaît")[0].text


def test_no_input_twice_on_a_slot_question_transfers(call):
    call.start()
    call.say("je voudrais annuler mon rendez-vous")
    first = call.manager.handle(NoInput(call.now))
    assert "Dites votre nom de famille" in first[0].text
    second = call.manager.handle(NoInput(call.now))
    assert isinstance(second[-1], Transfer)


def test_garbage_events_are_safe(call):
    call.start()
    assert call.say("") and call.manager.failures == 1  # empty transcript: no input
    assert call.manager.handle(Keypad("", call.now))  # empty entry: no input, then a human
    assert call.manager.outcome.kind == OutcomeKind.TRANSFERRED
    assert call.manager.handle(Heard("allo", call.now)) == []  # after the end: nothing
    assert call.manager.handle(object()) == []  # type: ignore[arg-type]


class BrokenAgenda:
    """A dead dependency (the database went away): every call raises."""

    def __getattr__(self, name: str):
        def fail(*args, **kwargs):
            raise RuntimeError("database is gone")

        return fail


def test_dead_agenda_means_a_human(simulator, understander, demo_config):
    manager = DialogueManager(
        ConversationServices(demo_config.practice, understander, BrokenAgenda(), BrokenAgenda())
    )
    manager.handle(CallStarted("c", SIM_NOW, caller_id="+33612345678"))
    actions = manager.handle(Heard("je voudrais un rendez-vous avec le docteur benali demain", SIM_NOW))
    assert isinstance(actions[-1], Transfer)
    assert manager.outcome.kind == OutcomeKind.TRANSFERRED
    assert manager.outcome.details["reason"] == "internal_error"


def test_outbound_with_unknown_appointment_fails_cleanly(call):
    actions = call.start(direction="outbound", purpose="reminder", appointment_id="nope")
    assert isinstance(actions[-1], Hangup)
    assert call.manager.outcome.kind == OutcomeKind.FAILED


def test_outbound_no_answer(call):
    patient = PatientIdentity("Durand", "Paul", dt.date(1970, 5, 2), "+33611111111")
    start = dt.datetime(2026, 11, 27, 9, 0, tzinfo=PARIS)
    query = SlotQuery(practitioner_id="benali", earliest=start, latest=start + dt.timedelta(hours=1), limit=1)
    slot = call.agenda.find_slots(query, SIM_NOW)[0]
    appointment = call.agenda.book(slot, patient, Source.STAFF, SIM_NOW)
    call.start(direction="outbound", purpose="reminder", appointment_id=appointment.id)
    call.manager.handle(NoInput(call.now))
    actions = call.manager.handle(NoInput(call.now))
    assert isinstance(actions[-1], Hangup)
    assert call.manager.outcome.kind == OutcomeKind.NO_ANSWER
    assert "novembre" not in " ".join(u.text for u in call.manager.transcript)


def test_human_at_any_point_by_voice(call):
    call.start()
    call.say("je voudrais un rendez-vous avec le docteur martin jeudi matin")
    offered = [slot for slot, _ in call.manager.booking.offered]
    call.say("le premier")
    actions = call.say("je préfère parler à une vraie personne")
    assert isinstance(actions[-1], Transfer)
    # The slots held for this call are free again.
    for slot in offered:
        call.agenda.hold(slot, "someone-else", call.now)


def test_picking_among_offered_times():
    from standardiste.dialogue.when import pick

    now = SIM_NOW
    options = [
        now + dt.timedelta(days=d, hours=h) for d, h in ((1, 0), (1, 4), (3, 1))
    ]  # wed 10h, wed 14h, fri 11h
    assert pick(options, "", "2", None, now) == [1]
    assert pick(options, "", "7", None, now) == []
    assert pick(options, "le premier", None, None, now) == [0]
    assert pick(options, "non pas le premier, le deuxième", None, None, now) == [1]
    assert pick(options, "le dernier", None, None, now) == [2]
    assert pick(options, "vendredi", None, None, now) == [2]
    assert pick(options, "mercredi", None, None, now) == [0, 1]  # ambiguous: asked again
    assert pick(options, "non pas mercredi, vendredi", None, None, now) == [2]
    assert pick(options, "plutôt l'après-midi", None, None, now) == [1]


def test_french_dates_for_the_ear():
    from standardiste.dialogue import prompts as P

    moment = dt.datetime(2026, 12, 1, 14, 30, tzinfo=PARIS)
    assert P.datetime_fr(moment) == "le mardi premier décembre à quatorze heures trente"
    assert (
        P.datetime_fr(moment, moment - dt.timedelta(days=1))
        == "demain, mardi premier décembre à quatorze heures trente"
    )
    assert P.of_datetime_fr(moment) == "du mardi premier décembre à quatorze heures trente"
    assert P.birth_date_fr(dt.date(1985, 3, 15)) == "quinze mars mille neuf cent quatre-vingt-cinq"
    assert P.phone_fr("+33612345678") == "zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit"
    assert P.number_fr(91) == "quatre-vingt-onze" and P.number_fr(2000) == "deux mille"


def test_bare_weekday_without_entity_said_that_weekday_is_next_week() -> None:
    """The keyword path (no date entity, e.g. a grammar recogniser's words): same rule as dates.py."""
    from standardiste.dialogue.when import time_wish

    monday = dt.datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    wish = time_wish(None, "lundi", monday)
    assert wish is not None and wish.day == dt.date(2026, 12, 14)
    wish = time_wish(None, "lundi aujourd'hui", monday)
    assert wish is not None and wish.day == dt.date(2026, 12, 7)
    wish = time_wish(None, "mercredi", monday)
    assert wish is not None and wish.day == dt.date(2026, 12, 9)
