"""The three integration examples of asterisk/examples/, loaded as shipped (only the FastAGI port and
the overflow delay changed) into a real Asterisk 22, with real SIP phones for the caller and the
reception. A minimal ARI application (raw aiohttp) stands for the assistant: it only records the
StasisStart it receives and continues the channel when the test says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest

from standardiste.integration.service import IntegrationService
from standardiste.pbx import PbxInstance
from standardiste.storage.db import Database
from standardiste.testphone import NEVER_ANSWER, PhoneError
from tests.fixtures.pbx import PbxFactory, PhoneFactory
from tests.integration.integration_support import AriApp, add_dialplan, example, service_secrets, tail

pytestmark = pytest.mark.asterisk

PARIS = ZoneInfo("Europe/Paris")
MONDAY_10H = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
SUNDAY_10H = dt.datetime(2026, 11, 22, 10, 0, tzinfo=PARIS)
OVERFLOW_S = 3

ENTRY_POINTS = """
[standardiste-tests]
; A test caller stands for the operator's trunk: it enters each example's context with a DID.
exten => ex-trunk,1,Goto(exemple-ligne-entiere,0478000000,1)
exten => ex-trunk-nodid,1,Goto(exemple-ligne-entiere,s,1)
exten => ex-hours,1,Goto(exemple-hors-horaires,0478000000,1)
exten => ex-overflow,1,Goto(exemple-debordement,+33478000000,1)
"""


async def load_examples(pbx: PbxInstance, agi_port: int) -> None:
    """As the IT person does: the files next to extensions.conf, `#include`d at its end, reloaded."""
    files = {
        "01-ligne-entiere.conf": example("01-ligne-entiere.conf", agi_port),
        "02-hors-horaires.conf": example("02-hors-horaires.conf", agi_port),
        "03-debordement.conf": example(
            "03-debordement.conf", agi_port, **{"OVERFLOW_S=20": f"OVERFLOW_S={OVERFLOW_S}"}
        ),
    }
    for name, text in files.items():
        (pbx.instance_dir / "etc" / name).write_text(text, encoding="utf-8")
    includes = "".join(f'#include "{name}"\n' for name in files)
    await asyncio.to_thread(add_dialplan, pbx, ENTRY_POINTS + "\n" + includes)
    shown = await pbx.arx("dialplan show exemple-debordement")
    assert "Stasis(standardiste,inbound,overflow" in shown, shown


@pytest.fixture
async def assistant(pbx: PbxInstance) -> AsyncIterator[AriApp]:
    app = await AriApp(pbx).start()
    yield app
    await app.stop()


async def no_stasis_start(app: AriApp, within_s: float) -> bool:
    try:
        await app.next_start(within_s)
    except TimeoutError:
        return True
    return False


# --- (a) the whole trunk --------------------------------------------------------------------


async def test_whole_trunk_goes_to_the_assistant(pbx, phone_factory: PhoneFactory, assistant: AriApp) -> None:
    await load_examples(pbx, 4573)
    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    caller = await phone_factory(pbx.phone("caller1"))
    for extension in ("ex-trunk", "ex-trunk-nodid"):
        await caller.call(extension)
        event = await assistant.next_start()
        assert event["args"] == ["inbound"], event
        assert event["channel"]["caller"]["number"] == "caller1"
        # The assistant hands the call to a human: the Standardiste transfer rings reception.
        channel = event["channel"]["id"]
        status = await assistant.continue_(
            channel, context="standardiste-transfer", extension="reception", priority="1"
        )
        assert status == 204
        await reception.wait_incoming(10)
        await caller.calls[-1].hangup()


async def test_whole_trunk_without_the_assistant_rings_reception(pbx, phone_factory: PhoneFactory) -> None:
    await load_examples(pbx, 4573)
    reception = await phone_factory(pbx.reception)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ex-trunk")
    await reception.wait_incoming(10)
    await call.wait_answered(10)
    await call.hangup()


# --- (b) outside opening hours ------------------------------------------------------------


@pytest.fixture
async def hours_service(
    pbx, tmp_path, demo_config, understander
) -> AsyncIterator[tuple[IntegrationService, list[dt.datetime]]]:
    now = [MONDAY_10H]
    db = Database(f"sqlite:///{tmp_path / 'examples.db'}")
    await asyncio.to_thread(db.migrate)
    service = IntegrationService(
        demo_config, service_secrets(pbx), db, understander, None, agi_port=0, ami=False, clock=lambda: now[0]
    )
    await service.start()
    yield service, now
    await service.stop()
    db.dispose()


async def test_outside_hours_the_assistant_answers_during_hours_reception(
    pbx, phone_factory: PhoneFactory, assistant: AriApp, hours_service
) -> None:
    service, now = hours_service
    await load_examples(pbx, service.agi_port)
    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    caller = await phone_factory(pbx.phone("caller1"))

    # Monday 10:00, open: reception rings, the assistant is not involved.
    call = await caller.call("ex-hours")
    await reception.wait_incoming(10)
    assert await no_stasis_start(assistant, 1.0)
    await call.hangup()

    # Sunday: the assistant answers, reception does not ring.
    now[0] = SUNDAY_10H
    call = await caller.call("ex-hours")
    event = await assistant.next_start()
    assert event["args"] == ["inbound"]
    with pytest.raises(PhoneError):
        await reception.wait_incoming(1.5)
    await call.hangup()


async def test_outside_hours_example_with_standardiste_unreachable_rings_reception(
    pbx, phone_factory: PhoneFactory, assistant: AriApp
) -> None:
    from standardiste.pbx import free_port

    await load_examples(pbx, free_port())  # nothing listens there
    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ex-hours")
    await reception.wait_incoming(10)
    assert await no_stasis_start(assistant, 1.0)
    await call.hangup()


# --- (c) overflow -----------------------------------------------------------------------------


async def test_overflow_reception_never_answers_the_assistant_takes_the_call(
    pbx, phone_factory: PhoneFactory, assistant: AriApp
) -> None:
    await load_examples(pbx, 4573)
    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ex-overflow")
    await reception.wait_incoming(10)
    rang_at = time.monotonic()
    event = await assistant.next_start(OVERFLOW_S + 10)
    waited = time.monotonic() - rang_at
    assert event["args"] == ["inbound", "overflow", "NOANSWER"]
    assert OVERFLOW_S - 0.5 <= waited <= OVERFLOW_S + 4, waited  # slack for a loaded machine
    # The assistant lets the call go without a target: reception is rung again.
    assert await assistant.continue_(event["channel"]["id"]) == 204
    await reception.wait_incoming(10)
    await call.hangup()


async def test_overflow_reception_answers_in_time_no_assistant(
    pbx, phone_factory: PhoneFactory, assistant: AriApp
) -> None:
    from standardiste.testphone import AnswerMode, AnswerPolicy

    await load_examples(pbx, 4573)
    reception = await phone_factory(pbx.reception, answer=AnswerPolicy(AnswerMode.ANSWER, 1.0))
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ex-overflow")
    await reception.wait_incoming(10)
    await call.wait_answered(10)
    assert await no_stasis_start(assistant, OVERFLOW_S + 1.5)
    await call.hangup()


async def test_overflow_reception_unregistered_goes_to_the_assistant_at_once(
    pbx, phone_factory: PhoneFactory, assistant: AriApp
) -> None:
    await load_examples(pbx, 4573)
    caller = await phone_factory(pbx.phone("caller1"))
    started = time.monotonic()
    call = await caller.call("ex-overflow")
    event = await assistant.next_start(10)
    assert time.monotonic() - started < OVERFLOW_S
    assert event["args"][:2] == ["inbound", "overflow"]
    assert event["args"][2] in ("CHANUNAVAIL", "CONGESTION")
    await call.hangup()


async def test_overflow_without_the_assistant_apologises_and_hangs_up(
    pbx, phone_factory: PhoneFactory
) -> None:
    await load_examples(pbx, 4573)
    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call("ex-overflow")
    await reception.wait_incoming(10)
    await call.wait_answered(OVERFLOW_S + 5)  # the apology is played on an answered channel
    await call.wait_disconnected(20)
    log = pbx.log_path.read_text(errors="replace")
    assert "Sortie de l'assistant : FAILED" in log, tail(pbx)
    assert "Personne pour repondre" in log


async def test_overflow_assistant_gone_silent_the_call_comes_back_to_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    """The dead-man switch of the example: an assistant that never renews the watchdog."""
    pbx = await pbx_factory(watchdog_s=2)
    await load_examples(pbx, 4573)
    app = await AriApp(pbx).start()
    try:
        reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
        caller = await phone_factory(pbx.phone("caller1"))
        call = await caller.call("ex-overflow")
        await reception.wait_incoming(10)
        await app.next_start(OVERFLOW_S + 10)
        entered = time.monotonic()
        await reception.wait_incoming(10)  # rings again once the watchdog fired
        assert time.monotonic() - entered < 2 + 3
        await call.hangup()
    finally:
        await app.stop()


async def test_documented_procedure_through_the_templates(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path
) -> None:
    """The README's steps: the example copied into the templates folder, `#include`d at the end of
    extensions.conf, Asterisk (re)started: the rendered instance routes the trunk to the assistant."""
    import shutil

    from tests.integration.integration_support import EXAMPLES, REPO

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "asterisk", templates, ignore=shutil.ignore_patterns("examples"))
    shutil.copy(EXAMPLES / "01-ligne-entiere.conf", templates)
    with (templates / "extensions.conf").open("a", encoding="utf-8") as f:
        f.write('\n#include "01-ligne-entiere.conf"\n')
    pbx = await pbx_factory(templates=templates)
    assert "exemple-ligne-entiere" in await pbx.arx("dialplan show exemple-ligne-entiere")
    await asyncio.to_thread(add_dialplan, pbx, ENTRY_POINTS)
    app = await AriApp(pbx).start()
    try:
        caller = await phone_factory(pbx.phone("caller1"))
        call = await caller.call("ex-trunk")
        event = await app.next_start()
        assert event["args"] == ["inbound"]
        await call.hangup()
    finally:
        await app.stop()
