"""FHIR R4 connector: the Agenda protocol on a FHIR server's Appointment resources.

Same pattern as the CalDAV connector (no transactions across requests, so conditional requests):
- busy times: `GET Appointment?actor=Practitioner/<id>&date=ge..&date=lt..` (every appointment not
  cancelled, no-show, entered-in-error or proposed is busy, whoever created it; our lapsed holds are not);
- book: conditional create `POST Appointment` with `If-None-Exist: identifier=<slot-derived id>`: two
  assistants racing for one slot use the same identifier, the server answers the second with the existing
  resource (200) or 412 -> SlotTaken; then the time range is read again and ours is withdrawn
  (status entered-in-error, with If-Match) if another appointment overlaps;
- change, confirm, cancel: `PUT` with `If-Match: W/"<versionId>"`; 412 means someone changed it meanwhile;
- holds are `pending` appointments with an expiry extension; a move first holds the new time.
Patients (identity only) stay in the practice database and are referenced as `Patient/<local id>` with a
display name; mapping them to the server's own Patient resources is left to the deployment.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import requests

from standardiste.agenda.external import ExternalAgenda, booked_appointment, taken_message
from standardiste.agenda.fhir import STATUS_TO_FHIR, appointment_resource
from standardiste.agenda.model import (
    AgendaError,
    AgendaListener,
    Appointment,
    AppointmentStatus,
    Hold,
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

ID_SYSTEM = "urn:standardiste:appointment"
HOLD_SYSTEM = "urn:standardiste:hold"
TYPE_SYSTEM = "urn:standardiste:appointment-type"
EXT_EXPIRES = "urn:standardiste:hold-expires"
EXT_SOURCE = "urn:standardiste:source"
EXT_STATUS = "urn:standardiste:status"
EXT_BIRTH = "urn:standardiste:patient-birth-date"
EXT_LAST = "urn:standardiste:patient-last-name"
EXT_FIRST = "urn:standardiste:patient-first-name"
NOT_BUSY = {"cancelled", "noshow", "entered-in-error", "proposed"}
FROM_FHIR = {
    "cancelled": AppointmentStatus.CANCELLED,
    "fulfilled": AppointmentStatus.ATTENDED,
    "noshow": AppointmentStatus.NO_SHOW,
    "entered-in-error": AppointmentStatus.CANCELLED,
}


class FhirError(AgendaError):
    """The FHIR server is unreachable or answered something unexpected (safe fallback: a human)."""


class FhirConflict(FhirError):
    """412 (or 409): the resource changed meanwhile, or a conditional create matched several."""


class FhirClient:
    """A small synchronous FHIR R4 JSON client on requests."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/fhir+json"
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base_url + path
        try:
            return self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as err:
            raise FhirError(f"serveur FHIR injoignable / FHIR server unreachable: {err}") from None

    def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        r = self._request("GET", resource_type, params=list(params))
        for _page in range(20):
            if r.status_code != 200:
                raise FhirError(f"GET {resource_type}: {r.status_code}")
            bundle = r.json()
            out += [e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and "resource" in e]
            nxt = next(
                (link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None
            )
            if not nxt:
                break
            r = self._request("GET", nxt)
        return out

    def read(self, resource_type: str, rid: str) -> tuple[dict[str, Any], str] | None:
        r = self._request("GET", f"{resource_type}/{rid}")
        if r.status_code in (404, 410):
            return None
        if r.status_code != 200:
            raise FhirError(f"GET {resource_type}/{rid}: {r.status_code}")
        return r.json(), r.headers.get("ETag", "")

    def create(self, resource: dict[str, Any], if_none_exist: str) -> tuple[dict[str, Any], str, bool]:
        """Conditional create; returns (resource, etag, created). created=False: a match already existed."""
        r = self._request(
            "POST",
            resource["resourceType"],
            json=resource,
            headers={
                "If-None-Exist": if_none_exist,
                "Prefer": "return=representation",
                "Content-Type": "application/fhir+json",
            },
        )
        if r.status_code == 412:
            raise FhirConflict(f"POST {resource['resourceType']}: 412")
        if r.status_code not in (200, 201):
            raise FhirError(f"POST {resource['resourceType']}: {r.status_code} {r.text[:200]}")
        return r.json(), r.headers.get("ETag", ""), r.status_code == 201

    def update(self, resource: dict[str, Any], etag: str) -> str:
        r = self._request(
            "PUT",
            f"{resource['resourceType']}/{resource['id']}",
            json=resource,
            headers={"If-Match": etag, "Content-Type": "application/fhir+json"},
        )
        if r.status_code in (409, 412):
            raise FhirConflict(f"PUT {resource['resourceType']}/{resource['id']}: {r.status_code}")
        if r.status_code not in (200, 201):
            raise FhirError(f"PUT {resource['resourceType']}/{resource['id']}: {r.status_code}")
        return r.headers.get("ETag", "")


def _ext(res: Mapping[str, Any], url: str) -> str | None:
    for e in res.get("extension", []) or []:
        if e.get("url") == url:
            return str(e.get("valueString") or e.get("valueDateTime") or e.get("valueCode") or "")
    return None


def _practitioner(res: Mapping[str, Any]) -> str | None:
    for p in res.get("participant", []) or []:
        ref = (p.get("actor") or {}).get("reference", "")
        if ref.startswith("Practitioner/"):
            return str(ref.split("/", 1)[1])
    return None


def _time(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment


class FhirAgenda(ExternalAgenda[tuple[dict[str, Any], str]]):
    """The Agenda protocol on a FHIR R4 server."""

    conflict_error = FhirConflict

    def __init__(
        self,
        practice: PracticeConfig,
        client: FhirClient,
        db: Database,
        profiles: Sequence[str] = (),
        listeners: Iterable[AgendaListener] = (),
        cipher: FieldCipher | None = None,
    ) -> None:
        super().__init__(practice, db, listeners, cipher)
        self.client = client
        self.profiles = list(profiles)

    # --- reading ----------------------------------------------------------------------------

    def _busy(
        self, pid: str, start: dt.datetime, end: dt.datetime, now: dt.datetime, exclude: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        found = self.client.search(
            "Appointment",
            [
                ("actor", f"Practitioner/{pid}"),
                ("date", f"ge{(start - dt.timedelta(days=1)).isoformat(timespec='seconds')}"),
                ("date", f"lt{end.isoformat(timespec='seconds')}"),
                ("_count", "500"),
            ],
        )
        out = []
        for res in found:
            try:
                if res.get("id") in exclude or res.get("status") in NOT_BUSY:
                    continue
                expires = _ext(res, EXT_EXPIRES)
                if expires and _time(expires) <= now:
                    continue
                if _time(res["start"]) < end and _time(res["end"]) > start:
                    out.append(res)
            except (KeyError, ValueError, AttributeError):
                continue  # one malformed resource must not hide the others
        return out

    def busy(
        self, practitioners: Sequence[str], start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> dict[str, list[Interval]]:
        return {
            pid: [Interval(_time(r["start"]), _time(r["end"])) for r in self._busy(pid, start, end, now)]
            for pid in practitioners
        }

    def _appointment(self, res: Mapping[str, Any]) -> Appointment:
        pid = _practitioner(res) or ""
        patient_ref: Mapping[str, Any] = next(
            (
                p["actor"]
                for p in res.get("participant", [])
                if (p.get("actor") or {}).get("reference", "").startswith("Patient/")
            ),
            {},
        )
        try:
            birth = dt.date.fromisoformat(_ext(res, EXT_BIRTH) or "")
        except ValueError:
            birth = dt.date(1900, 1, 1)  # unknown: the staff see the name on the appointment
        patient = Patient(
            str(patient_ref.get("reference", "Patient/")).split("/", 1)[1],
            _ext(res, EXT_LAST) or str(patient_ref.get("display", "")),
            _ext(res, EXT_FIRST) or "",
            birth,
        )
        type_id = next(
            (
                c.get("code")
                for s in res.get("serviceType", [])
                for c in s.get("coding", [])
                if c.get("system") == TYPE_SYSTEM
            ),
            self.practice.booking.default_type,
        )
        status = FROM_FHIR.get(res.get("status", ""))
        if status is None:
            status = AppointmentStatus(_ext(res, EXT_STATUS) or AppointmentStatus.BOOKED.value)
        return Appointment(
            id=str(res["id"]),
            practitioner_id=pid,
            patient=patient,
            appointment_type=str(type_id),
            start=_time(res["start"]).astimezone(self.rules.tz),
            end=_time(res["end"]).astimezone(self.rules.tz),
            status=status,
            source=Source(_ext(res, EXT_SOURCE) or Source.STAFF.value),
        )

    def _resource(self, appt: Appointment, identifier: str) -> dict[str, Any]:
        res = appointment_resource(appt, self.practice, profiles=self.profiles)
        if not appt.id:
            res.pop("id")
        res["identifier"] = [{"system": ID_SYSTEM, "value": identifier}]
        res["serviceType"] = [{"coding": [{"system": TYPE_SYSTEM, "code": appt.appointment_type}]}]
        res["extension"] = [
            {"url": EXT_SOURCE, "valueCode": appt.source.value},
            {"url": EXT_STATUS, "valueCode": appt.status.value},
            {"url": EXT_BIRTH, "valueString": appt.patient.birth_date.isoformat()},
            {"url": EXT_LAST, "valueString": appt.patient.last_name},
            {"url": EXT_FIRST, "valueString": appt.patient.first_name},
        ]
        return res

    # --- holds ------------------------------------------------------------------------------

    def _hold(self, slot: Slot, holder: str, now: dt.datetime, exclude: Sequence[str]) -> Hold:
        pid = slot.practitioner_id
        if self._busy(pid, slot.start, slot.end, now, exclude):
            raise SlotTaken(taken_message(slot))
        expires = now + dt.timedelta(seconds=self.practice.booking.hold_seconds)
        res: dict[str, Any] = {
            "resourceType": "Appointment",
            "status": "pending",
            "identifier": [{"system": HOLD_SYSTEM, "value": f"{pid}-{uuid.uuid4().hex}"}],
            "description": "Réservation en cours (appel)",
            "start": slot.start.isoformat(timespec="seconds"),
            "end": slot.end.isoformat(timespec="seconds"),
            "participant": [{"actor": {"reference": f"Practitioner/{pid}"}, "status": "tentative"}],
            "extension": [
                {"url": EXT_EXPIRES, "valueDateTime": expires.isoformat(timespec="seconds")},
                {"url": "urn:standardiste:holder", "valueString": holder},
            ],
        }
        created, etag, _new = self.client.create(
            res, f"identifier={HOLD_SYSTEM}|{res['identifier'][0]['value']}"
        )
        others = [
            r for r in self._busy(pid, slot.start, slot.end, now, exclude) if r.get("id") != created["id"]
        ]
        if others:
            self._withdraw(created, etag)
            raise SlotTaken(taken_message(slot))
        return Hold(str(created["id"]), slot, expires)

    def _withdraw(self, res: dict[str, Any], etag: str) -> None:
        try:
            self.client.update({**res, "status": "entered-in-error"}, etag)
        except FhirError:
            log.warning("could not withdraw Appointment/%s", res.get("id"))

    def release(self, hold_id: str) -> None:
        got = self.client.read("Appointment", hold_id)
        if got is None or got[0].get("status") != "pending":
            return
        try:
            self.client.update({**got[0], "status": "cancelled"}, got[1])
        except FhirConflict:
            log.info("hold %s changed meanwhile: it will lapse", hold_id)

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
        pid = slot.practitioner_id
        own = (hold_id,) if hold_id else ()
        if self._busy(pid, slot.start, slot.end, now, own):
            raise SlotTakenWithAlternatives(taken_message(slot), self._alternatives(slot, now))
        person = self._patient(patient, now)
        draft = booked_appointment("", slot, person, source)
        identifier = f"std-{pid}-{slot.start.astimezone(dt.UTC):%Y%m%dT%H%MZ}"
        self._step("begin")
        for attempt in range(2):
            try:
                created, etag, new = self.client.create(
                    self._resource(draft, identifier), f"identifier={ID_SYSTEM}|{identifier}"
                )
            except FhirConflict:
                raise SlotTakenWithAlternatives(taken_message(slot), self._alternatives(slot, now)) from None
            if new:
                break
            # The same identifier exists: the slot is gone, unless that one was cancelled or moved since.
            if attempt == 1 or (
                created.get("status") not in NOT_BUSY
                and created.get("start")
                and _time(created["start"]) < slot.end
                and _time(created["end"]) > slot.start
            ):
                raise SlotTakenWithAlternatives(taken_message(slot), self._alternatives(slot, now))
            identifier = f"{identifier}-{uuid.uuid4().hex[:6]}"
        self._step("created")
        others = [r for r in self._busy(pid, slot.start, slot.end, now, own) if r.get("id") != created["id"]]
        if others:
            self._withdraw(created, etag)
            raise SlotTakenWithAlternatives(taken_message(slot), self._alternatives(slot, now))
        if hold_id:
            self._release_quietly(hold_id)
        appt = self._appointment(created)
        self._notify("booked", appt)
        return appt

    def _release_quietly(self, hold_id: str) -> None:
        try:
            self.release(hold_id)
        except FhirError:
            log.warning("could not release hold %s (it will lapse)", hold_id)

    def _read(self, appointment_id: str) -> tuple[dict[str, Any], str]:
        got = self.client.read("Appointment", appointment_id) if appointment_id else None
        if got is None or got[0].get("status") == "entered-in-error":
            raise NotFound(f"rendez-vous inconnu / unknown appointment {appointment_id!r}")
        return got

    def get(self, appointment_id: str) -> Appointment:
        return self._appointment(self._read(appointment_id)[0])

    def upcoming(self, patient_id: str, now: dt.datetime) -> list[Appointment]:
        found = self.client.search(
            "Appointment",
            [("actor", f"Patient/{patient_id}"), ("date", f"ge{now.isoformat(timespec='seconds')}")],
        )
        out = [self._appointment(r) for r in found if r.get("status") == "booked"]
        return sorted((a for a in out if a.start >= now), key=lambda a: a.start)

    def _read_current(self, appointment_id: str) -> tuple[Appointment, tuple[dict[str, Any], str]]:
        res, etag = self._read(appointment_id)
        return self._appointment(res), (res, etag)

    def _write_back(self, stored: tuple[dict[str, Any], str], updated: Appointment, now: dt.datetime) -> None:
        res, etag = stored
        new = self._resource(updated, res.get("identifier", [{}])[0].get("value", updated.id))
        self.client.update({**res, **new}, etag)

    def move(
        self,
        appointment_id: str,
        new_slot: Slot,
        source: Source,
        now: dt.datetime,
        hold_id: str | None = None,
    ) -> Appointment:
        self.rules.check_slot(new_slot, now)
        res, etag = self._read(appointment_id)
        current = self._appointment(res)
        self._check_movable(current, now)
        hold_id = self._hold_for_move(appointment_id, new_slot, now, hold_id, exclude=(appointment_id,))
        moved = self._moved(current, new_slot, source)
        new = self._resource(moved, res.get("identifier", [{}])[0].get("value", moved.id))
        try:
            self.client.update({**res, **new}, etag)
        except FhirConflict:
            self._release_quietly(hold_id)
            raise SlotTaken("rendez-vous modifié entre-temps / appointment changed meanwhile") from None
        self._release_quietly(hold_id)
        self._notify("moved", moved)
        return moved


__all__ = ["STATUS_TO_FHIR", "FhirAgenda", "FhirClient", "FhirConflict", "FhirError"]
