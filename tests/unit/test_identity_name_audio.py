"""The caller's spoken name (identity by voice): sealed with the call, played to logged-in staff beside
the request, purged with the call. Real SQLite, real aiohttp server, real AES-GCM key."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import wave
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.model import RequestDraft, RequestKind
from standardiste.agenda.tables import RequestRow
from standardiste.calllog.store import CallLogStore
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.calls import CallQueries, add_call_pages
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.privacy.crypto import FieldCipher
from standardiste.privacy.recordings import RecordingVault, name_audio_key
from standardiste.privacy.retention import purge
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 12, 7, 11, 0, tzinfo=PARIS)


def spoken_name() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x20\x01" * 16000)
    return buf.getvalue()


def record(call_id: str, started: dt.datetime, name_audio: bytes | None) -> SessionRecord:
    rec = SessionRecord(
        call_id=call_id,
        channel_id=call_id,
        caller_id="+33612345678",
        direction="inbound",
        recognizer="whisper",
        started_at=started,
        ended_at=started + dt.timedelta(minutes=1),
    )
    rec.name_audio = name_audio
    return rec


@pytest.fixture
async def site(tmp_path: Path):
    cipher = FieldCipher(base64.urlsafe_b64encode(os.urandom(32)).decode())
    vault_dir = tmp_path / "recordings"
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    store = CallLogStore(db, cipher, None, vault=RecordingVault(vault_dir, cipher))
    await store.call_ended(record("1796.1", NOW - dt.timedelta(minutes=5), spoken_name()))
    await store.call_ended(record("1796.2", NOW - dt.timedelta(minutes=3), None))
    auth = StaffAuth(db)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "motdepasse-accueil", NOW)
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: "Cabinet",
        clock=lambda: NOW,
        pages=[add_call_pages(CallQueries(store, lambda: PARIS))],
    )
    async with TestClient(TestServer(create_app(ctx))) as client:
        yield client, auth, db, cipher, vault_dir, ctx
    db.dispose()


async def login(client: TestClient) -> None:
    await client.post("/connexion", data={"username": "accueil", "password": "motdepasse-accueil"})


async def test_the_spoken_name_is_sealed_with_the_call(site) -> None:
    _, _, _, _, vault_dir, _ = site
    sealed = vault_dir / f"{name_audio_key('1796.1')}.wav.sealed"
    assert sealed.is_file() and (sealed.stat().st_mode & 0o777) == 0o600
    assert b"RIFF" not in sealed.read_bytes()  # encrypted, not a WAV
    assert not (vault_dir / f"{name_audio_key('1796.2')}.wav.sealed").exists()


async def test_staff_hear_the_name_on_the_call_page_and_it_is_audited(site) -> None:
    client, auth, _, _, _, _ = site
    resp = await client.get("/appels/1796.1/nom", allow_redirects=False)
    assert resp.status in (302, 303)  # not logged in
    await login(client)
    page = await (await client.get("/appels/1796.1")).text()
    assert "Nom dit par l&#39;appelant" in page or "Nom dit par l'appelant" in page
    resp = await client.get("/appels/1796.1/nom")
    assert resp.status == 200 and resp.headers["Content-Type"] == "audio/wav"
    assert await resp.read() == spoken_name()
    assert any("nom dit par l'appelant" in e.detail for e in auth.audit_entries())
    assert (await client.get("/appels/1796.2/nom")).status == 404
    page = await (await client.get("/appels/1796.2")).text()
    assert "/appels/1796.2/nom" not in page


async def test_the_staff_correct_the_name_of_a_request(site) -> None:
    _, _, db, cipher, _, ctx = site
    inbox = SqlInbox(db, cipher)
    draft = RequestDraft(
        RequestKind.CALLBACK, "Tessié Monique", None, "+33612345678", "rappel", call_id="1796.1"
    )
    request_id = inbox.file(draft, NOW)
    assert ctx.extra["spoken_names"]("1796.1") and not ctx.extra["spoken_names"]("1796.2")
    view = RequestsAdmin(db, cipher).update(request_id, NOW, caller_name=" Texier Monique ", by="accueil")
    assert view.caller_name == "Texier Monique"
    with db.session() as s:
        row = s.get(RequestRow, request_id)
        assert row is not None and "Texier" not in row.caller_name  # sealed at rest


async def test_the_spoken_name_is_purged_with_its_call(site) -> None:
    _, _, db, _, vault_dir, _ = site
    sealed = vault_dir / f"{name_audio_key('1796.1')}.wav.sealed"
    # Within retention (and a live call's file without a row yet is not an orphan before 6 h).
    purge(db, retention_days=90, now=NOW, sealed_dir=vault_dir)
    assert sealed.is_file()
    report = purge(db, retention_days=1, now=NOW + dt.timedelta(days=2), sealed_dir=vault_dir)
    assert report.calls == 2 and not sealed.exists()


async def test_the_session_keeps_the_audio_of_the_name_answer_only() -> None:
    from standardiste.dialogue.messages import (
        Action,
        CallerEvent,
        CallStarted,
        Expect,
        Expectation,
        Heard,
        Say,
    )
    from standardiste.speech.audio import read_wav
    from tests.unit.test_telephony_session import MENU, QUIET, VOICED, Harness

    asked: list[str] = []

    def react(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted):
            asked.append("name")
            return [Say("Votre nom ?", expect=Expectation(Expect.NAME, timeout_s=3.0))]
        if isinstance(event, Heard):
            asked.append("menu")
            return [Say("Merci.", expect=MENU)]
        return []

    h = Harness(react)
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    h.leg.send([VOICED] * 6 + [QUIET] * 4)
    await h.until(lambda: asked == ["name", "menu"] and len(h.leg.played) == 2)
    name = h.session.record.name_audio
    assert name is not None
    pcm, rate = read_wav(name)
    assert rate == 16000 and pcm.count(VOICED) == 6  # the name turn's voiced frames, nothing else
    h.leg.send([VOICED] * 9 + [QUIET] * 4)  # an answer to another question: not a name
    await h.until(lambda: len(asked) == 3 or len(h.leg.played) == 3)
    assert h.session.record.name_audio == name
    h.session.hung_up()
    await h.finish()


async def test_erasing_the_caller_erases_the_spoken_name(site) -> None:
    from standardiste.privacy.erase import erase_person

    _, _, db, cipher, vault_dir, _ = site
    sealed = vault_dir / f"{name_audio_key('1796.1')}.wav.sealed"
    assert sealed.is_file()
    report = erase_person(db, cipher, "06 12 34 56 78", recordings_dir=vault_dir)
    assert report.calls == 2 and report.recordings == 1 and not sealed.exists()
