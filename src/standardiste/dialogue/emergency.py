"""Emergencies: a vital red flag at any question (a human at once, or the 15), a check question when
unsure, a same-day red flag put through to reception. Nothing else is taken once it starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, Question
from standardiste.dialogue.messages import Action, Hangup, OutcomeKind, Transfer, TransferFailed
from standardiste.hours import opening_status
from standardiste.understanding.types import Understanding


@dataclass(slots=True)
class EmergencyState:
    rule: str | None = None  # the rule that fired ("confirmed", "unconfirmed", a safety rule id)
    same_day: str | None = None  # the same-day red flag put through, if any


class EmergencyTask:
    def __init__(self, core: CallContext, menu: Callable[[str], list[Action]]) -> None:
        self.core = core
        self.menu = menu  # "que puis-je faire pour vous ?" after "non, ce n'est pas urgent"
        self.current = EmergencyState()

    def asking(self) -> bool:
        question = self.core.question
        return question is not None and question.name == "emergency_confirm"

    def ask_confirmation(self, trigger: Answer) -> list[Action]:
        core = self.core
        previous = core.question

        def on_answer(answer: Answer) -> list[Action] | None:
            yes = answer.yes_no()
            if yes is True:
                return self.emergency(answer, rule="confirmed")
            if yes is False:
                if trigger.understanding is not None and trigger.understanding.same_day:
                    return self.same_day(trigger, trigger.understanding)  # not vital, still today
                if previous is None:
                    return self.menu(P.FINE_WHAT_THEN)
                # Not an emergency: what was said still answers the question we had asked.
                core.question = previous
                actions = previous.handler(trigger)
                return actions if actions is not None else core.ask(previous, P.FINE)
            return None

        question = Question(
            "emergency_confirm",
            P.EMERGENCY_CONFIRM,
            P.EMERGENCY_CONFIRM,
            core.yes_no_expect(),
            on_answer,
            # Unsure after two tries: treat it as an emergency (never miss one).
            on_give_up=lambda: self.emergency(None, rule="unconfirmed"),
            allow_switch=False,
        )
        return core.ask(question)

    def same_day(self, answer: Answer, u: Understanding) -> list[Action]:
        """A same-day red flag: a human now (or, when nobody can answer, a message to call back)."""
        core = self.core
        core.release_holds()
        core.lead = ""
        core.goals.drop_all()
        self.current.same_day = u.red_flag or "unknown"
        core.state.path.append(f"same_day:{u.red_flag}")
        category = None
        if u.red_flag is not None:
            flags = getattr(getattr(core.services.understander, "safety", None), "flags", ())
            flag = next((f for f in flags if f.id == u.red_flag), None)
            category = flag.category if flag is not None else None
        return core.transfer(
            P.same_day_transfer(core.practice, category), reason=f"same_day:{u.red_flag}", when_closed=True
        )

    def emergency(self, answer: Answer | None, rule: str) -> list[Action]:
        core = self.core
        practice = core.practice
        core.state.in_emergency = True
        self.current.rule = rule
        # Nothing queues before it: no pending statement, no request mentioned in passing.
        core.lead = ""
        core.goals.drop_all()
        core.release_holds()
        core.state.path.append(f"emergency:{rule}")
        now = answer.now if answer is not None else core.now()
        closed = not opening_status(practice, now).open_now  # hours, closures, public holidays
        if core.services.reception_available is False or closed:
            core.achieve(
                OutcomeKind.EMERGENCY_TRANSFERRED,
                transferred=False,
                rule=rule,
                advised=practice.emergency_number,
            )
            return core.finish(
                [
                    core.say(P.emergency_call_15(practice), interruptible=False),
                    Hangup("emergency_advised"),
                ]
            )
        core.achieve(OutcomeKind.EMERGENCY_TRANSFERRED, transferred=True, rule=rule)
        core.state.transferring = True
        return core.finish(
            [
                core.say(P.emergency_transfer(practice), interruptible=False),
                Transfer("reception", True, f"emergency:{rule}"),
            ]
        )

    def transfer_failed(self, event: TransferFailed) -> list[Action]:
        """The emergency transfer did not go through: the 15, said clearly, and the call ends."""
        core = self.core
        core.state.achieved = [o for o in core.state.achieved if o.kind != OutcomeKind.EMERGENCY_TRANSFERRED]
        core.achieve(
            OutcomeKind.EMERGENCY_TRANSFERRED,
            transferred=False,
            advised=core.practice.emergency_number,
            reason=event.reason,
        )
        return core.finish(
            [
                core.say(P.emergency_call_15(core.practice), interruptible=False),
                Hangup("emergency_transfer_failed"),
            ]
        )

    def internal_error(self) -> list[Action]:
        """A bug during an emergency: the 15 and a human, never a silent end."""
        core = self.core
        return core.finish(
            [
                core.say(P.emergency_call_15(core.practice), interruptible=False),
                Transfer("reception", True, "emergency_internal_error"),
            ]
        )
