"""Calls and statistics pages over a real socket, with transcripts encrypted at rest."""

import base64
import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from standardiste.calllog.store import CallLogStore
from standardiste.calllog.tables import CallRow
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.calls import CallQueries, add_call_pages, compute_statistics
from standardiste.dashboard.pages import StaffServices, add_staff_pages
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.dialogue.messages import Outcome, OutcomeKind, Utterance
from standardiste.privacy.crypto import FieldCipher
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 23, 11, 0, tzinfo=PARIS)


def record(
    call_id: str,
    minutes_ago: int,
    outcome: OutcomeKind | None,
    words: str,
    caller: str = "+33612345678",
    direction: str = "inbound",
    ended: bool = True,
) -> SessionRecord:
    start = NOW - dt.timedelta(minutes=minutes_ago)
    return SessionRecord(
        call_id=call_id,
        channel_id=call_id,
        caller_id=caller,
        direction=direction,
        recognizer="vosk",
        started_at=start,
        ended_at=start + dt.timedelta(seconds=95) if ended else None,
        outcome=Outcome(outcome) if outcome else None,
        path=["answered", "heard"],
        actions=[{"kind": "say"}],
        transcript=[Utterance("assistant", "Bonjour"), Utterance("caller", words)],
        greeting_ms=180.0,
    )


@pytest.fixture
async def calls(tmp_path, demo_config):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    store = CallLogStore(db, FieldCipher(base64.urlsafe_b64encode(os.urandom(32)).decode()))
    for r in (
        record("c1", 90, OutcomeKind.BOOKED, "je voudrais un rendez-vous avec le docteur martin"),
        record("c2", 60, OutcomeKind.TRANSFERRED, "je veux parler à la secrétaire", caller="+33698765432"),
        record("c3", 30, OutcomeKind.EMERGENCY_TRANSFERRED, "mon mari a très mal à la poitrine"),
        record("c4", 1, None, "euh", ended=False),
        record("r1", 20, OutcomeKind.CONFIRMED, "oui", direction="outbound"),
    ):
        await store.call_ended(r)
    auth = StaffAuth(db)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "motdepasse-accueil", NOW)
    settings = PracticeSettings(db, demo_config.practice)
    queries = CallQueries(store, lambda: PARIS)
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: "Cabinet",
        clock=lambda: NOW,
        pages=[add_staff_pages(StaffServices(db, settings, RequestsAdmin(db))), add_call_pages(queries)],
    )
    async with TestClient(TestServer(create_app(ctx))) as client:
        await client.post("/connexion", data={"username": "accueil", "password": "motdepasse-accueil"})
        yield client, db
    db.dispose()


async def test_transcripts_are_not_stored_in_clear(calls):
    _, db = calls
    with db.session() as s:
        stored = s.get(CallRow, "c3").transcript
    assert "poitrine" not in stored


async def test_call_list_and_search_in_encrypted_transcripts(calls):
    client, _ = calls
    page = await (await client.get("/appels")).text()
    assert "rendez-vous pris" in page and "urgence transférée" in page and "en cours" in page
    page = await (await client.get("/appels?q=poitrine")).text()
    assert 'href="/appels/c3"' in page and 'href="/appels/c1"' not in page
    page = await (await client.get("/appels?issue=transferred")).text()
    assert "+33698765432" in page and "+33612345678" not in page


async def test_call_detail_shows_the_dialogue(calls):
    client, _ = calls
    page = await (await client.get("/appels/c1")).text()
    assert "je voudrais un rendez-vous avec le docteur martin" in page and "décroché en 180 ms" in page
    assert (await client.get("/appels/inconnu")).status == 404


async def test_today_counts_calls(calls):
    client, _ = calls
    page = await (await client.get("/")).text()
    assert "1 en cours" in page and "dont 2 transférés et 1 urgences" in page


async def test_statistics_and_csv_export(calls):
    client, _ = calls
    page = await (await client.get("/statistiques")).text()
    assert "<svg" in page and "Taux d'automatisation" in page
    resp = await client.get("/statistiques.csv?du=2026-11-17&au=2026-11-23")
    assert resp.headers["Content-Type"].startswith("text/csv")
    text = (await resp.read()).decode("utf-8-sig")
    assert "synthèse;appels entrants;4" in text
    assert "rappels;rendez-vous confirmé;1" in text


def test_statistics_rates():
    stats = compute_statistics([], PARIS, dt.date(2026, 11, 1), dt.date(2026, 11, 7), attended=9, no_shows=1)
    assert stats.no_show_rate == pytest.approx(0.1) and stats.automation_rate is None and len(stats.days) == 7
