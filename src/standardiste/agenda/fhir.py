"""FHIR R4 mapping (Schedule, Slot, Appointment), used by the FHIR connector (fhir_agenda.py).

The connector follows the same conditional-request pattern as CalDAV (create with `If-None-Exist`,
change with `If-Match: W/"<versionId>"`, 412 -> SlotTaken); see docs/agenda.md.
French servers following the ANS "Gestion d'Agendas Partagés" specification add their profiles in
`meta.profile`; pass them in `profiles` (their canonical URLs depend on the IG version deployed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from standardiste.agenda.model import Appointment, AppointmentStatus, Slot
from standardiste.agenda.rules import Interval
from standardiste.config import PracticeConfig

# Our status -> FHIR R4 Appointment.status. FHIR has no "confirmed": both are "booked", and a confirmed
# appointment shows the patient participant as "accepted" (otherwise "needs-action").
STATUS_TO_FHIR = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CONFIRMED: "booked",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.ATTENDED: "fulfilled",
    AppointmentStatus.NO_SHOW: "noshow",
}
FHIR_NOT_BUSY = {"cancelled", "noshow", "entered-in-error", "proposed"}
SLOT_BUSY = {"busy", "busy-unavailable", "busy-tentative"}


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _parse(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"FHIR instant without offset: {value!r}")
    return moment


def schedule_resource(
    practice: PracticeConfig,
    practitioner_id: str,
    horizon_start: dt.datetime,
    horizon_end: dt.datetime,
    profiles: Sequence[str] = (),
) -> dict[str, Any]:
    p = practice.practitioner(practitioner_id)
    res: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": f"schedule-{practitioner_id}",
        "active": True,
        "serviceType": [{"text": p.specialty}],
        "actor": [{"reference": f"Practitioner/{practitioner_id}", "display": p.name}],
        "planningHorizon": {"start": _iso(horizon_start), "end": _iso(horizon_end)},
    }
    if profiles:
        res["meta"] = {"profile": list(profiles)}
    return res


def slot_resource(slot: Slot, status: str = "free", profiles: Sequence[str] = ()) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Slot",
        "schedule": {"reference": f"Schedule/schedule-{slot.practitioner_id}"},
        "status": status,
        "start": _iso(slot.start),
        "end": _iso(slot.end),
        "appointmentType": {"text": slot.appointment_type},
    }
    if profiles:
        res["meta"] = {"profile": list(profiles)}
    return res


def appointment_resource(
    appt: Appointment, practice: PracticeConfig, slot_ids: Sequence[str] = (), profiles: Sequence[str] = ()
) -> dict[str, Any]:
    label = next(
        (t.label for t in practice.appointment_types if t.id == appt.appointment_type), appt.appointment_type
    )
    practitioner = practice.practitioner(appt.practitioner_id)
    patient_status = "accepted" if appt.status != AppointmentStatus.BOOKED else "needs-action"
    res: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": appt.id,
        "status": STATUS_TO_FHIR[appt.status],
        "appointmentType": {"text": label},
        "description": label,
        "start": _iso(appt.start),
        "end": _iso(appt.end),
        "minutesDuration": int((appt.end - appt.start).total_seconds() // 60),
        "participant": [
            {
                "actor": {"reference": f"Practitioner/{appt.practitioner_id}", "display": practitioner.name},
                "required": "required",
                "status": "accepted",
            },
            {
                "actor": {
                    "reference": f"Patient/{appt.patient.id}",
                    "display": f"{appt.patient.last_name.upper()} {appt.patient.first_name}",
                },
                "required": "required",
                "status": patient_status,
            },
        ],
    }
    if slot_ids:
        res["slot"] = [{"reference": f"Slot/{sid}"} for sid in slot_ids]
    if profiles:
        res["meta"] = {"profile": list(profiles)}
    return res


def busy_from_bundle(bundle: Mapping[str, Any]) -> dict[str, list[Interval]]:
    """Busy intervals per practitioner from a searchset Bundle of Slot and Appointment resources."""
    out: dict[str, list[Interval]] = {}
    for entry in bundle.get("entry", []) or []:
        res = entry.get("resource", {}) if isinstance(entry, Mapping) else {}
        try:
            kind = res.get("resourceType")
            if kind == "Slot" and res.get("status") in SLOT_BUSY:
                ref = res.get("schedule", {}).get("reference", "")
                pid = ref.rsplit("/", 1)[-1].removeprefix("schedule-")
                out.setdefault(pid, []).append(Interval(_parse(res["start"]), _parse(res["end"])))
            elif kind == "Appointment" and res.get("status") not in FHIR_NOT_BUSY:
                for pid in _practitioners(res.get("participant", [])):
                    out.setdefault(pid, []).append(Interval(_parse(res["start"]), _parse(res["end"])))
        except (KeyError, ValueError, AttributeError):
            continue  # one malformed resource must not hide the others
    return out


def _practitioners(participants: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for p in participants:
        ref = (p.get("actor") or {}).get("reference", "")
        if ref.startswith("Practitioner/"):
            out.append(ref.split("/", 1)[1])
    return out
