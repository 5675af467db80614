"""Voice messages played in the dashboard (issue 18): a message left in the fallback message box is
filed by pbx/messages.py, then a staff member plays it from the requests page over HTTP (the real
dashboard app, SQLite, the install's cipher). Role-scoped, decrypted in a worker thread, served as
audio/wav without caching, every listen audited."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import secrets
import threading
import wave
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from standardiste.agenda.inbox import SqlInbox
from standardiste.calllog.store import CallLogStore
from standardiste.config import Config, DashboardConfig
from standardiste.dashboard import voicemail
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.server import build_dashboard
from standardiste.dashboard.tables import AuditEntry
from standardiste.pbx.messages import import_messages
from standardiste.privacy.crypto import FieldCipher
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
GOOD = "correct-cheval-agrafe"


def _wav(seconds: float) -> bytes:
    buf = BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * int(8000 * seconds * 2 / 256))
    return buf.getvalue()


@pytest.fixture
async def dash(tmp_path: Path, demo_config: Config):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'dash.db'}")
    db.migrate()
    cipher = FieldCipher(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    auth = StaffAuth(db)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, GOOD, NOW)
    auth.create_user("dr.martin", "Dr Martin", Role.PRACTITIONER, GOOD, NOW, practitioner_id="martin")
    spool, store = tmp_path / "spool", tmp_path / "messages"
    spool.mkdir()
    epoch = int(NOW.timestamp())
    (spool / f"msg-{epoch}-standardiste-1.0.wav").write_bytes(_wav(2))
    (spool / f"msg-{epoch}-standardiste-1.0.caller").write_text("0612345678")
    os.utime(spool / f"msg-{epoch}-standardiste-1.0.wav", (epoch + 5, epoch + 5))  # recorded then
    [request_id] = import_messages(spool, store, SqlInbox(db, cipher), cipher, "Europe/Paris", epoch + 60)
    app = build_dashboard(
        db,
        PracticeSettings(db, demo_config.practice),
        CallLogStore(db, cipher),
        DashboardConfig(),
        clock=lambda: NOW,
        messages_dir=store,
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, db, request_id, store
    await client.close()
    db.dispose()


async def _login(client: TestClient, user: str) -> None:
    r = await client.post("/connexion", data={"username": user, "password": GOOD}, allow_redirects=False)
    assert r.status == 303


def _audit(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_staff_play_a_voice_message_from_the_requests_page(dash, monkeypatch: Any) -> None:  # type: ignore[no-untyped-def]
    client, db, request_id, _store = dash
    threads: list[str] = []
    real = voicemail.decrypt_file

    def spy(cipher: Any, path: Path) -> bytes:
        threads.append(threading.current_thread().name)
        return real(cipher, path)

    monkeypatch.setattr(voicemail, "decrypt_file", spy)
    assert (
        await client.get(f"/demandes/{request_id}/message", allow_redirects=False)
    ).status == 303  # to the login page
    await _login(client, "accueil")
    page = await (await client.get("/demandes")).text()
    assert "(message vocal)" in page and "+33612345678" in page
    [src] = re.findall(r'<audio[^>]*src="(/demandes/[^"]+/message)"', page)
    response = await client.get(src)
    assert response.status == 200
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    assert await response.read() == _wav(2)
    assert threads and threads[0] != threading.main_thread().name  # decrypted off the event loop
    [listen] = [e for e in _audit(db) if e.target.endswith("/message")]
    assert listen.username == "accueil" and listen.action == "view" and "message vocal" in listen.detail


async def test_a_practitioner_in_own_scope_cannot_play_the_practices_messages(dash) -> None:  # type: ignore[no-untyped-def]
    client, _db, request_id, _store = dash
    await _login(client, "dr.martin")
    assert (await client.get(f"/demandes/{request_id}/message")).status == 404
    assert "/message" not in await (await client.get("/demandes")).text()


async def test_a_missing_or_forged_message_is_a_404(dash) -> None:  # type: ignore[no-untyped-def]
    client, _db, request_id, store = dash
    await _login(client, "accueil")
    assert (await client.get("/demandes/nope/message")).status == 404
    for f in store.iterdir():
        f.unlink()
    assert (await client.get(f"/demandes/{request_id}/message")).status == 404
    messages = voicemail.VoiceMessages(store, FieldCipher(base64.urlsafe_b64encode(b"k" * 32).decode()))
    assert messages.path_of("../dash.db") is None and messages.path_of("a/b.wav.enc") is None
