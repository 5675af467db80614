"""Requests for the staff (prescription, certificate, sick note, results, callback): filed, never answered.

The assistant gives no medical advice and never reads results: it takes who, birth date, callback
number and the caller's own words, files them in the inbox and says what happens next.
"""

from __future__ import annotations

import logging

from standardiste.agenda.model import RequestDraft, RequestKind
from standardiste.dialogue import prompts as P
from standardiste.dialogue.appointments import AppointmentFlow
from standardiste.dialogue.core import Answer, Question
from standardiste.dialogue.identity import Identity
from standardiste.dialogue.messages import Action, Expect, Expectation, OutcomeKind
from standardiste.understanding.types import EntityKind, Intent, Urgency

log = logging.getLogger(__name__)

REQUEST_KINDS = {
    Intent.PRESCRIPTION_RENEWAL: RequestKind.PRESCRIPTION_RENEWAL,
    Intent.MEDICAL_CERTIFICATE: RequestKind.MEDICAL_CERTIFICATE,
    Intent.SICK_LEAVE: RequestKind.SICK_LEAVE,
    Intent.TEST_RESULTS: RequestKind.TEST_RESULTS,
}


class RequestFlow(AppointmentFlow):
    def start_request(self, kind: RequestKind, answer: Answer | None) -> list[Action]:
        self.release_holds()
        self.booking = None
        self._request_kind = kind
        self._request_words: list[str] = []
        self._request_practitioner: str | None = None
        self._request_urgent = False
        if answer is not None and answer.spoken:
            self.caller.take_hints(answer)
            self._note_request_words(answer)
        if self.open_speech:
            return self.ask(self._what_question(kind), P.REQUEST_INTRO[kind])
        # A grammar-only recogniser cannot take free words: the staff will ask when calling back.
        return self.caller.collect(
            self._file_request, phone=True, name_required=False, preamble=P.REQUEST_INTRO[kind]
        )

    def _note_request_words(self, answer: Answer) -> None:
        self._request_words.append(answer.text)
        u = answer.understanding
        if u is None:
            return
        practitioner = u.first(EntityKind.PRACTITIONER)
        if practitioner is not None:
            self._request_practitioner = practitioner.value
        if u.urgency == Urgency.URGENT:
            self._request_urgent = True

    def _what_question(self, kind: RequestKind) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            if answer.keys is not None:
                return None
            self._note_request_words(answer)
            self.caller.take_hints(answer)
            return self.caller.collect(self._file_request, phone=True, name_required=False, preamble=P.NOTED)

        return Question(
            "request_what",
            P.REQUEST_WHAT[kind],
            f"{P.REQUEST_WHAT[kind]} Dites-le en quelques mots.",
            Expectation(Expect.OPEN),
            on_answer,
            # Nothing usable twice: file it anyway, the staff will ask when calling back.
            on_give_up=lambda: self.caller.collect(self._file_request, phone=True, name_required=False),
            allow_switch=False,
        )

    def _file_request(self, ident: Identity) -> list[Action]:
        kind = self._request_kind
        now = self._now()
        draft = RequestDraft(
            kind=kind,
            caller_name=ident.full_name or P.NAME_NOT_GIVEN,
            birth_date=ident.birth_date,
            callback_number=ident.phone or self.state.caller_id,
            details=" / ".join(self._request_words),
            urgent=self._request_urgent,
            call_id=self.state.call_id or None,
            practitioner_id=self._request_practitioner,
        )
        try:
            request_id = self.services.inbox.file(draft, now)
        except Exception:  # the store is down: a human (no message into a dead inbox)
            log.warning("filing a %s request failed", kind, exc_info=True)
            return self.action_failed(P.REQUEST_FAILED, reason="request_failed", message=False)
        self.achieve(OutcomeKind.REQUEST_FILED, request_type=str(kind), request_id=request_id)
        phone = P.phone_fr(draft.callback_number) if draft.callback_number else "votre numéro"
        return self.after_task(P.REQUEST_NEXT[kind].format(phone=phone))

    # --- Reception unavailable: take a message ---------------------------------------------------

    def reception_unavailable(self) -> list[Action]:
        def on_answer(answer: Answer) -> list[Action] | None:
            yes = answer.yes_no()
            if yes is True:
                return self.start_request(RequestKind.CALLBACK, None)
            if yes is False:
                return self.goodbye()
            return None

        question = Question(
            "leave_message",
            P.RECEPTION_UNAVAILABLE,
            P.RECEPTION_UNAVAILABLE,
            self.yes_no_expect(),
            on_answer,
            on_give_up=self.goodbye,
            allow_switch=True,
        )
        self.state.finished = False
        self.state.final = None
        return self.ask(question)
