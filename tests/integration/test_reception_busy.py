"""AMI-driven decision: when no secretary can take a call, a caller asking for a human is not sent to
ring in vain. Real Asterisk 22 + pjsua2 phones + the whole `StandardisteServer` (its AMI reception
watch feeds each new conversation): the caller hears the callback offer, accepts with key 1 and a
CALLBACK request lands in the staff inbox. Emergencies get the 15 instead (conversation level, real
understanding engine: the keypad-only recogniser of the phone tests cannot say "urgence").
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import RequestKind
from standardiste.config import Config
from standardiste.dialogue import prompts
from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import CallStarted, Hangup, Heard, Keypad, OutcomeKind, Say, Transfer
from standardiste.dialogue.services import ConversationServices
from standardiste.pbx import PbxInstance
from tests.fixtures.pbx import PhoneFactory
from tests.fixtures.voice import synth, wait_found
from tests.integration.integration_support import add_dialplan
from tests.integration.test_e2e_dashboard_call import ended, running_server, start_call, step

MONDAY_10H = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))

DIALPLAN = """
[standardiste-tests]
exten => ring-reception,1,Dial(PJSIP/reception,30)
 same => n,Hangup()
"""


async def until_true(predicate, limit_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 (AMI state, no event to wait on)
            await asyncio.sleep(0.05)


@pytest.mark.asterisk
@pytest.mark.slow
@pytest.mark.alone  # four SIP phones and typed digit runs: in the parallel phase (CPUs saturated) a typed
# entry once went unanswered for 30 s; it passes in 6 s alone (tests/fixtures/scheduling.py)
async def test_reception_busy_key0_offers_a_callback_request(
    pbx: PbxInstance, demo_config: Config, tmp_path: Path, prompt_cache: Path, phone_factory: PhoneFactory
) -> None:
    await asyncio.to_thread(add_dialplan, pbx, DIALPLAN)
    async with running_server(pbx, demo_config, tmp_path, prompt_cache) as server:
        assert server.integration is not None
        reception = await phone_factory(pbx.reception)
        await until_true(lambda: server.integration.reception_available() is True)

        # The secretary is on the phone with someone else (2 of the 4 pjsua2 call slots).
        other = await phone_factory(pbx.phone("caller2"))
        busy_call = await other.call("ring-reception", answer_timeout=10)
        await until_true(lambda: server.integration.reception_available() is False)

        caller = await phone_factory(pbx.phone("caller1"))
        call, record = await start_call(server, caller, pbx)
        said = await step(record, call, "0")
        assert said.get("say") == prompts.RECEPTION_UNAVAILABLE, said
        assert not any("transfer" in a for a in record.actions)
        offer = await synth(server.voice, prompts.RECEPTION_UNAVAILABLE)
        await wait_found(call, offer[: 32000 * 3], limit_s=30)
        for keys, expected in (
            ("1", "date de naissance"),  # yes, take a message
            ("06061966", "numéro"),  # the test phone's caller id is "caller1": the number is typed
            ("0612345678", "Votre message est transmis"),
        ):
            said = await step(record, call, keys)
            assert expected in said.get("say", ""), (keys, said)
        await step(record, call, "2")  # nothing else: goodbye
        done = await ended(server)
        assert done.outcome is not None and done.outcome.kind == OutcomeKind.REQUEST_FILED
        assert done.end_reason == "assistant_hung_up"
        assert not any(p.startswith("transfer") for p in done.path)
        # Reception only ever had the call it was busy with.
        assert len(reception.calls) == 1
        [request] = server.voice._inbox.list()
        assert request.kind == RequestKind.CALLBACK
        assert request.callback_number == "+33612345678"
        assert request.call_id == done.call_id
        await busy_call.hangup()


@pytest.mark.asterisk
@pytest.mark.slow
async def test_reception_unregistered_key0_offer_declined_goodbye(
    pbx: PbxInstance, demo_config: Config, tmp_path: Path, prompt_cache: Path, phone_factory: PhoneFactory
) -> None:
    async with running_server(pbx, demo_config, tmp_path, prompt_cache) as server:
        assert server.integration is not None
        # No reception phone registered: AMI says UNAVAILABLE (known, not "unknown").
        await until_true(lambda: server.integration.reception_available() is False)
        caller = await phone_factory(pbx.phone("caller1"))
        call, record = await start_call(server, caller, pbx)
        said = await step(record, call, "0")
        assert said.get("say") == prompts.RECEPTION_UNAVAILABLE, said
        assert await step(record, call, "2") == {"hangup": "done"}  # no message
        assert record.actions[-2].get("say") == prompts.GOODBYE
        done = await ended(server)
        assert done.end_reason == "assistant_hung_up"
        assert not any(p.startswith("transfer") for p in done.path)
        assert server.voice._inbox.list() == []


def _services(simulator, understander, reception: bool | None) -> tuple[DialogueManager, object]:  # type: ignore[no-untyped-def]
    _db, agenda, inbox, _ = simulator.fresh()
    services = ConversationServices(
        simulator.practice, understander, agenda, inbox, open_speech=True, reception_available=reception
    )
    return DialogueManager(services), inbox


def test_reception_busy_emergency_says_15_not_a_transfer(simulator, understander) -> None:  # type: ignore[no-untyped-def]
    manager, _inbox = _services(simulator, understander, reception=False)
    manager.handle(CallStarted("c1", MONDAY_10H, "+33612345678"))
    actions = manager.handle(Heard("mon bébé n'arrive plus à respirer", MONDAY_10H))
    assert not any(isinstance(a, Transfer) for a in actions)
    said = " ".join(a.text for a in actions if isinstance(a, Say))
    assert "15" in said or "quinze" in said, said
    assert isinstance(actions[-1], Hangup)
    assert manager.outcome is not None and manager.outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED
    assert manager.outcome.details["transferred"] is False


def test_reception_busy_callback_uses_the_callers_number(simulator, understander) -> None:  # type: ignore[no-untyped-def]
    """With a real caller id the keypad path is: 0, 1 (yes), birth date, 1 (that number), 2 (done)."""
    manager, inbox = _services(simulator, understander, reception=False)
    now = MONDAY_10H
    manager.handle(CallStarted("c2", now, "+33612345678", speech_available=False))
    for keys in ("0", "1", "06061966", "1", "2"):
        now += dt.timedelta(seconds=5)
        actions = manager.handle(Keypad(keys, now))
        assert not any(isinstance(a, Transfer) for a in actions)
    assert isinstance(actions[-1], Hangup)
    [request] = inbox.list()
    assert request.kind == RequestKind.CALLBACK and request.callback_number == "+33612345678"
    assert request.birth_date == dt.date(1966, 6, 6)
