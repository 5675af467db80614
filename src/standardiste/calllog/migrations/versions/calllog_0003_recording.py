"""Call log: the name of the call's audio recording (privacy.record_audio), when there is one.

Revision ID: calllog_0003
Revises: calllog_0002

The file itself (NAME.wav) lies in Asterisk's recording directory; the retention purge deletes it
with the row.
"""

import sqlalchemy as sa
from alembic import op

revision = "calllog_0003"
down_revision = "calllog_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calllog_calls") as batch:
        batch.add_column(sa.Column("recording", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calllog_calls") as batch:
        batch.drop_column("recording")
