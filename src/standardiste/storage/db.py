"""The database: one SQLAlchemy engine, one metadata, migrations per capability.

Each capability (agenda, calllog, reminders, dashboard...) keeps its tables in its own
module and its alembic migrations in its own `migrations/` folder, as a separate
alembic branch; `Database.migrate()` upgrades every branch ("heads").
SQLite (default, WAL mode) and PostgreSQL are supported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, cast

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def affected_rows(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE (without RETURNING) matched, as the DBAPI cursor reports them.

    `Session.execute()` is typed as returning a plain `Result` (SQLAlchemy issue #12913), but for such
    statements it returns a `CursorResult`, which carries `rowcount`: the cast only corrects the stubs.
    """
    return cast(CursorResult[Any], result).rowcount


def _package_root() -> Path:
    return Path(str(resources.files("standardiste")))


def migration_folders() -> list[Path]:
    """Every capability's `migrations/versions` folder, in a stable order."""
    return sorted(p for p in _package_root().glob("*/migrations/versions") if p.is_dir())


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows (retention, erase) are overwritten with zeros, not left in free pages of the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def migrate(self) -> None:
        """Bring every capability's tables to the latest version."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(_package_root() / "storage" / "alembic"))
        cfg.set_main_option("version_locations", " ".join(str(p) for p in migration_folders()))
        cfg.set_main_option("path_separator", "space")
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
