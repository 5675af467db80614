"""The voice loop end to end: real Asterisk 22 (chroot), real pjsua2 phones, real espeak-ng,
the real controller (ARI + chan_websocket), the real dialogue manager and a real recogniser.

Recognisers here: the keypad-only backend (what a clinic without a French model runs); the real
Vosk engine with the Korean model from PyPI is in test_voice_loop_vosk.py. Fixtures: tests/fixtures/voice.py.
"""

from __future__ import annotations

import asyncio

import pytest

from standardiste.calllog.store import CallLogStore
from standardiste.config import Config
from standardiste.dialogue import prompts
from standardiste.pbx import PbxInstance
from standardiste.testphone import TestPhone, sound_segments
from tests.fixtures.voice import AppFactory, ended_record, synth, wait_found

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


async def test_greeting_heard_then_key1_hours_then_key0_reception(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone, reception_phone: TestPhone
) -> None:
    app = await app_factory()
    greeting = await synth(app, prompts.greeting(app.config.practice, False))
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    at = await wait_found(call, greeting[: 32000 * 3])  # its first 3 s
    print(f"\ngreeting heard at {at:.2f} s into the call")
    await call.send_dtmf("1")
    hours = await synth(app, prompts.hours_answer(app.config.practice))
    heard_hours = await wait_found(call, hours[: 32000 * 3], after_s=at)
    print(f"hours heard at {heard_hours:.2f} s")
    await call.send_dtmf("0")
    async with asyncio.timeout(15):
        while not reception_phone.calls or reception_phone.calls[0].state.name != "CONFIRMED":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await call.hangup()
    record = await ended_record(app)
    assert record.end_reason == "transferred"
    assert "keypad:1" in record.path and "keypad:0" in record.path
    assert record.greeting_ms is not None
    print(f"answer -> first greeting frame: {record.greeting_ms} ms")
    assert app.call_log is not None
    entry = await app.call_log.get(record.call_id)
    assert entry is not None and entry.ended_at is not None and entry.outcome == "transferred"
    assert any("Cabinet" in u.text for u in entry.transcript if u.speaker == "assistant")


async def test_silence_reprompts_then_transfers(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone, reception_phone: TestPhone
) -> None:
    app = await app_factory(silence_timeout_s=2.0)
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    async with asyncio.timeout(60):
        while not reception_phone.calls or reception_phone.calls[0].state.name != "CONFIRMED":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await call.hangup()
    record = await ended_record(app)
    assert record.path.count("NoInput") >= 1
    assert record.end_reason == "transferred"
    says = [a["say"] for a in record.actions if "say" in a]
    assert len(says) >= 2  # greeting, then at least one reprompt before the transfer
    print(f"\npath: {' > '.join(record.path)}")


async def test_caller_hangs_up_mid_greeting(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone
) -> None:
    app = await app_factory()
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    await call.wait_sound(timeout=10)
    await asyncio.sleep(0.5)
    await call.hangup()
    record = await ended_record(app)
    assert record.end_reason == "caller_hung_up"
    assert record.path[-1] == "caller_hung_up"
    assert app.controller is not None and not app.controller.calls
    # The call log is encrypted at rest (caller id, path, transcript): read it with the app's key.
    store = CallLogStore(app.db, app.call_log.cipher if app.call_log else None)  # type: ignore[arg-type]
    entry = store.get_sync(record.call_id)
    assert entry is not None and entry.end_reason == "caller_hung_up" and entry.ended_at is not None


