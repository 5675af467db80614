"""What the connectors to an agenda kept on another server (CalDAV, FHIR) share.

The server holds the appointments; patients (identity only) stay in the practice database, as with
the embedded agenda. Subclasses bring the protocol: reading busy times, holding a slot, rewriting an
appointment with their own conditional requests.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Generic, TypeVar

from standardiste.agenda.model import (
    AgendaError,
    AgendaEvent,
    AgendaListener,
    Appointment,
    AppointmentStatus,
    Hold,
    InvalidRequest,
    Patient,
    PatientIdentity,
    Slot,
    SlotQuery,
    SlotTaken,
    Source,
)
from standardiste.agenda.rules import Interval, PracticeRules
from standardiste.agenda.sealed import new_patient_row
from standardiste.agenda.search import candidates, choose, plan
from standardiste.agenda.sql import SlotTakenWithAlternatives, find_patient_row, patient_of
from standardiste.config import PracticeConfig
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

log = logging.getLogger(__name__)

# What a connector read an appointment from, to write it back conditionally (resource and version).
StoredT = TypeVar("StoredT")

ACTIVE_STATUSES = (AppointmentStatus.BOOKED.value, AppointmentStatus.CONFIRMED.value)


def taken_message(slot: Slot) -> str:
    return f"créneau déjà pris / slot taken: {slot.practitioner_id} {slot.start:%Y-%m-%d %H:%M}"


def with_status(a: Appointment, status: AppointmentStatus) -> Appointment:
    return Appointment(
        a.id, a.practitioner_id, a.patient, a.appointment_type, a.start, a.end, status, a.source
    )


def booked_appointment(appointment_id: str, slot: Slot, patient: Patient, source: Source) -> Appointment:
    return Appointment(
        appointment_id,
        slot.practitioner_id,
        patient,
        slot.appointment_type,
        slot.start,
        slot.end,
        AppointmentStatus.BOOKED,
        Source(source),
    )


class ExternalAgenda(abc.ABC, Generic[StoredT]):
    """The Agenda protocol's server-independent half: rules, local patients, listeners, status changes."""

    # Raised by the client when a conditional write finds the resource changed meanwhile.
    conflict_error: ClassVar[type[AgendaError]]

    def __init__(
        self,
        practice: PracticeConfig,
        db: Database,
        listeners: Iterable[AgendaListener] = (),
        cipher: FieldCipher | None = None,
    ) -> None:
        self.practice = practice
        self.rules = PracticeRules(practice)
        self.db = db
        self.listeners = list(listeners)
        self.cipher = cipher  # the local patients table is encrypted like the embedded agenda's
        self.step_hook: Callable[[str], None] | None = None

    # --- what each protocol provides ----------------------------------------------------------

    @abc.abstractmethod
    def busy(
        self, practitioners: Sequence[str], start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> dict[str, list[Interval]]: ...

    @abc.abstractmethod
    def _hold(self, slot: Slot, holder: str, now: dt.datetime, exclude: Sequence[str]) -> Hold: ...

    @abc.abstractmethod
    def _read_current(self, appointment_id: str) -> tuple[Appointment, StoredT]:
        """The appointment and what to write it back against; NotFound if unknown."""

    @abc.abstractmethod
    def _write_back(self, stored: StoredT, updated: Appointment, now: dt.datetime) -> None:
        """Replace `stored` with `updated` unless changed meanwhile (raises conflict_error)."""

    # --- listeners and test hooks ------------------------------------------------------------

    def add_listener(self, listener: AgendaListener) -> None:
        self.listeners.append(listener)

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)

    def _notify(self, event: AgendaEvent, appointment: Appointment) -> None:
        for listener in self.listeners:
            try:
                listener.on_appointment_changed(event, appointment)
            except Exception:
                log.exception("agenda listener failed on %s %s", event, appointment.id)

    # --- slots --------------------------------------------------------------------------------

    def find_slots(self, query: SlotQuery, now: dt.datetime) -> list[Slot]:
        p = plan(self.rules, query, now)
        return choose(candidates(self.rules, p, lambda prs, s, e: self.busy(prs, s, e, now)), p.limit)

    def _alternatives(self, slot: Slot, now: dt.datetime) -> list[Slot]:
        try:
            day = dt.datetime.combine(self.rules.local(slot.start).date(), dt.time(0), self.rules.tz)
            return self.find_slots(
                SlotQuery(
                    practitioner_id=slot.practitioner_id,
                    appointment_type=slot.appointment_type,
                    earliest=max(day, now),
                ),
                now,
            )
        except AgendaError:
            log.exception("could not compute alternatives")
            return []

    def hold(self, slot: Slot, holder: str, now: dt.datetime) -> Hold:
        self.rules.check_slot(slot, now)
        return self._hold(slot, holder, now, exclude=())

    # --- patients -----------------------------------------------------------------------------

    def find_patient(self, identity: PatientIdentity) -> Patient | None:
        with self.db.sessions() as session:
            row = find_patient_row(session, identity, self.cipher)
            return patient_of(row, self.cipher) if row else None

    def _patient(self, identity: PatientIdentity, now: dt.datetime) -> Patient:
        with self.db.session() as session:
            row = find_patient_row(session, identity, self.cipher)
            if row is None:
                row = new_patient_row(identity, now, self.cipher)
                session.add(row)
                session.flush()
            return patient_of(row, self.cipher)

    # --- status changes and moves ---------------------------------------------------------------

    def _rewrite(
        self, appointment_id: str, change: Callable[[Appointment], Appointment | None], now: dt.datetime
    ) -> tuple[Appointment, bool]:
        """Read, change, write back conditionally; one retry when someone else changed it meanwhile."""
        for attempt in range(2):
            current, stored = self._read_current(appointment_id)
            updated = change(current)
            if updated is None:
                return current, False
            self._step("read")
            try:
                self._write_back(stored, updated, now)
                return updated, True
            except self.conflict_error:
                if attempt == 1:
                    raise SlotTaken(
                        "rendez-vous modifié entre-temps / appointment changed meanwhile"
                    ) from None
        raise AssertionError("unreachable")

    def cancel(self, appointment_id: str, source: Source, now: dt.datetime) -> Appointment:
        def change(a: Appointment) -> Appointment | None:
            if a.status == AppointmentStatus.CANCELLED:
                return None
            if a.status.value not in ACTIVE_STATUSES:
                raise InvalidRequest(f"rendez-vous déjà {a.status} / appointment already {a.status}")
            return with_status(a, AppointmentStatus.CANCELLED)

        appt, changed = self._rewrite(appointment_id, change, now)
        if changed:
            self._notify("cancelled", appt)
        return appt

    def confirm(self, appointment_id: str, source: Source, now: dt.datetime) -> Appointment:
        def change(a: Appointment) -> Appointment | None:
            if a.status == AppointmentStatus.CONFIRMED:
                return None
            if a.status != AppointmentStatus.BOOKED:
                raise InvalidRequest(f"rendez-vous {a.status}: impossible à confirmer / cannot confirm")
            return with_status(a, AppointmentStatus.CONFIRMED)

        appt, changed = self._rewrite(appointment_id, change, now)
        if changed:
            self._notify("confirmed", appt)
        return appt

    @staticmethod
    def _check_movable(current: Appointment, now: dt.datetime) -> None:
        if current.status.value not in ACTIVE_STATUSES:
            raise InvalidRequest(f"rendez-vous {current.status}: impossible à déplacer / cannot move")
        if current.start < now:
            raise InvalidRequest("rendez-vous passé / appointment already past")

    def _hold_for_move(
        self,
        appointment_id: str,
        new_slot: Slot,
        now: dt.datetime,
        hold_id: str | None,
        exclude: Sequence[str],
    ) -> str:
        """Secure the new slot first (a verified hold), so the original is untouched if this fails."""
        if hold_id is None:
            try:
                hold_id = self._hold(new_slot, f"move:{appointment_id}", now, exclude=exclude).id
            except SlotTaken:
                raise SlotTakenWithAlternatives(
                    taken_message(new_slot), self._alternatives(new_slot, now)
                ) from None
        self._step("held")
        return hold_id

    @staticmethod
    def _moved(current: Appointment, new_slot: Slot, source: Source) -> Appointment:
        return booked_appointment(current.id, new_slot, current.patient, source)
