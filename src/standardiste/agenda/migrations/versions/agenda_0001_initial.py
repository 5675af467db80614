"""Agenda: patients, appointments, history, holds, slot occupancy, requests inbox.

Revision ID: agenda_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "agenda_0001"
down_revision = None
branch_labels = ("agenda",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agenda_patients",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("last_key", sa.String(100), nullable=False),
        sa.Column("first_key", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agenda_patients"),
    )
    op.create_index("ix_agenda_patients_birth_date", "agenda_patients", ["birth_date"])
    op.create_index("ix_agenda_patients_phone", "agenda_patients", ["phone"])

    op.create_table(
        "agenda_appointments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(32), nullable=False),
        sa.Column("appointment_type", sa.String(64), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["agenda_patients.id"], name="fk_agenda_appointments_patient_id_agenda_patients"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agenda_appointments"),
    )
    op.create_index(
        "ix_agenda_appointments_practitioner_start", "agenda_appointments", ["practitioner_id", "start"]
    )
    op.create_index("ix_agenda_appointments_patient_start", "agenda_appointments", ["patient_id", "start"])

    op.create_table(
        "agenda_appointment_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("appointment_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["agenda_appointments.id"],
            name="fk_agenda_history_appointment",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agenda_appointment_history"),
    )
    op.create_index(
        "ix_agenda_appointment_history_appointment_id", "agenda_appointment_history", ["appointment_id"]
    )

    op.create_table(
        "agenda_holds",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("appointment_type", sa.String(64), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agenda_holds"),
    )
    op.create_index("ix_agenda_holds_holder", "agenda_holds", ["holder"])
    op.create_index("ix_agenda_holds_expires_at", "agenda_holds", ["expires_at"])

    op.create_table(
        "agenda_slot_units",
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("unit_start", sa.DateTime(), nullable=False),
        sa.Column("appointment_id", sa.String(32), nullable=True),
        sa.Column("hold_id", sa.String(32), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "(appointment_id IS NULL) <> (hold_id IS NULL)", name="ck_agenda_slot_units_one_owner"
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["agenda_appointments.id"],
            name="fk_agenda_slot_units_appointment_id_agenda_appointments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["agenda_holds.id"],
            name="fk_agenda_slot_units_hold_id_agenda_holds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practitioner_id", "unit_start", name="pk_agenda_slot_units"),
    )
    op.create_index("ix_agenda_slot_units_appointment_id", "agenda_slot_units", ["appointment_id"])
    op.create_index("ix_agenda_slot_units_hold_id", "agenda_slot_units", ["hold_id"])

    op.create_table(
        "agenda_requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("caller_name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("callback_number", sa.String(32), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=True),
        sa.Column("practitioner_id", sa.String(64), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agenda_requests"),
    )
    op.create_index("ix_agenda_requests_status_created", "agenda_requests", ["status", "created_at"])
    op.create_index("ix_agenda_requests_call_id", "agenda_requests", ["call_id"])


def downgrade() -> None:
    op.drop_table("agenda_requests")
    op.drop_table("agenda_slot_units")
    op.drop_table("agenda_holds")
    op.drop_table("agenda_appointment_history")
    op.drop_table("agenda_appointments")
    op.drop_table("agenda_patients")
