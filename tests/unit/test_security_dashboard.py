"""Issue 15 item 7, replayed against the real dashboard over a socket (build_dashboard, SQLite, argon2).

Each test is an attack that worked before: guessing passwords at full speed, a disabled colleague still
logged in, "Motdepasse2024!" accepted, a note's text and a searched name copied into the audit log, a
practitioner reading another practitioner's patients, /metrics served to whoever comes through the proxy,
a client choosing its own address with X-Forwarded-For.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from standardiste.agenda.tables import RequestRow
from standardiste.calllog.store import CallLogStore
from standardiste.config import Config, DashboardConfig
from standardiste.dashboard.auth import AccountError, Role, StaffAuth
from standardiste.dashboard.server import DashboardServer, build_dashboard, tls_context
from standardiste.dashboard.tables import AuditEntry
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
GOOD = "correct-cheval-agrafe"
NOTE = "lithium depuis mars, idées noires"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def _request(rid: str, practitioner: str | None) -> RequestRow:
    return RequestRow(
        id=rid,
        kind="test_results",
        caller_name=f"Patient {rid}",
        birth_date=None,
        callback_number=None,
        details=f"résultats {rid}",
        status="new",
        notes="",
        urgent=False,
        practitioner_id=practitioner,
        extra={},
        created_at=NOW,
        updated_at=NOW,
    )


async def _client(tmp_path: Path, demo_config: Config, **dashboard: Any):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'dash.db'}")
    db.migrate()
    auth = StaffAuth(db)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, GOOD, NOW)
    auth.create_user("admin", "Claire", Role.ADMIN, GOOD, NOW)
    auth.create_user("dr.martin", "Dr Martin", Role.PRACTITIONER, GOOD, NOW, practitioner_id="martin")
    auth.create_user("dr.benali", "Dr Benali", Role.PRACTITIONER, GOOD, NOW, practitioner_id="benali")
    with db.session() as s:
        s.add_all([_request("r-martin", "martin"), _request("r-benali", "benali")])
    clock = Clock()
    app = build_dashboard(
        db,
        PracticeSettings(db, demo_config.practice),
        CallLogStore(db),
        DashboardConfig(**dashboard),
        clock=clock,
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    return client, db, clock


@pytest.fixture
async def dash(tmp_path: Path, demo_config: Config):  # type: ignore[no-untyped-def]
    client, db, clock = await _client(tmp_path, demo_config)
    yield client, db, clock
    await client.close()
    db.dispose()


async def _login(
    client: TestClient, user: str, password: str = GOOD, **headers: str
) -> aiohttp.ClientResponse:
    return await client.post(
        "/connexion", data={"username": user, "password": password}, headers=headers, allow_redirects=False
    )


async def _csrf(client: TestClient, path: str = "/") -> str:
    page = await (await client.get(path)).text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def _audit(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_password_guessing_is_throttled_per_account(dash) -> None:  # type: ignore[no-untyped-def]
    client, db, clock = dash
    codes = [(await _login(client, "accueil", f"essai-numero-{i}")).status for i in range(5)]
    assert codes == [401] * 5
    # The 6th try is refused unchecked, even with the right password (a lock must not confirm a guess).
    locked = await _login(client, "accueil")
    assert locked.status == 429 and "Retry-After" in locked.headers
    assert "standardiste_session" not in locked.cookies
    assert "Trop d" in await locked.text() and "essais" in await locked.text()
    clock.now += dt.timedelta(seconds=31)
    assert (await _login(client, "accueil")).status == 303  # the wait is over: the right password works
    actions = [e.action for e in _audit(db)]
    assert actions.count("login_failed") == 5 and "login_throttled" in actions


async def test_many_accounts_from_one_address_are_throttled_and_the_header_cannot_dodge_it(dash) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = dash
    for i in range(20):
        # A different account each time (no account lock), and a different forged client address.
        response = await _login(
            client, f"compte{i}", "mauvais-mot-de-passe", **{"X-Forwarded-For": f"10.0.0.{i}"}
        )
        assert response.status == 401
    assert (await _login(client, "admin", "mauvais", **{"X-Forwarded-For": "10.9.9.9"})).status == 429


async def test_behind_a_trusted_proxy_the_client_address_is_kept(tmp_path: Path, demo_config: Config) -> None:
    client, db, _ = await _client(tmp_path, demo_config, trusted_proxies=["127.0.0.1/32"])
    try:
        forwarded = {"X-Forwarded-For": "192.168.1.23", "X-Forwarded-Proto": "https"}
        response = await _login(client, "accueil", **forwarded)
        assert response.status == 303
        assert "Secure" in response.headers["Set-Cookie"]  # the browser sees HTTPS at the proxy
        assert _audit(db)[-1].remote == "192.168.1.23"
        # The proxy's own /metrics requests are refused (the proxy is on loopback too).
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "192.168.1.23"})).status == 403
    finally:
        await client.close()
        db.dispose()


async def test_metrics_are_not_served_through_a_proxy(dash) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = dash
    assert (await client.get("/metrics")).status == 200  # local Prometheus
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        assert (await client.get("/metrics", headers={header: "203.0.113.9"})).status == 403


async def test_argon2_runs_off_the_event_loop(dash, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = dash
    threads: list[threading.Thread] = []
    original = StaffAuth.login

    def spy(self: StaffAuth, *args: Any) -> Any:
        threads.append(threading.current_thread())
        return original(self, *args)

    monkeypatch.setattr(StaffAuth, "login", spy)
    assert (await _login(client, "accueil")).status == 303
    assert threads and threads[0] is not threading.main_thread()


async def test_a_disabled_account_is_refused_at_once(dash) -> None:  # type: ignore[no-untyped-def]
    client, db, _ = dash
    assert (await _login(client, "accueil")).status == 303
    assert (await client.get("/demandes", allow_redirects=False)).status == 200
    StaffAuth(db).set_active("accueil", False)  # by `standardiste users disable` or the admin page
    assert (await client.get("/demandes", allow_redirects=False)).status == 303  # its session is closed
    assert (await _login(client, "accueil")).status == 401
    StaffAuth(db).set_active("accueil", True)
    assert (await _login(client, "accueil")).status == 303


async def test_admin_page_disables_an_account(dash) -> None:  # type: ignore[no-untyped-def]
    client, db, _ = dash
    await _login(client, "admin")
    token = await _csrf(client, "/comptes")
    response = await client.post("/comptes/dr.martin/desactiver", data={"csrf_token": token})
    assert response.status == 200
    assert [u.active for u in StaffAuth(db).users() if u.username == "dr.martin"] == [False]
    await client.post("/deconnexion", data={"csrf_token": token})
    await _login(client, "accueil")
    token = await _csrf(client)
    refused = await client.post("/comptes/dr.benali/desactiver", data={"csrf_token": token})
    assert refused.status == 403  # a secretary cannot


def test_users_disable_command(tmp_path: Path) -> None:
    from importlib import resources

    from standardiste.cli.main import main

    demo = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
    cfg = tmp_path / "cabinet.toml"
    cfg.write_text(demo.replace('data_dir = "var/demo"', f'data_dir = "{tmp_path / "data"}"'), "utf-8")
    db = Database(f"sqlite:///{(tmp_path / 'data' / 'standardiste.db').resolve()}")
    db.migrate()
    StaffAuth(db).create_user("accueil", "Accueil", Role.SECRETARY, GOOD, NOW)
    assert main(["users", "--config", str(cfg), "disable", "accueil"]) == 0
    assert StaffAuth(db).login("accueil", GOOD, NOW) is None
    assert main(["users", "--config", str(cfg), "enable", "accueil"]) == 0
    assert StaffAuth(db).login("accueil", GOOD, NOW) is not None
    db.dispose()


@pytest.mark.parametrize(
    "password",
    [
        "Motdepasse2024!",
        "azertyuiop",
        "S0leil123456",
        "123456789012",
        "Cabinetmedical1",
        "aaaaaaaaaaaa",
        "Accueil2026!",
    ],
)
def test_common_passwords_are_refused(tmp_path: Path, password: str) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    db.migrate()
    auth = StaffAuth(db)
    with pytest.raises(AccountError):
        auth.create_user("accueil", "Accueil", Role.SECRETARY, password, NOW)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, GOOD, NOW)
    with pytest.raises(AccountError):
        auth.set_password("accueil", password)
    db.dispose()


async def test_audit_log_keeps_neither_note_text_nor_search_terms(dash) -> None:  # type: ignore[no-untyped-def]
    client, db, _ = dash
    await _login(client, "accueil")
    token = await _csrf(client)
    response = await client.post(
        "/demandes/r-martin", data={"csrf_token": token, "statut": "done", "assigne": "accueil", "note": NOTE}
    )
    assert response.status == 200
    await client.get("/appels?q=Quentin-Vasseur&du=2026-12-01")
    await client.get("/connexion?next=/appels?q=0687654321")
    dump = repr([(e.target, e.detail) for e in _audit(db)])
    for secret in ("lithium", "idées", "noires", "Quentin", "Vasseur", "0687654321"):
        assert secret not in dump
    # Still useful: who changed what, and which filters were used.
    assert "statut=done" in dump and "du=2026-12-01" in dump and "/demandes/r-martin" in dump


async def test_a_practitioner_cannot_open_another_practitioners_items(dash) -> None:  # type: ignore[no-untyped-def]
    client, db, _ = dash
    await _login(client, "dr.benali")
    inbox = await (await client.get("/demandes")).text()
    assert "Patient r-benali" in inbox and "Patient r-martin" not in inbox
    today = await (await client.get("/")).text()
    assert "Patient r-martin" not in today
    token = await _csrf(client)
    changed = await client.post(
        "/demandes/r-martin", data={"csrf_token": token, "statut": "done", "note": "vu"}
    )
    assert "introuvable" in await changed.text()
    with db.session() as s:
        row = s.get(RequestRow, "r-martin")
        assert row is not None and row.status == "new" and row.notes == ""
    assert (await client.get("/appels", allow_redirects=False)).status == 403  # not per practitioner
    page = await (await client.get("/rendez-vous?praticien=martin")).text()
    assert "Dr Martin" not in page.split("<table", 1)[-1] or "Aucun" in page
    # The secretariat sees the whole practice.
    await client.post("/deconnexion", data={"csrf_token": token})
    await _login(client, "accueil")
    inbox = await (await client.get("/demandes")).text()
    assert "Patient r-benali" in inbox and "Patient r-martin" in inbox


async def test_practice_wide_scope_when_configured(tmp_path: Path, demo_config: Config) -> None:
    client, db, _ = await _client(tmp_path, demo_config, practitioner_scope="all")
    try:
        await _login(client, "dr.benali")
        inbox = await (await client.get("/demandes")).text()
        assert "Patient r-martin" in inbox
    finally:
        await client.close()
        db.dispose()


async def test_https_with_a_certificate_made_at_first_start(tmp_path: Path, demo_config: Config) -> None:
    db = Database(f"sqlite:///{tmp_path / 'tls.db'}")
    db.migrate()
    StaffAuth(db).create_user("accueil", "Accueil", Role.SECRETARY, GOOD, NOW)
    config = DashboardConfig(host="127.0.0.1", port=1, tls="on")
    context = tls_context(config, tmp_path / "data")
    assert context is not None
    key = tmp_path / "data" / "tls" / "dashboard.key"
    assert key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "data" / "tls").stat().st_mode & 0o777 == 0o700
    assert tls_context(DashboardConfig(), tmp_path / "data") is None  # loopback: plain HTTP by default
    assert DashboardConfig(host="0.0.0.0").uses_tls  # reachable from other desks: HTTPS
    app = build_dashboard(
        db, PracticeSettings(db, demo_config.practice), CallLogStore(db), config, clock=lambda: NOW
    )
    server = DashboardServer(app, "127.0.0.1", 0, ssl_context=context)
    await server.start()
    try:
        trust = ssl.create_default_context(cafile=str(tmp_path / "data" / "tls" / "dashboard.crt"))
        async with aiohttp.ClientSession() as http:
            url = f"https://localhost:{server.port}"
            async with http.get(f"{url}/healthz", ssl=trust) as response:
                assert response.status == 200
            async with http.post(
                f"{url}/connexion",
                data={"username": "accueil", "password": GOOD},
                ssl=trust,
                allow_redirects=False,
            ) as response:
                assert response.status == 303 and "Secure" in response.headers["Set-Cookie"]
            with pytest.raises(aiohttp.ClientError):
                await http.get(f"http://127.0.0.1:{server.port}/healthz")  # no plain HTTP on that port
    finally:
        await server.stop()
        db.dispose()
