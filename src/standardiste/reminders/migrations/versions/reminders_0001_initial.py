"""Reminders: desired schedule (outbox for Redis), call attempts, leader fence.

Revision ID: reminders_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "reminders_0001"
down_revision = None
branch_labels = ("reminders",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_jobs",
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_at", sa.DateTime, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("synced", sa.Boolean, nullable=False),
        sa.Column("fence", sa.BigInteger, nullable=True),
        sa.Column("appointment_start", sa.DateTime, nullable=False),
        sa.Column("appointment_end", sa.DateTime, nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("last_outcome", sa.String(24), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_reminder_jobs"),
    )
    op.create_index("ix_reminder_jobs_appointment_id", "reminder_jobs", ["appointment_id"])
    op.create_index("ix_reminder_jobs_state_run_at", "reminder_jobs", ["state", "run_at"])
    op.create_index("ix_reminder_jobs_synced", "reminder_jobs", ["synced"])
    op.create_table(
        "reminder_attempts",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("fence", sa.BigInteger, nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("outcome", sa.String(24), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_attempts"),
        sa.UniqueConstraint("job_id", "version", name="uq_reminder_attempts_job_id"),
    )
    op.create_index("ix_reminder_attempts_appointment_id", "reminder_attempts", ["appointment_id"])
    op.create_table(
        "reminder_fence",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("fence", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_fence"),
    )


def downgrade() -> None:
    op.drop_table("reminder_fence")
    op.drop_table("reminder_attempts")
    op.drop_table("reminder_jobs")
