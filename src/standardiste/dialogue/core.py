"""The call's core, passed to every task: the question being asked, reprompts, transcript, outcome.

Tasks (booking.py, appointments.py, ...) are objects side by side that hold a `CallContext`; each
question carries its own answer handler, so the state of the call is simply "which question is
pending". What follows a task (the next goal, "autre chose ?") is the conversation's: the core
reaches it through the small `Hub` protocol (manager.py implements it).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from standardiste.dialogue import prompts as P
from standardiste.dialogue.agenda import Agenda
from standardiste.dialogue.messages import (
    Action,
    Expect,
    Expectation,
    Hangup,
    Outcome,
    OutcomeKind,
    Say,
    Transfer,
    Utterance,
)
from standardiste.dialogue.services import ConversationServices
from standardiste.hours import opening_status
from standardiste.understanding.types import Intent, Understanding, Urgency

log = logging.getLogger(__name__)

# Below this, the classifier's intent is not trusted on an open question (we ask again instead).
MIN_CONFIDENCE = 0.45
# Failures (no input / no match) on one question before a human takes over.
MAX_FAILURES = 2

YES_WORDS = (
    "oui",
    "ouais",
    "d'accord",
    "daccord",
    "exact",
    "exactement",
    "tout a fait",
    "c'est ca",
    "bien sur",
    "parfait",
    "ok",
    "okay",
    "volontiers",
    "absolument",
    "affirmatif",
    "ca me va",
    "c'est bon",
    "c'est bien ca",
    "ca marche",
    "entendu",
    "voila",
)
NO_WORDS = (
    "non",
    "pas du tout",
    "negatif",
    "aucun",
    "ni l'un ni l'autre",
    "pas ca",
    "c'est pas ca",
    "ce n'est pas ca",
    "pas vraiment",
)


def fold(text: str) -> str:
    """Lowercase without accents, for keyword matching on transcripts."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


_NON_WORD = re.compile(r"[^a-z0-9']+")


def has_word(text: str, words: tuple[str, ...] | list[str]) -> bool:
    folded = " " + _NON_WORD.sub(" ", fold(text)) + " "
    return any(f" {w} " in folded for w in words)


@dataclass(slots=True)
class Answer:
    """One reply of the caller: spoken (with its understanding) or typed on the keypad."""

    now: dt.datetime
    text: str = ""
    keys: str | None = None
    understanding: Understanding | None = None
    confidence: float | None = None  # the recogniser's, when it gave one

    @property
    def spoken(self) -> bool:
        return self.keys is None

    @property
    def intent(self) -> Intent | None:
        return self.understanding.intent if self.understanding else None

    def yes_no(self) -> bool | None:
        """True/False for a clear yes/no; None when it is neither (or both)."""
        if self.keys is not None:
            return {"1": True, "2": False}.get(self.keys)
        text = self.text
        no = has_word(text, NO_WORDS)
        yes = has_word(text, YES_WORDS)
        if yes and not no:
            return True
        if no and not yes:
            return False
        if self.understanding is not None and self.understanding.confidence >= MIN_CONFIDENCE:
            if self.understanding.intent == Intent.AFFIRM:
                return True
            if self.understanding.intent == Intent.DENY:
                return False
        if no and yes:
            # "non non c'est bon" / "oui mais non": the first word decides.
            folded = fold(text)
            first_no = min((folded.find(w) for w in NO_WORDS if w in folded), default=10**6)
            first_yes = min((folded.find(w) for w in YES_WORDS if w in folded), default=10**6)
            return first_yes < first_no
        return None


Handler = Callable[[Answer], "list[Action] | None"]


@dataclass(slots=True)
class Question:
    """What we asked and how to take the answer. The handler returns None when the answer is unusable."""

    name: str
    text: str
    simple: str  # a simpler form with keypad choices, for reprompts
    expect: Expectation
    handler: Handler
    # On repeated failure: None transfers to a human; else called instead (e.g. skip an optional slot).
    on_give_up: Callable[[], list[Action]] | None = None
    # Whether a task intent said here may switch the conversation to that task.
    allow_switch: bool = True
    # Keypad choices, said at once when the recogniser only knows short answers (else in reprompts).
    keys: str = ""


