"""The FHIR R4 connector over real HTTP against a small in-process FHIR server.

FAKE SERVER: no FHIR server can run on this machine (HAPI FHIR and the like are downloaded from Maven,
which cannot be reached), so `MiniFhir` below implements just the FHIR R4 REST semantics the connector
relies on: conditional create (`If-None-Exist`: 200 with the match, 412 when several), versioned update
(`If-Match: W/"n"`, 412 when stale), read, and `Appointment` search by actor and date (ge/lt).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from standardiste.agenda.fhir_agenda import FhirAgenda, FhirClient, FhirError
from standardiste.agenda.model import AppointmentStatus, PatientIdentity, Slot, SlotQuery, SlotTaken, Source
from standardiste.agenda.sql import SlotTakenWithAlternatives
from standardiste.config import Config
from standardiste.storage.db import Database

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)
PAT = PatientIdentity("Le Faivre", "Jeanne", dt.date(1984, 7, 12))
OTHER = PatientIdentity("Roux", "Anne", dt.date(1988, 2, 9))


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TZ)


def consult(pid: str, start: dt.datetime) -> Slot:
    return Slot(pid, "consultation", start, start + dt.timedelta(minutes=20))


class MiniFhir(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fhir/"


class _Handler(BaseHTTPRequestHandler):
    server: MiniFhir

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any] | None = None, etag: str | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        return dict(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))

    @staticmethod
    def _etag(res: dict[str, Any]) -> str:
        return f'W/"{res["meta"]["versionId"]}"'

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        segs = parts.path.strip("/").split("/")[1:]  # after "fhir"
        with self.server.lock:
            if len(segs) == 2:
                res = self.server.store.get(segs[1])
                return self._send(200, res, self._etag(res)) if res else self._send(404)
            found = list(self.server.store.values())
        for key, value in parse_qsl(parts.query):
            if key == "actor":
                found = [
                    r
                    for r in found
                    if any((p.get("actor") or {}).get("reference") == value for p in r.get("participant", []))
                ]
            elif key == "date":
                bound = dt.datetime.fromisoformat(value[2:])
                op = value[:2]
                found = [
                    r
                    for r in found
                    if (
                        dt.datetime.fromisoformat(r["start"]) >= bound
                        if op == "ge"
                        else dt.datetime.fromisoformat(r["start"]) < bound
                    )
                ]
        self._send(
            200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}
        )

    def do_POST(self) -> None:
        res = self._body()
        system, _, value = self.headers.get("If-None-Exist", "").removeprefix("identifier=").partition("|")
        with self.server.lock:
            matches = [
                r
                for r in self.server.store.values()
                if {"system": system, "value": value} in r.get("identifier", [])
            ]
            if len(matches) > 1:
                return self._send(412)
            if matches:
                return self._send(200, matches[0], self._etag(matches[0]))
            res["id"] = uuid.uuid4().hex[:12]
            res["meta"] = {"versionId": "1"}
            self.server.store[res["id"]] = res
        self._send(201, res, self._etag(res))

    def do_PUT(self) -> None:
        rid = self.path.strip("/").split("/")[-1]
        res = self._body()
        with self.server.lock:
            current = self.server.store.get(rid)
            if current is None:
                return self._send(404)
            if self.headers.get("If-Match") != self._etag(current):
                return self._send(412)
            res["meta"] = {"versionId": str(int(current["meta"]["versionId"]) + 1)}
            self.server.store[rid] = res
        self._send(200, res, self._etag(res))


@pytest.fixture
def fhir_server() -> Iterator[MiniFhir]:
    server = MiniFhir()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'agenda.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def agenda(fhir_server: MiniFhir, db: Database, demo_config: Config) -> FhirAgenda:
    return FhirAgenda(demo_config.practice, FhirClient(fhir_server.url), db)


def other_client_books(server: MiniFhir, pid: str, start: str, end: str) -> dict[str, Any]:
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": start,
        "end": end,
        "participant": [{"actor": {"reference": f"Practitioner/{pid}"}, "status": "accepted"}],
    }
    r = requests.post(
        f"{server.url}Appointment", json=body, headers={"If-None-Exist": "identifier=x|y"}, timeout=5
    )
    assert r.status_code == 201
    return dict(r.json())


def test_book_get_and_busy_times(agenda: FhirAgenda, fhir_server: MiniFhir) -> None:
    offered = agenda.find_slots(SlotQuery(practitioner_id="martin"), NOW)
    appt = agenda.book(offered[0], PAT, Source.PHONE, NOW)
    assert appt.start == offered[0].start and appt.patient.last_name == "Le Faivre"
    assert agenda.get(appt.id) == appt
    stored = fhir_server.store[appt.id]
    assert (
        stored["status"] == "booked"
        and stored["participant"][0]["actor"]["reference"] == "Practitioner/martin"
    )
    assert agenda.find_slots(SlotQuery(practitioner_id="martin"), NOW)[0].start != offered[0].start
    assert [a.id for a in agenda.upcoming(appt.patient.id, NOW)] == [appt.id]
    with pytest.raises(SlotTakenWithAlternatives) as err:
        agenda.book(offered[0], OTHER, Source.PHONE, NOW)
    assert err.value.alternatives


def test_conflict_by_another_client_between_offer_and_booking(
    agenda: FhirAgenda, fhir_server: MiniFhir
) -> None:
    offered = agenda.find_slots(SlotQuery(practitioner_id="benali"), NOW)[0]
    other_client_books(fhir_server, "benali", offered.start.isoformat(), offered.end.isoformat())
    with pytest.raises(SlotTakenWithAlternatives):
        agenda.book(offered, PAT, Source.PHONE, NOW)

    # Written between our check and our create: ours is withdrawn after the re-read.
    slot = consult("benali", at(3, 9, 10))

    def intrude(step: str) -> None:
        if step == "begin":
            other_client_books(fhir_server, "benali", at(3, 9).isoformat(), at(3, 9, 20).isoformat())

    agenda.step_hook = intrude
    with pytest.raises(SlotTaken):
        agenda.book(slot, PAT, Source.PHONE, NOW)
    ours = [
        r
        for r in fhir_server.store.values()
        if r.get("identifier", [{}])[0].get("system", "").startswith("urn:standardiste:appointment")
    ]
    assert ours and all(r["status"] == "entered-in-error" for r in ours)


def test_two_assistants_race(fhir_server: MiniFhir, db: Database, demo_config: Config) -> None:
    nodes = [FhirAgenda(demo_config.practice, FhirClient(fhir_server.url), db) for _ in range(2)]
    slot = consult("martin", at(4, 11))
    barrier = threading.Barrier(8)
    results: list[object] = []

    def attempt(i: int) -> None:
        barrier.wait(10)
        try:
            results.append(
                nodes[i % 2].book(slot, PatientIdentity(f"P{i}", "X", dt.date(1990, 1, 1)), Source.PHONE, NOW)
            )
        except SlotTaken as err:
            results.append(err)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wins = [r for r in results if not isinstance(r, SlotTaken)]
    assert len(results) == 8 and len(wins) == 1
    active = [r for r in fhir_server.store.values() if r["status"] == "booked"]
    assert len(active) == 1


def test_hold_move_confirm_cancel(agenda: FhirAgenda, fhir_server: MiniFhir) -> None:
    slot = consult("martin", at(5, 15))
    hold = agenda.hold(slot, "call-A", NOW)
    with pytest.raises(SlotTaken):
        agenda.hold(slot, "call-B", NOW)
    appt = agenda.book(slot, PAT, Source.PHONE, NOW, hold_id=hold.id)
    assert fhir_server.store[hold.id]["status"] == "cancelled"  # the hold was released
    moved = agenda.move(appt.id, consult("martin", at(5, 15, 20)), Source.PHONE, NOW)  # overlaps itself
    assert moved.id == appt.id and agenda.get(appt.id).start == at(5, 15, 20)
    other_client_books(fhir_server, "martin", at(5, 17).isoformat(), at(5, 18).isoformat())
    with pytest.raises(SlotTakenWithAlternatives):
        agenda.move(appt.id, consult("martin", at(5, 17, 20)), Source.PHONE, NOW)
    assert agenda.get(appt.id).start == at(5, 15, 20)

    def staff_edit(step: str) -> None:
        if step == "held":
            res = fhir_server.store[appt.id]
            fhir_server.store[appt.id] = {
                **res,
                "meta": {"versionId": str(int(res["meta"]["versionId"]) + 1)},
            }

    agenda.step_hook = staff_edit
    with pytest.raises(SlotTaken, match="modifié"):
        agenda.move(appt.id, consult("benali", at(6, 10)), Source.PHONE, NOW)
    agenda.step_hook = None
    assert agenda.get(appt.id).practitioner_id == "martin"
    assert agenda.confirm(appt.id, Source.REMINDER_CALL, NOW).status == AppointmentStatus.CONFIRMED
    assert fhir_server.store[appt.id]["status"] == "booked"
    assert agenda.cancel(appt.id, Source.PHONE, NOW).status == AppointmentStatus.CANCELLED
    assert agenda.cancel(appt.id, Source.PHONE, NOW).status == AppointmentStatus.CANCELLED
    assert fhir_server.store[appt.id]["status"] == "cancelled"
    again = agenda.book(consult("martin", at(5, 15, 20)), OTHER, Source.PHONE, NOW)
    assert again.id != appt.id


def test_dead_server_is_a_clear_error(demo_config: Config, db: Database) -> None:
    agenda = FhirAgenda(demo_config.practice, FhirClient("http://127.0.0.1:9/fhir", timeout=1), db)
    with pytest.raises(FhirError, match="injoignable"):
        agenda.find_slots(SlotQuery(), NOW)
