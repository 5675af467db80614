"""privacy.record_audio on a real call: real Asterisk 22 (chroot), a real pjsua2 phone, real espeak-ng,
the real VoiceApp (controller + dialogue), SQLite in tmp_path.

Off (default): no audio file anywhere in Asterisk's recording dir after a call. On: the caller hears
the recording notice first, Asterisk writes a WAV of both directions (our greeting and the caller's
audio), the call log row names it; once the call is over the WAV is sealed (encrypted, 0600) into
data_dir/recordings and the clear file leaves Asterisk's spool; the retention purge deletes it with the row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from standardiste.app import AriAccess, VoiceApp
from standardiste.config import Config
from standardiste.dialogue import prompts
from standardiste.pbx import PbxInstance
from standardiste.privacy.retention import purge
from standardiste.speech.keypad_backend import KeypadOnlyRecognizer
from standardiste.speech.tts import EspeakSynthesizer
from standardiste.storage.db import Database
from standardiste.testphone import TestPhone
from standardiste.testphone.audio import chirps, find_reference, pcm_to_float, resample, rms
from tests.fixtures.clock import running_from
from tests.fixtures.voice import ended_record, synth, wait_found

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

RecordingApp = Callable[[bool], Awaitable[VoiceApp]]


@pytest.fixture
async def recording_app(
    pbx: PbxInstance, demo_config: Config, tmp_path: Path, prompt_cache: Path
) -> AsyncIterator[RecordingApp]:
    """A VoiceApp on the pbx fixture's ARI with privacy.record_audio on or off."""
    apps: list[VoiceApp] = []

    async def make(record_audio: bool) -> VoiceApp:
        dep = demo_config.deployment
        privacy = dep.privacy.model_copy(update={"record_audio": record_audio})
        deployment = dep.model_copy(update={"data_dir": tmp_path, "privacy": privacy})
        config = demo_config.model_copy(update={"deployment": deployment})
        app = VoiceApp(
            config,
            AriAccess(pbx.ari_url, pbx.ari_user, pbx.ari_password, pbx.app_name),
            db=Database(f"sqlite:///{tmp_path / 'std.db'}"),
            recognizer=KeypadOnlyRecognizer(),
            synthesizer=EspeakSynthesizer(cache_dir=prompt_cache),
            secrets_=pbx.secrets,
            recordings_dir=pbx.recordings_dir,
            clock=running_from(),
        )
        apps.append(app)
        await app.start()
        assert app.controller is not None
        async with asyncio.timeout(10):
            await app.controller.ari.connected.wait()
        assert app.call_log is not None
        app.call_log.seal_delay_s = 1.0  # production: 15 s after the call's end
        return app

    yield make
    for app in apps:
        await app.stop()


async def sealed_wav(app: VoiceApp, name: str, into: Path) -> Path:
    """Waits for the call's recording to be sealed, checks it left the spool, decrypts it to `into`."""
    assert app.call_log is not None and app.call_log.vault is not None
    vault = app.call_log.vault
    async with asyncio.timeout(30):
        while not vault.has(name):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return await asyncio.to_thread(_check_and_open, app, name, into)


