"""Agenda: caller identities encrypted at rest (patients, requests) with blind indexes.

Revision ID: agenda_0002
Revises: agenda_0001

Identity columns become text holding FieldCipher ciphertexts; the clear phonetic keys (last_key,
first_key) are dropped; birth_index / phone_index / callback_index hold keyed HMACs for search.
Existing rows are NOT encrypted here: the key lives in the install's secrets.toml, not in alembic.
They stay readable (clear values, NULL index) and are sealed by `standardiste privacy encrypt-existing`.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "agenda_0002"
down_revision = "agenda_0001"
branch_labels = None
depends_on = None


def _using(pg: bool, expression: str) -> dict[str, Any]:
    """PostgreSQL needs a USING expression to change a column's type; other dialects take none."""
    return {"postgresql_using": expression} if pg else {}


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_agenda_patients_birth_date", "agenda_patients")
    op.drop_index("ix_agenda_patients_phone", "agenda_patients")
    with op.batch_alter_table("agenda_patients") as batch:
        batch.drop_column("last_key")
        batch.drop_column("first_key")
        for name, nullable in (("last_name", False), ("first_name", False), ("phone", True)):
            batch.alter_column(name, type_=sa.Text(), existing_nullable=nullable)
        batch.alter_column(
            "birth_date",
            type_=sa.Text(),
            existing_type=sa.Date(),
            existing_nullable=False,
            **_using(pg, "birth_date::text"),
        )
        batch.add_column(sa.Column("birth_index", sa.String(64), nullable=True))
        batch.add_column(sa.Column("phone_index", sa.String(64), nullable=True))
    op.create_index("ix_agenda_patients_birth_index", "agenda_patients", ["birth_index"])
    op.create_index("ix_agenda_patients_phone_index", "agenda_patients", ["phone_index"])

    with op.batch_alter_table("agenda_requests") as batch:
        for name, nullable in (("caller_name", False), ("callback_number", True)):
            batch.alter_column(name, type_=sa.Text(), existing_nullable=nullable)
        batch.alter_column(
            "birth_date",
            type_=sa.Text(),
            existing_type=sa.Date(),
            existing_nullable=True,
            **_using(pg, "birth_date::text"),
        )
        batch.add_column(sa.Column("callback_index", sa.String(64), nullable=True))
    op.create_index("ix_agenda_requests_callback_index", "agenda_requests", ["callback_index"])


def downgrade() -> None:
    # Only meaningful for clear rows: ciphertexts do not fit the old types (nor the old lengths).
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_agenda_requests_callback_index", "agenda_requests")
    with op.batch_alter_table("agenda_requests") as batch:
        batch.drop_column("callback_index")
        batch.alter_column(
            "birth_date",
            type_=sa.Date(),
            existing_nullable=True,
            **_using(pg, "birth_date::date"),
        )
        batch.alter_column("callback_number", type_=sa.String(32), existing_nullable=True)
        batch.alter_column("caller_name", type_=sa.String(200), existing_nullable=False)
    op.drop_index("ix_agenda_patients_phone_index", "agenda_patients")
    op.drop_index("ix_agenda_patients_birth_index", "agenda_patients")
    with op.batch_alter_table("agenda_patients") as batch:
        batch.drop_column("phone_index")
        batch.drop_column("birth_index")
        batch.alter_column(
            "birth_date",
            type_=sa.Date(),
            existing_nullable=False,
            **_using(pg, "birth_date::date"),
        )
        batch.alter_column("phone", type_=sa.String(32), existing_nullable=True)
        batch.alter_column("first_name", type_=sa.String(100), existing_nullable=False)
        batch.alter_column("last_name", type_=sa.String(100), existing_nullable=False)
        batch.add_column(sa.Column("last_key", sa.String(100), nullable=False, server_default=""))
        batch.add_column(sa.Column("first_key", sa.String(100), nullable=False, server_default=""))
    op.create_index("ix_agenda_patients_birth_date", "agenda_patients", ["birth_date"])
    op.create_index("ix_agenda_patients_phone", "agenda_patients", ["phone"])
