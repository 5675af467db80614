"""The text channel: scripted (or typed) calls played through the real conversation engine.

Each call runs against a fresh copy of the practice's data: a temporary SQLite database, migrated
once and copied per call, seeded with the call's own "setup" (patients, appointments).

Script line: {"id", "caller_id", "turns": ["...", "#1", "", "<silence>", "<hangup>", "<transfer_failed>"],
"expect": {"kind": "booked", "practitioner": "martin", ...}, "setup": {...}, "now": ISO,
"open_speech": bool, "reception_available": bool|null, "direction": "outbound", "purpose": "reminder",
"appointment": index into setup.appointments}.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from standardiste.agenda.model import AgendaError, PatientIdentity, Slot, SlotQuery, Source
from standardiste.clock import clock_from_env
from standardiste.config import PracticeConfig
from standardiste.dialogue.manager import DialogueManager
from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallerHungUp,
    CallStarted,
    Hangup,
    Heard,
    Keypad,
    NoInput,
    Say,
    Transfer,
    TransferFailed,
)
from standardiste.dialogue.services import ConversationServices
from standardiste.understanding.types import Understander

SECONDS_PER_TURN = 8  # the simulated clock moves on between turns, like a real call


class ScriptError(ValueError):
    """A script line that cannot be played (the message names the call and the field)."""


@dataclass(slots=True)
class CallResult:
    id: str
    dialogue: list[dict[str, str]]
    outcome: dict[str, Any]
    expect: dict[str, Any] | None = None
    ok: bool | None = None
    mismatches: list[str] = field(default_factory=list)
    state: dict[str, Any] | None = None
    # Milliseconds spent in the conversation engine per caller turn (understanding + agenda), for bench/.
    turn_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "dialogue": self.dialogue, "outcome": self.outcome}
        if self.expect is not None:
            out["expect"] = self.expect
            out["ok"] = self.ok
            if self.mismatches:
                out["mismatches"] = self.mismatches
        if self.state is not None:
            out["state"] = self.state
        return out


def parse_turn(turn: Any, now: dt.datetime) -> CallerEvent:
    if not isinstance(turn, str):
        raise ScriptError(f"tour invalide / invalid turn {turn!r} (attendu une chaîne / expected a string)")
    text = turn.strip()
    if text in ("", "<silence>"):
        return NoInput(now)
    if text == "<hangup>":
        return CallerHungUp(now)
    if text == "<transfer_failed>":
        return TransferFailed(now)
    if text.startswith("#") and len(text) > 1:
        return Keypad(text[1:].rstrip("#"), now)
    return Heard(text, now)


def check_expectation(expect: dict[str, Any], outcome: dict[str, Any]) -> list[str]:
    """Keys of `expect` that the outcome does not match (start times compared as instants)."""
    mismatches = []
    for key, wanted in expect.items():
        got = outcome.get(key)
        if key in ("start", "previous_start") and isinstance(wanted, str) and isinstance(got, str):
            try:
                if dt.datetime.fromisoformat(wanted) == dt.datetime.fromisoformat(got):
                    continue
            except ValueError:
                pass
        if got != wanted:
            mismatches.append(f"{key}: attendu/expected {wanted!r}, obtenu/got {got!r}")
    return mismatches


class Simulator:
    """Plays calls; one migrated template database, copied for every call."""

    def __init__(
        self,
        practice: PracticeConfig,
        understander: Understander,
        now: dt.datetime | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.practice = practice
        self.understander = understander
        self.tz = ZoneInfo(practice.timezone)
        self.now = (now or clock_from_env(practice.timezone).now()).astimezone(self.tz)
        self._tmp = tempfile.TemporaryDirectory(prefix="standardiste-sim-") if workdir is None else None
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.template = self.workdir / "template.db"
        self._counter = 0
        self.last_manager: DialogueManager | None = None
        self._make_template()

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_template(self) -> None:
        from standardiste.storage.db import Database

        db = Database(f"sqlite:///{self.template}")
        db.migrate()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()

    @staticmethod
    def _services_for(path: Path, practice: PracticeConfig) -> tuple[Any, Any, Any]:
        from standardiste.agenda.sql import SqlAgenda, SqlInbox
        from standardiste.storage.db import Database

        db = Database(f"sqlite:///{path}")
        return db, SqlAgenda(db, practice), SqlInbox(db)

    def fresh(self) -> tuple[Any, Any, Any, Path]:
        """A fresh copy of the practice's data: (db, agenda, inbox, path)."""
        self._counter += 1
        path = self.workdir / f"call-{self._counter}.db"
        shutil.copyfile(self.template, path)
        db, agenda, inbox = self._services_for(path, self.practice)
        return db, agenda, inbox, path

    # --- Setup -----------------------------------------------------------------------------------

    def _seed(self, agenda: Any, setup: dict[str, Any], now: dt.datetime, call_id: str) -> list[str]:
        """Existing patients and appointments; returns the appointments' ids in order."""
        patients: list[PatientIdentity] = []
        for p in setup.get("patients", []):
            try:
                patients.append(
                    PatientIdentity(
                        p["last_name"],
                        p["first_name"],
                        dt.date.fromisoformat(p["birth_date"]),
                        p.get("phone"),
                        p.get("civility"),
                    )
                )
            except (KeyError, TypeError, ValueError) as err:
                raise ScriptError(
                    f"{call_id}: setup.patients: patient invalide / invalid patient {p!r}: {err}"
                ) from None
        ids = []
        # Seeded appointments were booked earlier: book them "as of" a week before the call.
        booked_at = now - dt.timedelta(days=7)
        for a in setup.get("appointments", []):
            try:
                patient = patients[int(a.get("patient", 0))]
                start = dt.datetime.fromisoformat(a["start"])
                start = start.replace(tzinfo=self.tz) if start.tzinfo is None else start
                type_id = a.get("type") or self._default_type(a["practitioner"])
                minutes = next(t.minutes for t in self.practice.appointment_types if t.id == type_id)
                slot = Slot(a["practitioner"], type_id, start, start + dt.timedelta(minutes=minutes))
            except (KeyError, IndexError, TypeError, ValueError, StopIteration) as err:
                raise ScriptError(
                    f"{call_id}: setup.appointments: rendez-vous invalide / invalid {a!r}: {err}"
                ) from None
            try:
                ids.append(agenda.book(slot, patient, Source.STAFF, booked_at).id)
            except AgendaError as err:  # in the past for this --now, outside hours, taken...
                raise ScriptError(
                    f"{call_id}: setup.appointments: {a!r} refusé par l'agenda / refused by the agenda: {err}"
                ) from None
        for p in patients:
            if agenda.find_patient(p) is None:
                self._past_patient(agenda, p, booked_at, call_id)
        return ids

    def _past_patient(
        self, agenda: Any, patient: PatientIdentity, booked_at: dt.datetime, call_id: str
    ) -> None:
        """A patient with no upcoming appointment still exists in the practice's files: made through the
        agenda's own interface (a past appointment, cancelled), whatever its storage looks like."""
        try:
            [slot] = agenda.find_slots(SlotQuery(limit=1), booked_at)
            appointment = agenda.book(slot, patient, Source.STAFF, booked_at)
            agenda.cancel(appointment.id, Source.STAFF, booked_at)
        except (AgendaError, ValueError) as err:
            raise ScriptError(
                f"{call_id}: setup.patients: {patient!r} refusé par l'agenda / refused: {err}"
            ) from None

    def _default_type(self, practitioner_id: str) -> str:
        default = self.practice.booking.default_type
        for t in self.practice.appointment_types:
            if t.id == default and (t.practitioners == "all" or practitioner_id in t.practitioners):
                return t.id
        for t in self.practice.appointment_types:
            if t.practitioners == "all" or practitioner_id in t.practitioners:
                return t.id
        raise ValueError(f"aucun type pour / no type for {practitioner_id}")

    # --- Calls -----------------------------------------------------------------------------------

    def run(self, spec: dict[str, Any], with_state: bool = False) -> CallResult:
        call_id = str(spec.get("id") or f"call-{self._counter + 1}")
        turns = spec.get("turns", [])
        if not isinstance(turns, list):
            raise ScriptError(f"{call_id}: turns doit être une liste / turns must be a list")
        now = self.now
        if spec.get("now"):
            try:
                now = dt.datetime.fromisoformat(spec["now"])
            except (TypeError, ValueError):
                raise ScriptError(f"{call_id}: now: date ISO invalide / invalid ISO datetime") from None
            now = now.replace(tzinfo=self.tz) if now.tzinfo is None else now.astimezone(self.tz)
        db, agenda, inbox, path = self.fresh()
        try:
            appointment_ids = self._seed(agenda, spec.get("setup") or {}, now, call_id)
            services = ConversationServices(
                self.practice,
                self.understander,
                agenda,
                inbox,
                open_speech=bool(spec.get("open_speech", True)),
                reception_available=spec.get("reception_available"),
            )
            manager = DialogueManager(services)
            self.last_manager = manager  # for tests that read the conversation's own state (its goals)
            appointment_id = None
            if spec.get("direction") == "outbound":
                index = int(spec.get("appointment", 0))
                appointment_id = appointment_ids[index] if index < len(appointment_ids) else "missing"
            dialogue: list[dict[str, str]] = []
            turn_ms: list[float] = []
            actions = manager.handle(
                CallStarted(
                    call_id,
                    now,
                    caller_id=spec.get("caller_id"),
                    direction=spec.get("direction", "inbound"),
                    purpose=spec.get("purpose"),
                    appointment_id=appointment_id,
                )
            )
            self._record(dialogue, actions)
            ended = self._ended(actions)
            for turn in turns:
                if ended and turn != "<transfer_failed>":
                    break
                now = now + dt.timedelta(seconds=SECONDS_PER_TURN)
                event = parse_turn(turn, now)
                if isinstance(event, Heard):
                    dialogue.append({"speaker": "caller", "text": event.text})
                elif isinstance(event, Keypad):
                    dialogue.append({"speaker": "caller", "text": f"#{event.digits}"})
                elif isinstance(event, NoInput):
                    dialogue.append({"speaker": "caller", "text": "<silence>"})
                else:
                    dialogue.append({"speaker": "system", "text": turn})
                started = time.perf_counter()
                actions = manager.handle(event)
                turn_ms.append((time.perf_counter() - started) * 1000)
                self._record(dialogue, actions)
                ended = self._ended(actions) or isinstance(event, CallerHungUp)
            if not ended:
                manager.handle(CallerHungUp(now + dt.timedelta(seconds=SECONDS_PER_TURN)))
                dialogue.append({"speaker": "system", "text": "<hangup>"})
            outcome = manager.outcome.to_json() if manager.outcome else {"kind": "abandoned"}
            expect = spec.get("expect")
            result = CallResult(call_id, dialogue, outcome, expect, turn_ms=turn_ms)
            if isinstance(expect, dict):
                result.mismatches = check_expectation(expect, outcome)
                result.ok = not result.mismatches
            if with_state:
                result.state = self._state(agenda, inbox, now)
            return result
        finally:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    @staticmethod
    def _ended(actions: list[Action]) -> bool:
        return any(isinstance(a, Transfer | Hangup) for a in actions)

    @staticmethod
    def _record(dialogue: list[dict[str, str]], actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Say):
                dialogue.append({"speaker": "assistant", "text": action.text})
            elif isinstance(action, Transfer):
                priority = ", prioritaire" if action.priority else ""
                dialogue.append({"speaker": "system", "text": f"<transfert {action.target}{priority}>"})
            elif isinstance(action, Hangup):
                dialogue.append({"speaker": "system", "text": "<raccroché>"})

    def _state(self, agenda: Any, inbox: Any, now: dt.datetime) -> dict[str, Any]:
        start = now - dt.timedelta(days=30)
        appointments = agenda.appointments(start, now + dt.timedelta(days=400), include_cancelled=True)
        return {
            "appointments": [
                {
                    "id": a.id,
                    "practitioner": a.practitioner_id,
                    "start": a.start.isoformat(),
                    "status": str(a.status),
                    "patient": f"{a.patient.last_name} {a.patient.first_name}",
                    "birth_date": a.patient.birth_date.isoformat(),
                    "phone": a.patient.phone,
                }
                for a in appointments
            ],
            "requests": [
                {
                    "kind": str(r.kind),
                    "caller_name": r.caller_name,
                    "urgent": r.urgent,
                    "birth_date": r.birth_date.isoformat() if r.birth_date else None,
                    "callback_number": r.callback_number,
                    "details": r.details,
                }
                for r in inbox.list()
            ],
        }


def summary(results: list[CallResult]) -> dict[str, Any]:
    judged = [r for r in results if r.ok is not None]
    succeeded = [r for r in judged if r.ok]
    by_kind: dict[str, list[int]] = {}
    for r in judged:
        kind = str((r.expect or {}).get("kind", "?"))
        stats = by_kind.setdefault(kind, [0, 0])
        stats[1] += 1
        stats[0] += int(bool(r.ok))
    return {
        "summary": {
            "calls": len(results),
            "with_expectations": len(judged),
            "succeeded": len(succeeded),
            "task_success": round(len(succeeded) / len(judged), 4) if judged else None,
            "by_expected_kind": {k: {"succeeded": v[0], "calls": v[1]} for k, v in sorted(by_kind.items())},
            "failed": [r.id for r in judged if not r.ok],
        }
    }
