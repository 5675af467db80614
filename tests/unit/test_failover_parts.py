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
from standardiste.pbx.guardian import GuardianConfig, stranded, watch
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
    config = GuardianConfig("http://127.0.0.1:8088/ari", "u", "p w", APP, 1.5)
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


def test_message_names_and_numbers() -> None:
    m = parse_name(Path("1796655824-0612345678-standardiste-1796655813.0.wav"))
    assert (
        m is not None
        and m.number == "0612345678"
        and m.name == "1796655824-0612345678-standardiste-1796655813.0"
    )
    assert m.left_at == dt.datetime.fromtimestamp(1796655824, dt.UTC)
    assert parse_name(Path("notes.wav")) is None
    assert french_number("0612345678") == "+33612345678"
    assert french_number("+33478000000") == "+33478000000"
    assert french_number("caller1") is None and french_number("") is None


def test_a_message_still_being_recorded_is_left_alone(tmp_path: Path) -> None:
    wav = tmp_path / "1796655824-0612345678-standardiste-1.0.wav"
    wav.write_bytes(_wav(2))
    assert pending(tmp_path, now_s=time.time()) == []  # just written: may still grow
    assert [p.wav for p in pending(tmp_path, now_s=time.time() + 10)] == [wav]


def test_import_files_an_encrypted_message_with_number_and_time(tmp_path: Path, cipher: FieldCipher) -> None:
    spool, store = tmp_path / "spool", tmp_path / "store"
    spool.mkdir()
    epoch = int(dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC).timestamp())
    left = spool / f"{epoch}-0612345678-standardiste-1.0.wav"
    left.write_bytes(_wav(3))
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
    assert stored.stat().st_mode & 0o777 == 0o600
    assert decrypt_file(cipher, stored) == _wav(3)
    assert list(spool.iterdir()) == []  # no clear copy left
    other = FieldCipher(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    with pytest.raises(DecryptionError):
        decrypt_file(other, stored)
    moved = store / "1796000000-0600000000-x.wav.enc"
    moved.write_text(stored.read_text())
    with pytest.raises(DecryptionError):  # the name is authenticated: a file can't be passed off as another
        decrypt_file(cipher, moved)


def test_hidden_number_and_empty_message_are_still_filed(tmp_path: Path, cipher: FieldCipher) -> None:
    (tmp_path / "1796655824--standardiste-2.0.wav").write_bytes(_wav(0.2))
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
