"""CalDAV (RFC 4791) connector: the clinic's own calendar server is the agenda.

One calendar collection per practitioner. Busy times come from a calendar-query REPORT (time-range,
recurrences expanded by the server); every event not cancelled nor transparent is busy, whoever wrote it.

CalDAV has no transactions, so exclusivity is built from conditional requests:
- an appointment is created with `If-None-Match: *` at a name derived from its practitioner and start:
  two assistants racing for the same slot write the same name and the second gets 412 -> SlotTaken;
- after writing, the time range is read again; if another event overlaps (a secretary's entry, an
  overlapping booking from another node) ours is withdrawn -> SlotTaken. The later writer always sees
  the earlier one, so two bookings never both stay (at worst both withdraw, and both callers are offered
  another slot);
- changes and cancellations use `If-Match: <ETag>`; 412 means someone changed the event meanwhile;
- a hold is a TENTATIVE event with an expiry (X-STANDARDISTE-EXPIRES), so other nodes and the staff see it;
- a move first holds the new slot (verified), then rewrites the appointment, so the original is never lost.
Patients (identity only) live in the practice database, as with the embedded agenda.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from standardiste.agenda.external import (
    ACTIVE_STATUSES,
    ExternalAgenda,
    booked_appointment,
    taken_message,
)
from standardiste.agenda.ical import Event, build_event, parse_events, utc_stamp
from standardiste.agenda.model import (
    AgendaError,
    AgendaListener,
    Appointment,
    AppointmentStatus,
    Hold,
    InvalidRequest,
    NotFound,
    Patient,
    PatientIdentity,
    Slot,
    SlotTaken,
    Source,
)
from standardiste.agenda.rules import Interval
from standardiste.agenda.sql import SlotTakenWithAlternatives, check_identity
from standardiste.config import PracticeConfig
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

log = logging.getLogger(__name__)

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
X = "X-STANDARDISTE-"


class CalDavError(AgendaError):
    """The calendar server is unreachable or answered something unexpected (safe fallback: a human)."""


class PreconditionFailed(CalDavError):
    """412: the resource exists (If-None-Match) or changed (If-Match)."""


@dataclass
class Resource:
    href: str  # absolute URL
    etag: str
    events: list[Event]
    text: str = ""


class CalDavClient:
    """A small synchronous CalDAV client on requests."""

    def __init__(
        self, base_url: str, auth: tuple[str, str] | None = None, timeout: float = 5.0, tz: dt.tzinfo = dt.UTC
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.http = requests.Session()
        if auth:
            self.http.auth = auth
        self.timeout = timeout
        self.tz = tz

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path)

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as err:
            raise CalDavError(f"serveur CalDAV injoignable / CalDAV server unreachable: {err}") from None

    def mkcalendar(self, url: str, name: str) -> None:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<D:displayname>{_xml_text(name)}</D:displayname>"
            '<C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>'
            "</D:prop></D:set></C:mkcalendar>"
        )
        r = self._request(
            "MKCALENDAR", url, data=body.encode(), headers={"Content-Type": "application/xml; charset=utf-8"}
        )
        if r.status_code not in (201, 405, 409):  # 405/409: already exists
            raise CalDavError(f"MKCALENDAR {url}: {r.status_code}")

    def query(self, calendar_url: str, start: dt.datetime, end: dt.datetime) -> list[Resource]:
        """calendar-query REPORT: every event overlapping [start, end), recurrences expanded."""
        s, e = utc_stamp(start), utc_stamp(end)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/><C:calendar-data>"
            f'<C:expand start="{s}" end="{e}"/></C:calendar-data></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{s}" end="{e}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        r = self._request(
            "REPORT",
            calendar_url,
            data=body.encode(),
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        if r.status_code == 404:
            raise CalDavError(f"calendrier introuvable / calendar not found: {calendar_url}")
        if r.status_code != 207:
            raise CalDavError(f"REPORT {calendar_url}: {r.status_code}")
        try:
            root = ET.fromstring(r.content)
        except ET.ParseError as err:
            raise CalDavError(f"réponse REPORT illisible / unreadable REPORT answer: {err}") from None
        out = []
        for response in root.findall("D:response", NS):
            href = response.findtext("D:href", default="", namespaces=NS)
            etag = response.findtext(".//D:getetag", default="", namespaces=NS)
            data = response.findtext(".//C:calendar-data", default="", namespaces=NS)
            if href and data:
                out.append(Resource(self.url(href), etag, parse_events(data, self.tz), data))
        return out

    def get(self, href: str) -> Resource | None:
        r = self._request("GET", href)
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise CalDavError(f"GET {href}: {r.status_code}")
        return Resource(href, r.headers.get("ETag", ""), parse_events(r.text, self.tz), r.text)

    def put(self, href: str, ics: str, *, etag: str | None = None) -> str:
        """Create (etag None: If-None-Match: *) or replace (If-Match: etag); returns the new ETag."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag
        r = self._request("PUT", href, data=ics.encode(), headers=headers)
        if r.status_code == 412:
            raise PreconditionFailed(f"PUT {href}: 412")
        if r.status_code not in (200, 201, 204):
            raise CalDavError(f"PUT {href}: {r.status_code} {r.text[:200]}")
        new_etag = r.headers.get("ETag")
        if not new_etag:
            fresh = self.get(href)
            new_etag = fresh.etag if fresh else ""
        return new_etag

    def delete(self, href: str, etag: str | None) -> None:
        r = self._request("DELETE", href, headers={"If-Match": etag} if etag else {})
        if r.status_code == 412:
            raise PreconditionFailed(f"DELETE {href}: 412")
        if r.status_code not in (200, 204, 404):
            raise CalDavError(f"DELETE {href}: {r.status_code}")


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _stamp_name(start: dt.datetime) -> str:
    return start.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