@dataclass(slots=True)
class CallState:
    call_id: str = ""
    caller_id: str | None = None
    direction: str = "inbound"
    purpose: str | None = None
    appointment_id: str | None = None
    speech_available: bool = True
    started: dt.datetime | None = None
    finished: bool = False
    in_emergency: bool = False
    transferring: bool = False
    reception_down: bool = False  # a transfer failed during this call
    message_offered: bool = False
    achieved: list[Outcome] = field(default_factory=list)
    final: Outcome | None = None
    path: list[str] = field(default_factory=list)


class Hub(Protocol):
    """What the core asks of the conversation around it (manager.DialogueManager)."""

    def after_task(self, said: str) -> list[Action]:
        """A task is done: say `said`, then the next goal or "autre chose ?"."""
        ...

    def what_else(self, preamble: str) -> list[Action]: ...

    def offer_message(self) -> list[Action]:
        """Nobody can take the call: offer to take a message."""
        ...

    def release_holds(self) -> None:
        """Free whatever slots this call holds."""
        ...


class Alone:
    """The hub of a core used without a conversation (a sub-flow tested alone): a task's end ends the call."""

    def __init__(self, core: CallContext) -> None:
        self.core = core

    def after_task(self, said: str) -> list[Action]:
        return self.core.finish([self.core.say(said), Hangup("done")])

    def what_else(self, preamble: str) -> list[Action]:
        return self.after_task(preamble)

    def offer_message(self) -> list[Action]:
        return self.core.finish(
            [self.core.say(P.GOODBYE, interruptible=False), Hangup("reception_unavailable")]
        )

    def release_holds(self) -> None:
        return None


