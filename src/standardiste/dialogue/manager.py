"""The dialogue manager: one per call, pure (no audio, no network), driven by caller events.

A state machine with slot filling: the pending `Question` says what we asked and how to take
the answer; flows (booking, existing appointments, staff requests, outbound calls) are mixins.
Global rules apply to every answer first: the emergency rule layer, key 0 / '*' and "un humain".
"""

from __future__ import annotations

import logging
import re

from standardiste.agenda.model import RequestKind
from standardiste.dialogue import prompts as P
from standardiste.dialogue.agenda import Agenda, family, slots_of
from standardiste.dialogue.core import MIN_CONFIDENCE, Answer, Question, fold, has_word
from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallerHungUp,
    CallStarted,
    Expect,
    Expectation,
    Hangup,
    Heard,
    Keypad,
    NoInput,
    OutcomeKind,
    Transfer,
    TransferFailed,
    Utterance,
)
from standardiste.dialogue.outbound import OutboundFlow
from standardiste.dialogue.requests import REQUEST_KINDS
from standardiste.dialogue.services import ConversationServices
from standardiste.hours import opening_status
from standardiste.understanding.types import EntityKind, Intent, Understanding

log = logging.getLogger(__name__)

MENU_PHRASES = (
    "rendez-vous", "prendre rendez-vous", "annuler", "déplacer", "confirmer", "horaires", "adresse",
    "parking", "tarif", "ordonnance", "certificat", "arrêt de travail", "résultats", "secrétariat",
    "urgence", "oui", "non",
)  # fmt: skip

REPEAT_WORDS = ("repeter", "repetez", "redire", "pas entendu", "pas bien entendu")
REPEAT_ALONE = ("comment", "pardon", "hein", "quoi", "pardon comment")
WAIT_WORDS = ("attendez", "un instant", "une seconde", "deux secondes")

# Menu words, most specific first (a grammar-only recogniser returns exactly these).
MENU_WORDS = (
    ("prendre rendez", Intent.BOOK_APPOINTMENT), ("annul", Intent.CANCEL_APPOINTMENT),
    ("deplac", Intent.RESCHEDULE_APPOINTMENT), ("confirm", Intent.CONFIRM_APPOINTMENT),
    ("horaire", Intent.ASK_HOURS), ("adresse", Intent.ASK_ADDRESS_ACCESS), ("parking", Intent.ASK_PARKING),
    ("tarif", Intent.ASK_PRICE_PAYMENT), ("ordonnance", Intent.PRESCRIPTION_RENEWAL),
    ("certificat", Intent.MEDICAL_CERTIFICATE), ("arret de travail", Intent.SICK_LEAVE),
    ("resultat", Intent.TEST_RESULTS), ("secretariat", Intent.SPEAK_TO_HUMAN),
    ("rendez", Intent.BOOK_APPOINTMENT),
)  # fmt: skip


def menu_word_intent(text: str) -> Intent | None:
    folded = fold(text)
    if len(folded.split()) > 4:  # a sentence the classifier could not place: not a menu word
        return None
    return next((intent for word, intent in MENU_WORDS if word in folded), None)


def goal_parts(text: str) -> list[tuple[Intent, str]]:
    """The goals a sentence names part by part ("annuler ... et vos horaires"), in order, one per
    family, each with its own words."""
    folded = f" {fold(text)} "
    # The caller's own spelling when folding kept the positions (it does for French letters).
    original = f" {text} " if len(folded) == len(text) + 2 else folded
    cuts = sorted({(m.start(), m.end()) for c in GOAL_CONNECTORS for m in re.finditer(re.escape(c), folded)})
    spans, start = [], 0
    for begin, end in cuts:
        if begin >= start:  # " et aussi " wins over the " et " inside it
            spans.append((start, begin))
            start = end
    spans.append((start, len(folded)))
    goals: list[tuple[Intent, str]] = []
    for begin, end in spans:
        part = folded[begin:end]
        intent = next((i for word, i in MENU_WORDS if word in part), None)
        if intent in TASK_INTENTS and all(family(intent) != family(g) for g, _ in goals):
            goals.append((intent, original[begin:end].strip(" ,.")))
    return goals


def goals_in_sentence(text: str) -> list[Intent]:
    return [intent for intent, _ in goal_parts(text)]


