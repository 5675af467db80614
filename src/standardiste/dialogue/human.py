"""A human or a message: the offer of a callback message when nobody can take the call, and the
choice "un message ou le secrétariat ?" after a question the practice gave no answer for."""

from __future__ import annotations

from dataclasses import dataclass

from standardiste.agenda.model import RequestKind
from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, Question, fold
from standardiste.dialogue.messages import Action, Expect, Expectation
from standardiste.dialogue.requests import RequestTask


@dataclass(slots=True)
class MessageState:
    topic: str = ""  # what the practice gave no answer for ("unknown", "parking", ...)
    offered: int = 0  # how many times a message was offered in this call


class HumanOrMessageTask:
    """Puts the caller through to reception, or takes a message (a callback request) for the staff."""

    def __init__(self, core: CallContext, requests: RequestTask) -> None:
        self.core = core
        self.requests = requests
        self.current = MessageState()

    def take_message(self) -> list[Action]:
        return self.requests.start(RequestKind.CALLBACK, None)

    def offer_message(self) -> list[Action]:
        """Nobody can take the call: "voulez-vous laisser un message ?" (a yes takes it, a no ends)."""
        core = self.core
        self.current.offered += 1

        def on_answer(answer: Answer) -> list[Action] | None:
            yes = answer.yes_no()
            if yes is True:
                return self.take_message()
            if yes is False:
                return core.goodbye()
            return None

        question = Question(
            "leave_message",
            P.RECEPTION_UNAVAILABLE,
            P.RECEPTION_UNAVAILABLE,
            core.yes_no_expect(),
            on_answer,
            on_give_up=core.goodbye,
            allow_switch=True,
        )
        core.state.finished = False
        core.state.final = None
        return core.ask(question)

    def no_information(self, topic: str) -> list[Action]:
        """A question the practice gave no answer for: said so, then a message or a human (never a guess)."""
        core = self.core
        self.current.topic = topic
        core.state.path.append(f"no_information:{topic}")
        if not core.reception_can_answer():
            core.lead = P.NO_INFORMATION
            core.state.message_offered = True
            return self.offer_message()

        def on_answer(answer: Answer) -> list[Action] | None:
            folded = fold(answer.text)
            if answer.keys == "1" or "message" in folded or "rappel" in folded:
                return self.take_message()
            human = answer.keys == "2" or any(
                w in folded for w in ("secretariat", "quelqu'un", "passez", "humain")
            )
            if human or answer.yes_no() is True:
                return core.transfer(reason=f"no_information:{topic}")
            if answer.yes_no() is False:
                return core.what_else("")
            return None

        question = Question(
            "message_or_human",
            P.MESSAGE_OR_HUMAN,
            P.MESSAGE_OR_HUMAN_KEYS,
            Expectation(Expect.CHOICE, ("message", "secrétariat", "non"), 1),
            on_answer,
            on_give_up=lambda: core.transfer(reason=f"no_information:{topic}"),
            keys=P.MESSAGE_OR_HUMAN_KEYS,
        )
        return core.ask(question, P.NO_INFORMATION)
