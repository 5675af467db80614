"""The requests inbox the staff work from: prescription renewals, certificates, callbacks..."""

from __future__ import annotations

import builtins  # the class below has a list() method: its annotations say builtins.list
import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from standardiste.agenda.model import InvalidRequest, NotFound, RequestDraft, RequestKind, RequestStatus
from standardiste.agenda.names import normalise_phone
from standardiste.agenda.sealed import (
    CALLBACK,
    index,
    matches,
    open_date,
    open_json,
    open_text,
    seal,
    seal_json,
)
from standardiste.agenda.tables import RequestRow
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

MAX_DETAILS = 4000


@dataclass(frozen=True, slots=True)
class InboxRequest:
    id: str
    kind: RequestKind
    caller_name: str
    birth_date: dt.date | None
    callback_number: str | None
    details: str
    status: RequestStatus
    assignee: str | None
    notes: str
    urgent: bool
    call_id: str | None
    practitioner_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestIdentity:
    """The encrypted columns of agenda_requests, in clear: the caller's identity and own words, what the
    request is about (its kind says "sick leave", "worrying follow-up"...), its extras and staff notes."""

    caller_name: str
    birth_date: dt.date | None
    callback_number: str | None
    details: str
    kind: str | None = None  # None: leave the stored kind as it is
    notes: str | None = None
    extra: dict[str, str] | None = None


def open_request(row: RequestRow, cipher: FieldCipher | None) -> RequestIdentity:
    """DecryptionError (not garbage) for a wrong key."""
    return RequestIdentity(
        caller_name=open_text(cipher, row.caller_name, "agenda_requests.caller_name", row.id) or "",
        birth_date=open_date(cipher, row.birth_date, "agenda_requests.birth_date", row.id),
        callback_number=open_text(cipher, row.callback_number, "agenda_requests.callback_number", row.id),
        details=open_text(cipher, row.details, "agenda_requests.details", row.id) or "",
        kind=open_text(cipher, row.kind, "agenda_requests.kind", row.id) or "",
        notes=open_notes(row, cipher),
        extra=dict(open_json(cipher, row.extra, "agenda_requests.extra", row.id) or {}),
    )


def open_notes(row: RequestRow, cipher: FieldCipher | None) -> str:
    return open_text(cipher, row.notes, "agenda_requests.notes", row.id) or ""


def seal_notes(row: RequestRow, cipher: FieldCipher | None, notes: str) -> None:
    row.notes = seal(cipher, notes, "agenda_requests.notes", row.id) or ""


def seal_request(row: RequestRow, cipher: FieldCipher | None, clear: RequestIdentity) -> None:
    """Writes the sealed columns (in clear without a cipher); the row id must be set first."""
    birth = clear.birth_date.isoformat() if clear.birth_date else None
    row.caller_name = seal(cipher, clear.caller_name, "agenda_requests.caller_name", row.id) or ""
    row.birth_date = seal(cipher, birth, "agenda_requests.birth_date", row.id)
    row.callback_number = seal(cipher, clear.callback_number, "agenda_requests.callback_number", row.id)
    row.callback_index = index(cipher, clear.callback_number, CALLBACK)
    row.details = seal(cipher, clear.details, "agenda_requests.details", row.id) or ""
    if clear.kind is not None:
        row.kind = seal(cipher, clear.kind, "agenda_requests.kind", row.id) or ""
    if clear.notes is not None:
        seal_notes(row, cipher, clear.notes)
    if clear.extra is not None:
        row.extra = seal_json(cipher, dict(clear.extra), "agenda_requests.extra", row.id)


def _request(row: RequestRow, cipher: FieldCipher | None) -> InboxRequest:
    clear = open_request(row, cipher)
    return InboxRequest(
        id=row.id,
        kind=RequestKind(clear.kind or ""),
        caller_name=clear.caller_name,
        birth_date=clear.birth_date,
        callback_number=clear.callback_number,
        details=clear.details,
        status=RequestStatus(row.status),
        assignee=row.assignee,
        notes=clear.notes or "",
        urgent=row.urgent,
        call_id=row.call_id,
        practitioner_id=row.practitioner_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        extra=dict(clear.extra or {}),
    )