# Intents that start a task of their own (a caller may switch to one at almost any question).
TASK_INTENTS = frozenset({
    Intent.BOOK_APPOINTMENT, Intent.CANCEL_APPOINTMENT, Intent.RESCHEDULE_APPOINTMENT,
    Intent.CONFIRM_APPOINTMENT, Intent.ASK_HOURS, Intent.ASK_ADDRESS_ACCESS, Intent.ASK_PARKING,
    Intent.ASK_DOCUMENTS_TO_BRING, Intent.ASK_PRICE_PAYMENT, Intent.PRESCRIPTION_RENEWAL,
    Intent.MEDICAL_CERTIFICATE, Intent.SICK_LEAVE, Intent.TEST_RESULTS,
})  # fmt: skip

FAQ_INTENTS = frozenset({
    Intent.ASK_HOURS, Intent.ASK_ADDRESS_ACCESS, Intent.ASK_PARKING, Intent.ASK_DOCUMENTS_TO_BRING,
    Intent.ASK_PRICE_PAYMENT,
})  # fmt: skip

# Classifier-only emergency guesses worth a confirmation question (rules always act, whatever these say).
EMERGENCY_ASK_OPEN = 0.4
EMERGENCY_ASK_SLOT = 0.6
# A clarifying question between the classifier's two best guesses when both are at least this likely.
CLARIFY_MIN = 0.15
CLARIFY_SUM = 0.45
# Above this confidence, a task intent said in the middle of another task switches to it.
SWITCH_CONFIDENCE = 0.8
TASK_FAMILY = {
    Intent.CANCEL_APPOINTMENT: "existing",
    Intent.RESCHEDULE_APPOINTMENT: "existing",
    Intent.CONFIRM_APPOINTMENT: "existing",
}

FAQ_WORDS = (
    (("stationn", "se garer", "me garer", "parking", "place pour la voiture"), Intent.ASK_PARKING),
    (("apporter", "documents", "papiers", "prendre avec moi"), Intent.ASK_DOCUMENTS_TO_BRING),
    (
        ("combien", "prix", "tarif", "coute", "payer", "paiement", "rembours", "frais", "tiers payant"),
        Intent.ASK_PRICE_PAYMENT,
    ),
    (("adresse", "se trouve", "situe", "acces", "pour venir"), Intent.ASK_ADDRESS_ACCESS),
)

# Words that put a question to the practice ("peut-on se faire vacciner sans rendez-vous ?"): a
# practical question, even when the classifier hears "rendez-vous" in it.
PRACTICE_QUESTION_WORDS = (
    "sans rendez", "peut-on se faire", "peut on se faire", "on peut se faire", "faites-vous",
    "faites vous", "vous faites", "pratiquez", "acceptez-vous", "acceptez vous", "vous acceptez",
    "prenez-vous", "prenez vous",
)  # fmt: skip
# "je suis en ALD, dois-je avancer les frais ?": the tiers payant answer, not the price.
TIERS_PAYANT_WORDS = (
    " ald ",
    "tiers payant",
    "avancer les frais",
    "affection longue",
    "cent pour cent",
    "100 %",
)
# A change of mind: the current goal is dropped for the one named ("finalement je préfère...").
CHANGE_OF_MIND_WORDS = (
    "finalement", "plutot", "en fait", "je prefere", "laissez tomber", "oubliez", "non je voudrais",
    "non je veux", "changement",
)  # fmt: skip
# "annuler mon rendez-vous et vos horaires du samedi": what joins two goals in one sentence.
GOAL_CONNECTORS = (" et aussi ", " et puis ", " egalement ", " en plus ", " ainsi que ", " aussi ", " et ")

MENU_KEYS = {
    "1": Intent.ASK_HOURS,
    "2": Intent.BOOK_APPOINTMENT,
    "3": Intent.CANCEL_APPOINTMENT,
    "4": Intent.PRESCRIPTION_RENEWAL,
    "5": Intent.ASK_ADDRESS_ACCESS,
}


