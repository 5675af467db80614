"""Settings: practice overrides edited from the dashboard.

Revision ID: settings_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "settings_0001"
down_revision = None
branch_labels = ("settings",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "practice_overrides",
        sa.Column("section", sa.String(32), nullable=False),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("section", name="pk_practice_overrides"),
    )


def downgrade() -> None:
    op.drop_table("practice_overrides")
