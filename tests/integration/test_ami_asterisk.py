"""ReceptionPresence (AMI, panoramisk) against a real Asterisk 22 with real SIP phones:
registered and idle -> True; ringing or in a call -> False; unregistered -> False; AMI down -> None;
an Originate that rings a real phone; and the decision a conversation takes from it
(reception busy -> a message is offered instead of a transfer)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest

from standardiste.integration.ami import ReceptionPresence
from standardiste.pbx import PbxInstance, free_port
from standardiste.testphone import NEVER_ANSWER
from tests.fixtures.pbx import PhoneFactory
from tests.integration.integration_support import add_dialplan, wait_report

pytestmark = pytest.mark.asterisk

MONDAY_10H = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))

DIALPLAN = """
[standardiste-tests]
exten => ring-reception,1,Dial(PJSIP/reception,30)
 same => n,Hangup()
exten => originated,1,NoOp(Appel lancé par AMI)
 same => n,Set(STANDARDISTE_TEXT=${ORIGIN_NOTE})
 same => n,Set(STANDARDISTE_STATUS=OK)
 same => n,Gosub(standardiste-tests-report,s,1(orig))
 same => n,Wait(1)
 same => n,Hangup()
"""


def make_presence(pbx: PbxInstance, port: int | None = None, secret: str | None = None) -> ReceptionPresence:
    return ReceptionPresence(
        host=pbx.host,
        port=port or pbx.ami_port,
        username=pbx.ami_user,
        secret=secret or pbx.ami_secret,
        reception_devices=[f"PJSIP/{pbx.reception_endpoint}"],
    )


@pytest.fixture
async def presence(pbx: PbxInstance) -> AsyncIterator[ReceptionPresence]:
    await asyncio.to_thread(add_dialplan, pbx, DIALPLAN)
    p = make_presence(pbx)
    await p.start()
    assert p.connected
    yield p
    await p.stop()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_reception_states_follow_the_real_phone(
    pbx: PbxInstance, presence: ReceptionPresence, phone_factory: PhoneFactory
) -> None:
    # Nobody registered yet.
    await until(lambda: presence.states()["PJSIP/RECEPTION"] != "UNKNOWN")
    assert presence.available() is False
    assert presence.states()["PJSIP/RECEPTION"] == "UNAVAILABLE"

    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    await until(lambda: presence.available() is True)
    assert presence.states()["PJSIP/RECEPTION"] == "NOT_INUSE"

    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ring-reception")
    incoming = await reception.wait_incoming(10, answered=False)
    await until(lambda: presence.states()["PJSIP/RECEPTION"] == "RINGING")
    assert presence.available() is False

    await incoming.answer()
    await call.wait_answered(10)
    await until(lambda: presence.states()["PJSIP/RECEPTION"] == "INUSE")
    assert presence.available() is False

    await call.hangup()
    await until(lambda: presence.available() is True)

    # A fresh answer asked to Asterisk (DeviceStateList) agrees.
    await presence.refresh()
    assert presence.available() is True

    await reception.close()  # unregisters
    await until(lambda: presence.available() is False)
    assert presence.states()["PJSIP/RECEPTION"] == "UNAVAILABLE"


async def test_ami_down_is_unknown(pbx: PbxInstance, phone_factory: PhoneFactory) -> None:
    await phone_factory(pbx.reception)
    # Nothing listens on that port: unknown, never an exception.
    port = free_port()
    nowhere = make_presence(pbx, port=port)
    await nowhere.start(wait_s=1.0)
    assert nowhere.available() is None and not nowhere.connected
    assert await nowhere.originate("PJSIP/reception", context="x", exten="s") is False
    await nowhere.stop()
    # Once stopped, it never reconnects (panoramisk had a retry scheduled).
    attempts: list[int] = []
    server = await asyncio.start_server(lambda r, w: attempts.append(1) or w.close(), "127.0.0.1", port)
    await asyncio.sleep(3.0)
    server.close()
    assert attempts == []
    # Wrong secret: refused login, unknown.
    refused = make_presence(pbx, secret="not-the-secret")
    await refused.start(wait_s=1.5)
    assert refused.available() is None
    await refused.stop()
    # Asterisk stops under a connected watch: unknown.
    p = make_presence(pbx)
    await p.start()
    await until(lambda: p.available() is True)
    await pbx.stop()
    await until(lambda: p.available() is None, 15)
    await p.stop()


async def test_originate_rings_a_real_phone_and_runs_the_dialplan(
    pbx: PbxInstance, presence: ReceptionPresence, phone_factory: PhoneFactory
) -> None:
    reception = await phone_factory(pbx.reception)
    await until(lambda: presence.available() is True)
    accepted = await presence.originate(
        "PJSIP/reception",
        context="standardiste-tests",
        exten="originated",
        caller_id='"Standardiste" <100>',
        variables={"ORIGIN_NOTE": "rappel-patient"},
    )
    assert accepted
    await reception.wait_incoming(10)
    values = await wait_report(pbx, "orig")
    assert values["STANDARDISTE_TEXT"] == "rappel-patient"
    # Originate to an endpoint that does not exist: accepted as an async request, rings nobody.
    assert isinstance(await presence.originate("PJSIP/nobody", context="x", exten="s"), bool)


async def test_reception_busy_the_assistant_offers_a_message_instead_of_a_transfer(
    pbx: PbxInstance, presence: ReceptionPresence, phone_factory: PhoneFactory, understander, tmp_path
) -> None:
    """The AMI answer decides what a conversation does when the caller asks for a human (key 0)."""
    from standardiste.agenda.inbox import SqlInbox
    from standardiste.agenda.sql import SqlAgenda
    from standardiste.config import load_config
    from standardiste.dialogue.manager import DialogueManager
    from standardiste.dialogue.messages import CallStarted, Keypad, Say, Transfer
    from standardiste.dialogue.services import ConversationServices
    from standardiste.storage.db import Database

    practice = load_config(None).practice
    db = Database(f"sqlite:///{tmp_path / 'ami.db'}")
    db.migrate()

    def ask_for_a_human() -> list[object]:
        services = ConversationServices(
            practice=practice,
            understander=understander,
            agenda=SqlAgenda(db, practice),
            inbox=SqlInbox(db),
            open_speech=False,
            reception_available=presence.available(),
        )
        conversation = DialogueManager(services)
        conversation.handle(CallStarted("call-1", MONDAY_10H, "0612345678"))
        return list(conversation.handle(Keypad("0", MONDAY_10H)))

    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    await until(lambda: presence.available() is True)
    actions = ask_for_a_human()
    assert any(isinstance(a, Transfer) for a in actions), actions

    # The secretary is on the phone: ringing her would leave the caller waiting for nothing.
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ring-reception")
    incoming = await reception.wait_incoming(10, answered=False)
    await incoming.answer()
    await until(lambda: presence.states()["PJSIP/RECEPTION"] == "INUSE")
    actions = ask_for_a_human()
    assert not any(isinstance(a, Transfer) for a in actions), actions
    said = " ".join(a.text for a in actions if isinstance(a, Say)).lower()
    assert "message" in said, said
    await call.hangup()
    db.dispose()


async def test_integration_service_wires_the_reception_watch(
    pbx: PbxInstance, phone_factory: PhoneFactory, demo_config, understander, tmp_path
) -> None:
    """The component `serve` runs: AMI settings come from [deployment.asterisk] and the secrets."""
    from standardiste.integration.service import IntegrationService
    from standardiste.storage.db import Database
    from tests.integration.integration_support import service_secrets

    deployment = demo_config.deployment.model_copy(update={"asterisk": pbx.config, "data_dir": tmp_path})
    config = demo_config.model_copy(update={"deployment": deployment})
    db = Database(f"sqlite:///{tmp_path / 'svc.db'}")
    db.migrate()
    service = IntegrationService(config, service_secrets(pbx), db, understander, None, agi_port=0)
    await service.start()
    try:
        await phone_factory(pbx.reception)
        await until(lambda: service.reception_available() is True)
        await pbx.stop()
        await until(lambda: service.reception_available() is None, 15)
    finally:
        await service.stop()
        db.dispose()
