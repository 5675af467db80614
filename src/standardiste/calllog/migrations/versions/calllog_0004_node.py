"""Call log: the cluster node that handled the call (docs/scale.md); "" on a single server.

Revision ID: calllog_0004
Revises: calllog_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "calllog_0004"
down_revision = "calllog_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calllog_calls") as batch:
        batch.add_column(sa.Column("node", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("calllog_calls") as batch:
        batch.drop_column("node")
