"""Staff work on the requests inbox: list, assign, change status, add notes."""

from __future__ import annotations

import builtins  # the class below has a list() method: its annotations say builtins.list
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from standardiste.agenda.inbox import open_notes, open_request, seal_notes
from standardiste.agenda.model import RequestKind, RequestStatus
from standardiste.agenda.sealed import seal
from standardiste.agenda.tables import RequestRow
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

KIND_LABELS_FR = {
    RequestKind.PRESCRIPTION_RENEWAL: "Renouvellement d'ordonnance",
    RequestKind.MEDICAL_CERTIFICATE: "Certificat médical",
    RequestKind.SICK_LEAVE: "Arrêt de travail",
    RequestKind.TEST_RESULTS: "Résultats d'examens",
    RequestKind.CALLBACK: "Rappel demandé",
    RequestKind.FOLLOW_UP_CONCERN: "Suivi préoccupant",
}
STATUS_LABELS_FR = {
    RequestStatus.NEW: "nouvelle",
    RequestStatus.IN_PROGRESS: "en cours",
    RequestStatus.DONE: "traitée",
}


class RequestUpdateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RequestView:
    id: str
    kind: str
    kind_label: str
    caller_name: str
    birth_date: dt.date | None
    callback_number: str | None
    details: str
    status: str
    status_label: str
    assignee: str | None
    notes: str
    urgent: bool
    created_at: dt.datetime
    call_id: str | None
    voicemail: str | None = None  # a voice message's encrypted file name (pbx/messages.py)


def _view(row: RequestRow, cipher: FieldCipher | None) -> RequestView:
    clear = open_request(row, cipher)  # identities are encrypted at rest
    return RequestView(
        id=row.id,
        kind=clear.kind or "",
        kind_label=KIND_LABELS_FR.get(clear.kind, clear.kind),  # type: ignore[call-overload]
        caller_name=clear.caller_name,
        birth_date=clear.birth_date,
        callback_number=clear.callback_number,
        details=clear.details,
        status=row.status,
        status_label=STATUS_LABELS_FR.get(row.status, row.status),  # type: ignore[call-overload]
        assignee=row.assignee,
        notes=clear.notes or "",
        urgent=row.urgent,
        created_at=row.created_at,
        call_id=row.call_id,
        voicemail=str(clear.extra["voicemail"]) if clear.extra and clear.extra.get("voicemail") else None,
    )


class RequestsAdmin:
    def __init__(self, db: Database, cipher: FieldCipher | None = None) -> None:
        self._db = db
        self.cipher = cipher  # decrypts callers' identities (the install's key); None: clear rows only

    def list(
        self,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 200,
        practitioner: str | None = None,
    ) -> list[RequestView]:
        """`practitioner`: only that practitioner's requests (a practitioner's own scope)."""
        query = select(RequestRow)
        if practitioner is not None:
            query = query.where(RequestRow.practitioner_id == practitioner)
        if status:
            query = query.where(RequestRow.status == status)
        query = query.order_by(RequestRow.urgent.desc(), RequestRow.created_at.desc())
        if not kind:
            query = query.limit(limit)
        with self._db.session() as s:
            views = [_view(r, self.cipher) for r in s.scalars(query)]
        # The kind is sealed (it says what the request is about): filtered once decrypted.
        return [v for v in views if not kind or v.kind == kind][:limit]

    def voicemail(self, request_id: str, practitioner: str | None = None) -> str | None:
        """The voice message file of a request this staff member may see (None: none, or out of scope)."""
        with self._db.session() as s:
            row = s.get(RequestRow, request_id)
            if row is None or (practitioner is not None and row.practitioner_id != practitioner):
                return None
            return _view(row, self.cipher).voicemail

    def waiting(self, practitioner: str | None = None) -> builtins.list[RequestView]:
        query = select(RequestRow).where(RequestRow.status != RequestStatus.DONE.value)
        if practitioner is not None:
            query = query.where(RequestRow.practitioner_id == practitioner)
        with self._db.session() as s:
            rows = s.scalars(query.order_by(RequestRow.urgent.desc(), RequestRow.created_at))
            return [_view(r, self.cipher) for r in rows]

    def update(
        self,
        request_id: str,
        now: dt.datetime,
        *,
        status: str | None = None,
        assignee: str | None = None,
        note: str | None = None,
        caller_name: str | None = None,
        by: str,
        practitioner: str | None = None,
    ) -> RequestView:
        with self._db.session() as s:
            row = s.get(RequestRow, request_id)
            # Out of the staff member's scope: the same answer as a request that does not exist.
            if row is None or (practitioner is not None and row.practitioner_id != practitioner):
                raise RequestUpdateError("Demande introuvable.")
            if status is not None:
                if status not in {x.value for x in RequestStatus}:
                    raise RequestUpdateError("Statut inconnu.")
                row.status = status
            if assignee is not None:
                row.assignee = assignee or None
            if caller_name is not None and caller_name.strip():
                # The staff corrected the name after listening to the caller say it (identity by voice).
                name = caller_name.strip()[:200]
                row.caller_name = seal(self.cipher, name, "agenda_requests.caller_name", row.id) or ""
            if note:
                stamp = now.strftime("%d/%m/%Y %H:%M")
                notes = open_notes(row, self.cipher)
                notes = (notes + "\n" if notes else "") + f"[{stamp} {by}] {note.strip()[:2000]}"
                seal_notes(row, self.cipher, notes)
            row.updated_at = now
            return _view(row, self.cipher)
