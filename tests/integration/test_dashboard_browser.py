"""The dashboard in a real headless Chromium: keyboard login, a request marked done, hours changed.

The end-to-end version with a call made through Asterisk is in test_e2e_dashboard_call.py.
"""

import datetime as dt
from pathlib import Path

import pytest

from standardiste.agenda.tables import RequestRow
from standardiste.calllog.store import CallLogStore
from standardiste.config import DashboardConfig
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.server import DashboardServer, build_dashboard
from standardiste.dialogue.messages import Outcome, OutcomeKind, Utterance
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord
from tests.fixtures.clock import APP_NOW, running_from

pytestmark = pytest.mark.browser


@pytest.fixture
async def dashboard(tmp_path, demo_config):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    now = APP_NOW  # the dashboard's clock is pinned too: "today's calls" never cross midnight
    StaffAuth(db).create_user("admin", "Claire (admin)", Role.ADMIN, "motdepasse-admin", now)
    with db.session() as s:
        s.add(
            RequestRow(
                id="r1",
                kind="medical_certificate",
                caller_name="MARTIN Léa",
                birth_date=dt.date(2012, 4, 2),
                callback_number="+33611223344",
                details="certificat pour le sport",
                status="new",
                notes="",
                urgent=False,
                extra={},
                created_at=now,
                updated_at=now,
            )
        )
    calls = CallLogStore(db)
    await calls.call_ended(
        SessionRecord(
            call_id="call-1",
            channel_id="call-1",
            caller_id="+33611223344",
            direction="inbound",
            recognizer="vosk",
            started_at=now - dt.timedelta(minutes=3),
            ended_at=now - dt.timedelta(minutes=2),
            outcome=Outcome(OutcomeKind.ANSWERED),
            transcript=[Utterance("caller", "quels sont vos horaires")],
        )
    )
    settings = PracticeSettings(db, demo_config.practice)
    app = build_dashboard(db, settings, calls, DashboardConfig(), clock=running_from(now).now)
    server = DashboardServer(app, "127.0.0.1", 0)
    await server.start()
    yield f"http://127.0.0.1:{server.port}", db, settings
    await server.stop()
    db.dispose()


async def test_staff_workflow_in_chromium(browser, dashboard, tmp_path: Path):
    base, db, settings = dashboard
    page = await browser.new_page(viewport={"width": 820, "height": 1180}, locale="fr-FR")  # a tablet
    await page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/connexion")

    # Keyboard only: the identifiant field has focus, Tab to the password, Enter submits.
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'username'")
    await page.keyboard.type("admin")
    await page.keyboard.press("Tab")
    await page.keyboard.type("motdepasse-admin")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert await page.locator("h1").inner_text() == "Aujourd'hui"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Aller au contenu"

    await page.get_by_role("link", name="Appels").click()
    await page.get_by_role("link", name="Voir l'appel").first.click()
    assert "quels sont vos horaires" in await page.locator("main").inner_text()

    await page.get_by_role("link", name="Demandes").click()
    await page.get_by_label("Statut").nth(1).select_option("done")
    await page.get_by_label("Ajouter une note").fill("certificat remis")
    await page.get_by_role("button", name="Enregistrer").click()
    assert "Demande mise à jour." in await page.locator(".flash").inner_text()
    with db.session() as s:
        assert s.get(RequestRow, "r1").status == "done"

    await page.get_by_role("link", name="Réglages").click()
    await page.get_by_label("Lundi").fill("08:00-12:00, 13:30-18:30")
    await page.get_by_role("button", name="Enregistrer les horaires").click()
    assert "Horaires enregistrés" in await page.locator(".flash").inner_text()
    assert str(settings.current().hours.monday[1]) == "13:30-18:30"

    await page.get_by_role("link", name="Statistiques").click()
    assert await page.locator("svg[role=img]").count() == 5
    await page.screenshot(path=str(Path("/tmp") / "statistiques-tablette.png"), full_page=True)