@pytest.mark.alone  # asserts a time figure: runs on its own (tests/fixtures/scheduling.py)
async def test_barge_in_stops_our_audio(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone
) -> None:
    app = await app_factory()
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    start = await call.wait_sound(timeout=10)
    await asyncio.sleep(0.8)  # the greeting is well under way
    speech = await synth(app, "Bonjour, je voudrais parler à la secrétaire s'il vous plaît.")
    sent_at = call.heard_seconds()
    await call.play_pcm(speech, wait=False)
    await asyncio.sleep(2.0)
    heard = call.heard_pcm()
    # Where did our audio stop? The first 200 ms of silence after the caller started speaking.
    segments = sound_segments(heard, threshold=300.0, min_gap_s=0.2)
    after = [seg for seg in segments if seg[1] > sent_at]
    stop_at = after[0][1] if after else sent_at
    assert app.controller is not None
    live = list(app.controller.calls.values())
    assert live and live[0].session.record.barge_ins >= 1, "no barge-in detected"
    controller_ms = live[0].session.record.barge_in_ms
    latency_ms = (stop_at - sent_at) * 1000
    print(
        f"\ngreeting started at {start:.2f} s; caller spoke at {sent_at:.2f} s; our audio stopped at "
        f"{stop_at:.2f} s -> {latency_ms:.0f} ms (includes the phone's and Asterisk's jitter buffers)"
    )
    print(
        f"controller side: caller's first voiced frame -> our audio stopped (FLUSH_MEDIA): {controller_ms} ms"
    )
    assert latency_ms < 800
    await call.hangup()
    await ended_record(app)


async def test_asterisk_restart_controller_reconnects(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone
) -> None:
    app = await app_factory()
    assert app.controller is not None
    ari = app.controller.ari
    assert ari.connections == 1
    await pbx.stop()
    await pbx.start()
    async with asyncio.timeout(20):
        while ari.connections < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await caller_phone.wait_registered(15)
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    greeting = await synth(app, prompts.greeting(app.config.practice, False))
    await wait_found(call, greeting[: 32000 * 2])
    await call.hangup()
    record = await ended_record(app)
    assert record.end_reason == "caller_hung_up"


async def test_auto_recogniser_speech_then_keypad(
    pbx: PbxInstance,
    app_factory: AppFactory,
    caller_phone: TestPhone,
    reception_phone: TestPhone,
    demo_config: Config,
) -> None:
    """What `serve` picks by itself here (no French Vosk model: PocketSphinx grammars): speech is
    heard and answered (whatever the grammar forced it into), then '*' reaches a person."""
    from standardiste.speech.select import load_recognizer_ready
    from tests.fixtures.speech import espeak_pcm

    choice = await load_recognizer_ready(demo_config.deployment)
    print(f"\nrecogniser: {choice.recognizer.name}")
    app = await app_factory(recognizer=choice.recognizer)
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    await call.wait_sound(timeout=10)
    await asyncio.sleep(1.0)
    await call.play_pcm(espeak_pcm("Les horaires d'ouverture s'il vous plaît.") + bytes(16000))
    assert app.controller is not None
    session = next(iter(app.controller.calls.values())).session
    async with asyncio.timeout(20):
        while len([a for a in session.record.actions if "say" in a]) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await call.send_dtmf("*")
    async with asyncio.timeout(30):
        while not reception_phone.calls or reception_phone.calls[0].state.name != "CONFIRMED":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await call.hangup()
    record = await ended_record(app)
    print(f"path: {' > '.join(record.path)}")
    heard = [p for p in record.path if p.startswith("heard:")]
    assert heard and record.path.index(heard[0]) < record.path.index("keypad:*")
    assert record.end_reason == "transferred"


async def test_reception_unreachable_caller_comes_back(
    pbx: PbxInstance, app_factory: AppFactory, caller_phone: TestPhone
) -> None:
    """No reception phone registered: the dialplan hands the caller back (transfer-failed) and the
    conversation goes on instead of leaving the caller in silence."""
    app = await app_factory()
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    await call.wait_sound(timeout=10)
    await call.send_dtmf("0")
    assert app.controller is not None
    session = next(iter(app.controller.calls.values())).session
    async with asyncio.timeout(40):
        while "TransferFailed" not in session.record.path:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    async with asyncio.timeout(20):
        while not any("say" in a for a in session.record.actions[-1:]):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    reply = session.record.actions[-1]["say"]
    start = call.heard_seconds()
    await wait_found(call, (await synth(app, reply))[: 32000 * 2], after_s=max(0.0, start - 1.0))
    await call.hangup()
    record = await ended_record(app)
    print(f"\npath: {' > '.join(record.path)}")
    assert any(p.startswith("transfer_failed:") for p in record.path)
