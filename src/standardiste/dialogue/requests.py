"""Requests for the staff (prescription, certificate, sick note, results, callback): filed, never answered.

The assistant gives no medical advice and never reads results: it takes who, birth date, callback
number and the caller's own words, files them in the inbox and says what happens next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from standardiste.agenda.model import RequestDraft, RequestKind
from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, Question, fold
from standardiste.dialogue.identity import Identity, IdentityFlow
from standardiste.dialogue.messages import Action, Expect, Expectation, OutcomeKind
from standardiste.understanding.types import EntityKind, Intent, Urgency

log = logging.getLogger(__name__)

REQUEST_KINDS = {
    Intent.PRESCRIPTION_RENEWAL: RequestKind.PRESCRIPTION_RENEWAL,
    Intent.MEDICAL_CERTIFICATE: RequestKind.MEDICAL_CERTIFICATE,
    Intent.SICK_LEAVE: RequestKind.SICK_LEAVE,
    Intent.TEST_RESULTS: RequestKind.TEST_RESULTS,
}


@dataclass(slots=True)
class RequestState:
    kind: RequestKind
    words: list[str] = field(default_factory=list)  # the caller's own words, for the staff
    practitioner: str | None = None
    urgent: bool = False


class RequestTask:
    """A request filed for the staff: what it is in the caller's words, who, a number to call back."""

    def __init__(self, core: CallContext, caller: IdentityFlow) -> None:
        self.core = core
        self.caller = caller
        self.current: RequestState | None = None

    def start(self, kind: RequestKind, answer: Answer | None) -> list[Action]:
        self.core.release_holds()
        self.current = RequestState(kind)
        if answer is not None and answer.spoken:
            self.caller.take_hints(answer)
            self._note_request_words(answer)
        if self.core.open_speech:
            return self.core.ask(self._what_question(kind), P.REQUEST_INTRO[kind])
        # A grammar-only recogniser cannot take free words: the staff will ask when calling back.
        return self.caller.collect(
            self._file_request, phone=True, name_required=False, preamble=P.REQUEST_INTRO[kind]
        )

    def which_kind(self) -> list[Action]:
        """ "1 pour une ordonnance, 2 pour un certificat..." (a keypad caller at the menu)."""

        options = (
            ("ordonnance", Intent.PRESCRIPTION_RENEWAL),
            ("certificat", Intent.MEDICAL_CERTIFICATE),
            ("arret", Intent.SICK_LEAVE),
            ("resultat", Intent.TEST_RESULTS),
        )

        def on_answer(answer: Answer) -> list[Action] | None:
            if answer.keys is not None:
                index = int(answer.keys[0]) - 1 if answer.keys[:1].isdigit() else -1
                if 0 <= index < len(options):
                    return self.start(REQUEST_KINDS[options[index][1]], None)
                return None
            folded = fold(answer.text)
            for word, intent in options:
                if word in folded:
                    return self.start(REQUEST_KINDS[intent], answer)
            if answer.intent in REQUEST_KINDS:
                return self.start(REQUEST_KINDS[answer.intent], answer)
            return None

        question = Question(
            "request_kind",
            P.REQUEST_KIND,
            P.REQUEST_KIND_KEYS,
            Expectation(Expect.CHOICE, ("ordonnance", "certificat", "arrêt de travail", "résultats"), 1),
            on_answer,
        )

        # --- Practical questions: only what the practice's configuration says ------------------------
        return self.core.ask(question)

    def _state(self) -> RequestState:
        assert self.current is not None
        return self.current

    def _note_request_words(self, answer: Answer) -> None:
        self._state().words.append(answer.text)
        u = answer.understanding
        if u is None:
            return
        practitioner = u.first(EntityKind.PRACTITIONER)
        if practitioner is not None:
            self._state().practitioner = practitioner.value
        if u.urgency == Urgency.URGENT:
            self._state().urgent = True

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
        request = self._state()
        kind = request.kind
        now = self.core.now()
        draft = RequestDraft(
            kind=kind,
            caller_name=ident.full_name or P.NAME_NOT_GIVEN,
            birth_date=ident.birth_date,
            callback_number=ident.phone or self.core.state.caller_id,
            details=" / ".join(request.words),
            urgent=request.urgent,
            call_id=self.core.state.call_id or None,
            practitioner_id=request.practitioner,
        )
        try:
            request_id = self.core.services.inbox.file(draft, now)
        except Exception:  # the store is down: a human (no message into a dead inbox)
            log.warning("filing a %s request failed", kind, exc_info=True)
            return self.core.action_failed(P.REQUEST_FAILED, reason="request_failed", message=False)
        self.current = None
        self.core.achieve(OutcomeKind.REQUEST_FILED, request_type=str(kind), request_id=request_id)
        phone = P.phone_fr(draft.callback_number) if draft.callback_number else "votre numéro"
        return self.core.after_task(P.REQUEST_NEXT[kind].format(phone=phone))
