"""Staff pages over a real socket: the inbox workflow and practice settings."""

import datetime as dt
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from standardiste.agenda.tables import RequestRow
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.pages import StaffServices, add_staff_pages
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def staff(tmp_path, demo_config):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    auth = StaffAuth(db)
    auth.create_user("admin", "Admin", Role.ADMIN, "motdepasse-admin", NOW)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "motdepasse-accueil", NOW)
    with db.session() as s:
        s.add(
            RequestRow(
                id="r1",
                kind="prescription_renewal",
                caller_name="DUPONT Marie",
                birth_date=dt.date(1980, 3, 12),
                callback_number="+33612345678",
                details="renouvellement de mon traitement pour la tension",
                status="new",
                notes="",
                urgent=False,
                extra={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
    settings = PracticeSettings(db, demo_config.practice)
    services = StaffServices(db=db, settings=settings, requests=RequestsAdmin(db))
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: settings.current().name,
        clock=lambda: NOW,
        pages=[add_staff_pages(services)],
    )
    async with TestClient(TestServer(create_app(ctx))) as client:
        yield client, services
    db.dispose()


async def login(client, username, password) -> str:
    await client.post("/connexion", data={"username": username, "password": password})
    page = await (await client.get("/")).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def test_today_shows_waiting_requests(staff):
    client, _ = staff
    await login(client, "accueil", "motdepasse-accueil")
    page = await (await client.get("/")).text()
    assert "Demandes en attente" in page and 'class="figure">1<' in page


async def test_secretary_marks_a_request_done_with_a_note(staff):
    client, services = staff
    token = await login(client, "accueil", "motdepasse-accueil")
    page = await (await client.get("/demandes")).text()
    assert "Renouvellement d&#39;ordonnance — DUPONT Marie" in page
    resp = await client.post(
        "/demandes/r1",
        data={
            "csrf_token": token,
            "statut": "done",
            "assigne": "accueil",
            "note": "ordonnance prête à l'accueil",
        },
    )
    assert resp.status == 200
    (done,) = services.requests.list(status="done")
    assert done.assignee == "accueil" and "ordonnance prête" in done.notes and "accueil" in done.notes


async def test_admin_changes_hours_and_bad_hours_are_refused(staff):
    client, services = staff
    token = await login(client, "admin", "motdepasse-admin")
    form = {
        "csrf_token": token,
        "monday": "08:00-12:00, 14:00-18:00",
        "tuesday": "",
        "wednesday": "",
        "thursday": "",
        "friday": "",
        "saturday": "",
        "sunday": "",
    }
    page = await (await client.post("/reglages/horaires", data=form)).text()
    assert "Horaires enregistrés" in page
    assert str(services.settings.current().hours.monday[1]) == "14:00-18:00"
    page = await (
        await client.post("/reglages/horaires", data=form | {"monday": "08:00-13:00, 12:00-18:00"})
    ).text()
    assert "chevauchent" in page
    assert str(services.settings.current().hours.monday[1]) == "14:00-18:00"


async def test_secretary_cannot_change_settings(staff):
    client, _ = staff
    token = await login(client, "accueil", "motdepasse-accueil")
    resp = await client.post("/reglages/horaires", data={"csrf_token": token, "monday": "08:00-09:00"})
    assert resp.status == 403


async def test_admin_manages_closures(staff):
    client, services = staff
    token = await login(client, "admin", "motdepasse-admin")
    page = await (
        await client.post(
            "/reglages/fermetures",
            data={
                "csrf_token": token,
                "debut": "2026-12-21",
                "fin": "2026-12-24",
                "motif": "congés",
                "praticien": "martin",
            },
        )
    ).text()
    assert "Fermeture ajoutée." in page and "congés" in page
    (closure,) = services.settings.current().closures
    assert (str(closure.start), closure.practitioner) == ("2026-12-21", "martin")
    page = await (
        await client.post(
            "/reglages/fermetures", data={"csrf_token": token, "debut": "2026-12-24", "fin": "2026-12-21"}
        )
    ).text()
    assert "finit avant de commencer" in page and len(services.settings.current().closures) == 1
    await client.post("/reglages/fermetures/0/supprimer", data={"csrf_token": token})
    assert services.settings.current().closures == []


async def test_admin_edits_practitioners_and_adds_one(staff):
    client, services = staff
    token = await login(client, "admin", "motdepasse-admin")
    form = {
        "csrf_token": token,
        "nom-martin": "Docteure Claire Martin",
        "specialite-martin": "médecine générale",
        "alias-martin": "docteure martin, claire",
        "nouveau-id": "durand",
        "nouveau-nom": "Docteur Paul Durand",
        "nouveau-specialite": "médecine générale",
    }
    page = await (await client.post("/reglages/praticiens", data=form)).text()
    assert "Praticiens enregistrés." in page
    practice = services.settings.current()
    assert practice.practitioner("martin").name == "Docteure Claire Martin"
    assert practice.practitioner("martin").aliases == ["docteure martin", "claire"]
    assert practice.practitioner("durand").specialty == "médecine générale"
    page = await (await client.post("/reglages/praticiens", data=form | {"nouveau-id": "martin"})).text()
    assert "double" in page  # duplicate id refused, nothing stored
    assert len(services.settings.current().practitioners) == 4


async def test_admin_changes_the_reminder_policy(staff):
    client, services = staff
    token = await login(client, "admin", "motdepasse-admin")
    form = {
        "csrf_token": token,
        "actifs": "on",
        "mode": "hours_before",
        "heure": "18:00",
        "heures_avant": "48",
        "debut_appels": "10:00",
        "fin_appels": "18:30",
        "relances": "1",
        "delai_relance": "45",
        "lignes": "3",
    }
    page = await (await client.post("/reglages/rappels", data=form)).text()
    assert "Rappels enregistrés." in page
    r = services.settings.current().reminders
    assert (r.mode, r.hours_before, r.call_on_saturday, r.retries, str(r.window_start)) == (
        "hours_before",
        48,
        False,
        1,
        "10:00:00",
    )
    page = await (await client.post("/reglages/rappels", data=form | {"relances": "9"})).text()
    assert "reminders.retries" in page and services.settings.current().reminders.retries == 1
