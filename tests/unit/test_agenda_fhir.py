"""FHIR R4 mapping of the agenda (the shape of the future FHIR connector)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from standardiste.agenda.fhir import appointment_resource, busy_from_bundle, schedule_resource, slot_resource
from standardiste.agenda.model import Appointment, AppointmentStatus, Patient, Slot, Source
from standardiste.config import Config

TZ = ZoneInfo("Europe/Paris")
START = dt.datetime(2026, 3, 3, 9, 10, tzinfo=TZ)
MARTIN = {"reference": "Schedule/schedule-martin"}


def test_resources(demo_config: Config) -> None:
    practice = demo_config.practice
    appt = Appointment(
        "a1",
        "martin",
        Patient("p1", "Durand", "Paul", dt.date(1970, 5, 6)),
        "consultation",
        START,
        START + dt.timedelta(minutes=20),
        AppointmentStatus.CONFIRMED,
        Source.PHONE,
    )
    res = appointment_resource(
        appt, practice, slot_ids=["s1"], profiles=["http://example.org/gap-appointment"]
    )
    assert res["status"] == "booked" and res["minutesDuration"] == 20
    assert res["start"] == "2026-03-03T09:10:00+01:00"
    assert res["participant"][0]["actor"]["reference"] == "Practitioner/martin"
    assert res["participant"][1]["status"] == "accepted"
    assert res["meta"]["profile"] == ["http://example.org/gap-appointment"]
    assert res["slot"] == [{"reference": "Slot/s1"}]
    sched = schedule_resource(practice, "lefevre", START, START + dt.timedelta(days=90))
    assert sched["actor"][0]["display"] == "Docteur Sophie Lefèvre"
    slot = slot_resource(Slot("martin", "consultation", START, START + dt.timedelta(minutes=20)), "busy")
    assert slot["schedule"]["reference"] == "Schedule/schedule-martin"


def test_busy_from_bundle_skips_free_cancelled_and_garbage() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "Slot",
                    "status": "busy",
                    "schedule": MARTIN,
                    "start": "2026-03-03T08:10:00Z",
                    "end": "2026-03-03T08:30:00Z",
                }
            },
            {
                "resource": {
                    "resourceType": "Slot",
                    "status": "free",
                    "schedule": MARTIN,
                    "start": "2026-03-03T09:10:00Z",
                    "end": "2026-03-03T09:30:00Z",
                }
            },
            {
                "resource": {
                    "resourceType": "Appointment",
                    "status": "booked",
                    "participant": [
                        {"actor": {"reference": "Practitioner/benali"}},
                        {"actor": {"reference": "Patient/x"}},
                    ],
                    "start": "2026-03-03T10:00:00+01:00",
                    "end": "2026-03-03T10:20:00+01:00",
                }
            },
            {
                "resource": {
                    "resourceType": "Appointment",
                    "status": "cancelled",
                    "participant": [{"actor": {"reference": "Practitioner/benali"}}],
                    "start": "2026-03-03T11:00:00+01:00",
                    "end": "2026-03-03T11:20:00+01:00",
                }
            },
            {"resource": {"resourceType": "Appointment", "status": "booked", "start": "garbage"}},
            {"resource": {"resourceType": "Slot", "status": "busy", "start": "2026-03-03T08:10:00"}},
            "not even a dict",
        ],
    }
    busy = busy_from_bundle(bundle)
    assert [(i.start.hour, i.start.tzinfo is not None) for i in busy["martin"]] == [(8, True)]
    assert [i.start.astimezone(TZ).hour for i in busy["benali"]] == [10]
