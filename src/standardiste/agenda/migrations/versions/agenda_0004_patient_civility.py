"""Agenda: a patient's civility ("Madame" / "Monsieur"), sealed like the other identity columns, so the
assistant can say the name found back as the practice would ("Madame Texier Monique, c'est bien vous ?").

Revision ID: agenda_0004
Revises: agenda_0003

Nullable: a file without it (every row written before) says the name without a civility.
"""

import sqlalchemy as sa
from alembic import op

revision = "agenda_0004"
down_revision = "agenda_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_patients") as batch:
        batch.add_column(sa.Column("civility", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agenda_patients") as batch:
        batch.drop_column("civility")
