"""Calls we place: appointment reminders and follow-ups after a consultation.

Nothing about the appointment is said before the person has said they are the patient.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from standardiste.agenda.model import AgendaError, Appointment, RequestDraft, RequestKind
from standardiste.dialogue import prompts as P
from standardiste.dialogue.appointments import AppointmentTask
from standardiste.dialogue.core import Answer, CallContext, Question, fold
from standardiste.dialogue.messages import Action, Expect, Expectation, Hangup, OutcomeKind
from standardiste.understanding.types import Intent, Urgency

log = logging.getLogger(__name__)

_WORRYING = (
    "pas bien",
    "pas mieux",
    "pire",
    "toujours mal",
    "encore mal",
    "douleur",
    "fievre",
    "inquiet",
    "inquiete",
    "aggrave",
    "empire",
    "saigne",
    "vomi",
    "mal au",
    "mal a la",
    "pas terrible",
    "moins bien",
    "tres mal",
    "ca va mal",
    "toujours pas",
)
_WELL = ("ca va", "bien", "mieux", "en forme", "gueri", "plus rien", "parfait", "tres bien", "impeccable")
_SATISFACTION_WORDS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5}


@dataclass(slots=True)
class OutboundState:
    purpose: str = "reminder"  # or "follow_up"
    appointment: Appointment | None = None


class OutboundTask:
    """Reminder and follow-up calls: the person first, then the appointment (through the appointment task)."""

    def __init__(self, core: CallContext, appointments: AppointmentTask) -> None:
        self.core = core
        self.appointments = appointments
        self.current = OutboundState()

    @property
    def appointment(self) -> Appointment | None:
        return self.current.appointment

    def start(self) -> list[Action]:
        purpose = self.core.state.purpose or "reminder"
        self.current.purpose = purpose
        try:
            self.current.appointment = self.core.services.agenda.get(self.core.state.appointment_id or "")
        except AgendaError as err:
            log.warning(
                "outbound call %s: appointment %s: %s",
                self.core.state.call_id,
                self.core.state.appointment_id,
                err,
            )
            self.core.achieve(OutcomeKind.FAILED, reason="appointment_not_found")
            return self.core.finish(
                [
                    self.core.say(
                        P.outbound_unknown(self.core.practice),
                        interruptible=False,
                    ),
                    Hangup("appointment_not_found"),
                ]
            )
        patient = self.current.appointment.patient
        name = f"{patient.first_name} {patient.last_name}"
        text = P.is_patient(self.core.practice, name)

        def on_answer(answer: Answer) -> list[Action] | None:
            yes = answer.yes_no()
            if yes is True:
                return self._follow_up_question() if purpose == "follow_up" else self._reminder_question()
            if yes is False:
                return self._wrong_person()
            return None

        question = Question(
            "is_patient",
            text,
            P.is_patient_simple(name),
            self.core.yes_no_expect(),
            on_answer,
            on_give_up=self._outbound_no_answer,
            allow_switch=False,
        )
        return self.core.ask(question)

    def _wrong_person(self) -> list[Action]:
        self.core.achieve(OutcomeKind.WRONG_PERSON)
        return self.core.finish(
            [
                self.core.say(
                    P.wrong_person(self.core.practice),
                    interruptible=False,
                ),
                Hangup("wrong_person"),
            ]
        )

    def _outbound_no_answer(self) -> list[Action]:
        heard = self.core.caller_spoke
        self.core.achieve(OutcomeKind.FAILED if heard else OutcomeKind.NO_ANSWER)
        return self.core.finish(
            [
                self.core.say(
                    P.outbound_not_understood(self.core.practice),
                    interruptible=False,
                ),
                Hangup("no_answer"),
            ]
        )

    # --- Reminder --------------------------------------------------------------------------------

    def _reminder_question(self) -> list[Action]:
        a = self.appointment
        assert a is not None
        when = (
            f"{P.of_datetime_fr(self.core.local(a.start), self.core.now())} avec "
            f"{P.practitioner_fr(self.core.practice, a.practitioner_id)}"
        )
        text = P.reminder(when)

        def on_answer(answer: Answer) -> list[Action] | None:
            choice = self._reminder_choice(answer)
            if choice == "confirm":
                return self.appointments.confirm(a, "")
            if choice == "cancel":
                return self.appointments.cancel(a)
            if choice == "move":
                booking = self.appointments.booking
                booking.start(None, moving=a, source=self.appointments.source())
                return self.core.ask(booking.wish_question(P.MOVE_WHEN))
            return None

        simple = P.REMINDER_SIMPLE
        return self.core.ask(
            Question(
                "reminder",
                text,
                simple,
                Expectation(Expect.CHOICE, ("oui", "confirmer", "annuler", "déplacer", "changer"), digits=1),
                on_answer,
                on_give_up=self._outbound_no_answer,
                allow_switch=False,
            )
        )

    def _reminder_choice(self, answer: Answer) -> str | None:
        if answer.keys is not None:
            return {"1": "confirm", "2": "cancel", "3": "move"}.get(answer.keys[:1])
        folded = fold(answer.text)
        if any(
            w in folded for w in ("deplac", "changer", "decaler", "reporter", "autre horaire", "autre jour")
        ):
            return "move"
        if any(w in folded for w in ("annul", "pourrai pas venir", "peux pas venir", "pourrais pas venir")):
            return "cancel"
        intent = answer.intent
        if intent == Intent.RESCHEDULE_APPOINTMENT:
            return "move"
        if intent == Intent.CANCEL_APPOINTMENT:
            return "cancel"
        if intent == Intent.CONFIRM_APPOINTMENT or answer.yes_no() is True or "confirm" in folded:
            return "confirm"
        return None

    # --- Follow-up -------------------------------------------------------------------------------

    def _follow_up_question(self) -> list[Action]:
        text = P.FOLLOW_UP

        def on_answer(answer: Answer) -> list[Action] | None:
            if answer.keys is not None:
                return None
            u = answer.understanding
            folded = f" {fold(answer.text)} "
            worrying = (u is not None and u.urgency in (Urgency.URGENT, Urgency.SOON)) or any(
                w in folded for w in _WORRYING
            )
            if worrying:
                a = self.appointment
                patient = a.patient if a is not None else None
                draft = RequestDraft(
                    kind=RequestKind.FOLLOW_UP_CONCERN,
                    caller_name=f"{patient.first_name} {patient.last_name}" if patient else "inconnu",
                    birth_date=patient.birth_date if patient else None,
                    callback_number=(patient.phone if patient else None) or self.core.state.caller_id,
                    details=answer.text,
                    urgent=True,
                    call_id=self.core.state.call_id or None,
                    practitioner_id=a.practitioner_id if a else None,
                    extra={"appointment_id": a.id} if a else {},
                )
                request_id = self.core.services.inbox.file(draft, self.core.now())
                self.core.achieve(
                    OutcomeKind.REQUEST_FILED,
                    request_type=str(RequestKind.FOLLOW_UP_CONCERN),
                    request_id=request_id,
                    urgent=True,
                )
                return self._satisfaction_question(P.follow_up_concern(self.core.practice))
            if any(w in folded for w in _WELL) or answer.yes_no() is not None:
                return self._satisfaction_question(P.FOLLOW_UP_GLAD)
            return None

        return self.core.ask(
            Question(
                "follow_up",
                text,
                P.FOLLOW_UP_SIMPLE,
                Expectation(Expect.OPEN),
                on_answer,
                on_give_up=self._outbound_no_answer,
                allow_switch=False,
            )
        )

    def _satisfaction_question(self, preamble: str) -> list[Action]:
        text = P.SATISFACTION

        def on_answer(answer: Answer) -> list[Action] | None:
            score = None
            if answer.keys is not None and answer.keys[:1] in "12345":
                score = int(answer.keys[0])
            elif answer.spoken:
                digits = re.findall(r"\b[1-5]\b", answer.text)
                words = [w for w in re.findall(r"[a-z]+", fold(answer.text)) if w in _SATISFACTION_WORDS]
                score = int(digits[-1]) if digits else (_SATISFACTION_WORDS[words[-1]] if words else None)
            if score is None:
                return None
            return self._end_follow_up(score)

        return self.core.ask(
            Question(
                "satisfaction",
                text,
                P.SATISFACTION_KEYS,
                Expectation(Expect.SATISFACTION, digits=1),
                on_answer,
                on_give_up=lambda: self._end_follow_up(None),
                allow_switch=False,
            ),
            preamble,
        )

    def _end_follow_up(self, score: int | None) -> list[Action]:
        if not any(o.kind == OutcomeKind.REQUEST_FILED for o in self.core.state.achieved):
            self.core.achieve(OutcomeKind.ANSWERED, topic="follow_up", satisfaction=score)
        else:
            self.core.state.path.append(f"satisfaction:{score}")
            last = self.core.state.achieved[-1]
            last.details["satisfaction"] = score
        return self.core.finish(
            [
                self.core.say(P.FOLLOW_UP_BYE, interruptible=False),
                Hangup("done"),
            ]
        )

    def after_task(self, said: str) -> list[Action]:
        return self.core.finish(
            [self.core.say(f"{said} {P.OUTBOUND_BYE}", interruptible=False), Hangup("done")]
        )
