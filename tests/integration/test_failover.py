"""Issue 18: when something fails, every caller reaches a human, the waiting line or the message box.

Real Asterisk 22, real pjsua2 phones, a ONE-LINE reception (one phone, never rung while in a call),
and a controller (tests/integration/failover_support.py) that runs the real guardian. Figures
(silence heard, time to a human) are printed here and measured by bench/bench_faults.py; the
assertions are about where each caller ends up. The dead-man watchdog is set to 60 s in the fault
tests, so a caller rescued within the wait below was rescued by the guardian, not by the timeout.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import secrets
import time
from pathlib import Path

import pytest

from standardiste.config import Config
from standardiste.pbx import PbxInstance, closed_hours
from standardiste.pbx.messages import decrypt_file, import_messages
from standardiste.pbx.sounds import install_fallback_prompts
from standardiste.privacy.crypto import FieldCipher
from standardiste.telephony.ari import AriClient
from standardiste.testphone import AnswerMode, AnswerPolicy
from standardiste.testphone.audio import chirps, find_reference
from tests.fixtures.pbx import PbxFactory, PhoneFactory
from tests.integration.failover_support import place_calls, silence_after, start_controller, tone_back_after
from tests.integration.integration_support import add_dialplan

pytestmark = [pytest.mark.asterisk]

HUMAN = AnswerPolicy(AnswerMode.ANSWER, 1.0)  # a secretary picks up after a second of ringing
DEAD_MAN_S = 60
RING_RECEPTION = """
[standardiste-tests]
exten => ring-reception,1,Dial(PJSIP/reception,60)
 same => n,Hangup()