class SqlInbox:
    """The Inbox protocol, plus what the dashboard needs to work the requests."""

    def __init__(self, db: Database, cipher: FieldCipher | None = None) -> None:
        self.db = db
        # Encrypts the caller's identity and words at rest; None writes them in clear (tests, tools).
        self.cipher = cipher

    def file(self, draft: RequestDraft, now: dt.datetime) -> str:
        if now.tzinfo is None:
            raise InvalidRequest("heure sans fuseau horaire / naive datetime")
        try:
            kind = RequestKind(draft.kind)
        except ValueError:
            raise InvalidRequest(f"type de demande inconnu / unknown request kind {draft.kind!r}") from None
        # A request is never refused for a missing detail: staff call back and ask.
        row = RequestRow(
            id=uuid.uuid4().hex,
            status=RequestStatus.NEW.value,
            assignee=None,
            urgent=bool(draft.urgent),
            call_id=draft.call_id,
            practitioner_id=draft.practitioner_id,
            created_at=now,
            updated_at=now,
        )
        clear = RequestIdentity(
            caller_name=(draft.caller_name or "").strip()[:200] or "(inconnu)",
            birth_date=draft.birth_date,
            callback_number=normalise_phone(draft.callback_number),
            details=(draft.details or "")[:MAX_DETAILS],
            kind=kind.value,
            notes="",
            extra={str(k): str(v) for k, v in (draft.extra or {}).items()},
        )
        seal_request(row, self.cipher, clear)
        with self.db.session() as session:
            session.add(row)
        return row.id

    def get(self, request_id: str) -> InboxRequest:
        with self.db.sessions() as session:
            row = session.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"demande inconnue / unknown request {request_id!r}")
            return _request(row, self.cipher)

    def list(self, status: RequestStatus | None = None, limit: int = 200) -> list[InboxRequest]:
        """Urgent first, then oldest first (the order the staff should work them)."""
        with self.db.sessions() as session:
            stmt = select(RequestRow)
            if status is not None:
                stmt = stmt.where(RequestRow.status == RequestStatus(status).value)
            stmt = stmt.order_by(RequestRow.urgent.desc(), RequestRow.created_at).limit(limit)
            return [_request(r, self.cipher) for r in session.scalars(stmt)]

    def from_number(self, number: str, limit: int = 50) -> builtins.list[InboxRequest]:
        """Requests whose callback number is this one (blind index: no decryption of the others)."""
        e164 = normalise_phone(number)
        if e164 is None:
            return []
        with self.db.sessions() as session:
            same = matches(self.cipher, RequestRow.callback_index, RequestRow.callback_number, e164, CALLBACK)
            stmt = select(RequestRow).where(same).order_by(RequestRow.created_at.desc()).limit(limit)
            return [_request(r, self.cipher) for r in session.scalars(stmt)]

    def counts(self) -> dict[RequestStatus, int]:
        with self.db.sessions() as session:
            rows = session.execute(select(RequestRow.status, func.count()).group_by(RequestRow.status)).all()
        out = dict.fromkeys(RequestStatus, 0)
        for status, count in rows:
            out[RequestStatus(status)] = count
        return out

    def update(
        self,
        request_id: str,
        now: dt.datetime,
        *,
        status: RequestStatus | None = None,
        assignee: str | None = None,
        notes: str | None = None,
    ) -> InboxRequest:
        with self.db.session() as session:
            row = session.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"demande inconnue / unknown request {request_id!r}")
            if status is not None:
                row.status = RequestStatus(status).value
            if assignee is not None:
                row.assignee = assignee[:64] or None
            if notes is not None:
                seal_notes(row, self.cipher, notes[:MAX_DETAILS])
            row.updated_at = now
            session.flush()
            return _request(row, self.cipher)
