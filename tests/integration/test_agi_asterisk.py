"""Every FastAGI route through a real call: a pjsua2 phone calls an extension of a real Asterisk 22
whose dialplan runs AGI(agi://127.0.0.1:<port>/<route>); the variables it sets are copied into
globals by a dialplan subroutine and read back through ARI.

Real parts: Asterisk, SIP phone, the IntegrationService (FastAGI server), the trained understander,
SQLite agenda, and for `classify` by voice the Korean Vosk model (mechanics only: status OK with some
text, or nothing_heard on silence; never French accuracy).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from standardiste.config import Config
from standardiste.integration.agi import RecordingPlace
from standardiste.integration.service import IntegrationService
from standardiste.pbx import PbxInstance, free_port
from standardiste.speech.audio import silence
from standardiste.storage.db import Database
from standardiste.testphone import TestPhone
from tests.fixtures.pbx import PhoneFactory
from tests.integration.integration_support import AriApp, add_dialplan, service_secrets, tail, wait_report

pytestmark = pytest.mark.asterisk

PARIS = ZoneInfo("Europe/Paris")
MONDAY_10H = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
SUNDAY_10H = dt.datetime(2026, 11, 22, 10, 0, tzinfo=PARIS)
PATIENT_NUMBER = "0612345678"


def routes_dialplan(port: int, dead_port: int) -> str:
    agi = f"agi://127.0.0.1:{port}"
    return f"""
[standardiste-tests]
exten => agi-hours,1,AGI({agi}/hours)
 same => n,Gosub(standardiste-tests-report,s,1(hours))
 same => n,Hangup()
exten => agi-text,1,AGI({agi}/classify,douleur très forte dans la poitrine je n arrive plus à respirer)
 same => n,Gosub(standardiste-tests-report,s,1(text))
 same => n,Hangup()
exten => agi-query,1,AGI({agi}/classify?text=quels%20sont%20vos%20horaires)
 same => n,Gosub(standardiste-tests-report,s,1(query))
 same => n,Hangup()
exten => agi-listen,1,AGI({agi}/classify)
 same => n,Gosub(standardiste-tests-report,s,1(listen))
 same => n,Hangup()
exten => _cid-X.,1,Set(CALLERID(num)=${{EXTEN:4}})
 same => n,AGI({agi}/caller)
 same => n,Gosub(standardiste-tests-report,s,1(cid${{EXTEN:4}}))
 same => n,Hangup()
exten => agi-nocid,1,Set(CALLERID(all)=)
 same => n,AGI({agi}/caller)
 same => n,Gosub(standardiste-tests-report,s,1(nocid))
 same => n,Hangup()
exten => agi-unknown,1,AGI({agi}/nope)
 same => n,Gosub(standardiste-tests-report,s,1(unknown))
 same => n,Hangup()
exten => agi-assistant,1,Answer()
 same => n,AGI({agi}/assistant)
 same => n,Gosub(standardiste-tests-report,s,1(assistant))
 same => n,Hangup()
exten => agi-assistant-wait,1,Answer()
 same => n,AGI({agi}/assistant)
 same => n,Gosub(standardiste-tests-report,s,1(assistantwait))
 same => n,Wait(5)
 same => n,Hangup()
