"""The dashboard's HTTP layer over a real socket (aiohttp test server): login, CSRF, roles, audit."""

import datetime as dt
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.web import AUDIT_DETAIL, DashboardContext, create_app, render, requires
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def add_test_pages(app: web.Application, _ctx: DashboardContext) -> None:
    @requires()
    async def home(request: web.Request) -> web.Response:
        return render(request, "error.html", "Accueil", message="bienvenue")

    @requires(Role.ADMIN)
    async def change(request: web.Request) -> web.StreamResponse:
        request[AUDIT_DETAIL] = "changed"
        raise web.HTTPSeeOther("/?ok=Enregistré")

    app.router.add_get("/", home)
    app.router.add_post("/reglages/test", change)


@pytest.fixture
async def client(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    auth = StaffAuth(db, session_minutes=30)
    auth.create_user("admin", "Admin", Role.ADMIN, "motdepasse-admin", NOW)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "motdepasse-accueil", NOW)
    ctx = DashboardContext(
        auth=auth, practice_name=lambda: "Cabinet médical des Tilleuls", pages=[add_test_pages]
    )
    async with TestClient(TestServer(create_app(ctx))) as c:
        c.auth = auth  # type: ignore[attr-defined]
        yield c
    db.dispose()


async def login(client: TestClient, username: str, password: str) -> str:
    resp = await client.post(
        "/connexion", data={"username": username, "password": password, "next": "/"}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    page = await (await client.get("/")).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def test_pages_need_a_login(client):
    resp = await client.get("/journal", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/connexion?next=/journal")


async def test_wrong_password_says_so_in_french(client):
    resp = await client.post("/connexion", data={"username": "admin", "password": "non"})
    assert resp.status == 401
    assert "Identifiant ou mot de passe incorrect." in await resp.text()


async def test_login_sets_a_strict_httponly_cookie(client):
    resp = await client.post(
        "/connexion", data={"username": "admin", "password": "motdepasse-admin"}, allow_redirects=False
    )
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_change_without_csrf_is_refused(client):
    await login(client, "admin", "motdepasse-admin")
    resp = await client.post("/reglages/test", data={}, allow_redirects=False)
    assert resp.status == 403 and "Le formulaire a expiré" in await resp.text()


async def test_change_with_csrf_is_audited(client):
    token = await login(client, "admin", "motdepasse-admin")
    resp = await client.post("/reglages/test", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 303
    entries = client.auth.audit_entries()
    assert any(
        e.action == "change" and e.target == "/reglages/test" and e.detail == "changed" for e in entries
    )
    assert any(e.action == "view" and e.target == "/" for e in entries)
    assert any(e.action == "login" for e in entries)


async def test_roles_are_enforced(client):
    token = await login(client, "accueil", "motdepasse-accueil")
    assert (await client.get("/journal")).status == 403
    resp = await client.post("/reglages/test", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 403
    assert any(e.action == "denied" for e in client.auth.audit_entries())


async def test_logout_ends_the_session(client):
    token = await login(client, "admin", "motdepasse-admin")
    await client.post("/deconnexion", data={"csrf_token": token}, allow_redirects=False)
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_open_redirect_is_refused(client):
    resp = await client.post(
        "/connexion",
        data={"username": "admin", "password": "motdepasse-admin", "next": "//evil.example"},
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/"
