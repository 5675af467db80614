"""The agenda's alembic branch builds exactly the tables the ORM declares (no drift), on SQLite."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import standardiste.agenda.tables  # noqa: F401 - registers the agenda tables on Base.metadata
from standardiste.storage.db import Base, Database


def test_migration_matches_orm(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    db.migrate()
    db.migrate()  # idempotent
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert {
            "agenda_patients",
            "agenda_appointments",
            "agenda_appointment_history",
            "agenda_holds",
            "agenda_slot_units",
            "agenda_requests",
        } <= tables
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if "agenda_" in repr(d)]
    assert diffs == []
    db.dispose()
