"""The call page's recording (privacy.record_audio): listened to / downloaded by logged-in staff only,
every access audited. Real aiohttp server on a free port, real SQLite, a real WAV in tmp_path."""

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

from standardiste.calllog.store import CallLogStore
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.calls import CallQueries, add_call_pages
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 23, 11, 0, tzinfo=PARIS)


def wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * 8000)
    return buf.getvalue()


def record(call_id: str, recording: str | None) -> SessionRecord:
    start = NOW - dt.timedelta(minutes=5)
    return SessionRecord(
        call_id=call_id,
        channel_id=call_id,
        caller_id="+33612345678",
        direction="inbound",
        recognizer="keypad",
        started_at=start,
        ended_at=start + dt.timedelta(minutes=1),
        recording=recording,
    )


@pytest.fixture
async def site(tmp_path: Path):
    rec_dir = tmp_path / "recording"
    rec_dir.mkdir()
    (rec_dir / "appel-1.wav").write_bytes(wav_bytes())
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    store = CallLogStore(db, FieldCipher(base64.urlsafe_b64encode(os.urandom(32)).decode()), rec_dir)
    await store.call_ended(record("1795.1", "appel-1"))
    await store.call_ended(record("1795.2", "appel-gone"))  # file deleted since
    await store.call_ended(record("1795.3", None))  # not recorded
    auth = StaffAuth(db)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "motdepasse-accueil", NOW)
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: "Cabinet",
        clock=lambda: NOW,
        pages=[add_call_pages(CallQueries(store, lambda: PARIS))],
    )
    async with TestClient(TestServer(create_app(ctx))) as client:
        yield client, auth
    db.dispose()


async def login(client: TestClient) -> None:
    await client.post("/connexion", data={"username": "accueil", "password": "motdepasse-accueil"})


async def test_anonymous_cannot_get_a_recording(site):
    client, _ = site
    resp = await client.get("/appels/1795.1/enregistrement", allow_redirects=False)
    assert resp.status in (302, 303) and "/connexion" in resp.headers["Location"]


async def test_staff_listen_and_download_audited(site):
    client, auth = site
    await login(client)
    page = await (await client.get("/appels/1795.1")).text()
    assert "Enregistrement" in page and "<audio" in page
    assert "/appels/1795.1/enregistrement?telecharger=1" in page
    resp = await client.get("/appels/1795.1/enregistrement?telecharger=1")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "audio/wav"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="appel-1.wav"'
    assert await resp.read() == wav_bytes()
    inline = await client.get("/appels/1795.1/enregistrement")
    assert inline.headers["Content-Disposition"].startswith("inline")
    audited = [e for e in auth.audit_entries() if "enregistrement" in e.target]
    assert len(audited) == 2 and all(e.username == "accueil" and "appel-1" in e.detail for e in audited)


async def test_missing_file_or_unrecorded_call(site):
    client, _ = site
    await login(client)
    page = await (await client.get("/appels/1795.2")).text()
    assert "n'est plus disponible" in page and "<audio" not in page
    assert (await client.get("/appels/1795.2/enregistrement")).status == 404
    page = await (await client.get("/appels/1795.3")).text()
    assert "Enregistrement" not in page
    assert (await client.get("/appels/1795.3/enregistrement")).status == 404
    assert (await client.get("/appels/nope/enregistrement")).status == 404
