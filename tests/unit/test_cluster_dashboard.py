"""The dashboard of any node shows every node's calls and statistics (docs/scale.md): the call log is
shared (one database), each row names the node that handled it."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from standardiste.calllog.store import CallLogStore
from standardiste.config import Config
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.calls import CallQueries, add_call_pages
from standardiste.dashboard.pages import StaffServices, add_staff_pages
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.dialogue.messages import OutcomeKind
from standardiste.privacy.crypto import FieldCipher
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database
from tests.unit.test_dashboard_calls import NOW, PARIS, record


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def node3_dashboard(shared_url: str, demo_config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()  # one key for the cluster (docs/scale.md)
    databases = [Database(shared_url) for _ in range(3)]  # one engine per node, one database
    databases[0].migrate()
    node1, node2, node3 = (
        CallLogStore(db, FieldCipher(key), node=f"node{i}") for i, db in enumerate(databases, 1)
    )
    await node1.call_ended(record("n1-a", 50, OutcomeKind.BOOKED, "un rendez-vous"))
    await node2.call_ended(record("n2-a", 40, OutcomeKind.TRANSFERRED, "la secrétaire"))
    await node2.call_ended(record("n2-b", 30, OutcomeKind.BOOKED, "un rendez-vous"))
    db3 = databases[2]
    auth = StaffAuth(db3)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "motdepasse-accueil", NOW)
    settings = PracticeSettings(db3, demo_config.practice)
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: "Cabinet",
        clock=lambda: NOW,
        pages=[
            add_staff_pages(StaffServices(db3, settings, RequestsAdmin(db3))),
            add_call_pages(CallQueries(node3, lambda: PARIS)),
        ],
    )
    async with TestClient(TestServer(create_app(ctx))) as client:
        await client.post("/connexion", data={"username": "accueil", "password": "motdepasse-accueil"})
        yield client
    for db in databases:
        db.dispose()


async def test_any_node_lists_every_nodes_calls(node3_dashboard: TestClient[Any, Any]) -> None:
    page = await (await node3_dashboard.get("/appels")).text()
    for call_id in ("n1-a", "n2-a", "n2-b"):
        assert f'href="/appels/{call_id}"' in page
    assert "Nœud" in page and "<td>node1</td>" in page and page.count("<td>node2</td>") == 2


async def test_any_node_counts_every_nodes_calls(node3_dashboard: TestClient[Any, Any]) -> None:
    resp = await node3_dashboard.get("/statistiques.csv?du=2026-11-17&au=2026-11-23")
    text = (await resp.read()).decode("utf-8-sig")
    assert "synthèse;appels entrants;3" in text


async def test_single_server_has_no_node_column(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'one.db'}")
    db.migrate()
    store = CallLogStore(db)
    await store.call_ended(record("c1", 5, OutcomeKind.BOOKED, "oui"))
    entry = store.get_sync("c1")
    assert entry is not None and entry.node == ""
    db.dispose()
