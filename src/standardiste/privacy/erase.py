"""`standardiste privacy erase --phone N`: one person's data erased everywhere it is kept.

Found through the per-column blind indexes (no other row is decrypted) and, for the few tables without an
index (reminder jobs), by decrypting and comparing:
- agenda: the patients with this phone, their appointments (slot units, history, reminder jobs and
  attempts go with them), the requests with this callback number;
- call log: the calls from this number, requests filed during them, their audio recordings;
- reminder jobs to this number;
- audit entries that point at an erased call, request or appointment;
- voice messages left in the fallback message box (data_dir/messages, named after the number);
- text log files given (Asterisk's): lines naming the number, in any usual spelling.

The database part is one transaction; files go once it is committed. The systemd journal cannot be edited
line by line: the controller logs numbers masked (see docs/security.md), and the journal's own retention
bounds the rest. Reminder jobs already copied to Redis are dropped when fired (their database row is gone).
An external agenda (CalDAV, FHIR) is the practice's own system: erase there too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, or_, select

from standardiste.agenda.names import normalise_phone
from standardiste.agenda.sealed import CALLBACK, matches, open_json, open_text, patients_with_phone
from standardiste.agenda.tables import (
    AppointmentHistoryRow,
    AppointmentRow,
    PatientRow,
    RequestRow,
    SlotUnitRow,
)
from standardiste.calllog.store import CALLER_INDEX
from standardiste.calllog.tables import CallRow
from standardiste.dashboard.tables import AuditEntry
from standardiste.privacy.crypto import FieldCipher
from standardiste.privacy.recordings import delete_recording, name_audio_key
from standardiste.reminders.store import PHONE_COLUMN
from standardiste.reminders.tables import ReminderAttemptRow, ReminderJobRow
from standardiste.storage.db import Database, affected_rows

log = logging.getLogger(__name__)


@dataclass
class EraseReport:
    patients: int = 0
    appointments: int = 0
    requests: int = 0
    calls: int = 0
    reminder_jobs: int = 0
    audit_entries: int = 0
    recordings: int = 0
    voice_messages: int = 0
    log_lines: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"Patients effacés : {self.patients}",
            f"Rendez-vous effacés : {self.appointments}",
            f"Demandes effacées : {self.requests}",
            f"Appels effacés : {self.calls} (enregistrements : {self.recordings})",
            f"Messages vocaux effacés : {self.voice_messages}",
            f"Rappels automatiques effacés : {self.reminder_jobs}",
            f"Entrées du journal d'audit effacées : {self.audit_entries}",
            f"Lignes de journaux effacées : {self.log_lines}",
            *(f"ERREUR : {e}" for e in self.errors),
        ]


def spellings(e164: str) -> list[str]:
    """How a French number may appear in a log: +33612345678, 0612345678, 33612345678."""
    out = [e164, e164.lstrip("+")]
    if e164.startswith("+33"):
        out.append("0" + e164[3:])
    return out


def erase_person(
    db: Database,
    cipher: FieldCipher | None,
    phone: str,
    *,
    recordings_dir: Path | None = None,
    spool_dir: Path | None = None,
    log_files: Iterable[Path] = (),
    log_dir: Path | None = None,
    messages_dir: Path | None = None,
) -> EraseReport:
    e164 = normalise_phone(phone)
    if e164 is None:
        raise ValueError(f"numéro illisible / unreadable number: {phone!r}")
    report = EraseReport()
    recordings: list[str] = []
    with db.session() as s:
        patient_ids = list(s.scalars(select(PatientRow.id).where(patients_with_phone(cipher, e164))))
        appointment_ids = list(
            s.scalars(select(AppointmentRow.id).where(AppointmentRow.patient_id.in_(patient_ids)))
        )
        call_index = cipher.blind_index(e164, CALLER_INDEX) if cipher else None
        same_caller = CallRow.caller_id == e164  # rows written in clear
        if call_index is not None:
            same_caller = or_(CallRow.caller_index == call_index, same_caller)
        calls = s.execute(select(CallRow.id, CallRow.recording).where(same_caller)).all()
        call_ids = [c.id for c in calls]
        recordings = [c.recording for c in calls if c.recording]
        recordings += [name_audio_key(c.id) for c in calls]  # the spoken names kept with the calls
        request_ids = list(
            s.scalars(
                select(RequestRow.id).where(
                    or_(
                        matches(
                            cipher, RequestRow.callback_index, RequestRow.callback_number, e164, CALLBACK
                        ),
                        RequestRow.call_id.in_(call_ids),
                    )
                )
            )
        )
        # Voice messages (pbx/messages.py) are named without the number: the requests they were
        # filed under name them.
        voice_messages = {
            str(extra.get("voicemail"))
            for row in s.scalars(select(RequestRow).where(RequestRow.id.in_(request_ids)))
            if isinstance(extra := open_json(cipher, row.extra, "agenda_requests.extra", row.id), dict)
            and extra.get("voicemail")
        }
        job_ids = [
            job.job_id
            for job in s.scalars(select(ReminderJobRow))
            if job.appointment_id in appointment_ids
            or open_text(cipher, job.phone, PHONE_COLUMN, job.job_id) == e164
        ]
        s.execute(delete(ReminderAttemptRow).where(ReminderAttemptRow.job_id.in_(job_ids)))
        s.execute(delete(ReminderAttemptRow).where(ReminderAttemptRow.appointment_id.in_(appointment_ids)))
        report.reminder_jobs = affected_rows(
            s.execute(delete(ReminderJobRow).where(ReminderJobRow.job_id.in_(job_ids)))
        )
        s.execute(delete(SlotUnitRow).where(SlotUnitRow.appointment_id.in_(appointment_ids)))
        s.execute(
            delete(AppointmentHistoryRow).where(AppointmentHistoryRow.appointment_id.in_(appointment_ids))
        )
        report.appointments = affected_rows(
            s.execute(delete(AppointmentRow).where(AppointmentRow.id.in_(appointment_ids)))
        )
        report.patients = affected_rows(s.execute(delete(PatientRow).where(PatientRow.id.in_(patient_ids))))
        report.requests = affected_rows(s.execute(delete(RequestRow).where(RequestRow.id.in_(request_ids))))
        report.calls = affected_rows(s.execute(delete(CallRow).where(CallRow.id.in_(call_ids))))
        ids = [*call_ids, *request_ids, *appointment_ids, *patient_ids]
        if ids:
            pointing = or_(*(AuditEntry.target.contains(i) for i in ids))
            report.audit_entries = affected_rows(s.execute(delete(AuditEntry).where(pointing)))
    for name in recordings:
        try:
            report.recordings += delete_recording(recordings_dir, name, spool_dir)
        except OSError as err:
            report.errors.append(f"enregistrement {name} : {err.strerror}")
    if messages_dir is not None and Path(messages_dir).is_dir():
        # Voice messages left in the fallback message box (pbx/messages.py).
        for path in Path(messages_dir).iterdir():
            named = path.name in voice_messages  # today's names; older ones carried the number:
            if path.is_file() and (named or any(f"-{n}-" in path.name for n in spellings(e164))):
                try:
                    path.unlink()
                    report.voice_messages += 1
                except OSError as err:
                    report.errors.append(f"{path.name} : {err.strerror}")
    files = list(log_files)
    if log_dir is not None and log_dir.is_dir():
        files += [p for p in log_dir.rglob("*") if p.is_file()]
    for path in files:
        try:
            report.log_lines += scrub_file(path, spellings(e164))
        except OSError as err:
            report.errors.append(f"{path} : {err.strerror}")
    log.info("erase: one person's data erased (%d calls, %d requests)", report.calls, report.requests)
    return report


def scrub_file(path: Path, needles: list[str]) -> int:
    """Removes the lines naming one of `needles` from a text file (rewritten in place, same mode)."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    raw = [n.encode() for n in needles]
    kept = [line for line in lines if not any(n in line for n in raw)]
    if len(kept) == len(lines):
        return 0
    tmp = path.with_name(path.name + ".erase")
    tmp.write_bytes(b"".join(kept))
    tmp.chmod(path.stat().st_mode & 0o777)
    tmp.replace(path)
    return len(lines) - len(kept)
