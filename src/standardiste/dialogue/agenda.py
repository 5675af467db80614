"""What the caller wants, kept as data: the goals heard, in order, with the slots already given.

The conversation hands each caller event to the task of the current goal; a goal said in passing
("annuler mon rendez-vous et vos horaires du samedi") waits here until the current one is done, and
"Puis-je faire autre chose pour vous ?" names it. Adding, switching and dropping a goal are the only
ways the agenda changes (see tests/unit/test_dialogue_agenda.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from standardiste.understanding.types import EntityKind, Intent, Understanding

# Tasks of one family are one goal: "annuler, enfin non, déplacer" is the same appointment.
FAMILY: dict[Intent, str] = {
    Intent.CANCEL_APPOINTMENT: "existing",
    Intent.RESCHEDULE_APPOINTMENT: "existing",
    Intent.CONFIRM_APPOINTMENT: "existing",
    Intent.PRESCRIPTION_RENEWAL: "request",
    Intent.MEDICAL_CERTIFICATE: "request",
    Intent.SICK_LEAVE: "request",
    Intent.TEST_RESULTS: "request",
}


def family(intent: Intent) -> str:
    return FAMILY.get(intent, str(intent))


class GoalStatus(StrEnum):
    PENDING = "pending"  # heard, not started
    ACTIVE = "active"  # the task the conversation is on
    DONE = "done"
    DROPPED = "dropped"  # the caller changed their mind, or an emergency took over


# The entities a task may take without asking again.
SLOT_ENTITIES = (
    EntityKind.PATIENT_NAME,
    EntityKind.BIRTH_DATE,
    EntityKind.PRACTITIONER,
    EntityKind.DATE_TIME,
    EntityKind.PHONE,
)


def slots_of(u: Understanding | None) -> dict[str, str]:
    """The slots an utterance gives (first value of each kind)."""
    if u is None:
        return {}
    slots: dict[str, str] = {}
    for kind in SLOT_ENTITIES:
        entity = u.first(kind)
        if entity is not None:
            slots[str(kind)] = entity.value
    return slots


@dataclass(slots=True)
class Goal:
    intent: Intent
    words: str = ""  # the caller's own words for it
    slots: dict[str, str] = field(default_factory=dict)
    status: GoalStatus = GoalStatus.PENDING

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"intent": str(self.intent), "status": str(self.status)}
        if self.slots:
            out["slots"] = dict(self.slots)
        return out


@dataclass(slots=True)
class Agenda:
    goals: list[Goal] = field(default_factory=list)

    @property
    def current(self) -> Goal | None:
        return next((g for g in self.goals if g.status == GoalStatus.ACTIVE), None)

    @property
    def pending(self) -> list[Goal]:
        return [g for g in self.goals if g.status == GoalStatus.PENDING]

    def _open(self, intent: Intent) -> Goal | None:
        """A goal of the same family not yet done (pending or active)."""
        return next(
            (
                g
                for g in self.goals
                if family(g.intent) == family(intent) and g.status in (GoalStatus.PENDING, GoalStatus.ACTIVE)
            ),
            None,
        )

    def add(self, intent: Intent, words: str = "", slots: dict[str, str] | None = None) -> Goal:
        """A goal heard in passing: kept, after those already there (never twice)."""
        existing = self._open(intent)
        if existing is not None:
            existing.slots = {**(slots or {}), **existing.slots}
            return existing
        goal = Goal(intent, words, dict(slots or {}))
        self.goals.append(goal)
        return goal

    def start(self, intent: Intent, words: str = "", slots: dict[str, str] | None = None) -> Goal:
        """Make `intent` the current goal. A current goal of another family is put back to wait
        (it was interrupted, not abandoned); one of the same family becomes the new one."""
        current = self.current
        if current is not None:
            if family(current.intent) == family(intent):
                current.intent = intent
                current.words = words or current.words
                current.slots.update(slots or {})
                return current
            current.status = GoalStatus.PENDING
        goal = next(
            (g for g in self.pending if family(g.intent) == family(intent)),
            None,
        )
        if goal is None:
            goal = Goal(intent, words, dict(slots or {}))
            self.goals.append(goal)
        else:
            goal.intent = intent
            goal.words = words or goal.words
            goal.slots.update(slots or {})
        goal.status = GoalStatus.ACTIVE
        return goal

    def switch(self, intent: Intent, words: str = "", slots: dict[str, str] | None = None) -> Goal:
        """A change of mind ("finalement je préfère prendre un rendez-vous"): the current goal is dropped."""
        current = self.current
        if current is not None and family(current.intent) != family(intent):
            current.status = GoalStatus.DROPPED
        return self.start(intent, words, slots)

    def drop(self, goal: Goal | None = None) -> None:
        """Drop one goal (default: the current one)."""
        goal = goal or self.current
        if goal is not None and goal.status in (GoalStatus.PENDING, GoalStatus.ACTIVE):
            goal.status = GoalStatus.DROPPED

    def drop_all(self) -> None:
        """An emergency: nothing else is taken in this call."""
        for goal in self.goals:
            if goal.status in (GoalStatus.PENDING, GoalStatus.ACTIVE):
                goal.status = GoalStatus.DROPPED

    def done(self) -> None:
        goal = self.current
        if goal is not None:
            goal.status = GoalStatus.DONE

    def next_pending(self) -> Goal | None:
        """The first goal still waiting, made current."""
        goal = next(iter(self.pending), None)
        if goal is not None:
            if self.current is not None:
                self.done()
            goal.status = GoalStatus.ACTIVE
        return goal

    def to_json(self) -> list[dict[str, Any]]:
        return [g.to_json() for g in self.goals]
