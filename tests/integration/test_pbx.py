"""PbxInstance and the test phones against a real Asterisk 22 (chroot) and real pjsua2 phones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from standardiste.pbx import PbxError, PbxInstance
from standardiste.testphone import BUSY, CallState, find_reference
from standardiste.testphone.audio import chirps, sound_segments, tone
from standardiste.testphone.phone import TestPhone
from tests.fixtures.pbx import PbxFactory, PhoneFactory

pytestmark = pytest.mark.asterisk


async def test_instance_starts_on_free_ports_and_ari_answers(pbx: PbxInstance) -> None:
    info = await pbx.wait_ari()
    assert "system" in info
    status = pbx.status()
    assert status.running and status.fully_booted
    assert status.active_channels == 0
    assert "Asterisk tourne" in status.describe()
    assert "22." in pbx.rx("core show version")
    # The instance reads its own configuration, not the root's /etc/asterisk.
    assert str(pbx.sip_port) in pbx.rx("pjsip show transports")
    assert "standardiste-transfer" in pbx.rx("dialplan show standardiste-transfer")
    # Wrong password: ARI refuses.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{pbx.ari_url}/asterisk/info", headers={"Authorization": "Basic eDp5"}) as r,
    ):
        assert r.status == 401


async def test_stop_then_status_says_not_running(pbx: PbxInstance) -> None:
    await pbx.stop()
    assert not pbx.status().running
    assert "ne tourne pas" in pbx.status().describe()
    with pytest.raises(PbxError):
        pbx.rx("core show uptime")


async def test_two_instances_at_once(pbx_factory: PbxFactory, phone_factory: PhoneFactory) -> None:
    a, b = await asyncio.gather(pbx_factory("app_a"), pbx_factory("app_b"))
    assert a.sip_port != b.sip_port and a.ari_url != b.ari_url
    assert a.instance_dir != b.instance_dir
    assert a.phone("reception").password != b.phone("reception").password
    for inst in (a, b):
        assert (await inst.wait_ari())["system"]
    # Each instance has its own phones: b's reception does not ring for a's call.
    rec_a = await phone_factory(a.reception)
    rec_b = await phone_factory(b.reception)
    caller_a = await phone_factory(a.phone("caller1"))
    call = await caller_a.call(a.practice_extension)
    await rec_a.wait_incoming(10)
    await call.wait_answered(5)
    assert rec_b.incoming_calls() == []
    await call.hangup()
    await a.stop()
    assert b.status().running


async def test_controller_down_call_reaches_reception(
    pbx: PbxInstance, reception_phone: TestPhone, caller_phone: TestPhone
) -> None:
    # No ARI application connected: Stasis() fails and the dialplan rings reception.
    call = await caller_phone.call(pbx.practice_extension)
    incoming = await reception_phone.wait_incoming(10)
    await call.wait_answered(5)
    assert incoming.state is CallState.CONFIRMED
    log = pbx.log_path.read_text()
    assert "STASISSTATUS=FAILED" in log
    await call.hangup()
    await incoming.wait_disconnected(5)


async def test_audio_and_keypad_both_ways(
    pbx: PbxInstance, reception_phone: TestPhone, caller_phone: TestPhone
) -> None:
    call = await caller_phone.call(pbx.practice_extension)
    incoming = await reception_phone.wait_incoming(10)
    await call.wait_answered(5)
    sent_by_caller = chirps(2.0, seed=1)
    sent_by_reception = chirps(2.0, seed=2)
    await asyncio.gather(call.play_pcm(sent_by_caller), incoming.play_pcm(sent_by_reception))
    await call.send_dtmf("0*#")
    await incoming.send_dtmf("19")
    await asyncio.sleep(0.8)
    assert incoming.digits_received == "0*#"
    assert call.digits_received == "19"
    heard_by_reception = find_reference(sent_by_caller, incoming.heard_pcm())
    heard_by_caller = find_reference(sent_by_reception, call.heard_pcm())
    assert heard_by_reception.found, heard_by_reception
    assert heard_by_caller.found, heard_by_caller
    # The other party's signal is not mistaken for ours.
    assert not find_reference(chirps(2.0, seed=3), call.heard_pcm()).found
    await call.hangup()


async def test_audio_check_tolerates_an_inserted_frame() -> None:
    reference = chirps(2.0, seed=5)
    frame = 640
    mid = len(reference) // 2 // frame * frame
    captured = b"\0" * 8000 + reference[:mid] + b"\0" * frame + reference[mid:] + b"\0" * 4000
    match = find_reference(reference, captured)
    assert match.found and match.matched_fraction > 0.8
    assert abs(match.offset_s - 0.25) < 0.03
    assert sound_segments(tone(440, 0.5) + b"\0" * 32000 + tone(440, 0.5))[1][0] == pytest.approx(
        1.5, abs=0.05
    )


async def test_reception_busy_then_unavailable_message(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    pbx = await pbx_factory()
    await phone_factory(pbx.reception, answer=BUSY)
    caller = await phone_factory(pbx.phone("caller2"))
    call = await caller.call(pbx.practice_extension)
    # Nobody to answer and no assistant: the caller hears the French "nobody available" and is hung up.
    await call.wait_disconnected(30)
    assert call.answered_at is not None
    assert sound_segments(call.heard_pcm()), "the caller heard nothing before the hang-up"
    assert "DIALSTATUS" in pbx.log_path.read_text() or "BUSY" in pbx.log_path.read_text()


async def test_install_sound_writes_a_wav16(pbx: PbxInstance) -> None:
    # Played for real through ARI in test_fallback.py (the minimal ARI app plays it).
    uri = pbx.install_sound_pcm("essai", tone(440, 0.5), 16000)
    assert uri == "sound:custom/essai"
    assert (pbx.sounds_dir / "essai.wav16").exists()
    assert pbx.install_sound("essai", (pbx.sounds_dir / "essai.wav16").read_bytes()) == uri
    with pytest.raises(ValueError):
        pbx.install_sound_pcm("../evil", b"")


async def test_reception_answers_after_a_delay(pbx: PbxInstance, phone_factory: PhoneFactory) -> None:
    from standardiste.testphone import AnswerMode, AnswerPolicy

    reception = await phone_factory(pbx.reception, answer=AnswerPolicy(AnswerMode.ANSWER, 1.5))
    caller = await phone_factory(pbx.phone("caller3"))
    call = await caller.call(pbx.practice_extension)
    incoming = await reception.wait_incoming(10)
    await call.wait_answered(5)
    assert incoming.answered_at is not None
    assert incoming.answered_at - incoming.created_at >= 1.4
    # Before the answer the caller got 180 Ringing (its phone plays the ringback locally).
    assert call.answered_at is not None and call.answered_at >= incoming.answered_at - 0.05
    await call.hangup()


async def test_reception_never_answers_then_unavailable(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    from standardiste.testphone import NEVER_ANSWER

    pbx = await pbx_factory(reception_ring_s=2)
    reception = await phone_factory(pbx.reception, answer=NEVER_ANSWER)
    caller = await phone_factory(pbx.phone("caller4"))
    call = await caller.call(pbx.practice_extension)
    incoming = await reception.wait_incoming(10)
    assert incoming.state in (CallState.INCOMING, CallState.EARLY)
    await call.wait_disconnected(30)
    assert incoming.ended
    assert "NOANSWER" in pbx.log_path.read_text()


async def test_a_taken_port_fails_fast_with_a_clear_error(
    asterisk_root: Path, instances_parent: Path
) -> None:
    import socket
    import tempfile
    import time

    from standardiste.pbx import free_asterisk_config
    from tests.fixtures.pbx import make_test_secrets

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = free_asterisk_config(http_port=taken.getsockname()[1])
        pbx = PbxInstance(
            asterisk_root, Path(tempfile.mkdtemp(dir=instances_parent)), config, make_test_secrets()
        )
        started = time.monotonic()
        with pytest.raises(PbxError, match="HTTP port"):
            await pbx.start()
        assert time.monotonic() - started < 15
    assert pbx.pid() is None
    pbx.remove()


async def test_more_calls_than_pjsua2_allows_give_a_clear_error(
    pbx: PbxInstance, caller_phone: TestPhone
) -> None:
    from standardiste.testphone import PhoneError
    from standardiste.testphone.phone import MAX_CALLS_PER_PROCESS, live_calls

    assert live_calls() == [], [
        (c.phone.account.username, c.direction, c.state, c.remote) for c in live_calls()
    ]
    calls = [await caller_phone.call("*43") for _ in range(MAX_CALLS_PER_PROCESS)]
    with pytest.raises(PhoneError, match="allows 4 at once per process"):
        await caller_phone.call("*43", slot_wait_s=0.5)
    for call in calls:
        await call.hangup()
    # Slots are free again.
    again = await caller_phone.call("*43", answer_timeout=5)
    await again.hangup()


async def test_ami_login_with_the_generated_secret(pbx: PbxInstance) -> None:
    async def login(secret: str) -> str:
        reader, writer = await asyncio.open_connection(pbx.host, pbx.ami_port)
        await reader.readline()  # banner
        writer.write(f"Action: Login\r\nUsername: {pbx.ami_user}\r\nSecret: {secret}\r\n\r\n".encode())
        await writer.drain()
        reply = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
        writer.close()
        return reply

    assert "Success" in await login(pbx.ami_secret)
    assert "Error" in await login("wrong")


@pytest.mark.parametrize("dialled", ["+33478000000", "0478000000"])
async def test_any_number_reaching_the_practice_is_answered(
    pbx: PbxInstance, reception_phone: TestPhone, caller_phone: TestPhone, dialled: str
) -> None:
    # An operator may present the DID in any form: the call must not be refused.
    call = await caller_phone.call(dialled)
    await reception_phone.wait_incoming(10)
    await call.wait_answered(5)
    await call.hangup()