def _check_and_open(app: VoiceApp, name: str, into: Path) -> Path:
    assert app.call_log is not None and app.call_log.vault is not None
    vault = app.call_log.vault
    sealed = vault.path(name)
    assert sealed is not None and sealed.stat().st_mode & 0o777 == 0o600
    assert vault.directory.stat().st_mode & 0o777 == 0o700
    assert not (app.recordings_dir / f"{name}.wav").exists()  # no clear copy left in Asterisk's spool
    assert b"RIFF" not in sealed.read_bytes()[:64]
    audio = vault.open(name)
    assert audio is not None
    into.write_bytes(audio)
    return into


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def read_wav_16k(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        pcm = w.readframes(w.getnframes())
    assert width == 2 and channels == 1, (width, channels)
    samples = resample(pcm_to_float(pcm), rate, 16000)
    return (samples * 32767).clip(-32768, 32767).astype("<i2").tobytes(), rate


async def test_no_recording_by_default(
    pbx: PbxInstance, recording_app: RecordingApp, caller_phone: TestPhone
) -> None:
    app = await recording_app(False)
    before = audio_files(pbx.recordings_dir)
    greeting = await synth(app, prompts.greeting(app.config.practice, False))
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    at = await wait_found(call, greeting[: 32000 * 2])
    assert at < 3.0  # the greeting comes first: no notice when nothing is recorded
    await call.play_pcm(chirps(1.5))  # the caller's audio crosses the bridge, too
    await call.hangup()
    record = await ended_record(app)
    assert record.recording is None
    assert all(a.get("say") != prompts.RECORDING_NOTICE for a in record.actions)
    await asyncio.sleep(0.5)
    assert audio_files(pbx.recordings_dir) == before
    assert app.call_log is not None
    entry = await app.call_log.get(record.call_id)
    assert entry is not None and entry.recording is None


async def test_recorded_call_is_announced_kept_linked_and_purged(
    pbx: PbxInstance, recording_app: RecordingApp, caller_phone: TestPhone
) -> None:
    app = await recording_app(True)
    notice = await synth(app, prompts.RECORDING_NOTICE)
    greeting = await synth(app, prompts.greeting(app.config.practice, False))
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    heard_notice = await wait_found(call, notice)
    heard_greeting = await wait_found(call, greeting[: 32000 * 3], after_s=heard_notice)
    print(f"\nnotice heard at {heard_notice:.2f} s, greeting at {heard_greeting:.2f} s")
    assert heard_notice < 3.0  # the very first thing said
    assert heard_greeting >= heard_notice + len(notice) / 32000 - 0.3
    await asyncio.sleep(1.0)
    caller_audio = chirps(2.0, seed=11)
    await call.play_pcm(caller_audio)  # talks over the greeting (barge-in): both directions recorded
    await asyncio.sleep(0.5)
    await call.hangup()
    record = await ended_record(app)
    assert record.recording is not None
    # Asterisk's recorder channel in the bridge is not taken for a call.
    assert app.controller is not None
    assert app.controller.stats.calls_started == 1 and app.controller.stats.sessions_failed == 0
    assert app.call_log is not None
    entry = await app.call_log.get(record.call_id)
    assert entry is not None and entry.recording == record.recording
    path = await sealed_wav(app, record.recording, app.deployment.data_dir / "decrypted.wav")
    pcm, rate = read_wav_16k(path)
    print(f"recording {path.name}: {len(pcm) / 32000:.1f} s at {rate} Hz, RMS {rms(pcm):.0f}")
    assert rms(pcm) > 100  # not silence
    in_notice = find_reference(notice, pcm)
    in_greeting = find_reference(greeting[: 32000 * 2], pcm)
    in_caller = find_reference(caller_audio, pcm)
    print(
        f"in the recording: notice at {in_notice.offset_s:.2f} s (score {in_notice.score:.2f}), greeting at "
        f"{in_greeting.offset_s:.2f} s ({in_greeting.score:.2f}), caller at {in_caller.offset_s:.2f} s "
        f"({in_caller.score:.2f})"
    )
    assert in_notice.found and in_greeting.found and in_caller.found
    assert in_notice.offset_s < in_greeting.offset_s < in_caller.offset_s

    assert app.db is not None
    later = app.clock.now() + dt.timedelta(days=app.deployment.privacy.retention_days + 1)
    sealed_dir = app.call_log.vault.directory if app.call_log.vault else None
    report = purge(
        app.db, app.deployment.privacy.retention_days, later, app.recordings_dir, sealed_dir=sealed_dir
    )
    assert report.calls >= 1 and report.recordings == 1
    assert app.call_log.vault is not None and not app.call_log.vault.has(record.recording)
    assert await app.call_log.get(record.call_id) is None


async def test_recording_goes_on_after_a_failed_transfer(
    pbx: PbxInstance, recording_app: RecordingApp, caller_phone: TestPhone
) -> None:
    """No reception phone registered: the caller comes back to us on a new bridge, whose audio is
    appended to the same recording (one file per call)."""
    app = await recording_app(True)
    before = audio_files(pbx.recordings_dir)
    notice = await synth(app, prompts.RECORDING_NOTICE)
    call = await caller_phone.call(pbx.practice_extension, answer_timeout=10)
    await wait_found(call, notice)
    await call.send_dtmf("0")
    assert app.controller is not None
    session = next(iter(app.controller.calls.values())).session
    async with asyncio.timeout(40):
        while "TransferFailed" not in session.record.path:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    async with asyncio.timeout(20):
        while not any("say" in a for a in session.record.actions[-1:]):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    reply = (await synth(app, session.record.actions[-1]["say"]))[: 32000 * 2]
    start = call.heard_seconds()
    await wait_found(call, reply, after_s=max(0.0, start - 1.0))
    await call.hangup()
    record = await ended_record(app)
    assert any(p.startswith("transfer_failed:") for p in record.path)
    assert record.recording is not None
    path = await sealed_wav(app, record.recording, app.deployment.data_dir / "decrypted.wav")
    assert audio_files(pbx.recordings_dir) == before  # one file per call, sealed away from the spool
    pcm, _ = read_wav_16k(path)
    in_notice, in_reply = find_reference(notice, pcm), find_reference(reply, pcm)
    print(
        f"\nrecording {len(pcm) / 32000:.1f} s: notice at {in_notice.offset_s:.2f} s, "
        f"reply after the failed transfer at {in_reply.offset_s:.2f} s ({in_reply.score:.2f})"
    )
    assert in_notice.found and in_reply.found and in_reply.offset_s > in_notice.offset_s