class CallContext:
    """The call's state, services and goals, and the ask/say helpers every task uses. Not a base class."""

    def __init__(self, services: ConversationServices, hub: Hub | None = None) -> None:
        self.hub: Hub = hub or Alone(self)
        self.services = services
        self.practice = services.practice
        self.tz = ZoneInfo(self.practice.timezone)
        self.state = CallState()
        # What the caller wants: the goals heard, in order, with the slots already given.
        self.goals = Agenda()
        self.question: Question | None = None
        self.failures = 0
        self._transcript: list[Utterance] = []
        self.last_event_at: dt.datetime | None = None
        self.lead = ""
        self.last_asked = ""

    # --- Conversation protocol -------------------------------------------------------------------

    @property
    def transcript(self) -> list[Utterance]:
        return list(self._transcript)

    def heard(self, text: str) -> None:
        self._transcript.append(Utterance("caller", text))

    @property
    def caller_spoke(self) -> bool:
        return any(u.speaker == "caller" for u in self._transcript)

    @property
    def outcome(self) -> Outcome | None:
        if self.state.final is not None:
            return self.state.final
        return self._summary_outcome() if self.state.finished else None

    @property
    def open_speech(self) -> bool:
        return self.services.open_speech and self.state.speech_available

    # --- Helpers for flows -----------------------------------------------------------------------

    def local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.tz)
        return moment.astimezone(self.tz)

    def now(self) -> dt.datetime:
        """The time of the latest caller event (the agenda is asked "as of" it)."""
        moment = self.last_event_at or self.state.started or self.services.clock.now()
        return self.local(moment)

    def after_task(self, said: str) -> list[Action]:
        """A task is done: the conversation says what follows (the next goal, "autre chose ?")."""
        return self.hub.after_task(said)

    def what_else(self, preamble: str) -> list[Action]:
        return self.hub.what_else(preamble)

    def say(self, text: str, expect: Expectation | None = None, interruptible: bool = True) -> Say:
        if self.lead:  # a statement waiting to be said before the next sentence
            text, self.lead = f"{self.lead} {text}", ""
        self._transcript.append(Utterance("assistant", text))
        return Say(text, expect, interruptible)

    def ask(self, question: Question, preamble: str = "") -> list[Action]:
        """Make `question` the pending one and say it (after an optional statement)."""
        if self.question is None or self.question.name != question.name:
            self.failures = 0
        self.question = question
        text = question.text
        keys = question.keys or (question.simple if question.simple.startswith("Tapez") else "")
        if question.expect.kind == Expect.YES_NO and not keys:
            keys = P.YES_NO_KEYS
        if not self.open_speech and keys and keys not in text:
            # Keypad first when the recogniser only knows short answers: the key choices at once.
            text = f"{text} {keys}"
        text = f"{preamble} {text}".strip() if preamble else text
        said = self.say(text, question.expect)
        self.last_asked = said.text  # what "répétez" repeats: the whole turn, statement included
        return [said]

    def achieve(self, kind: OutcomeKind, **details: Any) -> None:
        self.state.achieved.append(Outcome(kind, details))
        self.state.path.append(str(kind))

    def _summary_outcome(self) -> Outcome:
        """The call's outcome: the most significant thing achieved (all of them in details["tasks"])."""
        achieved = self.state.achieved
        if not achieved:
            return Outcome(OutcomeKind.ABANDONED)
        order = (
            OutcomeKind.EMERGENCY_TRANSFERRED,
            OutcomeKind.BOOKED, OutcomeKind.RESCHEDULED, OutcomeKind.CANCELLED, OutcomeKind.CONFIRMED,
            OutcomeKind.REQUEST_FILED, OutcomeKind.WRONG_PERSON, OutcomeKind.TRANSFERRED,
            OutcomeKind.ANSWERED,
        )  # fmt: skip
        best = min(achieved, key=lambda o: order.index(o.kind) if o.kind in order else len(order))
        details = dict(best.details)
        if len(achieved) > 1:
            details["tasks"] = [o.to_json() for o in achieved]
        return Outcome(best.kind, details)

    def finish(self, actions: list[Action]) -> list[Action]:
        self.state.finished = True
        self.question = None
        try:
            self.release_holds()
            # Safety net: whatever this call still holds (agendas that can say so) is freed.
            release_holder = getattr(self.services.agenda, "release_holder", None)
            if self.state.call_id and callable(release_holder):
                release_holder(self.state.call_id)
        except Exception:  # a dead agenda must not keep the call from ending; holds expire anyway
            log.warning("could not release the holds of call %s", self.state.call_id, exc_info=True)
        self.state.final = self._summary_outcome()
        return actions

    def release_holds(self) -> None:
        self.hub.release_holds()

    def reception_can_answer(self) -> bool:
        """Whether a transfer may reach someone: reception not known down, and the practice open now."""
        if self.services.reception_available is False or self.state.reception_down:
            return False
        try:
            return opening_status(self.practice, self.now()).open_now
        except Exception:  # hours that cannot be read: try the transfer (a failed one offers a message)
            log.warning("opening status unknown", exc_info=True)
            return True

    def transfer(
        self, text: str = P.TRANSFER, reason: str = "caller_request", when_closed: bool = False
    ) -> list[Action]:
        """Hand the call to reception (or, when nobody can take it, offer to take a message).

        The practice closed: a message, not a transfer to an empty desk (unless `when_closed`)."""
        if self.services.reception_available is False or self.state.reception_down:
            return self.reception_down()
        if not when_closed and not self.reception_can_answer():
            self.state.path.append(f"closed:{reason}")
            return self.reception_down()
        self.state.transferring = True
        self.achieve(OutcomeKind.TRANSFERRED, reason=reason)
        return self.finish([self.say(text, interruptible=False), Transfer("reception", False, reason)])

    def action_failed(self, apology: str, reason: str, message: bool = True) -> list[Action]:
        """An action failed (the agenda refused, a store is down): an apology in plain French, then a
        human, or a message when nobody can answer (`message=False`: the inbox itself is down)."""
        self.state.path.append(f"action_failed:{reason}")
        try:
            self.release_holds()
        except Exception:
            log.warning("could not release holds after %s", reason, exc_info=True)
        if self.reception_can_answer():
            self.state.transferring = True
            self.achieve(OutcomeKind.TRANSFERRED, reason=reason)
            return self.finish(
                [
                    self.say(f"{apology} {P.TRANSFER}", interruptible=False),
                    Transfer("reception", False, reason),
                ]
            )
        if not message:
            # The inbox itself is down: no message through the assistant, but the voice message box
            # keeps the recording until the inbox answers again (pbx/messages.py). Never a goodbye
            # without a human or a message.
            self.state.message_offered = True
            self.state.transferring = True
            self.achieve(OutcomeKind.TRANSFERRED, reason=f"{reason}:message_box")
            return self.finish(
                [
                    self.say(f"{apology} {P.TO_MESSAGE_BOX}", interruptible=False),
                    Transfer("message", False, reason),
                ]
            )
        self.lead = apology
        return self.reception_down()

    def reception_down(self) -> list[Action]:
        """Nobody can take the call: offer a message once, then a clear goodbye."""
        if self.state.message_offered:
            return self.finish(
                [
                    self.say(
                        f"{P.RECEPTION_GONE} {P.GOODBYE}",
                        interruptible=False,
                    ),
                    Hangup("reception_unavailable"),
                ]
            )
        self.state.message_offered = True
        return self.reception_unavailable()

    def goodbye(self) -> list[Action]:
        return self.finish([self.say(P.GOODBYE, interruptible=False), Hangup("done")])

    def reception_unavailable(self) -> list[Action]:
        """Offer a callback message (the human-or-message task, through the conversation)."""
        return self.hub.offer_message()

    def failure(self, reason: str, answer: Answer | None = None) -> list[Action]:
        """No input or no match on the pending question: a simpler reprompt, then a human."""
        question = self.question
        self.failures += 1
        self.state.path.append(f"failure:{reason}")
        if question is None:
            return self.transfer(P.TRANSFER_AFTER_FAILURES, reason=f"{reason}_no_question")
        if self.failures >= MAX_FAILURES:
            if question.on_give_up is not None:
                self.failures = 0
                return question.on_give_up()
            return self.transfer(P.TRANSFER_AFTER_FAILURES, reason=f"repeated_{reason}")
        lead = P.NO_INPUT if reason == "no_input" else P.NOT_UNDERSTOOD
        return [self.say(f"{lead} {question.simple}", question.expect)]

    # --- Confirmation of what a grammar-only recogniser heard ------------------------------------

    def checked(
        self, answer: Answer, spoken: str, accept: Callable[[], list[Action]], name: str
    ) -> list[Action]:
        """With a grammar-only recogniser every spoken slot is read back before it is used."""
        if answer.keys is not None or self.open_speech:
            return accept()
        retry = self.question

        def on_answer(reply: Answer) -> list[Action] | None:
            yes = reply.yes_no()
            if yes is True:
                return accept()
            if yes is False and retry is not None:
                return self.ask(retry, P.SORRY)
            return None

        question = Question(
            f"check_{name}",
            P.understood(spoken),
            P.understood_simple(spoken),
            self.yes_no_expect(),
            on_answer,
            allow_switch=False,
        )
        return self.ask(question)

    # --- Expectations ----------------------------------------------------------------------------

    def yes_no_expect(self) -> Expectation:
        # No phrases: the recogniser's own yes/no grammar for this kind applies (speech/grammars.py).
        return Expectation(Expect.YES_NO, digits=1)

    def urgent(self, u: Understanding | None) -> bool:
        """An emergency to act on at once: a rule fired (or a backend says urgent without naming one)."""
        return u is not None and (u.emergency_rule is not None or u.urgency == Urgency.URGENT)