class DialogueManager(OutboundFlow):
    """Implements the `Conversation` protocol (see dialogue.messages)."""

    def __init__(self, services: ConversationServices) -> None:
        super().__init__(services)
        self.current_task: Intent | None = None
        # What the caller wants: the goals heard, in order, with the slots already given.
        self.agenda = Agenda()

    @property
    def pending(self) -> list[tuple[Intent, str]]:
        """Goals mentioned in passing, taken once the current one is done: (intent, the words)."""
        return [(g.intent, g.words) for g in self.agenda.pending]

    # --- Event dispatch --------------------------------------------------------------------------

    def handle(self, event: CallerEvent) -> list[Action]:
        try:
            return self._dispatch(event)
        except Exception:
            # Never leave a caller stuck because of a bug or a dead dependency: a human takes over.
            log.exception("dialogue error on %s (call %s)", type(event).__name__, self.state.call_id)
            if self.state.finished:
                return []
            if self.state.in_emergency:
                return self.finish(
                    [
                        self.say(P.emergency_call_15(self.practice), interruptible=False),
                        Transfer("reception", True, "emergency_internal_error"),
                    ]
                )
            try:
                return self.action_failed(P.ACTION_FAILED, reason="internal_error")
            except Exception:  # not even a message can be offered: a human, never a silent end
                log.exception("dialogue error while recovering (call %s)", self.state.call_id)
                self.state.transferring = True
                self.achieve(OutcomeKind.TRANSFERRED, reason="internal_error")
                return self.finish(
                    [
                        self.say(f"{P.ACTION_FAILED} {P.TRANSFER}", interruptible=False),
                        Transfer("reception", False, "internal_error"),
                    ]
                )

    def _dispatch(self, event: CallerEvent) -> list[Action]:
        self._last_answer_now = getattr(event, "now", None) or self._last_answer_now
        if isinstance(event, CallStarted):
            return self.on_call_started(event)
        if isinstance(event, CallerHungUp):
            if not self.state.finished:
                self.state.path.append("hangup")
                self.finish([])
            return []
        if isinstance(event, TransferFailed):
            return self.on_transfer_failed(event)
        if self.state.finished:
            return []
        if isinstance(event, NoInput):
            return self.failure("no_input")
        if isinstance(event, Keypad):
            return self.on_keys(event)
        if isinstance(event, Heard):
            return self.on_heard(event)
        log.warning("unknown event %r", event)
        return []

    def on_call_started(self, event: CallStarted) -> list[Action]:
        self.state.call_id = event.call_id
        self.state.caller_id = event.caller_id
        self.state.direction = event.direction
        self.state.purpose = event.purpose
        self.state.appointment_id = event.appointment_id
        self.state.speech_available = event.speech_available
        self.state.started = event.now
        # A recorded call is announced before anything else, whole (no barge-in), inbound or not.
        notice = [self.say(P.RECORDING_NOTICE, interruptible=False)] if self.services.recording_notice else []
        if event.direction == "outbound":
            return [*notice, *self.start_outbound()]
        return [*notice, *self.ask(self.menu_question(P.greeting(self.practice, self.open_speech)))]

    def on_keys(self, event: Keypad) -> list[Action]:
        keys = event.digits.strip()
        self._transcript_caller(f"[clavier {keys}]")
        if not keys:
            return self.failure("no_input")
        if keys == "0" or "*" in keys:
            return self.transfer(reason="keypad_0")
        answer = Answer(now=self.local(event.now), keys=keys)
        return self._answer(answer)

    def on_heard(self, event: Heard) -> list[Action]:
        text = event.text.strip()
        if self._open_words_alarm(event, text):
            text = (event.open_text or "").strip()  # the caller's own words, not the grammar's answer
        if not text:
            # The caller spoke (the session reports silence as NoInput) but nothing was understood:
            # "je n'ai pas bien compris", never "je ne vous entends pas".
            return self.failure("no_match")
        self._transcript_caller(text)
        now = self.local(event.now)
        u = self.services.understander.parse(text, now)
        answer = Answer(now=now, text=text, understanding=u, confidence=event.confidence)
        # The safety net first, at every question of every flow (docs/safety.md).
        if self.urgent(u):
            return self.emergency(answer, rule=u.emergency_rule or "rule")
        if self._needs_check(u) and not self._asking_emergency():
            return self.ask_emergency_confirmation(answer)
        if u.same_day and not self._asking_emergency():
            return self.same_day(answer, u)
        human = u.intent == Intent.SPEAK_TO_HUMAN and u.confidence >= MIN_CONFIDENCE
        if human and self._human_allowed(answer):
            return self.transfer(reason="caller_request")
        if self.question is not None and len(fold(text).split()) <= 7:
            # "Vous pouvez répéter ?", "attendez" are not failures: the question again, as it was.
            plain = " ".join(re.findall(r"[a-z']+", fold(text)))
            if plain in REPEAT_ALONE or any(w in plain for w in REPEAT_WORDS):
                last = self.last_asked.removeprefix(f"{P.REPEATING} ") or self.question.text
                said = self.say(f"{P.REPEATING} {last}", self.question.expect)
                self.last_asked = said.text
                return [said]
            if any(w in fold(text) for w in WAIT_WORDS):
                return self.ask(self.question, P.TAKE_YOUR_TIME)
        return self._answer(answer)

    def _answer(self, answer: Answer) -> list[Action]:
        question = self.question
        if question is None:
            return self.transfer(P.TRANSFER_AFTER_FAILURES, reason="no_question")
        u = answer.understanding
        if self._switching(question, answer):
            assert u is not None
            self.release_holds()
            # "ah non, en fait je voudrais annuler": the task left is dropped, not resumed later.
            self.agenda.switch(u.intent, answer.text, slots_of(u))
            return self.start_task(u.intent, answer)
        changed_to = self._change_of_mind(question, answer)
        if changed_to is not None:
            self.release_holds()
            self.agenda.switch(changed_to, answer.text, slots_of(u))
            self.state.path.append(f"changed_mind:{changed_to}")
            return self.start_task(changed_to, answer)
        corrected = self.caller.correct_name(answer)  # "non, c'est Vasseur avec deux s", at any question
        if corrected is not None:
            return corrected
        actions = question.handler(answer)
        if actions is not None:
            return actions
        if (
            u is not None
            and u.intent == Intent.SPEAK_TO_HUMAN
            and u.confidence >= MIN_CONFIDENCE
            and u.first(EntityKind.PRACTITIONER) is None
        ):
            return self.transfer(reason="caller_request")
        if (
            question.allow_switch
            and u is not None
            and u.intent in TASK_INTENTS
            and u.confidence >= MIN_CONFIDENCE
        ):
            self.release_holds()
            return self.start_task(u.intent, answer)
        return self.failure("no_match", answer)

    def _needs_check(self, u: Understanding) -> bool:
        """One check question: a distress cue or a hypothetical red flag (rules), or the classifier alone."""
        if u.needs_emergency_confirmation and u.safety_level == "check" and u.red_flag is not None:
            return True
        return self._classifier_emergency(u)

    def _classifier_emergency(self, u: Understanding) -> bool:
        """The classifier alone (no rule) thinks it is an emergency: worth one question?

        The rule layer already ran and found nothing. On open questions a moderate guess is enough;
        on a short slot answer ("Blanc Emma") the classifier's weak guesses are noise.
        """
        if not u.needs_emergency_confirmation:
            return False
        question = self.question
        open_question = question is None or question.expect.kind == Expect.OPEN
        return u.confidence >= (EMERGENCY_ASK_OPEN if open_question else EMERGENCY_ASK_SLOT)

    def _switching(self, question: Question, answer: Answer) -> bool:
        """A clear request for another kind of task in the middle of one ("en fait je voudrais annuler")."""
        u = answer.understanding
        if (
            u is None
            or not question.allow_switch
            or self.current_task is None
            or question.name in ("menu", "what_else")
            or u.intent not in TASK_INTENTS
            or u.confidence < SWITCH_CONFIDENCE
        ):
            return False
        return TASK_FAMILY.get(u.intent, u.intent) != TASK_FAMILY.get(self.current_task, self.current_task)

    def _change_of_mind(self, question: Question, answer: Answer) -> Intent | None:
        """ "finalement je préfère prendre un rendez-vous": the goal named replaces the current one."""
        if (
            not answer.spoken
            or self.current_task is None
            or question.name in ("menu", "what_else", "emergency_confirm")
            or not any(w in fold(answer.text) for w in CHANGE_OF_MIND_WORDS)
        ):
            return None
        u = answer.understanding
        folded = fold(answer.text)
        # The caller's own words first ("je préfère un rendez-vous"), else the classifier's guess.
        named = next((intent for word, intent in MENU_WORDS if word in folded), None)
        if named is None and u is not None and u.intent in TASK_INTENTS and u.confidence >= MIN_CONFIDENCE:
            named = u.intent
        if named is None or named not in TASK_INTENTS:
            return None
        if family(named) == family(self.current_task):
            return None  # "plutôt déplacer": the appointment's own flow takes it
        return named

    def _open_words_alarm(self, event: Heard, text: str) -> bool:
        """The open recogniser's words carry a red flag that the grammar's answer hides (speech.arbitrate)."""
        heard_as = (event.open_text or "").strip()
        if not heard_as or heard_as == text:
            return False
        u = self.services.understander.parse(heard_as, self.local(event.now))
        return self.urgent(u) or u.needs_emergency_confirmation or bool(getattr(u, "same_day", False))

    def _transcript_caller(self, text: str) -> None:
        self._transcript.append(Utterance("caller", text))

    def _human_allowed(self, answer: Answer) -> bool:
        """Whether "speak to a human" wins over the pending question (else its handler decides first)."""
        question = self.question
        if question is None or question.name == "menu":
            return True
        if question.expect.kind == Expect.YES_NO and answer.yes_no() is not None:
            return False
        # "celui avec le docteur Martin", "docteur Martin": a choice, not a request for the secretary.
        u = answer.understanding
        return not (u is not None and u.first(EntityKind.PRACTITIONER) is not None)

    # --- The main menu ---------------------------------------------------------------------------

    def menu_question(self, text: str) -> Question:
        expect = Expectation(
            Expect.OPEN if self.open_speech else Expect.CHOICE,
            () if self.open_speech else MENU_PHRASES,
            digits=1,
        )
        return Question("menu", text, P.MENU_SIMPLE, expect, self.on_menu_answer)

    def on_menu_answer(self, answer: Answer) -> list[Action] | None:
        if answer.keys is not None:
            intent = MENU_KEYS.get(answer.keys[:1])
            return self.start_task(intent, answer) if intent else None
        u = answer.understanding
        folded = fold(answer.text)
        goals = goals_in_sentence(answer.text)
        if len(goals) >= 2:
            # "annuler mon rendez-vous et vos horaires du samedi": the first now, the others kept.
            return self.start_task(goals[0], answer)
        named_topic = any(any(w in folded for w in words) for words, _ in FAQ_WORDS) or "horaire" in folded
        if any(w in folded for w in PRACTICE_QUESTION_WORDS) and (
            u is None or u.intent not in FAQ_INTENTS or not named_topic
        ):
            # A question put to the practice: its own answer if the practice gave one, else none.
            extra = self.extra_answer(answer)
            if extra is not None:
                return extra
            self.state.path.append("practical_question")
            self.current_task = Intent.OUT_OF_SCOPE
            return self.no_information("unknown")
        if u is not None and u.intent == Intent.GIVE_IDENTITY:
            # "je suis Dupont Marie, née le ..., je voudrais un rendez-vous": the identity is kept.
            self.caller.take_hints(answer)
            named = next((intent for word, intent in MENU_WORDS if word in folded), None)
            if named in TASK_INTENTS:
                return self.start_task(named, answer)
        if self.practice.faq.extra and (
            u is None or u.intent == Intent.OUT_OF_SCOPE or u.confidence < MIN_CONFIDENCE
        ):
            extra = self.extra_answer(answer)
            if extra is not None:
                return extra
        if u is None or u.confidence < MIN_CONFIDENCE or u.intent == Intent.OUT_OF_SCOPE:
            # Short menu words ("horaires", "annuler"), as a grammar-only recogniser gives them.
            intent = menu_word_intent(answer.text)
            if intent == Intent.SPEAK_TO_HUMAN:
                return self.transfer(reason="caller_request")
            if intent in TASK_INTENTS:
                return self.start_task(intent, answer)
            # Unsure between two guesses: ask which, never guess.
            guesses = self._two_guesses(u)
            return self.ask(self._clarify_question(guesses, answer)) if guesses else None
        if u.intent in TASK_INTENTS:
            return self.start_task(u.intent, answer)
        if u.intent == Intent.SPEAK_TO_HUMAN:
            return self.transfer(reason="caller_request")
        if u.intent == Intent.GIVE_IDENTITY:
            return None
        if u.intent == Intent.DENY and self.state.achieved:
            return self.goodbye()
        return None

    def _queue_other_request(self, intent: Intent, answer: Answer) -> None:
        """ "un rendez-vous, et aussi une ordonnance": the second goal is kept, taken after the first."""
        parts = goal_parts(answer.text)
        for other, words in parts if len(parts) > 1 else []:
            if family(other) != family(intent):
                self.agenda.add(other, words, slots_of(self.services.understander.parse(words, answer.now)))

    def _two_guesses(self, u: Understanding | None) -> tuple[Intent, Intent] | None:
        if u is None or self.question is None or self.question.name == "clarify":
            return None
        options = [(i, p) for i, p in u.alternatives if i in TASK_INTENTS or i == Intent.SPEAK_TO_HUMAN]
        if len(options) < 2 or options[1][1] < CLARIFY_MIN or options[0][1] + options[1][1] < CLARIFY_SUM:
            return None
        return options[0][0], options[1][0]

    def _clarify_question(self, guesses: tuple[Intent, Intent], trigger: Answer) -> Question:
        first, second = guesses

        def on_answer(answer: Answer) -> list[Action] | None:
            chosen: Intent | None = None
            if answer.keys is not None:
                chosen = {"1": first, "2": second}.get(answer.keys[:1])
            else:
                u = answer.understanding
                word = menu_word_intent(answer.text)
                if u is not None and u.intent in guesses and u.confidence >= MIN_CONFIDENCE:
                    chosen = u.intent
                elif word in guesses:
                    chosen = word
                elif has_word(answer.text, ("premier", "premiere", "le un")) or answer.yes_no() is True:
                    chosen = first
                elif has_word(answer.text, ("deuxieme", "second", "seconde", "le deux")):
                    chosen = second
            if chosen is None:
                return None
            if chosen == Intent.SPEAK_TO_HUMAN:
                return self.transfer(reason="caller_request")
            words = f"{trigger.text} {answer.text}" if answer.spoken else trigger.text
            return self.start_task(
                chosen, Answer(now=answer.now, text=words, understanding=trigger.understanding)
            )

        return Question(
            "clarify",
            P.clarify(str(first), str(second)),
            P.clarify_keys(str(first), str(second)),
            Expectation(Expect.CHOICE, (P.CLARIFY.get(str(first), ""), P.CLARIFY.get(str(second), "")), 1),
            on_answer,
            keys=P.clarify_keys(str(first), str(second)),
        )

    def what_else(self, preamble: str) -> list[Action]:
        self.current_task = None
        self.agenda.done()
        goal = self.agenda.next_pending()
        if goal is not None:
            intent, words = goal.intent, goal.words
            later = [str(g.intent) for g in self.agenda.pending]
            named = P.still_pending([str(intent), *later]) if later else P.also_mentioned(intent)
            # Nested goals: what is still to be said before the next question is kept, in order.
            self.lead = " ".join(part for part in (self.lead, preamble, named) if part)
            now = self._now()
            answer = Answer(now=now, text=words, understanding=self.services.understander.parse(words, now))
            return self.start_task(intent, answer)
        question = Question(
            "what_else",
            P.WHAT_ELSE,
            P.WHAT_ELSE_SIMPLE,
            self.yes_no_expect(),
            self.on_what_else,
            on_give_up=self.goodbye,
        )
        return self.ask(question, preamble)

    def on_what_else(self, answer: Answer) -> list[Action] | None:
        u = answer.understanding
        if u is not None and u.intent in TASK_INTENTS and u.confidence >= MIN_CONFIDENCE:
            return self.start_task(u.intent, answer)
        if answer.spoken and has_word(answer.text, ("message",)):
            return self.start_request(RequestKind.CALLBACK, None)  # "je voudrais laisser un message"
        yes = answer.yes_no()
        if yes is False or (answer.spoken and has_word(answer.text, ("merci", "au revoir", "c'est tout"))):
            return self.goodbye()
        if yes is True:
            return self.ask(self.menu_question(P.LISTENING))
        return None

    # --- Tasks -----------------------------------------------------------------------------------

    def start_task(self, intent: Intent, answer: Answer) -> list[Action]:
        self.state.path.append(str(intent))
        self.current_task = intent
        goal = self.agenda.start(intent, answer.text if answer.spoken else "", slots_of(answer.understanding))
        if answer.spoken:
            self._queue_other_request(intent, answer)
            answer = self._own_words(intent, answer)
            goal.words, goal.slots = answer.text, slots_of(answer.understanding)
        if intent in FAQ_INTENTS:
            return self.answer_question(intent, answer)
        if intent == Intent.BOOK_APPOINTMENT:
            return self.start_booking(answer)
        if intent == Intent.CANCEL_APPOINTMENT and answer.keys is not None:
            return self.ask(self._cancel_or_move_question())
        if intent == Intent.CANCEL_APPOINTMENT:
            return self.start_change("cancel", answer)
        if intent == Intent.RESCHEDULE_APPOINTMENT:
            return self.start_change("move", answer)
        if intent == Intent.CONFIRM_APPOINTMENT:
            return self.start_change("confirm", answer)
        if intent == Intent.PRESCRIPTION_RENEWAL and answer.keys is not None:
            return self.ask(self._request_kind_question())
        if intent in REQUEST_KINDS:
            return self.start_request(REQUEST_KINDS[intent], answer)
        return self.transfer(reason=f"unsupported_{intent}")

    def _own_words(self, intent: Intent, answer: Answer) -> Answer:
        """With several goals in one sentence, a task takes the slots of its own part only ("un
        rendez-vous jeudi et vos horaires du samedi": jeudi); who is calling holds for all of them."""
        parts = goal_parts(answer.text)
        own = next((words for i, words in parts if family(i) == family(intent)), None)
        if len(parts) < 2 or own is None:
            return answer
        self.caller.take_hints(answer)
        u = self.services.understander.parse(own, answer.now)
        return Answer(now=answer.now, text=own, understanding=u, confidence=answer.confidence)

    def after_task(self, said: str) -> list[Action]:
        if self.is_outbound():
            return self.outbound_after_task(said)
        return self.what_else(said)

    def _cancel_or_move_question(self) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            folded = fold(answer.text)
            if answer.keys == "1" or "annul" in folded:
                return self.start_change("cancel", None)
            if answer.keys == "2" or any(w in folded for w in ("deplac", "changer", "decaler", "reporter")):
                return self.start_change("move", None)
            if answer.keys == "3" or "confirm" in folded:
                return self.start_change("confirm", None)
            return None

        text = P.CANCEL_OR_MOVE
        return Question(
            "cancel_or_move",
            text,
            P.CANCEL_OR_MOVE_KEYS,
            Expectation(Expect.CHOICE, ("annuler", "déplacer", "confirmer"), 1),
            on_answer,
        )

    def _request_kind_question(self) -> Question:
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
                    return self.start_request(REQUEST_KINDS[options[index][1]], None)
                return None
            folded = fold(answer.text)
            for word, intent in options:
                if word in folded:
                    return self.start_request(REQUEST_KINDS[intent], answer)
            if answer.intent in REQUEST_KINDS:
                return self.start_request(REQUEST_KINDS[answer.intent], answer)
            return None

        return Question(
            "request_kind",
            P.REQUEST_KIND,
            P.REQUEST_KIND_KEYS,
            Expectation(Expect.CHOICE, ("ordonnance", "certificat", "arrêt de travail", "résultats"), 1),
            on_answer,
        )

    # --- Practical questions: only what the practice's configuration says ------------------------

    def answer_question(self, intent: Intent, answer: Answer) -> list[Action]:
        faq = self.practice.faq
        folded = fold(answer.text) if answer.spoken else ""
        if intent != Intent.ASK_HOURS:
            # The practical question the caller's own words name wins over the classifier's neighbour.
            intent = next((i for words, i in FAQ_WORDS if any(w in folded for w in words)), intent)
        topic, text = str(intent), ""
        if intent == Intent.ASK_HOURS:
            topic, text = "hours", P.hours_answer(self.practice)
            status = opening_status(self.practice, answer.now)
            if not status.open_now and status.next_opening is not None:
                text = f"{text} {P.closed_now(P.datetime_fr(self.local(status.next_opening), answer.now))}"
        elif any(w in f" {folded} " for w in TIERS_PAYANT_WORDS) and faq.tiers_payant:
            topic, text = "tiers_payant", faq.tiers_payant
        elif "vitale" in folded:
            topic, text = "carte_vitale", faq.carte_vitale
        elif "tiers payant" in folded:
            topic, text = "tiers_payant", faq.tiers_payant
        elif intent == Intent.ASK_ADDRESS_ACCESS:
            topic = "address_access"
            text = faq.address_access or P.address_answer(self.practice)
        elif intent == Intent.ASK_PARKING:
            topic, text = "parking", faq.parking
        elif intent == Intent.ASK_DOCUMENTS_TO_BRING:
            topic, text = "documents_to_bring", faq.documents_to_bring
        elif intent == Intent.ASK_PRICE_PAYMENT:
            topic, text = "price_payment", faq.price_payment
            if (
                text
                and faq.carte_vitale
                and any(w in folded for w in ("rembours", "secu", "payer", "paiement"))
            ):
                text = f"{text} {faq.carte_vitale}"
        if not text:
            return self.no_information(topic)
        self.achieve(OutcomeKind.ANSWERED, topic=topic)
        return self.what_else(text)

    def no_information(self, topic: str) -> list[Action]:
        """A question the practice gave no answer for: said so, then a message or a human (never a guess)."""
        self.state.path.append(f"no_information:{topic}")
        if not self.reception_can_answer():
            self.lead = P.NO_INFORMATION
            self.state.message_offered = True
            return self.reception_unavailable()

        def on_answer(answer: Answer) -> list[Action] | None:
            folded = fold(answer.text)
            if answer.keys == "1" or "message" in folded or "rappel" in folded:
                return self.start_request(RequestKind.CALLBACK, None)
            human = answer.keys == "2" or any(
                w in folded for w in ("secretariat", "quelqu'un", "passez", "humain")
            )
            if human or answer.yes_no() is True:
                return self.transfer(reason=f"no_information:{topic}")
            if answer.yes_no() is False:
                return self.what_else("")
            return None

        question = Question(
            "message_or_human",
            P.MESSAGE_OR_HUMAN,
            P.MESSAGE_OR_HUMAN_KEYS,
            Expectation(Expect.CHOICE, ("message", "secrétariat", "non"), 1),
            on_answer,
            on_give_up=lambda: self.transfer(reason=f"no_information:{topic}"),
            keys=P.MESSAGE_OR_HUMAN_KEYS,
        )
        return self.ask(question, P.NO_INFORMATION)

    def extra_answer(self, answer: Answer) -> list[Action] | None:
        """Practice-specific questions (faq.extra: keyword -> answer)."""
        folded = fold(answer.text)
        for key, text in self.practice.faq.extra.items():
            if key and fold(key) in folded and text:
                self.achieve(OutcomeKind.ANSWERED, topic=f"extra:{key}")
                return self.what_else(text)
        return None

    # --- Emergencies -----------------------------------------------------------------------------

    def _asking_emergency(self) -> bool:
        return self.question is not None and self.question.name == "emergency_confirm"

    def ask_emergency_confirmation(self, trigger: Answer) -> list[Action]:
        previous = self.question

        def on_answer(answer: Answer) -> list[Action] | None:
            yes = answer.yes_no()
            if yes is True:
                return self.emergency(answer, rule="confirmed")
            if yes is False:
                if trigger.understanding is not None and trigger.understanding.same_day:
                    return self.same_day(trigger, trigger.understanding)  # not vital, still today
                if previous is None:
                    return self.ask(self.menu_question(P.FINE_WHAT_THEN))
                # Not an emergency: what was said still answers the question we had asked.
                self.question = previous
                actions = previous.handler(trigger)
                return actions if actions is not None else self.ask(previous, P.FINE)
            return None

        question = Question(
            "emergency_confirm",
            P.EMERGENCY_CONFIRM,
            P.EMERGENCY_CONFIRM,
            self.yes_no_expect(),
            on_answer,
            # Unsure after two tries: treat it as an emergency (never miss one).
            on_give_up=lambda: self.emergency(None, rule="unconfirmed"),
            allow_switch=False,
        )
        return self.ask(question)

    def same_day(self, answer: Answer, u: Understanding) -> list[Action]:
        """A same-day red flag: a human now (or, when nobody can answer, a message to call back)."""
        self.release_holds()
        self.lead = ""
        self.agenda.drop_all()
        self.state.path.append(f"same_day:{u.red_flag}")
        category = None
        if u.red_flag is not None:
            flags = getattr(getattr(self.services.understander, "safety", None), "flags", ())
            flag = next((f for f in flags if f.id == u.red_flag), None)
            category = flag.category if flag is not None else None
        return self.transfer(
            P.same_day_transfer(self.practice, category), reason=f"same_day:{u.red_flag}", when_closed=True
        )

    def emergency(self, answer: Answer | None, rule: str) -> list[Action]:
        self.state.in_emergency = True
        # Nothing queues before it: no pending statement, no request mentioned in passing.
        self.lead = ""
        self.agenda.drop_all()
        self.release_holds()
        self.state.path.append(f"emergency:{rule}")
        now = answer.now if answer is not None else self._now()
        closed = not opening_status(self.practice, now).open_now  # hours, closures, public holidays
        if self.services.reception_available is False or closed:
            self.achieve(
                OutcomeKind.EMERGENCY_TRANSFERRED,
                transferred=False,
                rule=rule,
                advised=self.practice.emergency_number,
            )
            return self.finish(
                [
                    self.say(P.emergency_call_15(self.practice), interruptible=False),
                    Hangup("emergency_advised"),
                ]
            )
        self.achieve(OutcomeKind.EMERGENCY_TRANSFERRED, transferred=True, rule=rule)
        self.state.transferring = True
        return self.finish(
            [
                self.say(P.emergency_transfer(self.practice), interruptible=False),
                Transfer("reception", True, f"emergency:{rule}"),
            ]
        )

    def on_transfer_failed(self, event: TransferFailed) -> list[Action]:
        self.state.path.append(f"transfer_failed:{event.reason}")
        if not self.state.transferring:
            return []  # no transfer of ours is under way: nothing to do
        self.state.transferring = False
        self.state.finished = False
        self.state.final = None
        if self.state.in_emergency:
            self.state.achieved = [
                o for o in self.state.achieved if o.kind != OutcomeKind.EMERGENCY_TRANSFERRED
            ]
            self.achieve(
                OutcomeKind.EMERGENCY_TRANSFERRED,
                transferred=False,
                advised=self.practice.emergency_number,
                reason=event.reason,
            )
            return self.finish(
                [
                    self.say(P.emergency_call_15(self.practice), interruptible=False),
                    Hangup("emergency_transfer_failed"),
                ]
            )
        self.state.achieved = [o for o in self.state.achieved if o.kind != OutcomeKind.TRANSFERRED]
        self.state.reception_down = True
        return self.reception_down()
