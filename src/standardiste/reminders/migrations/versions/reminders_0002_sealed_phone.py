"""Reminders: the number to call is sealed (FieldCipher, bound to its job row).

Revision ID: reminders_0002_sealed_phone
Revises: reminders_0001

`phone` becomes text to hold a ciphertext. Existing rows stay readable in clear and are sealed by
`standardiste privacy reseal`.
"""

import sqlalchemy as sa
from alembic import op

revision = "reminders_0002_sealed_phone"
down_revision = "reminders_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder_jobs") as batch:
        batch.alter_column("phone", type_=sa.Text(), existing_type=sa.String(32), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("reminder_jobs") as batch:
        batch.alter_column("phone", type_=sa.String(32), existing_type=sa.Text(), existing_nullable=True)