class CalDavAgenda(ExternalAgenda[Resource]):
    """The Agenda protocol on a CalDAV server (one calendar per practitioner)."""

    conflict_error = PreconditionFailed

    def __init__(
        self,
        practice: PracticeConfig,
        client: CalDavClient,
        calendars: Mapping[str, str],
        db: Database,
        listeners: Iterable[AgendaListener] = (),
        cipher: FieldCipher | None = None,
    ) -> None:
        super().__init__(practice, db, listeners, cipher)
        self.client = client
        self.client.tz = self.rules.tz
        missing = [p for p in self.rules.practitioner_ids if p not in calendars]
        if missing:
            raise InvalidRequest(f"calendrier CalDAV manquant / no CalDAV calendar for {missing}")
        self.calendars = {pid: client.url(u if u.endswith("/") else u + "/") for pid, u in calendars.items()}

    def ensure_calendars(self) -> None:
        for pid, url in self.calendars.items():
            self.client.mkcalendar(url, self.practice.practitioner(pid).name)

    # --- reading ----------------------------------------------------------------------------

    def _busy_events(
        self, pid: str, start: dt.datetime, end: dt.datetime, now: dt.datetime, exclude: Sequence[str] = ()
    ) -> list[Event]:
        out = []
        for res in self.client.query(self.calendars[pid], start, end):
            for ev in res.events:
                if ev.uid in exclude or ev.status == "CANCELLED" or ev.transparent:
                    continue
                if ev.props.get(X + "STATUS", "") == AppointmentStatus.CANCELLED.value:
                    continue
                expires = ev.props.get(X + "EXPIRES")
                if expires and _expired(expires, now):
                    continue
                if ev.start < end and ev.end > start:
                    out.append(ev)
        return out

    def busy(
        self, practitioners: Sequence[str], start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> dict[str, list[Interval]]:
        return {
            pid: [Interval(e.start, e.end) for e in self._busy_events(pid, start, end, now)]
            for pid in practitioners
        }

    def _locate(self, appointment_id: str) -> tuple[str, Resource, Event]:
        if not appointment_id or "/" in appointment_id or ".." in appointment_id:
            raise NotFound(f"rendez-vous inconnu / unknown appointment {appointment_id!r}")
        # Our ids name the practitioner they were booked with: look there first.
        order = sorted(self.calendars.items(), key=lambda kv: f"-{kv[0]}-" not in appointment_id)
        for pid, cal in order:
            res = self.client.get(urljoin(cal, f"{appointment_id}.ics"))
            if res is not None and res.events:
                return pid, res, res.events[0]
        raise NotFound(f"rendez-vous inconnu / unknown appointment {appointment_id!r}")

    def _appointment(self, pid: str, ev: Event) -> Appointment:
        p = ev.props
        patient = Patient(
            id=p.get(X + "PATIENT-ID", ""),
            last_name=p.get(X + "PATIENT-LAST", ""),
            first_name=p.get(X + "PATIENT-FIRST", ""),
            birth_date=_date(p.get(X + "PATIENT-BIRTH", "")),
            phone=p.get(X + "PATIENT-PHONE") or None,
        )
        status = p.get(X + "STATUS", AppointmentStatus.BOOKED.value)
        if ev.status == "CANCELLED":
            status = AppointmentStatus.CANCELLED.value
        return Appointment(
            id=ev.uid,
            practitioner_id=pid,
            patient=patient,
            appointment_type=p.get(X + "TYPE", self.practice.booking.default_type),
            start=ev.start.astimezone(self.rules.tz),
            end=ev.end.astimezone(self.rules.tz),
            status=AppointmentStatus(status),
            source=Source(p.get(X + "SOURCE", Source.STAFF.value)),
        )

    def _ics(self, appt: Appointment, now: dt.datetime) -> str:
        label = next(
            (t.label for t in self.practice.appointment_types if t.id == appt.appointment_type),
            appt.appointment_type,
        )
        cancelled = appt.status == AppointmentStatus.CANCELLED
        summary = (
            f"{'ANNULÉ - ' if cancelled else ''}{label} - {appt.patient.last_name.upper()} "
            f"{appt.patient.first_name}"
        )
        props = {
            X + "KIND": "appointment",
            X + "TYPE": appt.appointment_type,
            X + "STATUS": appt.status.value,
            X + "SOURCE": appt.source.value,
            X + "PATIENT-ID": appt.patient.id,
            X + "PATIENT-LAST": appt.patient.last_name,
            X + "PATIENT-FIRST": appt.patient.first_name,
            X + "PATIENT-BIRTH": appt.patient.birth_date.isoformat(),
        }
        if appt.patient.phone:
            props[X + "PATIENT-PHONE"] = appt.patient.phone
        status = "CANCELLED" if cancelled else "CONFIRMED"
        return build_event(appt.id, appt.start, appt.end, summary, status, props, now)

    # --- holds ------------------------------------------------------------------------------

    def _hold(self, slot: Slot, holder: str, now: dt.datetime, exclude: Sequence[str]) -> Hold:
        cal = self.calendars[slot.practitioner_id]
        uid = f"hold-{_stamp_name(slot.start)}"
        href = urljoin(cal, f"{uid}.ics")
        expires = now + dt.timedelta(seconds=self.practice.booking.hold_seconds)
        props = {
            X + "KIND": "hold",
            X + "HOLDER": holder,
            X + "EXPIRES": expires.isoformat(),
            X + "TYPE": slot.appointment_type,
        }
        ics = build_event(uid, slot.start, slot.end, "Réservation en cours (appel)", "TENTATIVE", props, now)
        if self._busy_events(slot.practitioner_id, slot.start, slot.end, now, exclude):
            raise SlotTaken(taken_message(slot))
        try:
            etag = self.client.put(href, ics)
        except PreconditionFailed:
            existing = self.client.get(href)
            ev = existing.events[0] if existing and existing.events else None
            live = ev is not None and not _expired(ev.props.get(X + "EXPIRES", ""), now)
            if existing is None or (live and ev is not None and ev.props.get(X + "HOLDER") != holder):
                raise SlotTaken(f"créneau réservé / slot held: {slot.start.isoformat()}") from None
            # Expired, or ours: take it over (If-Match: nobody changed it since we looked).
            try:
                etag = self.client.put(href, ics, etag=existing.etag)
            except PreconditionFailed:
                raise SlotTaken(f"créneau réservé / slot held: {slot.start.isoformat()}") from None
        others = [
            e
            for e in self._busy_events(slot.practitioner_id, slot.start, slot.end, now, exclude)
            if e.uid != uid
        ]
        if others:
            self._withdraw(href, etag)
            raise SlotTaken(taken_message(slot))
        return Hold(f"{slot.practitioner_id}/{uid}", slot, expires)

    def _withdraw(self, href: str, etag: str) -> None:
        try:
            self.client.delete(href, etag)
        except CalDavError:
            log.warning("could not withdraw %s", href)

    def release(self, hold_id: str) -> None:
        pid, _, uid = hold_id.partition("/")
        if pid not in self.calendars or not uid.startswith("hold-"):
            return
        self.client.delete(urljoin(self.calendars[pid], f"{uid}.ics"), None)

    # --- appointments -----------------------------------------------------------------------

    def book(
        self,
        slot: Slot,
        patient: PatientIdentity,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        self.rules.check_slot(slot, now)
        check_identity(patient, now)
        own_hold = hold_id.partition("/")[2] if hold_id else ""
        pid = slot.practitioner_id
        if self._busy_events(pid, slot.start, slot.end, now, exclude=(own_hold,)):
            raise SlotTakenWithAlternatives(
                f"créneau déjà pris / slot taken: {slot.start.isoformat()}", self._alternatives(slot, now)
            )
        person = self._patient(patient, now)
        cal = self.calendars[pid]
        uid = f"std-{pid}-{_stamp_name(slot.start)}"
        appt = booked_appointment(uid, slot, person, source)
        href = urljoin(cal, f"{uid}.ics")
        self._step("begin")
        try:
            etag = self.client.put(href, self._ics(appt, now))
        except PreconditionFailed:
            # Same name taken: the slot is gone, unless that event was moved away or cancelled since.
            existing = self.client.get(href)
            if existing is not None and any(
                e.status != "CANCELLED" and e.start < slot.end and e.end > slot.start for e in existing.events
            ):
                raise SlotTakenWithAlternatives(
                    f"créneau déjà pris / slot taken: {slot.start.isoformat()}", self._alternatives(slot, now)
                ) from None
            uid = f"{uid}-{uuid.uuid4().hex[:6]}"
            appt = booked_appointment(uid, slot, person, source)
            href = urljoin(cal, f"{uid}.ics")
            etag = self.client.put(href, self._ics(appt, now))
        self._step("put")
        others = self._busy_events(pid, slot.start, slot.end, now, exclude=(uid, own_hold))
        if others:
            self._withdraw(href, etag)
            raise SlotTakenWithAlternatives(
                f"créneau pris entre-temps / slot taken meanwhile: {slot.start.isoformat()}",
                self._alternatives(slot, now),
            )
        self._step("verified")
        if hold_id:
            self._release_quietly(hold_id)
        self._notify("booked", appt)
        return appt

    def _release_quietly(self, hold_id: str) -> None:
        try:
            self.release(hold_id)
        except CalDavError:
            log.warning("could not release hold %s (it will expire)", hold_id)

    def get(self, appointment_id: str) -> Appointment:
        pid, _, ev = self._locate(appointment_id)
        return self._appointment(pid, ev)

    def upcoming(self, patient_id: str, now: dt.datetime) -> list[Appointment]:
        out = []
        end = self.rules.horizon_end(now)
        for pid, cal in self.calendars.items():
            for res in self.client.query(cal, now, end):
                for ev in res.events:
                    if ev.props.get(X + "PATIENT-ID") == patient_id:
                        appt = self._appointment(pid, ev)
                        if appt.status.value in ACTIVE_STATUSES and appt.start >= now:
                            out.append(appt)
        return sorted(out, key=lambda a: a.start)

    def _read_current(self, appointment_id: str) -> tuple[Appointment, Resource]:
        pid, res, ev = self._locate(appointment_id)
        return self._appointment(pid, ev), res

    def _write_back(self, stored: Resource, updated: Appointment, now: dt.datetime) -> None:
        self.client.put(stored.href, self._ics(updated, now), etag=stored.etag)

    def move(
        self,
        appointment_id: str,
        new_slot: Slot,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        self.rules.check_slot(new_slot, now)
        pid, res, ev = self._locate(appointment_id)
        current = self._appointment(pid, ev)
        self._check_movable(current, now)
        # Our own appointment does not block its new time, on the same calendar only.
        own = (appointment_id,) if new_slot.practitioner_id == pid else ()
        hold_id = self._hold_for_move(appointment_id, new_slot, now, hold_id, exclude=own)
        moved = self._moved(current, new_slot, source)
        try:
            if new_slot.practitioner_id == pid:
                self.client.put(res.href, self._ics(moved, now), etag=res.etag)
            else:
                new_href = urljoin(self.calendars[new_slot.practitioner_id], f"{current.id}.ics")
                new_etag = self.client.put(new_href, self._ics(moved, now))
                self._step("copied")
                try:
                    self.client.delete(res.href, res.etag)
                except PreconditionFailed:
                    self._withdraw(new_href, new_etag)
                    raise
        except PreconditionFailed:
            self._release_quietly(hold_id)
            raise SlotTaken("rendez-vous modifié entre-temps / appointment changed meanwhile") from None
        self._step("written")
        self._release_quietly(hold_id)
        self._notify("moved", moved)
        return moved


def _expired(text: str, now: dt.datetime) -> bool:
    """A hold's expiry; an unreadable one (edited by hand) counts as live: safer to keep the slot busy."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return moment.tzinfo is not None and moment <= now


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return dt.date(1900, 1, 1)  # unknown: the staff see the name in the event
