"""The requests inbox the staff work from: prescription renewals, certificates, callbacks..."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from standardiste.agenda.model import InvalidRequest, NotFound, RequestDraft, RequestKind, RequestStatus
from standardiste.agenda.names import normalise_phone
from standardiste.agenda.tables import RequestRow
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


def _request(row: RequestRow) -> InboxRequest:
    return InboxRequest(
        id=row.id,
        kind=RequestKind(row.kind),
        caller_name=row.caller_name,
        birth_date=row.birth_date,
        callback_number=row.callback_number,
        details=row.details,
        status=RequestStatus(row.status),
        assignee=row.assignee,
        notes=row.notes,
        urgent=row.urgent,
        call_id=row.call_id,
        practitioner_id=row.practitioner_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        extra=dict(row.extra or {}),
    )


class SqlInbox:
    """The Inbox protocol, plus what the dashboard needs to work the requests."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
            kind=kind.value,
            caller_name=(draft.caller_name or "").strip()[:200] or "(inconnu)",
            birth_date=draft.birth_date,
            callback_number=normalise_phone(draft.callback_number),
            details=(draft.details or "")[:MAX_DETAILS],
            status=RequestStatus.NEW.value,
            assignee=None,
            notes="",
            urgent=bool(draft.urgent),
            call_id=draft.call_id,
            practitioner_id=draft.practitioner_id,
            extra={str(k): str(v) for k, v in (draft.extra or {}).items()},
            created_at=now,
            updated_at=now,
        )
        with self.db.session() as session:
            session.add(row)
        return row.id

    def get(self, request_id: str) -> InboxRequest:
        with self.db.sessions() as session:
            row = session.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"demande inconnue / unknown request {request_id!r}")
            return _request(row)

    def list(self, status: RequestStatus | None = None, limit: int = 200) -> list[InboxRequest]:
        """Urgent first, then oldest first (the order the staff should work them)."""
        with self.db.sessions() as session:
            stmt = select(RequestRow)
            if status is not None:
                stmt = stmt.where(RequestRow.status == RequestStatus(status).value)
            stmt = stmt.order_by(RequestRow.urgent.desc(), RequestRow.created_at).limit(limit)
            return [_request(r) for r in session.scalars(stmt)]

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
                row.notes = notes[:MAX_DETAILS]
            row.updated_at = now
            session.flush()
            return _request(row)
