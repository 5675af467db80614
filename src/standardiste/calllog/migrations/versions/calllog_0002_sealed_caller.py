"""Call log: caller id encrypted at rest, with a blind index for search by number.

Revision ID: calllog_0002
Revises: calllog_0001

caller_id becomes text (a FieldCipher ciphertext does not fit 64 characters); caller_index holds the
keyed HMAC of the E.164 number. Existing rows stay in clear (the key is not available to alembic):
`standardiste privacy encrypt-existing` seals them, and the retention purge removes them anyway.
"""

import sqlalchemy as sa
from alembic import op

revision = "calllog_0002"
down_revision = "calllog_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calllog_calls") as batch:
        batch.alter_column("caller_id", type_=sa.Text(), existing_type=sa.String(64), existing_nullable=True)
        batch.add_column(sa.Column("caller_index", sa.String(64), nullable=True))
    op.create_index("ix_calllog_calls_caller_index", "calllog_calls", ["caller_index"])


def downgrade() -> None:
    op.drop_index("ix_calllog_calls_caller_index", "calllog_calls")
    with op.batch_alter_table("calllog_calls") as batch:
        batch.drop_column("caller_index")
        batch.alter_column("caller_id", type_=sa.String(64), existing_type=sa.Text(), existing_nullable=True)
