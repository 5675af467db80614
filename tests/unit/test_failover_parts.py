"""Pure parts of the failover (issue 18): which channels the guardian frees, how it notices a dead or
stuck controller, the voice-message import, the hold music and the prompts (no Asterisk here; the
real-Asterisk tests are tests/integration/test_failover.py)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import threading
import time
import wave
from io import BytesIO
from pathlib import Path

import pytest

from standardiste.agenda.model import RequestKind
from standardiste.pbx.guardian import GuardianConfig, process_state, stranded, watch
from standardiste.pbx.messages import decrypt_file, french_number, import_messages, parse_name, pending
from standardiste.pbx.sounds import FALLBACK_PROMPTS, MESSAGE, WAIT, hold_music_pcm, install_fallback_prompts
from standardiste.privacy.crypto import DecryptionError, FieldCipher

APP = "standardiste"
TEMPLATES = "".join(
    (Path(__file__).resolve().parents[2] / "asterisk" / name).read_text()
    for name in ("extensions.conf", "queues.conf")
)


def channel(cid: str, name: str, app: str | None, data: str = "") -> dict[str, object]:
    plan = {
        "context": "standardiste-inbound",
        "exten": "100",
        "priority": 4,
        "app_name": app or "",
        "app_data": data,
    }
    return {"id": cid, "name": name, "dialplan": plan}


def test_guardian_frees_only_our_callers_and_hangs_up_our_media() -> None:
    channels = [
        channel("c1", "PJSIP/caller1-0001", "Stasis", "standardiste,inbound"),
        channel("c2", "PJSIP/caller2-0002", "Stasis", "standardiste,transfer-failed,BUSY,reception"),
        channel("c3", "PJSIP/caller3-0003", "Queue", "standardiste-accueil"),  # already with humans
        channel("c4", "PJSIP/reception-0004", "AppQueue", ""),
        channel("c5", "PJSIP/other-0005", "Stasis", "someone-else,inbound"),  # another application
        channel("m1", "WebSocket/INCOMING/0x1", "Stasis", "standardiste"),
        channel("m2", "UnicastRTP/127.0.0.1:4000-0x2", None),
        channel("m3", "WebSocket/INCOMING/0x3", "Stasis", "someone-else"),
    ]
    callers, media = stranded(channels, APP)
    assert callers == ["c1", "c2"]
    assert media == ["m1", "m2"]


def test_guardian_config_round_trip() -> None:
    config = GuardianConfig("http://127.0.0.1:8088/ari", "u", "p w", APP, 1.5, 0.3, 0.5)
    assert GuardianConfig.from_json(config.to_json()) == config


def test_watch_reports_exit_at_end_of_file() -> None:
    read, write = os.pipe()
    seen: list[tuple[str, float]] = []
    thread = threading.Thread(
        target=watch, args=(read, 5.0, lambda why: seen.append((why, time.monotonic())))
    )
    thread.start()
    os.write(write, b"...")
    closed = time.monotonic()
    os.close(write)
    thread.join(5)
    os.close(read)
    assert [why for why, _ in seen] == ["exited"]
    assert seen[0][1] - closed < 1.0


def test_watch_reports_a_stalled_controller_then_keeps_watching() -> None:
    read, write = os.pipe()
    seen: list[str] = []
    thread = threading.Thread(target=watch, args=(read, 0.3, seen.append))
    thread.start()
    for _ in range(5):  # heartbeats: alive
        os.write(write, b".")
        time.sleep(0.1)
    assert seen == []
    time.sleep(0.6)  # no heartbeat: stuck
    assert seen[:1] == ["stalled"]
    os.close(write)
    thread.join(5)
    os.close(read)
    assert seen[-1] == "exited"


def _watch_in_thread(read: int, stall_s: float, **kwargs: object) -> tuple[threading.Thread, list[str]]:
    seen: list[str] = []
    kwargs.setdefault("on_hold", lambda: seen.append("hold"))
    kwargs.setdefault("on_resume", lambda gap: seen.append("resume"))
    thread = threading.Thread(target=watch, args=(read, stall_s, seen.append), kwargs=kwargs)
    thread.start()
    return thread, seen


def test_watch_holds_a_silent_controller_then_resumes_without_a_rescue() -> None:
    """Longer than hold_s without a heartbeat: music on hold; a heartbeat before stall_s: stopped, kept."""
    read, write = os.pipe()
    thread, seen = _watch_in_thread(read, 1.0, hold_s=0.2)
    os.write(write, b".")
    time.sleep(0.45)  # a slow moment: past the hold, short of the stall
    assert seen == ["hold"]
    os.write(write, b".")
    time.sleep(0.05)
    assert seen == ["hold", "resume"]  # no "stalled": the controller keeps its call
    os.close(write)
    thread.join(5)
    os.close(read)
    assert seen == ["hold", "resume", "exited"]


def test_watch_holds_then_rescues_a_stuck_controller() -> None:
    read, write = os.pipe()
    thread, seen = _watch_in_thread(read, 0.5, hold_s=0.15)
    os.write(write, b".")
    started = time.monotonic()
    while "stalled" not in seen and time.monotonic() - started < 3:
        time.sleep(0.01)
    took = time.monotonic() - started
    assert seen[:2] == ["hold", "stalled"]
    assert 0.45 <= took < 1.5
    os.close(write)
    thread.join(5)
    os.close(read)


def test_watch_rescues_a_stopped_process_before_the_stall() -> None:
    """/proc says the controller is stopped (SIGSTOP): rescued after stopped_s, not stall_s."""
    read, write = os.pipe()
    thread, seen = _watch_in_thread(read, 5.0, pid=12345, stopped_s=0.1, stopped=lambda pid: pid == 12345)
    os.write(write, b".")
    started = time.monotonic()
    while "stopped" not in seen and time.monotonic() - started < 3:
        time.sleep(0.01)
    assert "stopped" in seen and time.monotonic() - started < 1.0
    os.close(write)
    thread.join(5)
    os.close(read)


def test_a_process_stopped_by_sigstop_reads_as_stopped() -> None:
    import signal
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # Alive and not stopped: sleeping, running, or in disk sleep while it starts on a loaded machine.
        assert process_state(child.pid) in ("S", "R", "D")
        os.kill(child.pid, signal.SIGSTOP)
        for _ in range(100):
            if process_state(child.pid) == "T":
                break
            time.sleep(0.01)
        assert process_state(child.pid) == "T"
    finally:
        child.kill()
        child.wait()
    assert process_state(child.pid) == ""  # reaped: gone


class FakeInbox:
    def __init__(self) -> None:
        self.filed: list[tuple[object, dt.datetime]] = []

    def file(self, draft: object, now: dt.datetime) -> str:
        self.filed.append((draft, now))
        return f"req-{len(self.filed)}"


def _wav(seconds: float) -> bytes:
    buf = BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return buf.getvalue()


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())


def test_message_names_and_numbers(tmp_path: Path) -> None:
    wav = tmp_path / "msg-1796655824-standardiste-1796655813.0.wav"
    (tmp_path / "msg-1796655824-standardiste-1796655813.0.caller").write_text("0612345678")
    m = parse_name(wav)
    assert m is not None and m.number == "0612345678" and m.name == "msg-1796655824-standardiste-1796655813.0"
    assert m.left_at == dt.datetime.fromtimestamp(1796655824, dt.UTC)
    # Older names carried the number: still read, filed under a name without it.
    old = parse_name(Path("1796655824-0612345678-standardiste-1796655813.0.wav"))
    assert old is not None and old.number == "0612345678"
    assert old.name == "msg-1796655824-standardiste-1796655813.0"
    assert parse_name(Path("notes.wav")) is None
    # A .caller file holds a caller id, nothing else.
    (tmp_path / "msg-1796655825-x.caller").write_text("06 12;rm -rf /\n")
    m2 = parse_name(tmp_path / "msg-1796655825-x.wav")
    assert m2 is not None and m2.number == "0612rmrf"
    assert french_number("0612345678") == "+33612345678"
    assert french_number("+33478000000") == "+33478000000"
    assert french_number("caller1") is None and french_number("") is None


def test_the_dialplan_keeps_the_number_out_of_the_message_file_name() -> None:
    message = TEMPLATES[TEMPLATES.index("exten => message,1") :]
    message = message[: message.index("exten => unavailable")]
    [name] = [line for line in message.splitlines() if "Set(STANDARDISTE_MESSAGE=" in line]
    assert "CALLERID" not in name and "msg-${EPOCH}-${FILTER(0-9A-Za-z.-,${UNIQUEID})}" in name
    # Only shell-safe characters reach System(): the filtered number, quoted.
    [system] = [line for line in message.splitlines() if "System(" in line]
    assert "'${FILTER(0-9A-Za-z+,${CALLERID(num)})}' > '${STANDARDISTE_MESSAGE}.caller'" in system
    modules = (Path(__file__).resolve().parents[2] / "asterisk" / "modules.conf").read_text()
    assert "load => app_system.so" in modules


def test_a_message_still_being_recorded_is_left_alone(tmp_path: Path) -> None:
    wav = tmp_path / "msg-1796655824-standardiste-1.0.wav"
    wav.write_bytes(_wav(2))
    assert pending(tmp_path, now_s=time.time()) == []  # just written: may still grow
    assert [p.wav for p in pending(tmp_path, now_s=time.time() + 10)] == [wav]


def test_import_files_an_encrypted_message_with_number_and_time(tmp_path: Path, cipher: FieldCipher) -> None:
    spool, store = tmp_path / "spool", tmp_path / "store"
    spool.mkdir()
    epoch = int(dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC).timestamp())
    left = spool / f"msg-{epoch}-standardiste-1.0.wav"
    left.write_bytes(_wav(3))
    (spool / f"msg-{epoch}-standardiste-1.0.caller").write_text("0612345678")
    os.utime(left, (epoch + 5, epoch + 5))  # the recording ended 5 s after it began
    inbox = FakeInbox()
    ids = import_messages(spool, store, inbox, cipher, "Europe/Paris", now_s=epoch + 600)
    assert ids == ["req-1"]
    draft, now = inbox.filed[0]
    assert draft.kind == RequestKind.CALLBACK  # type: ignore[attr-defined]
    assert draft.callback_number == "+33612345678"  # type: ignore[attr-defined]
    assert "07/12/2026 à 10:30" in draft.details and "3 s" in draft.details  # type: ignore[attr-defined]
    assert now == dt.datetime(2026, 12, 7, 10, 30, tzinfo=now.tzinfo)
    [stored] = list(store.iterdir())
    assert stored.name == f"msg-{epoch}-standardiste-1.0.wav.enc"  # no caller number in any file name
    assert "0612345678" not in draft.extra["voicemail"]  # type: ignore[attr-defined]
    assert stored.stat().st_mode & 0o777 == 0o600
    assert decrypt_file(cipher, stored) == _wav(3)
    assert list(spool.iterdir()) == []  # no clear copy left, nor the number file
    other = FieldCipher(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    with pytest.raises(DecryptionError):
        decrypt_file(other, stored)
    moved = store / "msg-1796000000-x.wav.enc"
    moved.write_text(stored.read_text())
    with pytest.raises(DecryptionError):  # the name is authenticated: a file can't be passed off as another
        decrypt_file(cipher, moved)


def test_an_old_style_name_is_filed_without_the_number(tmp_path: Path, cipher: FieldCipher) -> None:
    (tmp_path / "1796655824-0612345678-standardiste-3.0.wav").write_bytes(_wav(2))
    inbox = FakeInbox()
    import_messages(tmp_path, tmp_path / "store", inbox, cipher, "Europe/Paris", now_s=time.time() + 60)
    draft, _ = inbox.filed[0]
    assert draft.callback_number == "+33612345678"  # type: ignore[attr-defined]
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["msg-1796655824-standardiste-3.0.wav.enc"]


def test_hidden_number_and_empty_message_are_still_filed(tmp_path: Path, cipher: FieldCipher) -> None:
    (tmp_path / "msg-1796655824-standardiste-2.0.wav").write_bytes(_wav(0.2))
    (tmp_path / "msg-1796655824-standardiste-2.0.caller").write_text("")
    inbox = FakeInbox()
    import_messages(tmp_path, tmp_path / "store", inbox, cipher, "Europe/Paris", now_s=time.time() + 60)
    draft, _ = inbox.filed[0]
    assert draft.callback_number is None  # type: ignore[attr-defined]
    assert "numéro masqué" in draft.details and "vide" in draft.details  # type: ignore[attr-defined]


def test_emergency_sentence_comes_first_whenever_the_caller_waits() -> None:
    for prompt in (WAIT, MESSAGE):
        assert prompt.text.format(emergency="15").startswith("En cas d'urgence, composez le 15.")
    assert all("{emergency}" in p.text or "secrétariat" in p.text for p in FALLBACK_PROMPTS)


async def test_prompts_are_installed_under_the_dialplan_names() -> None:
    installed: dict[str, bytes] = {}

    class Target:
        def install_sound_pcm(self, name: str, pcm: bytes, rate: int = 16000) -> str:
            installed[name] = pcm
            return f"sound:custom/{name}"

    async def speak(text: str) -> bytes:
        if "Au revoir" in text:
            raise RuntimeError("engine down")
        return text.encode()

    done = await install_fallback_prompts(Target(), "15", speak)
    for prompt in FALLBACK_PROMPTS:
        assert f"custom/{prompt.name}" in TEMPLATES
    assert "standardiste-message-recu" not in done  # a failing engine skips that prompt only
    assert installed["standardiste-attente"].startswith(b"En cas d'urgence, composez le 15")


def test_hold_music_is_a_quiet_loop() -> None:
    pcm = hold_music_pcm(2.0)
    assert len(pcm) == 2 * 8000 * 2
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    assert 500 < np.sqrt(np.mean(samples**2)) < 8000


def test_the_controller_targets_exist_in_the_dialplan() -> None:
    from standardiste.pbx.dialplan import MESSAGE, QUEUE, RECEPTION, URGENT

    for target in (RECEPTION, URGENT, QUEUE, MESSAGE):
        assert f"exten => {target.extension},1," in TEMPLATES
    assert "[standardiste-accueil]" in TEMPLATES and "ringinuse = no" in TEMPLATES


class RecordingAri:
    """Just enough of AriClient for AriCallLeg.transfer."""

    app = "standardiste"

    def __init__(self) -> None:
        self.continued: list[tuple[str, str, str, int]] = []

    async def request(self, method: str, path: str, params: object = None, body: object = None) -> None:
        return None

    async def hangup(self, channel_id: str) -> None:
        return None

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        self.continued.append((channel_id, context, extension, priority))


@pytest.mark.parametrize(
    ("target", "priority", "extension"),
    [("reception", False, "reception"), ("reception", True, "urgent"), ("message", False, "message")],
)
async def test_a_transfer_reaches_the_dialplan_extension_it_names(
    target: str, priority: bool, extension: str
) -> None:
    """Transfer("message") (the inbox is down outside opening hours) goes to the voice message box."""
    from standardiste.dialogue.messages import Transfer
    from standardiste.telephony.ari import Channel
    from standardiste.telephony.leg import AriCallLeg

    ari = RecordingAri()
    leg = AriCallLeg(ari, Channel("c1"))  # type: ignore[arg-type]
    action = Transfer(target, priority, "test")
    await leg.transfer(priority=action.priority, message_box=action.target == "message")
    assert ari.continued == [("c1", "standardiste-transfer", extension, 1)]
    assert f"exten => {extension},1," in TEMPLATES