exten => agi-dead,1,AGI(agi://127.0.0.1:{dead_port}/hours)
 same => n,Gosub(standardiste-tests-report,s,1(dead))
 same => n,Hangup()
"""


@dataclass
class Rig:
    pbx: PbxInstance
    service: IntegrationService
    db: Database
    caller: TestPhone

    async def run(self, extension: str, tag: str, timeout: float = 20.0) -> dict[str, str]:  # noqa: ASYNC109
        call = await self.caller.call(extension)
        try:
            return await wait_report(self.pbx, tag, timeout)
        finally:
            if not call.ended:
                await call.hangup()


async def make_rig(
    pbx: PbxInstance,
    phone_factory: PhoneFactory,
    tmp_path: Path,
    config: Config,
    understander: object,
    recognizer: object = None,
    clock: dt.datetime = MONDAY_10H,
) -> AsyncIterator[Rig]:
    db = Database(f"sqlite:///{tmp_path / 'agi.db'}")
    await asyncio.to_thread(db.migrate)
    recordings = RecordingPlace(f"{pbx.chroot_dir}/spool/tmp", pbx.instance_dir / "spool" / "tmp")
    service = IntegrationService(
        config,
        service_secrets(pbx),
        db,
        understander,  # type: ignore[arg-type]
        recognizer,  # type: ignore[arg-type]
        recordings=recordings,
        agi_port=0,
        ami=False,
        clock=lambda: clock,
    )
    await service.start()
    try:
        add_dialplan(pbx, routes_dialplan(service.agi_port, free_port()))
        caller = await phone_factory(pbx.phone("caller1"))
        yield Rig(pbx, service, db, caller)
    finally:
        await service.stop()
        db.dispose()


@pytest.fixture
async def rig(pbx, phone_factory, tmp_path, demo_config, understander) -> AsyncIterator[Rig]:
    async for r in make_rig(pbx, phone_factory, tmp_path, demo_config, understander):
        yield r


async def test_hours_open_on_monday_morning(rig: Rig) -> None:
    values = await rig.run("agi-hours", "hours")
    assert values["STANDARDISTE_STATUS"] == "OK", tail(rig.pbx)
    assert values["STANDARDISTE_OPEN"] == "1"
    assert values["STANDARDISTE_NEXT_OPENING"] == ""


async def test_hours_closed_on_sunday_gives_the_next_opening(
    pbx, phone_factory, tmp_path, demo_config, understander
) -> None:
    async for rig in make_rig(pbx, phone_factory, tmp_path, demo_config, understander, clock=SUNDAY_10H):
        values = await rig.run("agi-hours", "hours")
        assert values["STANDARDISTE_STATUS"] == "OK"
        assert values["STANDARDISTE_OPEN"] == "0"
        assert values["STANDARDISTE_NEXT_OPENING"].startswith("2026-11-23T08:30")
        assert values["STANDARDISTE_NEXT_OPENING_FR"].startswith("lundi")


async def test_hours_follow_the_dashboard_settings(rig: Rig) -> None:
    """An admin closes the practice today from the dashboard: the very next AGI call says closed."""
    from standardiste.settings.store import PracticeSettings

    settings = PracticeSettings(rig.db, rig.service.config.practice)
    closure = {"start": "2026-11-23", "end": "2026-11-23", "label": "Formation"}
    await asyncio.to_thread(settings.update, "closures", [closure], "admin", MONDAY_10H)
    values = await rig.run("agi-hours", "hours")
    assert values["STANDARDISTE_OPEN"] == "0", values


async def test_classify_given_text_as_argument_and_in_the_url(rig: Rig) -> None:
    values = await rig.run("agi-text", "text")
    assert values["STANDARDISTE_STATUS"] == "OK", tail(rig.pbx)
    assert values["STANDARDISTE_INTENT"] == "emergency"
    assert values["STANDARDISTE_URGENCY"] == "urgent"
    assert 0.0 <= float(values["STANDARDISTE_CONFIDENCE"]) <= 1.0
    assert "poitrine" in values["STANDARDISTE_TEXT"]

    values = await rig.run("agi-query", "query")
    assert values["STANDARDISTE_STATUS"] == "OK"
    assert values["STANDARDISTE_INTENT"] == "ask_hours"
    assert values["STANDARDISTE_TEXT"] == "quels sont vos horaires"


async def test_classify_by_voice_without_recognizer_is_a_clean_error(rig: Rig) -> None:
    values = await rig.run("agi-listen", "listen")
    assert values["STANDARDISTE_STATUS"] == "ERROR"
    assert values["STANDARDISTE_ERROR"] == "no_recognizer"


@pytest.mark.slow
async def test_classify_by_voice_with_the_real_recognizer(
    pbx, phone_factory, tmp_path, demo_config, understander, vosk_ko_model, korean_sentence
) -> None:
    """Mechanics with the Korean Vosk model: Asterisk records the caller, the recogniser
    transcribes, the understander classifies; silence gives nothing_heard."""
    from standardiste.speech.vosk_backend import VoskRecognizer

    recognizer = VoskRecognizer(vosk_ko_model, understands_french=False, name="vosk:ko-test")
    async for rig in make_rig(pbx, phone_factory, tmp_path, demo_config, understander, recognizer):
        call = await rig.caller.call("agi-listen")
        await call.wait_answered(10)
        await call.play_pcm(korean_sentence, wait=False)
        values = await wait_report(rig.pbx, "listen", 30)
        assert values["STANDARDISTE_STATUS"] == "OK", (values, tail(rig.pbx))
        assert values["STANDARDISTE_TEXT"].strip()
        assert values["STANDARDISTE_INTENT"]
        assert values["STANDARDISTE_URGENCY"] in ("urgent", "soon", "normal")
        # Nothing but silence: the recording ends after 2 s of silence, nothing is heard.
        for name in ("DONE", "STANDARDISTE_STATUS"):
            await rig.pbx.arx(f"dialplan set global R_listen_{name} ''")
        call = await rig.caller.call("agi-listen")
        await call.wait_answered(10)
        await call.play_pcm(silence(4000), wait=False)
        values = await wait_report(rig.pbx, "listen", 30)
        assert values["STANDARDISTE_STATUS"] == "ERROR"
        assert values["STANDARDISTE_ERROR"] == "nothing_heard"
        # The caller hangs up while being recorded: the partial recording is deleted too.
        call = await rig.caller.call("agi-listen")
        await call.wait_answered(10)
        await call.play_pcm(korean_sentence[: 16000 * 2], wait=True)
        await call.hangup()
        spool = rig.pbx.instance_dir / "spool" / "tmp"
        for _ in range(100):
            if not list(spool.glob("standardiste-agi-*")):
                break
            await asyncio.sleep(0.1)
        assert list(spool.glob("standardiste-agi-*")) == []  # the caller's audio is not kept
    recognizer.shutdown()


@pytest.mark.slow
async def test_classify_by_voice_with_pocketsphinx_grammar(
    pbx, phone_factory, tmp_path, demo_config, understander
) -> None:
    """The grammar-only French recogniser (PocketSphinx) hears the usual reasons for calling.

    The caller speaks with Pico, not espeak-ng: since grammars can reject (a garbage path), espeak-ng's
    French is rightly heard as nothing, and it never stood in for a caller anyway.
    """
    from standardiste.speech.sphinx import SphinxRecognizer
    from tests.fixtures.spoken_calls import caller_audio

    recognizer = SphinxRecognizer(workers=1, cache_dir=tmp_path / "sphinx")
    await recognizer.warm_up()
    try:
        async for rig in make_rig(pbx, phone_factory, tmp_path, demo_config, understander, recognizer):
            call = await rig.caller.call("agi-listen")
            await call.wait_answered(10)
            await call.play_pcm(silence(300) + caller_audio("prendre rendez-vous")[0], wait=False)
            values = await wait_report(rig.pbx, "listen", 30)
            assert values["STANDARDISTE_STATUS"] == "OK", (values, tail(rig.pbx))
            assert "rendez-vous" in values["STANDARDISTE_TEXT"], values
            assert values["STANDARDISTE_INTENT"] == "book_appointment", values
    finally:
        recognizer.close()


async def test_caller_route_known_patient_with_next_appointment(rig: Rig, demo_config) -> None:
    from standardiste.agenda.model import PatientIdentity, SlotQuery, Source
    from standardiste.agenda.sql import SqlAgenda
    from standardiste.privacy.crypto import FieldCipher

    # The agenda seals identities with the deployment's key; the AGI lookup finds them by blind index.
    cipher = FieldCipher(rig.service.secrets.encryption_key)
    agenda = SqlAgenda(rig.db, demo_config.practice, cipher=cipher)
    slot = agenda.find_slots(SlotQuery(), MONDAY_10H)[0]
    identity = PatientIdentity("Durand", "Paul", dt.date(1970, 5, 4), "+33612345678")
    agenda.book(slot, identity, Source.PHONE, MONDAY_10H)

    values = await rig.run(f"cid-{PATIENT_NUMBER}", f"cid{PATIENT_NUMBER}")
    assert values["STANDARDISTE_STATUS"] == "OK", tail(rig.pbx)
    assert values["STANDARDISTE_KNOWN_PATIENT"] == "1"
    assert dt.datetime.fromisoformat(values["STANDARDISTE_NEXT_APPOINTMENT"]) == slot.start

    values = await rig.run("cid-0699999999", "cid0699999999")
    assert values["STANDARDISTE_STATUS"] == "OK"
    assert values["STANDARDISTE_KNOWN_PATIENT"] == "0"
    assert values["STANDARDISTE_NEXT_APPOINTMENT"] == ""


async def test_caller_route_without_caller_id(rig: Rig) -> None:
    values = await rig.run("agi-nocid", "nocid")
    assert values["STANDARDISTE_STATUS"] == "ERROR"
    assert values["STANDARDISTE_ERROR"] == "no_caller_id"
    assert values["STANDARDISTE_KNOWN_PATIENT"] == "0"


async def test_unknown_route_is_a_clean_error(rig: Rig) -> None:
    values = await rig.run("agi-unknown", "unknown")
    assert values["STANDARDISTE_STATUS"] == "ERROR"
    assert values["STANDARDISTE_ERROR"] == "unknown_route"
    assert values["AGISTATUS"] == "SUCCESS"


async def test_agi_server_down_the_dialplan_goes_on(rig: Rig) -> None:
    values = await rig.run("agi-dead", "dead")
    assert values["AGISTATUS"] == "FAILURE"
    assert values["STANDARDISTE_STATUS"] == ""  # the IT person's GotoIf falls to its default branch


async def test_assistant_route_hands_the_call_to_the_stasis_app(
    rig: Rig, phone_factory: PhoneFactory
) -> None:
    # No assistant connected: a clean error, the dialplan goes on.
    values = await rig.run("agi-assistant", "assistant")
    assert values["STANDARDISTE_STATUS"] == "ERROR", tail(rig.pbx)
    assert values["STANDARDISTE_ERROR"] == "assistant_unavailable"
    await rig.pbx.arx("dialplan set global R_assistant_DONE ''")

    app = await AriApp(rig.pbx).start()
    try:
        call = await rig.caller.call("agi-assistant")
        event = await app.next_start()
        assert event["args"] == ["inbound", "agi"]
        channel = event["channel"]["id"]
        assert event["channel"]["caller"]["number"] == "caller1"
        assert await app.continue_(channel) == 204  # the assistant lets the call go back to the dialplan
        values = await wait_report(rig.pbx, "assistant")
        assert values["STANDARDISTE_STATUS"] == "OK"
        assert values["STASISSTATUS"] == "SUCCESS"
        await call.wait_disconnected(10)

        # The assistant transfers to a human: the call goes to standardiste-transfer and rings reception.
        from standardiste.testphone import NEVER_ANSWER

        reception = await phone_factory(rig.pbx.reception, answer=NEVER_ANSWER)
        call = await rig.caller.call("agi-assistant")
        event = await app.next_start()
        target = {"context": "standardiste-transfer", "extension": "reception", "priority": "1"}
        assert await app.continue_(event["channel"]["id"], **target) == 204
        await reception.wait_incoming(10)
        await call.hangup()
    finally:
        await app.stop()


async def test_malformed_sessions_do_not_stop_the_server_serving_real_calls(rig: Rig) -> None:
    garbage = (b"", b"GET / HTTP/1.1\r\n\r\n", b"agi_network_script: hours\n" + b"x" * 40000, b"\x00" * 64)
    for data in garbage:
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.service.agi_port)
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
            writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing sent
        writer.close()
    values = await rig.run("agi-hours", "hours")
    assert values["STANDARDISTE_STATUS"] == "OK"


async def test_assistant_route_is_guarded_by_the_watchdog(
    pbx_factory, phone_factory, tmp_path, demo_config, understander
) -> None:
    """The assistant renews nothing (killed): the call leaves Stasis after WATCHDOG_S and rings
    reception (the `T` extension of the caller's context). An assistant that lets the call go
    leaves no timeout armed: the call goes on in the dialplan for longer than WATCHDOG_S."""
    from standardiste.testphone import NEVER_ANSWER

    pbx = await pbx_factory(watchdog_s=2)
    async for rig in make_rig(pbx, phone_factory, tmp_path, demo_config, understander):
        reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
        app = await AriApp(pbx).start()
        try:
            call = await rig.caller.call("agi-assistant")
            await app.next_start()
            entered = time.monotonic()
            await reception.wait_incoming(10)
            assert time.monotonic() - entered < 2 + 2.5
            await call.hangup()

            call = await rig.caller.call("agi-assistant-wait")
            event = await app.next_start()
            assert await app.continue_(event["channel"]["id"]) == 204
            values = await wait_report(pbx, "assistantwait")
            assert values["STANDARDISTE_STATUS"] == "OK"
            await asyncio.sleep(3.5)  # longer than the watchdog: the call must still be up
            assert not call.ended
            await call.wait_disconnected(10)  # ends by the dialplan's own Hangup after Wait(5)
        finally:
            await app.stop()
