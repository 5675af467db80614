"""An existing appointment: find the caller, pick the appointment, then cancel, move or confirm it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from standardiste.agenda.model import AgendaError, Appointment, PatientIdentity, Source
from standardiste.dialogue import prompts as P
from standardiste.dialogue.booking import BookingTask
from standardiste.dialogue.core import Answer, CallContext, Question, fold
from standardiste.dialogue.identity import Identity, IdentityFlow, normalise_phone
from standardiste.dialogue.messages import Action, Expect, Expectation, OutcomeKind
from standardiste.dialogue.when import TimeWish, part_of_day_in, pick, time_wish, wish_from_entity
from standardiste.understanding.types import EntityKind

log = logging.getLogger(__name__)

Change = Literal["cancel", "move", "confirm"]


@dataclass(slots=True)
class ChangeState:
    change: Change
    hint: Answer | None = None  # the caller's first words ("déplacer mon rendez-vous de lundi à mercredi")


class AppointmentTask:
    """Find the caller's file, pick the appointment, then cancel, move (through booking) or confirm it."""

    def __init__(self, core: CallContext, caller: IdentityFlow, booking: BookingTask) -> None:
        self.core = core
        self.caller = caller
        self.booking = booking
        self.current: ChangeState | None = None
        self._lookup_failures = 0  # over the whole call: a second miss goes to a human

    def start(self, change: Change, answer: Answer | None) -> list[Action]:
        self.core.release_holds()
        self.booking.current = None
        if answer is not None and answer.spoken:
            self.caller.take_hints(answer)
        self.current = ChangeState(change, answer)
        return self.caller.collect(self._lookup, phone=False, preamble=P.FIND_FILE)

    def _lookup(self, ident: Identity) -> list[Action]:
        assert ident.birth_date is not None
        now = self.core.now()
        # The file the caller confirmed ("Texier Monique, c'est bien vous ?", identity_check.py) is used
        # as is; otherwise the agenda matches the confirmed name and birth date.
        confirmed = self.caller.check.state.patient_id
        patient = (
            None
            if confirmed
            else self.core.services.agenda.find_patient(
                # The caller ID helps the agenda match a misheard name (same birth date, same phone).
                PatientIdentity(
                    ident.last_name,
                    ident.first_name,
                    ident.birth_date,
                    normalise_phone(self.core.state.caller_id or ""),
                )
            )
        )
        if patient is None and not confirmed:
            self._lookup_failures += 1
            if self._lookup_failures >= 2:
                return self.core.transfer(
                    P.FILE_NOT_FOUND_TRANSFER,
                    reason="patient_not_found",
                )
            self.caller.forget()
            return self.caller.collect(
                self._lookup,
                phone=False,
                preamble=P.FILE_NOT_FOUND_RETRY,
            )
        patient_id = confirmed or (patient.id if patient is not None else "")
        upcoming = [a for a in self.core.services.agenda.upcoming(patient_id, now)]
        if not upcoming:
            return self.after_task_no_appointment()
        hint = self._state().hint
        if hint is not None and hint.spoken and len(upcoming) > 1:
            starts = [self.core.local(a.start) for a in upcoming]
            chosen = (
                pick(starts, hint.text, None, hint.understanding, hint.now)
                if time_wish(hint.understanding, hint.text, hint.now)
                else []
            )
            if len(chosen) == 1:
                return self._act_on(upcoming[chosen[0]])
        if len(upcoming) == 1:
            return self._act_on(upcoming[0])
        return self.core.ask(self._which_appointment(upcoming[:3]))

    def which_change(self) -> list[Action]:
        """ "1 pour annuler, 2 pour déplacer, 3 pour confirmer" (a keypad caller at the menu)."""

        def on_answer(answer: Answer) -> list[Action] | None:
            folded = fold(answer.text)
            if answer.keys == "1" or "annul" in folded:
                return self.start("cancel", None)
            if answer.keys == "2" or any(w in folded for w in ("deplac", "changer", "decaler", "reporter")):
                return self.start("move", None)
            if answer.keys == "3" or "confirm" in folded:
                return self.start("confirm", None)
            return None

        text = P.CANCEL_OR_MOVE
        question = Question(
            "cancel_or_move",
            text,
            P.CANCEL_OR_MOVE_KEYS,
            Expectation(Expect.CHOICE, ("annuler", "déplacer", "confirmer"), 1),
            on_answer,
        )
        return self.core.ask(question)

    def _state(self) -> ChangeState:
        assert self.current is not None
        return self.current

    def after_task_no_appointment(self) -> list[Action]:
        self.core.achieve(OutcomeKind.ANSWERED, topic="no_upcoming_appointment")
        return self.core.what_else(P.NO_UPCOMING)

    def _which_appointment(self, options: list[Appointment]) -> Question:
        now = self.core.now()
        parts = [
            f"{P.datetime_fr(self.core.local(a.start), now)} avec "
            f"{P.practitioner_fr(self.core.practice, a.practitioner_id)}"
            for a in options
        ]
        text = P.which_appointment(parts)
        keys = ", ".join(f"{i + 1} pour {P.ordinal_fr(i)}" for i in range(len(options)))

        def on_answer(answer: Answer) -> list[Action] | None:
            starts = [self.core.local(a.start) for a in options]
            who = [a.practitioner_id for a in options]
            chosen = pick(starts, answer.text, answer.keys, answer.understanding, answer.now, who)
            if len(chosen) != 1:
                return None
            return self._act_on(options[chosen[0]])

        return Question(
            "which_appointment",
            text,
            f"{text} Tapez {keys}.",
            Expectation(Expect.CHOICE, ("le premier", "le deuxième", "le troisième"), 1),
            on_answer,
        )

    def _act_on(self, appointment: Appointment) -> list[Action]:
        now = self.core.now()
        when = (
            f"{P.datetime_fr(self.core.local(appointment.start), now)} avec "
            f"{P.practitioner_fr(self.core.practice, appointment.practitioner_id)}"
        )
        if self._state().change == "move":
            self.booking.start(None, moving=appointment, source=self.source())
            wish = self._new_time_in_hint(appointment)
            if wish is not None and self.booking.current is not None:
                # "déplacer mon rendez-vous de lundi à mercredi": the new time was already said.
                self.booking.current.wish = wish
                return self.booking.search_and_offer(P.your_appointment(when))
            question = self.booking.wish_question(f"{P.your_appointment(when)} {P.MOVE_WHEN}")
            return self.core.ask(question)
        if self._state().change == "confirm":
            return self.confirm(appointment, P.confirm_appointment(when))
        text = P.cancel_question(when)

        def on_answer(answer: Answer) -> list[Action] | None:
            yes = answer.yes_no()
            if yes is True:
                return self.cancel(appointment)
            if yes is False:
                return self.core.what_else(P.NOTHING_CHANGED)
            return None

        return self.core.ask(
            Question(
                "cancel_confirm",
                text,
                f"{text} {P.YES_NO_KEYS}",
                self.core.yes_no_expect(),
                on_answer,
                allow_switch=True,
            )
        )

    def _new_time_in_hint(self, appointment: Appointment) -> TimeWish | None:
        """The last time named in the first request, unless it is only the appointment's own day."""
        hint = self._state().hint
        u = hint.understanding if hint is not None and hint.spoken else None
        if u is None or hint is None:
            return None
        dates = [e for e in u.entities if e.entity == EntityKind.DATE_TIME]
        if not dates:
            return None
        wish = wish_from_entity(dates[-1], self.core.tz, hint.now, part_of_day_in(hint.text))
        own_day = self.core.local(appointment.start).date()
        if len(dates) == 1 and (wish.day == own_day or (wish.exact and wish.exact.date() == own_day)):
            return None
        return wish

    def source(self) -> Source:
        return Source.REMINDER_CALL if self.core.state.direction == "outbound" else Source.PHONE

    def cancel(self, appointment: Appointment) -> list[Action]:
        now = self.core.now()
        try:
            cancelled = self.core.services.agenda.cancel(appointment.id, self.source(), now)
        except AgendaError as err:
            log.warning("cancel %s failed: %s", appointment.id, err)
            return self.core.action_failed(P.CANCEL_FAILED, reason="cancel_failed")
        self.core.achieve(
            OutcomeKind.CANCELLED,
            appointment_id=cancelled.id,
            practitioner=cancelled.practitioner_id,
            start=cancelled.start.isoformat(),
        )
        return self.core.after_task(P.cancelled(P.of_datetime_fr(self.core.local(cancelled.start), now)))

    def confirm(self, appointment: Appointment, preamble: str) -> list[Action]:
        now = self.core.now()
        try:
            confirmed = self.core.services.agenda.confirm(appointment.id, self.source(), now)
        except AgendaError as err:
            log.warning("confirm %s failed: %s", appointment.id, err)
            return self.core.action_failed(P.CONFIRM_FAILED, reason="confirm_failed")
        self.core.achieve(
            OutcomeKind.CONFIRMED,
            appointment_id=confirmed.id,
            practitioner=confirmed.practitioner_id,
            start=confirmed.start.isoformat(),
        )
        return self.core.after_task(f"{preamble} {P.CONFIRMED}".strip())
