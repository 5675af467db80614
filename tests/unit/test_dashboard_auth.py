import datetime as dt

import pytest

from standardiste.dashboard.auth import AccountError, Role, StaffAuth
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def auth(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    yield StaffAuth(db, session_minutes=30)
    db.dispose()


def test_login_opens_a_session_and_stores_only_a_hash(auth):
    auth.create_user("secretariat", "Accueil", Role.SECRETARY, "motdepasse-solide", NOW)
    opened = auth.login("Secretariat", "motdepasse-solide", NOW)
    assert opened is not None and opened.user.role is Role.SECRETARY
    from standardiste.dashboard.tables import WebSession

    with auth._db.session() as s:
        stored = s.query(WebSession).one()
        assert stored.token_hash != opened.token and len(stored.token_hash) == 64
        from standardiste.dashboard.tables import StaffUser

        assert s.query(StaffUser).one().password_hash.startswith("$argon2")


def test_wrong_password_and_unknown_user_are_refused(auth):
    auth.create_user("dr.martin", "Dr Martin", Role.PRACTITIONER, "motdepasse-solide", NOW)
    assert auth.login("dr.martin", "mauvais-mot", NOW) is None
    assert auth.login("personne", "motdepasse-solide", NOW) is None


def test_sessions_expire_when_idle_and_extend_when_used(auth):
    auth.create_user("admin", "Admin", Role.ADMIN, "motdepasse-solide", NOW)
    opened = auth.login("admin", "motdepasse-solide", NOW)
    assert auth.session(opened.token, NOW + dt.timedelta(minutes=20)) is not None
    assert auth.session(opened.token, NOW + dt.timedelta(minutes=45)) is not None  # extended at 20'
    assert auth.session(opened.token, NOW + dt.timedelta(minutes=80)) is None
    assert auth.session("forged", NOW) is None


def test_password_change_closes_sessions(auth):
    auth.create_user("admin", "Admin", Role.ADMIN, "motdepasse-solide", NOW)
    opened = auth.login("admin", "motdepasse-solide", NOW)
    auth.set_password("admin", "nouveau-mot-de-passe")
    assert auth.session(opened.token, NOW) is None


def test_csrf_check(auth):
    auth.create_user("admin", "Admin", Role.ADMIN, "motdepasse-solide", NOW)
    opened = auth.login("admin", "motdepasse-solide", NOW)
    assert StaffAuth.csrf_ok(opened, opened.csrf_token)
    assert not StaffAuth.csrf_ok(opened, "x")
    assert not StaffAuth.csrf_ok(opened, None)


def test_account_rules(auth):
    with pytest.raises(AccountError, match="au moins"):
        auth.create_user("court", "C", Role.SECRETARY, "court", NOW)
    auth.create_user("double", "D", Role.SECRETARY, "motdepasse-solide", NOW)
    with pytest.raises(AccountError, match="existe déjà"):
        auth.create_user("double", "D", Role.SECRETARY, "motdepasse-solide", NOW)


def test_audit_log_records_who_what_when(auth):
    auth.audit("admin", "change", "/reglages/horaires", NOW, detail="lundi 08:00-12:00")
    (entry,) = auth.audit_entries()
    assert (entry.username, entry.action, entry.target) == ("admin", "change", "/reglages/horaires")
