"""Identity as a sub-flow object: a task hands it a continuation; it asks only what is missing.

Driven on a bare call context (no conversation around it) with the real understanding engine; the
agenda and inbox are a guard: collecting who is calling never touches them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from standardiste.dialogue.core import Answer, CallContext
from standardiste.dialogue.identity import Identity, IdentityFlow
from standardiste.dialogue.messages import Action, Expect, Say
from standardiste.dialogue.services import ConversationServices

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))


class Unused:
    """TEST DOUBLE: agenda/inbox that identity must not touch."""

    def __getattr__(self, name: str):
        raise AssertionError(f"identity must not use the agenda ({name})")


def context(demo_config, understander) -> CallContext:
    core = CallContext(ConversationServices(demo_config.practice, understander, Unused(), Unused()))
    core.state.call_id = "c1"
    core.state.caller_id = "+33612345678"
    core.state.started = NOW
    return core


def reply(core: CallContext, text: str) -> list[Action]:
    assert core.question is not None
    u = core.services.understander.parse(text, NOW)
    actions = core.question.handler(Answer(now=NOW, text=text, understanding=u))
    assert actions is not None, f"{text!r} not taken at {core.question.name}"
    return actions


def test_identity_asks_what_is_missing_then_hands_back(demo_config, understander):
    core = context(demo_config, understander)
    flow = IdentityFlow(core)
    got: list[Identity] = []

    def then(ident: Identity) -> list[Action]:
        got.append(ident)
        return [Say("suite")]

    flow.collect(then, phone=True)
    assert core.question is not None and core.question.expect.kind == Expect.NAME
    reply(core, "Dupont Marie")
    assert core.question.expect.kind == Expect.BIRTH_DATE
    reply(core, "le trois mars mille neuf cent quatre-vingt-cinq")
    assert core.question.name == "phone_confirm"  # the caller ID offered first
    actions = reply(core, "oui")
    assert [a.text for a in actions if isinstance(a, Say)] == ["suite"]
    assert got == [Identity("Dupont", "Marie", dt.date(1985, 3, 3), "+33612345678")]


def test_identity_said_early_is_kept_and_not_asked(demo_config, understander):
    core = context(demo_config, understander)
    flow = IdentityFlow(core)
    text = "je m'appelle Marie Dupont, née le 3 mars 1985, je voudrais un rendez-vous"
    flow.take_hints(Answer(now=NOW, text=text, understanding=understander.parse(text, NOW)))
    assert (flow.identity.last_name, flow.identity.first_name) == ("Dupont", "Marie")
    assert flow.identity.birth_date == dt.date(1985, 3, 3)
    flow.collect(lambda ident: [], phone=False)
    assert core.question is None  # nothing left to ask: the continuation ran at once


def test_identity_name_corrected_at_a_later_question(demo_config, understander):
    core = context(demo_config, understander)
    flow = IdentityFlow(core)
    flow.identity.last_name, flow.identity.first_name = "Vasser", "Paul"
    flow.collect(lambda ident: [], phone=False)
    assert core.question is not None and core.question.name == "birth_date"
    text = "non, c'est Vasseur avec deux s"
    actions = flow.correct_name(Answer(now=NOW, text=text, understanding=understander.parse(text, NOW)))
    assert actions is not None and flow.identity.last_name == "Vasseur"
    assert core.question.name == "birth_date"  # the same question again, after the correction
    assert "Vasseur" in actions[0].text


def test_forget_keeps_the_callback_number(demo_config, understander):
    flow = IdentityFlow(context(demo_config, understander))
    flow.identity = Identity("Dupont", "Marie", dt.date(1985, 3, 3), "+33612345678")
    flow.forget()
    assert flow.identity == Identity(phone="+33612345678")
