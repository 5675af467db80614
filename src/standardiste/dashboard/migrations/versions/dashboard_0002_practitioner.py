"""Dashboard: a practitioner's account names its practitioner (per-role scope).

Revision ID: dashboard_0002
Revises: dashboard_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "dashboard_0002"
down_revision = "dashboard_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("practitioner_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("practitioner_id")
