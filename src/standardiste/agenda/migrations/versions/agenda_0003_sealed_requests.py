"""Agenda: a request's kind, extras and staff notes are sealed too (they say what the request is about).

Revision ID: agenda_0003
Revises: agenda_0002

`kind` becomes text to hold a FieldCipher ciphertext (notes already are text, extras JSON). Existing rows
stay readable in clear and are sealed by `standardiste privacy reseal` (the key is not alembic's).
"""

import sqlalchemy as sa
from alembic import op

revision = "agenda_0003"
down_revision = "agenda_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_requests") as batch:
        batch.alter_column("kind", type_=sa.Text(), existing_type=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    # Only meaningful for clear rows: a ciphertext does not fit 32 characters.
    with op.batch_alter_table("agenda_requests") as batch:
        batch.alter_column("kind", type_=sa.String(32), existing_type=sa.Text(), existing_nullable=False)
