"""The conversation: one per call, pure (no audio, no network), driven by caller events.

It holds the call's core (`CallContext`: state, services, the agenda of goals, ask/say helpers)
and the tasks side by side, each an object with its state in a dataclass:

    booking.BookingTask          a new appointment (and the new time of a moved one)
    appointments.AppointmentTask an existing appointment: cancel, move, confirm
    requests.RequestTask         a request filed for the staff (prescription, certificate, ...)
    questions.PracticalQuestionTask  hours, address, parking, price: only what the practice says
    human.HumanOrMessageTask     a human, or a message when nobody can answer
    emergency.EmergencyTask      red flags, at every question
    outbound.OutboundTask        reminder and follow-up calls we place
    identity.IdentityFlow        who is calling: a sub-flow the tasks use

Each caller event goes through the global rules first (the emergency rule layer, key 0 / '*',
"un humain", "répétez"), then to the pending question, which belongs to the current task. The
goals heard are kept in `core.goals` (agenda.py): adding, switching and dropping a goal are
operations on it; "autre chose ?" takes the next goal still pending and names those left.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from standardiste.dialogue import prompts as P
from standardiste.dialogue.agenda import Agenda, family, slots_of
from standardiste.dialogue.appointments import AppointmentTask
from standardiste.dialogue.booking import BookingState, BookingTask
from standardiste.dialogue.core import (
    MIN_CONFIDENCE,
    Answer,
    CallContext,
    CallState,
    Question,
    fold,
    has_word,
)
from standardiste.dialogue.emergency import EmergencyTask
from standardiste.dialogue.human import HumanOrMessageTask
from standardiste.dialogue.identity import REREAD_QUESTIONS, IdentityFlow
from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallerHungUp,
    CallStarted,
    Expect,
    Expectation,
    Heard,
    Keypad,
    NoInput,
    Outcome,
    OutcomeKind,
    Transfer,
    TransferFailed,
    Utterance,
)
from standardiste.dialogue.outbound import OutboundTask
from standardiste.dialogue.questions import FAQ_INTENTS, PRACTICE_QUESTION_WORDS, PracticalQuestionTask
from standardiste.dialogue.requests import REQUEST_KINDS, RequestTask
from standardiste.dialogue.routing import (
    CHANGE_OF_MIND_WORDS,
    CLARIFY_MIN,
    CLARIFY_SUM,
    EMERGENCY_ASK_OPEN,
    EMERGENCY_ASK_SLOT,
    MENU_KEYS,
    MENU_PHRASES,
    MENU_WORDS,
    REPEAT_ALONE,
    REPEAT_WORDS,
    SWITCH_CONFIDENCE,
    TASK_FAMILY,
    TASK_INTENTS,
    WAIT_WORDS,
    goal_parts,
    goals_in_sentence,
    menu_word_intent,
)
from standardiste.dialogue.services import ConversationServices
from standardiste.understanding.normalize import fold_word
from standardiste.understanding.soundalike import sounds_like_red_flag
from standardiste.understanding.types import EntityKind, Intent, Understanding
from standardiste.understanding.urgency import SafetyNet

log = logging.getLogger(__name__)

__all__ = ["DialogueManager", "goal_parts", "goals_in_sentence", "menu_word_intent"]


class DialogueManager:
    """The conversation object; implements the `Conversation` protocol (see dialogue.messages) and
    the core's `Hub` (what follows a task)."""

    def __init__(self, services: ConversationServices) -> None:
        self.core = core = CallContext(services, hub=self)
        self.current_task: Intent | None = None
        self.caller = IdentityFlow(core)
        self.booking_task = BookingTask(core, self.caller)
        self.appointments = AppointmentTask(core, self.caller, self.booking_task)
        self.requests = RequestTask(core, self.caller)
        self.human = HumanOrMessageTask(core, self.requests)
        self.questions = PracticalQuestionTask(core, self.human)
        self.emergency = EmergencyTask(core, lambda text: core.ask(self.menu_question(text)))
        self.outbound = OutboundTask(core, self.appointments)

    # --- What tests, the simulator and telephony read ---------------------------------------------

    @property
    def services(self) -> ConversationServices:
        return self.core.services

    @property
    def state(self) -> CallState:
        return self.core.state

    @property
    def question(self) -> Question | None:
        return self.core.question

    @property
    def failures(self) -> int:
        return self.core.failures

    @property
    def agenda(self) -> Agenda:
        """What the caller wants: the goals heard, in order, with the slots already given."""
        return self.core.goals

    @property
    def pending(self) -> list[tuple[Intent, str]]:
        """Goals mentioned in passing, taken once the current one is done: (intent, the words)."""
        return [(g.intent, g.words) for g in self.core.goals.pending]

    @property
    def booking(self) -> BookingState | None:
        return self.booking_task.current

    @property
    def transcript(self) -> list[Utterance]:
        return self.core.transcript

    @property
    def outcome(self) -> Outcome | None:
        return self.core.outcome

    @property
    def open_speech(self) -> bool:
        return self.core.open_speech

    # --- Hub: what the core asks of the conversation ---------------------------------------------

    def release_holds(self) -> None:
        self.booking_task.release_holds()

    def offer_message(self) -> list[Action]:
        return self.human.offer_message()

    # --- Event dispatch --------------------------------------------------------------------------

    def handle(self, event: CallerEvent) -> list[Action]:
        try:
            return self._dispatch(event)
        except Exception:
            # Never leave a caller stuck because of a bug or a dead dependency: a human takes over.
            log.exception("dialogue error on %s (call %s)", type(event).__name__, self.core.state.call_id)
            if self.core.state.finished:
                return []
            if self.core.state.in_emergency:
                return self.emergency.internal_error()
            try:
                return self.core.action_failed(P.ACTION_FAILED, reason="internal_error")
            except Exception:  # not even a message can be offered: a human, never a silent end
                log.exception("dialogue error while recovering (call %s)", self.core.state.call_id)
                self.core.state.transferring = True
                self.core.achieve(OutcomeKind.TRANSFERRED, reason="internal_error")
                return self.core.finish(
                    [
                        self.core.say(f"{P.ACTION_FAILED} {P.TRANSFER}", interruptible=False),
                        Transfer("reception", False, "internal_error"),
                    ]
                )

    def _dispatch(self, event: CallerEvent) -> list[Action]:
        self.core.last_event_at = getattr(event, "now", None) or self.core.last_event_at
        if isinstance(event, CallStarted):
            return self.on_call_started(event)
        if isinstance(event, CallerHungUp):
            if not self.core.state.finished:
                self.core.state.path.append("hangup")
                self.core.finish([])
            return []
        if isinstance(event, TransferFailed):
            return self.on_transfer_failed(event)
        if self.core.state.finished:
            return []
        if isinstance(event, NoInput):
            return self.core.failure("no_input")
        if isinstance(event, Keypad):
            return self.on_keys(event)
        if isinstance(event, Heard):
            return self.on_heard(event)
        log.warning("unknown event %r", event)
        return []

    def on_call_started(self, event: CallStarted) -> list[Action]:
        self.core.state.call_id = event.call_id
        self.core.state.caller_id = event.caller_id
        self.core.state.direction = event.direction
        self.core.state.purpose = event.purpose
        self.core.state.appointment_id = event.appointment_id
        self.core.state.speech_available = event.speech_available
        self.core.state.started = event.now
        # A recorded call is announced before anything else, whole (no barge-in), inbound or not.
        notice = (
            [self.core.say(P.RECORDING_NOTICE, interruptible=False)]
            if self.core.services.recording_notice
            else []
        )
        if event.direction == "outbound":
            return [*notice, *self.outbound.start()]
        return [
            *notice,
            *self.core.ask(self.menu_question(P.greeting(self.core.practice, self.core.open_speech))),
        ]

    def on_keys(self, event: Keypad) -> list[Action]:
        keys = event.digits.strip()
        self.core.heard(f"[clavier {keys}]")
        if not keys:
            return self.core.failure("no_input")
        if keys == "0" or "*" in keys:
            return self.core.transfer(reason="keypad_0")
        answer = Answer(now=self.core.local(event.now), keys=keys)
        return self._answer(answer)

    def on_heard(self, event: Heard) -> list[Action]:
        text = event.text.strip()
        if self._open_words_alarm(event, text):
            text = (event.open_text or "").strip()  # the caller's own words, not the grammar's answer
        if not text and self.core.question is not None and self.core.question.name == "name":
            # Whisper dropped a spoken name (its gate): the kept audio is read again and taken for now; both
            # ears look it up after the birth date (not against the caller ID's patients alone: that forced
            # a wrong name, said back for a plain yes, on 4 of 71 calls in a spoken bench).
            reading = self.caller.unheard_reading()
            if reading is not None:  # not asked again: read again, looked up after the birth date
                if not (reading and self._reading_alarm(event, reading)):
                    return self.caller.unheard_name(self.core.local(event.now), reading)
                # What the gate dropped carries a red flag: the safety net hears it as any turn.
                text = reading
                event = dataclasses.replace(event, text=reading, confidence=0.1)
        elif not text and self.core.question is not None and self.core.question.name in REREAD_QUESTIONS:
            # A first name or a spelling the gate dropped: read again, then checked as any answer (a first
            # name against the file's, a spelling read back letter by letter).
            text = self.caller.reread()
            event = dataclasses.replace(event, text=text, confidence=0.1) if text else event
        if not text:
            # The caller spoke (the session reports silence as NoInput) but nothing was understood:
            # "je n'ai pas bien compris", never "je ne vous entends pas".
            return self.core.failure("no_match")
        self.core.heard(text)
        now = self.core.local(event.now)
        u = self.core.services.understander.parse(text, now)
        answer = Answer(now=now, text=text, understanding=u, confidence=event.confidence)
        # The safety net first, at every question of every flow (docs/safety.md).
        if self.core.urgent(u):
            return self.emergency.emergency(answer, rule=u.emergency_rule or "rule")
        if not self.emergency.asking() and (
            self._needs_check(u) or self._sounds_like_red_flag(event, text, u)
        ):
            return self.emergency.ask_confirmation(answer)
        if u.same_day and not self.emergency.asking():
            return self.emergency.same_day(answer, u)
        human = u.intent == Intent.SPEAK_TO_HUMAN and u.confidence >= MIN_CONFIDENCE
        if human and self._human_allowed(answer):
            return self.core.transfer(reason="caller_request")
        if self.core.question is not None and len(fold(text).split()) <= 7:
            # "Vous pouvez répéter ?", "attendez" are not failures: the question again, as it was.
            plain = " ".join(re.findall(r"[a-z']+", fold(text)))
            if plain in REPEAT_ALONE or any(w in plain for w in REPEAT_WORDS):
                last = self.core.last_asked.removeprefix(f"{P.REPEATING} ") or self.core.question.text
                said = self.core.say(f"{P.REPEATING} {last}", self.core.question.expect)
                self.core.last_asked = said.text
                return [said]
            if any(w in fold(text) for w in WAIT_WORDS):
                return self.core.ask(self.core.question, P.TAKE_YOUR_TIME)
        return self._answer(answer)

    def _answer(self, answer: Answer) -> list[Action]:
        question = self.core.question
        if question is None:
            return self.core.transfer(P.TRANSFER_AFTER_FAILURES, reason="no_question")
        u = answer.understanding
        if self._switching(question, answer):
            assert u is not None
            self.release_holds()
            # "ah non, en fait je voudrais annuler": the task left is dropped, not resumed later.
            self.core.goals.switch(u.intent, answer.text, slots_of(u))
            return self.start_task(u.intent, answer)
        changed_to = self._change_of_mind(question, answer)
        if changed_to is not None:
            self.release_holds()
            self.core.goals.switch(changed_to, answer.text, slots_of(u))
            self.core.state.path.append(f"changed_mind:{changed_to}")
            return self.start_task(changed_to, answer)
        # Corrections, at any question of a task under way: "non, c'est Vasseur avec deux s", "pas mardi,
        # jeudi" (after it, at "autre chose ?", what was booked or filed is no longer changed by words).
        if self.current_task is not None:
            corrected = self.caller.correct_name(answer) or self.booking_task.correct_time(answer)
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
            return self.core.transfer(reason="caller_request")
        if (
            question.allow_switch
            and u is not None
            and u.intent in TASK_INTENTS
            and u.confidence >= MIN_CONFIDENCE
        ):
            self.release_holds()
            return self.start_task(u.intent, answer)
        return self.core.failure("no_match", answer)

    def _reading_alarm(self, event: Heard, reading: str) -> bool:
        """A dropped name read again ("mon mari vient de s'effondrer") raises the safety net's alarm."""
        u = self.core.services.understander.parse(reading, self.core.local(event.now))
        if self.core.urgent(u) or u.needs_emergency_confirmation or self._classifier_emergency(u):
            return True
        return self._sounds_like_red_flag(dataclasses.replace(event, open_text=None), reading, u)

    def _needs_check(self, u: Understanding) -> bool:
        """One check question: a distress cue or a hypothetical red flag (rules), or the classifier alone."""
        if u.needs_emergency_confirmation and u.safety_level == "check" and u.red_flag is not None:
            return True
        return self._classifier_emergency(u)

    def _sounds_like_red_flag(self, event: Heard, text: str, u: Understanding) -> bool:
        """A recogniser's words that only SOUND like a red flag ("je sais ni énormément"): one question.

        Only for speech, only when the rules found nothing (never above the check level, never lower).
        The classifier's half guess (a "check" level with no red flag, too weak to ask at a slot question)
        does not stand in for the rules: "ma mère s'était vanouille" is heard mid-booking."""
        if not event.from_recognizer or u.red_flag is not None or u.emergency_rule is not None:
            return False
        net = getattr(self.core.services.understander, "safety", None)  # the practice's red flags
        for words in dict.fromkeys((text, (event.open_text or "").strip())):
            hit = sounds_like_red_flag(fold_word(words), net if isinstance(net, SafetyNet) else None)
            if hit is not None:
                log.info("sounds like a red flag", extra={"red_flag": hit.flag, "term": hit.term})
                self.core.state.path.append(f"sounds_like:{hit.flag}")
                return True
        return False

    def _classifier_emergency(self, u: Understanding) -> bool:
        """The classifier alone (no rule) thinks it is an emergency: worth one question?

        The rule layer already ran and found nothing. On open questions a moderate guess is enough;
        on a short slot answer ("Blanc Emma") the classifier's weak guesses are noise.
        """
        if not u.needs_emergency_confirmation:
            return False
        question = self.core.question
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
        u = self.core.services.understander.parse(heard_as, self.core.local(event.now))
        return self.core.urgent(u) or u.needs_emergency_confirmation or bool(getattr(u, "same_day", False))

    def _transcript_caller(self, text: str) -> None:
        self.core._transcript.append(Utterance("caller", text))

    def _human_allowed(self, answer: Answer) -> bool:
        """Whether "speak to a human" wins over the pending question (else its handler decides first)."""
        question = self.core.question
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
            Expect.OPEN if self.core.open_speech else Expect.CHOICE,
            () if self.core.open_speech else MENU_PHRASES,
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
        named_topic = self.questions.names_a_topic(answer.text)
        if any(w in folded for w in PRACTICE_QUESTION_WORDS) and (
            u is None or u.intent not in FAQ_INTENTS or not named_topic
        ):
            # A question put to the practice: its own answer if the practice gave one, else none.
            self.current_task = Intent.OUT_OF_SCOPE
            return self.questions.unknown(answer)
        if u is not None and u.intent == Intent.GIVE_IDENTITY:
            # "je suis Dupont Marie, née le ..., je voudrais un rendez-vous": the identity is kept.
            self.caller.take_hints(answer)
            named = next((intent for word, intent in MENU_WORDS if word in folded), None)
            if named in TASK_INTENTS:
                return self.start_task(named, answer)
        if self.core.practice.faq.extra and (
            u is None or u.intent == Intent.OUT_OF_SCOPE or u.confidence < MIN_CONFIDENCE
        ):
            extra = self.questions.extra_answer(answer)
            if extra is not None:
                return extra
        if u is None or u.confidence < MIN_CONFIDENCE or u.intent == Intent.OUT_OF_SCOPE:
            # Short menu words ("horaires", "annuler"), as a grammar-only recogniser gives them.
            intent = menu_word_intent(answer.text)
            if intent == Intent.SPEAK_TO_HUMAN:
                return self.core.transfer(reason="caller_request")
            if intent in TASK_INTENTS:
                return self.start_task(intent, answer)
            # Unsure between two guesses: ask which, never guess.
            guesses = self._two_guesses(u)
            return self.core.ask(self._clarify_question(guesses, answer)) if guesses else None
        if u.intent in TASK_INTENTS:
            return self.start_task(u.intent, answer)
        if u.intent == Intent.SPEAK_TO_HUMAN:
            return self.core.transfer(reason="caller_request")
        if u.intent == Intent.GIVE_IDENTITY:
            return None
        if u.intent == Intent.DENY and self.core.state.achieved:
            return self.core.goodbye()
        return None

    def _queue_other_request(self, intent: Intent, answer: Answer) -> None:
        """ "un rendez-vous, et aussi une ordonnance": the second goal is kept, taken after the first."""
        parts = goal_parts(answer.text)
        for other, words in parts if len(parts) > 1 else []:
            if family(other) != family(intent):
                self.core.goals.add(
                    other, words, slots_of(self.core.services.understander.parse(words, answer.now))
                )

    def _two_guesses(self, u: Understanding | None) -> tuple[Intent, Intent] | None:
        if u is None or self.core.question is None or self.core.question.name == "clarify":
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
                return self.core.transfer(reason="caller_request")
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
        self.core.goals.done()
        goal = self.core.goals.next_pending()
        if goal is not None:
            intent, words = goal.intent, goal.words
            later = [str(g.intent) for g in self.core.goals.pending]
            named = P.still_pending([str(intent), *later]) if later else P.also_mentioned(intent)
            # Nested goals: what is still to be said before the next question is kept, in order.
            self.core.lead = " ".join(part for part in (self.core.lead, preamble, named) if part)
            now = self.core.now()
            answer = Answer(
                now=now, text=words, understanding=self.core.services.understander.parse(words, now)
            )
            return self.start_task(intent, answer)
        question = Question(
            "what_else",
            P.WHAT_ELSE,
            P.WHAT_ELSE_SIMPLE,
            self.core.yes_no_expect(),
            self.on_what_else,
            on_give_up=self.core.goodbye,
        )
        return self.core.ask(question, preamble)

    def on_what_else(self, answer: Answer) -> list[Action] | None:
        u = answer.understanding
        if u is not None and u.intent in TASK_INTENTS and u.confidence >= MIN_CONFIDENCE:
            return self.start_task(u.intent, answer)
        if answer.spoken and has_word(answer.text, ("message",)):
            return self.human.take_message()  # "je voudrais laisser un message"
        yes = answer.yes_no()
        if yes is False or (answer.spoken and has_word(answer.text, ("merci", "au revoir", "c'est tout"))):
            return self.core.goodbye()
        if yes is True:
            return self.core.ask(self.menu_question(P.LISTENING))
        return None

    # --- Tasks -----------------------------------------------------------------------------------

    def start_task(self, intent: Intent, answer: Answer) -> list[Action]:
        self.core.state.path.append(str(intent))
        self.current_task = intent
        self.booking_task.drop()  # a booking left half-way is not resumed behind the caller's back
        goal = self.core.goals.start(
            intent, answer.text if answer.spoken else "", slots_of(answer.understanding)
        )
        if answer.spoken:
            self._queue_other_request(intent, answer)
            answer = self._own_words(intent, answer)
            goal.words, goal.slots = answer.text, slots_of(answer.understanding)
        if intent in FAQ_INTENTS:
            return self.questions.answer(intent, answer)
        if intent == Intent.BOOK_APPOINTMENT:
            return self.booking_task.start(answer)
        if intent == Intent.CANCEL_APPOINTMENT and answer.keys is not None:
            return self.appointments.which_change()
        if intent == Intent.CANCEL_APPOINTMENT:
            return self.appointments.start("cancel", answer)
        if intent == Intent.RESCHEDULE_APPOINTMENT:
            return self.appointments.start("move", answer)
        if intent == Intent.CONFIRM_APPOINTMENT:
            return self.appointments.start("confirm", answer)
        if intent == Intent.PRESCRIPTION_RENEWAL and answer.keys is not None:
            return self.requests.which_kind()
        if intent in REQUEST_KINDS:
            return self.requests.start(REQUEST_KINDS[intent], answer)
        return self.core.transfer(reason=f"unsupported_{intent}")

    def _own_words(self, intent: Intent, answer: Answer) -> Answer:
        """With several goals in one sentence, a task takes the slots of its own part only ("un
        rendez-vous jeudi et vos horaires du samedi": jeudi); who is calling holds for all of them."""
        parts = goal_parts(answer.text)
        own = next((words for i, words in parts if family(i) == family(intent)), None)
        if len(parts) < 2 or own is None:
            return answer
        self.caller.take_hints(answer)
        u = self.core.services.understander.parse(own, answer.now)
        return Answer(now=answer.now, text=own, understanding=u, confidence=answer.confidence)

    def after_task(self, said: str) -> list[Action]:
        if self.core.state.direction == "outbound":
            return self.outbound.after_task(said)
        return self.what_else(said)

    def on_transfer_failed(self, event: TransferFailed) -> list[Action]:
        self.core.state.path.append(f"transfer_failed:{event.reason}")
        if not self.core.state.transferring:
            return []  # no transfer of ours is under way: nothing to do
        self.core.state.transferring = False
        self.core.state.finished = False
        self.core.state.final = None
        if self.core.state.in_emergency:
            return self.emergency.transfer_failed(event)
        self.core.state.achieved = [o for o in self.core.state.achieved if o.kind != OutcomeKind.TRANSFERRED]
        self.core.state.reception_down = True
        return self.core.reception_down()
