"""The embedded agenda: SQLAlchemy on SQLite or PostgreSQL.

Exclusivity is the database's job: every booked appointment and every live hold owns one row per
5-minute unit in `agenda_slot_units`, whose primary key (practitioner_id, unit_start) refuses a second
owner. Each operation is one transaction: a failure (or the process dying) at any point leaves the data
exactly as before. A move deletes the old units and inserts the new ones in the same transaction, so a
refused new slot rolls back to the original one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.model import (
    AgendaEvent,
    AgendaListener,
    Appointment,
    AppointmentStatus,
    BookingLimitReached,
    Hold,
    InvalidRequest,
    NotFound,
    Patient,
    PatientIdentity,
    Slot,
    SlotQuery,
    SlotTaken,
    Source,
)
from standardiste.agenda.names import fold, identity_score, normalise_phone
from standardiste.agenda.rules import Interval, PracticeRules, units
from standardiste.agenda.sealed import (
    new_patient_row,
    open_text,
    patients_born,
    patients_with_phone,
    set_patient_phone,
)
from standardiste.agenda.sealed import patient_of as _patient_of
from standardiste.agenda.search import candidates, choose, plan
from standardiste.agenda.tables import (
    AppointmentHistoryRow,
    AppointmentRow,
    HoldRow,
    PatientRow,
    SlotUnitRow,
    UtcDateTime,
)
from standardiste.config import PracticeConfig
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database, affected_rows

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["SlotTakenWithAlternatives", "SqlAgenda", "SqlInbox"]

ACTIVE = (AppointmentStatus.BOOKED.value, AppointmentStatus.CONFIRMED.value)
MATCH_THRESHOLD = 85.0  # name score needed on the same birth date
MATCH_THRESHOLD_WITH_PHONE = 70.0  # lower when the caller ID is the patient's phone


# Built once: compiled statements are cached by SQLAlchemy (search is the hot path).
_BUSY_APPOINTMENTS = select(AppointmentRow.practitioner_id, AppointmentRow.start, AppointmentRow.end).where(
    AppointmentRow.practitioner_id.in_(bindparam("pids", expanding=True)),
    AppointmentRow.start >= bindparam("lookback", type_=UtcDateTime()),
    AppointmentRow.start < bindparam("end", type_=UtcDateTime()),
    AppointmentRow.end > bindparam("start", type_=UtcDateTime()),
    AppointmentRow.status.in_(ACTIVE),
)
_BUSY_HOLDS = select(HoldRow.practitioner_id, HoldRow.start, HoldRow.end).where(
    HoldRow.practitioner_id.in_(bindparam("pids", expanding=True)),
    HoldRow.expires_at > bindparam("now", type_=UtcDateTime()),
    HoldRow.start < bindparam("end", type_=UtcDateTime()),
    HoldRow.end > bindparam("start", type_=UtcDateTime()),
)


class SlotTakenWithAlternatives(SlotTaken):
    """SlotTaken carrying other slots to offer straight away (may be empty)."""

    def __init__(self, message: str, alternatives: Sequence[Slot] = ()) -> None:
        super().__init__(message)
        self.alternatives = list(alternatives)


class _Retry(Exception):
    pass


def _transient(err: Exception) -> bool:
    if isinstance(err, StaleDataError):
        return True
    if isinstance(err, OperationalError):
        text = str(err.orig).lower() if err.orig else str(err).lower()
        code = getattr(err.orig, "sqlstate", None)
        return "locked" in text or "busy" in text or code in ("40001", "40P01")
    return False


def new_id() -> str:
    return uuid.uuid4().hex


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise InvalidRequest("heure sans fuseau horaire / naive datetime")
    return now


def check_identity(identity: PatientIdentity, now: dt.datetime) -> None:
    if not fold(identity.last_name) or not fold(identity.first_name):
        raise InvalidRequest("nom ou prénom vide / empty last or first name")
    if len(identity.last_name) > 100 or len(identity.first_name) > 100:
        raise InvalidRequest("nom trop long / name too long")
    if identity.birth_date > now.date() or identity.birth_date < dt.date(1900, 1, 1):
        raise InvalidRequest("date de naissance impossible / impossible birth date")


def find_patient_row(
    session: Session, identity: PatientIdentity, cipher: FieldCipher | None = None
) -> PatientRow | None:
    """Best stored patient for a caller-given identity: same birth date, name close in spelling or sound.

    Identities are encrypted: the birth date's blind index narrows to a few rows, whose names are decrypted
    for the fuzzy and phonetic comparison."""
    rows = session.scalars(select(PatientRow).where(patients_born(cipher, identity.birth_date))).all()
    phone = normalise_phone(identity.phone)
    best: tuple[float, PatientRow] | None = None
    for row in rows:
        last = open_text(cipher, row.last_name, "agenda_patients.last_name", row.id) or ""
        first = open_text(cipher, row.first_name, "agenda_patients.first_name", row.id) or ""
        score = identity_score(identity.last_name, identity.first_name, last, first)
        same_phone = phone is not None and (
            open_text(cipher, row.phone, "agenda_patients.phone", row.id) == phone
        )
        needed = MATCH_THRESHOLD_WITH_PHONE if same_phone else MATCH_THRESHOLD
        if score < needed:
            continue
        ranked = score + (10 if same_phone else 0)
        if best is None or ranked > best[0]:
            best = (ranked, row)
    return best[1] if best else None


def patient_of(row: PatientRow, cipher: FieldCipher | None = None) -> Patient:
    return _patient_of(row, cipher)


class SqlAgenda:
    """The Agenda protocol on the practice's own database."""

    def __init__(
        self,
        db: Database,
        practice: PracticeConfig,
        listeners: Iterable[AgendaListener] = (),
        cipher: FieldCipher | None = None,
    ) -> None:
        self.db = db
        # Encrypts caller identities at rest; None writes them in clear (tests, tools).
        self.cipher = cipher
        self.practice = practice
        self.rules = PracticeRules(practice)
        self.listeners: list[AgendaListener] = list(listeners)
        # Tests inject a failure (a hang-up, a crash) at a named step inside a transaction.
        self.step_hook: Callable[[str], None] | None = None

    # --- plumbing ---------------------------------------------------------------------------

    def add_listener(self, listener: AgendaListener) -> None:
        self.listeners.append(listener)

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)

    def _tx(self, work: Callable[[Session], T], attempts: int = 8) -> T:
        """Run `work` in one transaction, retrying on lock timeouts, deadlocks and stale versions."""
        for attempt in range(attempts):
            try:
                with self.db.session() as session:
                    return work(session)
            except (OperationalError, StaleDataError) as err:
                if not _transient(err) or attempt == attempts - 1:
                    raise
                time.sleep(min(0.5, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    def _notify(self, event: AgendaEvent, appointment: Appointment) -> None:
        for listener in self.listeners:
            try:
                listener.on_appointment_changed(event, appointment)
            except Exception:
                log.exception("agenda listener failed on %s %s", event, appointment.id)

    def _appointment(self, row: AppointmentRow, patient: PatientRow) -> Appointment:
        tz = self.rules.tz
        return Appointment(
            id=row.id,
            practitioner_id=row.practitioner_id,
            patient=patient_of(patient, self.cipher),
            appointment_type=row.appointment_type,
            start=row.start.astimezone(tz),
            end=row.end.astimezone(tz),
            status=AppointmentStatus(row.status),
            source=Source(row.source),
        )

    @staticmethod
    def _snapshot(row: AppointmentRow) -> dict[str, Any]:
        return {
            "practitioner_id": row.practitioner_id,
            "appointment_type": row.appointment_type,
            "start": row.start.astimezone(dt.UTC).isoformat(),
            "end": row.end.astimezone(dt.UTC).isoformat(),
            "status": row.status,
        }

    @staticmethod
    def _history(
        session: Session,
        row: AppointmentRow,
        actor: str,
        action: str,
        now: dt.datetime,
        before: dict[str, Any] | None,
    ) -> None:
        session.add(
            AppointmentHistoryRow(
                appointment_id=row.id,
                at=now,
                actor=actor,
                action=action,
                before=before,
                after=SqlAgenda._snapshot(row),
            )
        )

    # --- search -----------------------------------------------------------------------------

    def busy(
        self, practitioners: Sequence[str], start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> dict[str, list[Interval]]:
        """Booked appointments and live holds overlapping [start, end), per practitioner."""
        out: dict[str, list[Interval]] = {p: [] for p in practitioners}
        params = {
            "pids": list(practitioners),
            "lookback": start - dt.timedelta(days=1),
            "start": start,
            "end": end,
            "now": now,
        }
        with self.db.engine.connect() as conn:
            rows = [*conn.execute(_BUSY_APPOINTMENTS, params), *conn.execute(_BUSY_HOLDS, params)]
        for pid, s, e in rows:
            out[pid].append(Interval(s, e))
        return out

    def find_slots(self, query: SlotQuery, now: dt.datetime) -> list[Slot]:
        _aware(now)
        p = plan(self.rules, query, now)
        found = candidates(self.rules, p, lambda prs, s, e: self.busy(prs, s, e, now))
        return choose(found, p.limit)

    def _alternatives(self, slot: Slot, now: dt.datetime, any_practitioner: bool = False) -> list[Slot]:
        try:
            day_start = dt.datetime.combine(self.rules.local(slot.start).date(), dt.time(0), self.rules.tz)
            query = SlotQuery(
                practitioner_id=None if any_practitioner else slot.practitioner_id,
                appointment_type=slot.appointment_type,
                earliest=max(day_start, now),
            )
            return self.find_slots(query, now)
        except Exception:
            log.exception("could not compute alternatives")
            return []

    # --- occupancy --------------------------------------------------------------------------

    def _claim(
        self,
        session: Session,
        slot: Slot,
        now: dt.datetime,
        *,
        appointment_id: str | None = None,
        hold: HoldRow | None = None,
        from_hold: str | None = None,
    ) -> None:
        """Give the slot's units to an appointment or a hold; SlotTaken if any unit has another owner."""
        grid = units(slot.start, slot.end)
        if from_hold is not None and appointment_id is not None:
            held = session.get(HoldRow, from_hold)
            if (
                held is not None
                and held.practitioner_id == slot.practitioner_id
                and held.start == slot.start
                and held.end == slot.end
            ):
                converted = affected_rows(
                    session.execute(
                        update(SlotUnitRow)
                        .where(SlotUnitRow.hold_id == from_hold)
                        .values(appointment_id=appointment_id, hold_id=None, expires_at=None)
                        .execution_options(synchronize_session=False)
                    )
                )
                session.delete(held)
                if converted == len(grid):
                    return
                # The hold lost some units (expired and taken): give back what remains and claim afresh.
                session.execute(delete(SlotUnitRow).where(SlotUnitRow.appointment_id == appointment_id))
        # Expired holds no longer own their units.
        session.execute(
            delete(SlotUnitRow)
            .where(
                SlotUnitRow.practitioner_id == slot.practitioner_id,
                SlotUnitRow.unit_start >= grid[0],
                SlotUnitRow.unit_start <= grid[-1],
                SlotUnitRow.hold_id.is_not(None),
                SlotUnitRow.expires_at <= now,
            )
            .execution_options(synchronize_session=False)
        )
        rows = [
            {
                "practitioner_id": slot.practitioner_id,
                "unit_start": u,
                "appointment_id": appointment_id,
                "hold_id": hold.id if hold else None,
                "expires_at": hold.expires_at if hold else None,
            }
            for u in grid
        ]
        try:
            # One multi-row INSERT: one round trip, and the whole slot fails or succeeds together.
            session.execute(insert(SlotUnitRow).values(rows))
        except IntegrityError as err:
            raise SlotTaken(
                f"créneau déjà pris / slot taken: {slot.practitioner_id} {slot.start.isoformat()}"
            ) from err

    # --- holds ------------------------------------------------------------------------------

    def hold(self, slot: Slot, holder: str, now: dt.datetime) -> Hold:
        _aware(now)
        self.rules.check_slot(slot, now)
        expires = now + dt.timedelta(seconds=self.practice.booking.hold_seconds)

        def work(session: Session) -> HoldRow:
            self._purge(session, now - dt.timedelta(minutes=10), limit=50)
            same = session.scalars(
                select(HoldRow).where(
                    HoldRow.holder == holder,
                    HoldRow.practitioner_id == slot.practitioner_id,
                    HoldRow.start == slot.start,
                    HoldRow.end == slot.end,
                )
            ).first()
            if same is not None:
                # The same caller asks again: extend, if the hold still owns all its units.
                kept = affected_rows(
                    session.execute(
                        update(SlotUnitRow)
                        .where(SlotUnitRow.hold_id == same.id)
                        .values(expires_at=expires)
                        .execution_options(synchronize_session=False)
                    )
                )
                if kept == len(units(slot.start, slot.end)):
                    same.expires_at = expires
                    return same
            row = HoldRow(
                id=new_id(),
                practitioner_id=slot.practitioner_id,
                appointment_type=slot.appointment_type,
                start=slot.start,
                end=slot.end,
                holder=holder,
                created_at=now,
                expires_at=expires,
            )
            session.add(row)
            session.flush()
            self._claim(session, slot, now, hold=row)
            return row

        row = self._tx(work)
        return Hold(row.id, slot, row.expires_at.astimezone(self.rules.tz))

    def release(self, hold_id: str) -> None:
        def work(session: Session) -> None:
            session.execute(delete(SlotUnitRow).where(SlotUnitRow.hold_id == hold_id))
            session.execute(delete(HoldRow).where(HoldRow.id == hold_id))

        self._tx(work)

    def release_holder(self, holder: str) -> int:
        """Release every hold of a caller (the call ended); returns how many."""

        def work(session: Session) -> int:
            ids = list(session.scalars(select(HoldRow.id).where(HoldRow.holder == holder)))
            if ids:
                session.execute(delete(SlotUnitRow).where(SlotUnitRow.hold_id.in_(ids)))
                session.execute(delete(HoldRow).where(HoldRow.id.in_(ids)))
            return len(ids)

        return self._tx(work)

    def purge_expired(self, now: dt.datetime) -> int:
        """Delete expired holds (they already stopped blocking anyone); returns how many."""
        return self._tx(lambda session: self._purge(session, now))

    @staticmethod
    def _purge(session: Session, before: dt.datetime, limit: int | None = None) -> int:
        # Also done a little at each hold(), so the table never grows with abandoned calls.
        stmt = select(HoldRow.id).where(HoldRow.expires_at <= before)
        ids = list(session.scalars(stmt.limit(limit) if limit else stmt))
        if ids:
            session.execute(delete(SlotUnitRow).where(SlotUnitRow.hold_id.in_(ids)))
            session.execute(delete(HoldRow).where(HoldRow.id.in_(ids)))
        return len(ids)

    # --- patients ---------------------------------------------------------------------------

    def find_patient(self, identity: PatientIdentity) -> Patient | None:
        with self.db.sessions() as session:
            row = find_patient_row(session, identity, self.cipher)
            return patient_of(row, self.cipher) if row else None

    def _patient_for(self, session: Session, identity: PatientIdentity, now: dt.datetime) -> PatientRow:
        row = find_patient_row(session, identity, self.cipher)
        phone = normalise_phone(identity.phone)
        if row is None:
            row = new_patient_row(identity, now, self.cipher)
            session.add(row)
            session.flush()
        elif phone and open_text(self.cipher, row.phone, "agenda_patients.phone", row.id) != phone:
            # A known patient who gave (and confirmed) another callback number: the agenda keeps the new one.
            set_patient_phone(row, phone, self.cipher)
        return row

    # --- appointments -----------------------------------------------------------------------

    def book(
        self,
        slot: Slot,
        patient: PatientIdentity,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        _aware(now)
        self.rules.check_slot(slot, now)
        check_identity(patient, now)

        def work(session: Session) -> Appointment:
            self._step("begin")
            self._check_phone_cap(session, patient, Source(source), now)
            pat = self._patient_for(session, patient, now)
            self._step("patient")
            row = AppointmentRow(
                id=new_id(),
                practitioner_id=slot.practitioner_id,
                patient_id=pat.id,
                appointment_type=slot.appointment_type,
                start=slot.start,
                end=slot.end,
                status=AppointmentStatus.BOOKED.value,
                source=Source(source).value,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            self._step("appointment")
            self._claim(session, slot, now, appointment_id=row.id, from_hold=hold_id)
            self._step("units")
            self._history(session, row, Source(source).value, "booked", now, None)
            session.flush()
            self._step("history")
            return self._appointment(row, pat)

        try:
            appointment = self._tx(work)
        except SlotTaken as err:
            raise SlotTakenWithAlternatives(str(err), self._alternatives(slot, now)) from None
        self._notify("booked", appointment)
        return appointment

    def _check_phone_cap(
        self, session: Session, identity: PatientIdentity, source: Source, now: dt.datetime
    ) -> None:
        """At most practice.booking.max_per_phone_per_day bookings by telephone per number and day
        (cancelled ones count too): one caller cannot fill the agenda under made-up names."""
        cap = self.practice.booking.max_per_phone_per_day
        phone = normalise_phone(identity.phone)
        if not cap or source != Source.PHONE or not phone:
            return
        local = now.astimezone(ZoneInfo(self.practice.timezone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        booked = session.scalar(
            select(func.count())
            .select_from(AppointmentRow)
            .join(PatientRow, PatientRow.id == AppointmentRow.patient_id)
            .where(
                patients_with_phone(self.cipher, phone),
                AppointmentRow.source == Source.PHONE.value,
                AppointmentRow.created_at >= midnight,
            )
        )
        if (booked or 0) >= cap:
            raise BookingLimitReached(f"{booked} bookings today for this number (limit {cap})")

    def _load(self, session: Session, appointment_id: str) -> tuple[AppointmentRow, PatientRow]:
        row = session.scalars(
            select(AppointmentRow).where(AppointmentRow.id == appointment_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"rendez-vous inconnu / unknown appointment {appointment_id!r}")
        patient = session.get(PatientRow, row.patient_id)
        assert patient is not None  # foreign key
        return row, patient

    def get(self, appointment_id: str) -> Appointment:
        with self.db.sessions() as session:
            row = session.get(AppointmentRow, appointment_id)
            if row is None:
                raise NotFound(f"rendez-vous inconnu / unknown appointment {appointment_id!r}")
            patient = session.get(PatientRow, row.patient_id)
            assert patient is not None
            return self._appointment(row, patient)

    def upcoming(self, patient_id: str, now: dt.datetime) -> list[Appointment]:
        with self.db.sessions() as session:
            patient = session.get(PatientRow, patient_id)
            if patient is None:
                return []
            rows = session.scalars(
                select(AppointmentRow)
                .where(
                    AppointmentRow.patient_id == patient_id,
                    AppointmentRow.start >= now,
                    AppointmentRow.status.in_(ACTIVE),
                )
                .order_by(AppointmentRow.start)
            ).all()
            return [self._appointment(r, patient) for r in rows]

    def appointments(
        self,
        start: dt.datetime,
        end: dt.datetime,
        practitioner_id: str | None = None,
        include_cancelled: bool = False,
    ) -> list[Appointment]:
        """Appointments starting in [start, end), for the staff's day view and the reminders."""
        with self.db.sessions() as session:
            stmt = (
                select(AppointmentRow, PatientRow)
                .join(PatientRow, PatientRow.id == AppointmentRow.patient_id)
                .where(AppointmentRow.start >= start, AppointmentRow.start < end)
            )
            if practitioner_id is not None:
                stmt = stmt.where(AppointmentRow.practitioner_id == practitioner_id)
            if not include_cancelled:
                stmt = stmt.where(AppointmentRow.status != AppointmentStatus.CANCELLED.value)
            rows = session.execute(stmt.order_by(AppointmentRow.start)).all()
            return [self._appointment(a, p) for a, p in rows]

    def history(self, appointment_id: str) -> list[dict[str, Any]]:
        with self.db.sessions() as session:
            rows = session.scalars(
                select(AppointmentHistoryRow)
                .where(AppointmentHistoryRow.appointment_id == appointment_id)
                .order_by(AppointmentHistoryRow.id)
            ).all()
            return [
                {"at": r.at, "actor": r.actor, "action": r.action, "before": r.before, "after": r.after}
                for r in rows
            ]

    def cancel(self, appointment_id: str, source: Source, now: dt.datetime) -> Appointment:
        _aware(now)

        def work(session: Session) -> tuple[Appointment, bool]:
            self._step("begin")
            row, patient = self._load(session, appointment_id)
            if row.status == AppointmentStatus.CANCELLED.value:
                return self._appointment(row, patient), False
            if row.status not in ACTIVE:
                raise InvalidRequest(f"rendez-vous déjà {row.status} / appointment already {row.status}")
            before = self._snapshot(row)
            session.execute(delete(SlotUnitRow).where(SlotUnitRow.appointment_id == row.id))
            self._step("units")
            row.status = AppointmentStatus.CANCELLED.value
            row.updated_at = now
            session.flush()
            self._step("appointment")
            self._history(session, row, Source(source).value, "cancelled", now, before)
            session.flush()
            self._step("history")
            return self._appointment(row, patient), True

        appointment, changed = self._tx(work)
        if changed:
            self._notify("cancelled", appointment)
        return appointment

    def move(
        self,
        appointment_id: str,
        new_slot: Slot,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        _aware(now)
        self.rules.check_slot(new_slot, now)

        def work(session: Session) -> Appointment:
            self._step("begin")
            row, patient = self._load(session, appointment_id)
            if row.status not in ACTIVE:
                raise InvalidRequest(f"rendez-vous {row.status}: impossible à déplacer / cannot move")
            if row.start < now:
                raise InvalidRequest("rendez-vous passé / appointment already past")
            before = self._snapshot(row)
            session.execute(delete(SlotUnitRow).where(SlotUnitRow.appointment_id == row.id))
            self._step("release")
            self._claim(session, new_slot, now, appointment_id=row.id, from_hold=hold_id)
            self._step("units")
            row.practitioner_id = new_slot.practitioner_id
            row.appointment_type = new_slot.appointment_type
            row.start, row.end = new_slot.start, new_slot.end
            row.status = AppointmentStatus.BOOKED.value
            row.updated_at = now
            session.flush()
            self._step("appointment")
            self._history(session, row, Source(source).value, "moved", now, before)
            session.flush()
            self._step("history")
            return self._appointment(row, patient)

        try:
            appointment = self._tx(work)
        except SlotTaken as err:
            raise SlotTakenWithAlternatives(str(err), self._alternatives(new_slot, now)) from None
        self._notify("moved", appointment)
        return appointment

    def confirm(self, appointment_id: str, source: Source, now: dt.datetime) -> Appointment:
        return self.set_status(appointment_id, AppointmentStatus.CONFIRMED, Source(source).value, now)

    def set_status(
        self, appointment_id: str, status: AppointmentStatus, actor: str, now: dt.datetime
    ) -> Appointment:
        """Confirmed, attended, no-show (staff or reminders); use cancel() to cancel."""
        _aware(now)
        if status == AppointmentStatus.CANCELLED:
            raise InvalidRequest("utiliser cancel() / use cancel()")

        def work(session: Session) -> tuple[Appointment, bool]:
            row, patient = self._load(session, appointment_id)
            if row.status == status.value:
                return self._appointment(row, patient), False
            if row.status == AppointmentStatus.CANCELLED.value:
                raise InvalidRequest("rendez-vous annulé / appointment cancelled")
            before = self._snapshot(row)
            row.status = status.value
            row.updated_at = now
            session.flush()
            action = "confirmed" if status == AppointmentStatus.CONFIRMED else "status"
            self._history(session, row, actor[:64], action, now, before)
            return self._appointment(row, patient), True

        appointment, changed = self._tx(work)
        if changed and status == AppointmentStatus.CONFIRMED:
            self._notify("confirmed", appointment)
        return appointment