"""


async def fallback_pbx(pbx_factory: PbxFactory, **kwargs: object) -> PbxInstance:
    pbx = await pbx_factory(watchdog_s=kwargs.pop("watchdog_s", DEAD_MAN_S), callers=6, **kwargs)
    await install_fallback_prompts(pbx, "15")
    return pbx


async def queue_callers(pbx: PbxInstance) -> int:
    shown = await pbx.arx("queue show standardiste-accueil")
    match = re.search(r"has (\d+) call", shown)
    return int(match.group(1)) if match else -1


class FakeInbox:
    def __init__(self) -> None:
        self.filed: list[object] = []

    def file(self, draft: object, now: dt.datetime) -> str:
        self.filed.append((draft, now))
        return f"req-{len(self.filed)}"


async def test_kill9_one_call_rings_reception_through_the_guardian(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    controller = await start_controller(pbx, tmp_path)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        await call.wait_answered(5)
        await asyncio.sleep(1.5)  # the caller hears the assistant
        mark = call.heard_seconds()
        controller.kill()
        killed = time.monotonic()
        incoming = await reception.wait_incoming(10)  # far below the 60 s dead-man: the guardian
        print(f"kill -9, 1 call: reception rang after {time.monotonic() - killed:.2f} s")
        await asyncio.sleep(0.5)
        silence = silence_after(call.heard_pcm(), mark)
        print(f"kill -9, 1 call: silence heard {silence} s (then ringback)")
        assert silence is not None, "the caller heard nothing after the crash"
        spoken = chirps(1.5, seed=5)
        await call.play_pcm(spoken)
        await asyncio.sleep(0.3)
        assert find_reference(spoken, incoming.heard_pcm()).found  # caller and secretary talk
        log = pbx.log_path.read_text(errors="replace")
        assert "GUARDIAN=1" in log
        await call.hangup()
    finally:
        await controller.close()


async def test_stuck_event_loop_music_on_hold_within_1s_then_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    """The controller's event loop hangs (busy, never yields; the process runs, so no EOF and no
    stopped state): music on hold after guardian.DEFAULT_HOLD_S, the waiting line after
    DEFAULT_STALL_S, reception rings (the dead-man is 60 s: only the guardian explains it)."""
    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    controller = await start_controller(pbx, tmp_path)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        await call.wait_answered(5)
        await asyncio.sleep(1.5)
        mark = call.heard_seconds()
        controller.hang()
        hung = time.monotonic()
        await reception.wait_incoming(10)
        rang = time.monotonic() - hung
        silence = silence_after(call.heard_pcm(), mark)
        print(f"stuck event loop: silence {silence} s, then music; reception rang after {rang:.2f} s")
        assert silence is not None and silence < 1.0  # timed figures live in the bench; this is the rule
        log = pbx.log_path.read_text(errors="replace")
        assert "GUARDIAN=1" in log
        await call.hangup()
    finally:
        await controller.close()


async def test_slow_event_loop_music_on_hold_then_the_assistant_again(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    """The loop is busy 1.2 s (past the hold, short of the stall), then fine: the caller hears music
    meanwhile, then the assistant again; reception never rings (no false alarm)."""
    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    controller = await start_controller(pbx, tmp_path)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        await call.wait_answered(5)
        await asyncio.sleep(1.5)
        mark = call.heard_seconds()
        controller.pause()
        await asyncio.sleep(4.0)
        silence = silence_after(call.heard_pcm(), mark)
        print(f"slow event loop: silence {silence} s, then music, then the assistant")
        assert silence is not None
        assert tone_back_after(call.heard_pcm(), mark + 2.0)  # the assistant's sound again
        assert reception.calls == [] and not call.ended
        await call.hangup()
    finally:
        await controller.close()


@pytest.mark.slow
async def test_kill9_eight_calls_one_line_reception_nobody_lost(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    controller = await start_controller(pbx, tmp_path)
    group = None
    try:
        group = await place_calls(pbx, 8)
        for _ in range(8):
            await controller.expect("MEDIA")
        await asyncio.sleep(1.0)
        await group.mark()
        controller.kill()
        await reception.wait_incoming(10)
        waiting = 0
        for _ in range(100):  # the wait prompt (emergency sentence first), then into the line
            waiting = await queue_callers(pbx)
            if waiting >= 7:
                break
            await asyncio.sleep(0.2)
        views = await group.views()
        silences = [v.silence_s for v in views]
        print(f"kill -9, 8 calls: in line {waiting}, silences {silences}")
        assert all(v.answered and not v.ended for v in views)
        assert all(s is not None for s in silences), "a caller heard nothing after the crash"
        assert len(reception.calls) == 1
        assert waiting == 7  # everyone else waits in line (nobody hung up on)
        assert "GUARDIAN=1" in pbx.log_path.read_text(errors="replace")
    finally:
        if group is not None:
            await group.close()
        await controller.close()


async def test_controller_down_caller_reaches_the_secretary(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    started = time.monotonic()
    call = await caller.call(pbx.practice_extension)
    await reception.wait_incoming(10)
    print(f"controller down: reception answered {time.monotonic() - started:.2f} s after dialling")
    await call.wait_answered(5)
    await call.hangup()


async def test_planned_controller_stop_hands_calls_to_reception(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    controller = await start_controller(pbx, tmp_path)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        controller.terminate()
        await controller.expect("HANDED")
        await reception.wait_incoming(10)
        assert not call.ended
        await call.hangup()
    finally:
        await controller.close()


@pytest.mark.slow
async def test_busy_one_line_reception_caller_waits_in_line_then_talks(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    """The secretary is on the phone: the caller hears the emergency sentence first, then waits with
    music; when the secretary hangs up, the line rings her and the caller talks to her."""
    from standardiste.pbx.sounds import WAIT

    pbx = await fallback_pbx(pbx_factory)
    await asyncio.to_thread(add_dialplan, pbx, RING_RECEPTION)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    other = await phone_factory(pbx.phone("caller2"))
    busy = await other.call("ring-reception", answer_timeout=10)
    await reception.wait_incoming(10)  # her other call (claimed, so the next one is ours)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call(pbx.practice_extension)  # controller down: straight to the line
    await call.wait_answered(10)
    for _ in range(100):  # the wait prompt, then into the line
        if await queue_callers(pbx) == 1:
            break
        await asyncio.sleep(0.2)
    assert await queue_callers(pbx) == 1
    installed = (pbx.sounds_dir / f"{WAIT.name}.wav16").read_bytes()  # what Asterisk plays
    wait_prompt = installed[44:]
    # "En cas d'urgence, composez le 15" is the first thing said.
    assert find_reference(wait_prompt[: 16000 * 2 * 2], call.heard_pcm(), min_fraction=0.4).found
    assert len(reception.calls) == 1
    await busy.hangup()
    freed = time.monotonic()
    incoming = await reception.wait_incoming(20)
    print(
        f"busy reception: the waiting caller reached her {time.monotonic() - freed:.2f} s after she hung up"
    )
    await call.wait_answered(5)
    assert not call.ended and not incoming.ended
    await call.hangup()


async def test_closed_practice_assistant_gone_caller_goes_to_the_message_box(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path, demo_config: Config
) -> None:
    """Outside opening hours (published by serve as Asterisk globals) a caller the assistant cannot
    take (here: it was killed) goes straight to the message box, the desk phone never rings; once
    the published hours say open, the same path rings reception."""
    pbx = await fallback_pbx(pbx_factory, message_max_s=20)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    ari = AriClient(pbx.http_url, pbx.ari_user, pbx.ari_password, pbx.app_name)
    try:
        sunday = dt.datetime(2026, 12, 6, 11, 0, tzinfo=dt.UTC)
        hours = await closed_hours.publish(ari, demo_config.practice, sunday)
        assert hours.closed_at(int(time.time()))
        controller = await start_controller(pbx, tmp_path)
        try:
            call = await caller.call(pbx.practice_extension)
            await controller.expect("MEDIA")
            await asyncio.sleep(1.0)
            controller.kill()
            for _ in range(200):  # the message prompt, the beep, then the recording starts
                if list(pbx.messages_dir.glob("*.wav")):
                    break
                await asyncio.sleep(0.1)
            assert list(pbx.messages_dir.glob("*.wav")), "no message recorded"
            await call.hangup()
        finally:
            await controller.close()
        assert reception.calls == []  # nobody at the desk: it never rang
        assert "Cabinet fermé : messagerie" in pbx.log_path.read_text(errors="replace")

        monday = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # 10:00 in Paris: open
        assert not (await closed_hours.publish(ari, demo_config.practice, monday)).closed_at(int(time.time()))
        call = await caller.call(pbx.practice_extension)  # no assistant at all now: Stasis fails
        await reception.wait_incoming(10)
        await call.hangup()
    finally:
        await ari.close()


@pytest.mark.slow
async def test_reception_unregistered_caller_leaves_a_message_filed_encrypted(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    pbx = await fallback_pbx(pbx_factory, queue_max_wait_s=10, message_max_s=20)
    caller = await phone_factory(pbx.phone("caller1"))
    controller = await start_controller(pbx, tmp_path)
    try:
        call = await caller.call(pbx.practice_extension)
        await controller.expect("MEDIA")
        await asyncio.sleep(1.0)
        mark = call.heard_seconds()
        controller.kill()
        # No reception phone: the line is empty, the assistant is gone: the message box at once.
        for _ in range(200):  # the message prompt, the beep, then the recording starts
            if list(pbx.messages_dir.glob("*.wav")):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        silence = silence_after(call.heard_pcm(), mark)
        print(f"reception unregistered + kill -9: silence heard {silence} s (then the message prompt)")
        assert silence is not None
        said = chirps(3.0, seed=44)
        await call.play_pcm(said)
        await call.hangup()
    finally:
        await controller.close()
    assert len(list(pbx.messages_dir.glob("*.wav"))) == 1, list(pbx.messages_dir.iterdir())
    # The number is in a .caller file beside the recording, never in a file name.
    assert [p.suffix for p in sorted(pbx.messages_dir.iterdir())] == [".caller", ".wav"]
    assert all("caller1" not in p.name for p in pbx.messages_dir.iterdir())
    cipher = FieldCipher(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    inbox = FakeInbox()
    store = tmp_path / "messages"
    ids = import_messages(pbx.messages_dir, store, inbox, cipher, "Europe/Paris", time.time() + 10)
    assert ids == ["req-1"]
    draft, _now = inbox.filed[0]  # type: ignore[misc]
    assert draft.callback_number is None  # the test caller id "caller1" is not a phone number
    assert draft.extra["caller_id"] == "caller1"
    assert "Message vocal laissé le" in draft.details
    [stored] = list(store.iterdir())
    assert b"RIFF" not in stored.read_bytes()  # encrypted at rest
    wav = decrypt_file(cipher, stored)
    assert wav.startswith(b"RIFF")
    assert not list(pbx.messages_dir.iterdir())  # the clear copy and the number file are gone
    assert "caller1" not in stored.name and "caller1" not in draft.extra["voicemail"]
    assert import_messages(pbx.messages_dir, store, inbox, cipher, "Europe/Paris", time.time() + 10) == []


async def test_drained_stop_lets_the_call_finish_and_refuses_new_ones(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    from standardiste.testphone import PhoneError

    pbx = await fallback_pbx(pbx_factory)
    reception = await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call(pbx.practice_extension)
    await reception.wait_incoming(10)
    drain = asyncio.create_task(pbx.drain(limit_s=30))
    await asyncio.sleep(1.5)
    assert not call.ended and not drain.done()  # the call in progress goes on
    late = await phone_factory(pbx.phone("caller2"))
    with pytest.raises(PhoneError):
        await late.call(pbx.practice_extension, answer_timeout=5)  # no new call while draining
    await call.hangup()
    result = await drain
    print(f"drained stop: {result}")
    assert result.drained and result.calls_cut == 0
    assert pbx.pid() is None


async def test_drain_limit_cuts_the_calls_still_up(
    pbx_factory: PbxFactory, phone_factory: PhoneFactory
) -> None:
    pbx = await fallback_pbx(pbx_factory)
    await phone_factory(pbx.reception, answer=HUMAN)
    caller = await phone_factory(pbx.phone("caller1"))
    call = await caller.call(pbx.practice_extension)
    await call.wait_answered(10)
    result = await pbx.drain(limit_s=2)
    assert not result.drained and result.calls_cut >= 1
    await call.wait_disconnected(10)


@pytest.mark.slow
async def test_the_real_server_runs_a_guardian_that_frees_its_callers(
    pbx: PbxInstance, demo_config: object, tmp_path: Path, prompt_cache: Path, phone_factory: PhoneFactory
) -> None:
    """`standardiste serve`'s VoiceApp starts the guardian; when the guardian's pipe closes (what the
    kernel does when the server process dies), its live call goes on to reception."""
    from tests.integration.test_e2e_dashboard_call import running_server, start_call

    reception = await phone_factory(pbx.reception, answer=HUMAN)
    async with running_server(pbx, demo_config, tmp_path, prompt_cache) as server:  # type: ignore[arg-type]
        guardian = server.voice.guardian
        assert guardian is not None and guardian.alive()
        caller = await phone_factory(pbx.phone("caller1"))
        call, _record = await start_call(server, caller, pbx)
        assert server.voice._heartbeat is not None
        server.voice._heartbeat.cancel()  # the server "dies": no more heartbeats, pipe closed
        await asyncio.to_thread(guardian.close)
        await reception.wait_incoming(10)
        assert not call.ended
        assert "GUARDIAN=1" in pbx.log_path.read_text(errors="replace")
        await call.hangup()
