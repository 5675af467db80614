"""Staff accounts, web sessions and the audit log: the dashboard's domain, without HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from standardiste.dashboard.audit import safe_target
from standardiste.dashboard.passwords import MIN_PASSWORD_LENGTH, password_problem
from standardiste.dashboard.tables import AuditEntry, StaffUser, WebSession
from standardiste.storage.db import Database, affected_rows


class Role(StrEnum):
    SECRETARY = "secretary"
    PRACTITIONER = "practitioner"
    ADMIN = "admin"


ROLE_LABELS_FR = {Role.SECRETARY: "secrétariat", Role.PRACTITIONER: "praticien", Role.ADMIN: "administrateur"}


class AccountError(ValueError):
    """A refused account change; the message is French, for staff."""


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    id: int
    username: str
    display_name: str
    role: Role
    # A practitioner's account: which practitioner of the practice it is (their own patients' items).
    practitioner_id: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class OpenSession:
    token: str  # goes in the cookie; only its hash is stored
    csrf_token: str
    user: StaffIdentity
    expires_at: dt.datetime


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class StaffAuth:
    def __init__(self, db: Database, session_minutes: int = 60) -> None:
        self._db = db
        self._lifetime = dt.timedelta(minutes=session_minutes)
        self._hasher = PasswordHasher()
        # Verifying against a dummy hash for unknown users keeps response times alike (no user enumeration).
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def create_user(
        self,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        now: dt.datetime,
        practitioner_id: str | None = None,
    ) -> StaffIdentity:
        username = username.strip().lower()
        if not username or len(username) > 64 or not username.replace(".", "").replace("-", "").isalnum():
            raise AccountError("Identifiant invalide (lettres, chiffres, point ou tiret).")
        problem = password_problem(password, username, display_name)
        if problem:
            raise AccountError(problem)
        with self._db.session() as s:
            if s.scalar(select(StaffUser).where(StaffUser.username == username)) is not None:
                raise AccountError(f"L'identifiant « {username} » existe déjà.")
            user = StaffUser(
                username=username,
                display_name=display_name,
                role=str(Role(role)),
                password_hash=self._hasher.hash(password),
                active=True,
                created_at=now,
                practitioner_id=practitioner_id or None,
            )
            s.add(user)
            s.flush()
            return _identity(user)

    def set_password(self, username: str, password: str) -> None:
        with self._db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
            if user is None:
                raise AccountError(f"Aucun compte « {username} ».")
            problem = password_problem(password, user.username, user.display_name)
            if problem:
                raise AccountError(problem)
            user.password_hash = self._hasher.hash(password)
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))

    def set_active(self, username: str, active: bool) -> StaffIdentity:
        """Disables (or enables again) an account; disabling closes its open sessions at once."""
        with self._db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
            if user is None:
                raise AccountError(f"Aucun compte « {username} ».")
            user.active = active
            if not active:
                s.execute(delete(WebSession).where(WebSession.user_id == user.id))
            return _identity(user)

    def login(self, username: str, password: str, now: dt.datetime) -> OpenSession | None:
        """Argon2 takes tens of milliseconds of CPU: call it from a thread (asyncio.to_thread)."""
        with self._db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
            stored = user.password_hash if user is not None and user.active else self._dummy_hash
            try:
                self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None or not user.active:
                return None
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
            user.last_login_at = now
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires = now + self._lifetime
            s.add(
                WebSession(
                    token_hash=_hash_token(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
            identity = _identity(user)
        return OpenSession(token, csrf, identity, expires)

    def session(self, token: str | None, now: dt.datetime) -> OpenSession | None:
        """The live session for a cookie token; idle sessions expire (each use extends the lifetime)."""
        if not token:
            return None
        with self._db.session() as s:
            row = s.get(WebSession, _hash_token(token))
            if row is None:
                return None
            if _utc(row.expires_at) <= now:
                s.delete(row)
                return None
            user = s.get(StaffUser, row.user_id)
            if user is None or not user.active:
                s.delete(row)
                return None
            row.expires_at = now + self._lifetime
            return OpenSession(token, row.csrf_token, _identity(user), _utc(row.expires_at))

    def logout(self, token: str) -> None:
        with self._db.session() as s:
            s.execute(delete(WebSession).where(WebSession.token_hash == _hash_token(token)))

    def purge_expired(self, now: dt.datetime) -> int:
        with self._db.session() as s:
            return affected_rows(s.execute(delete(WebSession).where(WebSession.expires_at <= now))) or 0

    @staticmethod
    def csrf_ok(session: OpenSession, submitted: str | None) -> bool:
        # Bytes: compare_digest refuses non-ASCII str (a crafted token must be refused, not crash).
        expected, given = session.csrf_token.encode(), (submitted or "").encode("utf-8", "replace")
        return bool(submitted) and hmac.compare_digest(expected, given)

    def audit(
        self, username: str, action: str, target: str, now: dt.datetime, detail: str = "", remote: str = ""
    ) -> None:
        with self._db.session() as s:
            s.add(
                AuditEntry(
                    at=now,
                    username=username,
                    action=action,
                    target=safe_target(target),  # never a search term or free text
                    detail=detail,
                    remote=remote[:64],
                )
            )

    def audit_entries(self, limit: int = 200) -> list[AuditEntry]:
        with self._db.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))

    def users(self) -> list[StaffIdentity]:
        with self._db.session() as s:
            return [_identity(u) for u in s.scalars(select(StaffUser).order_by(StaffUser.username))]


def _identity(user: StaffUser) -> StaffIdentity:
    return StaffIdentity(
        user.id, user.username, user.display_name, Role(user.role), user.practitioner_id, bool(user.active)
    )


__all__ = ["MIN_PASSWORD_LENGTH", "AccountError", "OpenSession", "Role", "StaffAuth", "StaffIdentity"]
