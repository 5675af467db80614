"""Call log: one row per call.

Revision ID: calllog_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "calllog_0001"
down_revision = None
branch_labels = ("calllog",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calllog_calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("outcome_details", sa.JSON(), nullable=True),
        sa.Column("path", sa.JSON(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("transcript_encrypted", sa.Integer(), nullable=False),
        sa.Column("recognizer", sa.String(128), nullable=False),
        sa.Column("greeting_ms", sa.Float(), nullable=True),
        sa.Column("barge_ins", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calllog_calls"),
    )
    op.create_index("ix_calllog_calls_started_at", "calllog_calls", ["started_at"])
    op.create_index("ix_calllog_calls_outcome", "calllog_calls", ["outcome"])


def downgrade() -> None:
    op.drop_index("ix_calllog_calls_outcome", "calllog_calls")
    op.drop_index("ix_calllog_calls_started_at", "calllog_calls")
    op.drop_table("calllog_calls")
