"""What the dashboard shows per appointment: the reminder call's state, in French for the staff."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select

from standardiste.reminders.store import CALLING, DONE, QUEUED, REMINDER, SCHEDULED
from standardiste.reminders.tables import ReminderAttemptRow, ReminderJobRow
from standardiste.storage.db import Database

OUTCOME_LABELS_FR = {
    "confirmed": "confirmé par le patient",
    "cancelled": "annulé par le patient",
    "rescheduled": "déplacé par le patient",
    "no_answer": "pas de réponse",
    "busy": "ligne occupée",
    "voicemail": "message laissé (répondeur)",
    "wrong_person": "autre personne au bout du fil",
    "failed": "appel impossible",
    "abandoned": "le patient a raccroché",
    "skipped": "sans objet",
}


def _label(job: ReminderJobRow, tries: int, tz: ZoneInfo) -> str:
    if job.state == SCHEDULED and job.run_at is not None:
        when = job.run_at.astimezone(tz).strftime("%d/%m à %H:%M")
        return f"appel prévu le {when}" + (f" (essai {job.attempt + 1})" if job.attempt else "")
    if job.state in (QUEUED, CALLING):
        return "appel en cours"
    if job.state == DONE and job.last_outcome:
        label = OUTCOME_LABELS_FR.get(job.last_outcome, job.last_outcome)
        return f"{label} ({tries} essais)" if tries > 1 else label
    return "pas d'appel"


def reminder_statuses(db: Database, appointment_ids: list[str], tz: ZoneInfo) -> dict[str, str]:
    if not appointment_ids:
        return {}
    with db.session() as s:
        jobs = s.scalars(
            select(ReminderJobRow).where(
                ReminderJobRow.kind == REMINDER, ReminderJobRow.appointment_id.in_(appointment_ids)
            )
        )
        rows = list(jobs)
        tries: dict[str, int] = {}
        for attempt in s.scalars(
            select(ReminderAttemptRow.appointment_id).where(
                ReminderAttemptRow.kind == REMINDER, ReminderAttemptRow.appointment_id.in_(appointment_ids)
            )
        ):
            tries[attempt] = tries.get(attempt, 0) + 1
        return {job.appointment_id: _label(job, tries.get(job.appointment_id, 0), tz) for job in rows}


def reminder_status_for(db: Database, timezone: str) -> Callable[[list[str]], dict[str, str]]:
    """The dashboard's StaffServices.reminder_status."""
    tz = ZoneInfo(timezone)

    def status(appointment_ids: list[str]) -> dict[str, str]:
        return reminder_statuses(db, appointment_ids, tz)

    return status
