"""Issue 15 item 2, replayed: a stolen database file says nothing clinical nor identifying, and cannot be
joined across tables.

The attack: copy standardiste.db (and its WAL), grep it for a patient's name, phone (any spelling), birth
date, the staff note, the emergency rule that fired, what the request is about; then join the blind
indexes of the patients, requests and calls tables on the same number. Everything is written through the
real stores (agenda, inbox, dashboard requests, call log, reminders) on a real SQLite file.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.model import PatientIdentity, RequestDraft, RequestKind, SlotQuery, Source
from standardiste.agenda.sql import SqlAgenda
from standardiste.calllog.store import CallLogStore
from standardiste.config import Config
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dialogue.messages import Outcome, OutcomeKind, Utterance
from standardiste.privacy.crypto import DecryptionError, FieldCipher
from standardiste.privacy.reseal import needs_reseal, reseal, reseal_if_needed, scrub_free_space
from standardiste.reminders.store import JobSpec, ReminderStore
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
PHONE = "+33687654321"
WHO = PatientIdentity("Quentin-Vasseur", "Rosalind", dt.date(1984, 3, 12), PHONE)
NOTE = "Patiente sous lithium, idées noires, rappeler le Dr Oury"
RULE = "suicidal_ideation"
EXTRA = "Xeroquel 300"
DETAILS = "renouvellement du Xeroquel"

SECRETS = [
    "Quentin",
    "Vasseur",
    "Rosalind",
    "1984-03-12",
    "12/03/1984",
    PHONE,
    "0687654321",
    "33687654321",
    "lithium",
    "idées noires",
    "Oury",
    RULE,
    "suicidal",
    "Xeroquel",
    "sick_leave",
    "follow_up_concern",
]


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


async def _fill(db: Database, cipher: FieldCipher, config: Config) -> dict[str, str]:
    agenda = SqlAgenda(db, config.practice, cipher=cipher)
    slot = agenda.find_slots(SlotQuery(), NOW)[0]
    appointment = agenda.book(slot, WHO, Source.PHONE, NOW)
    inbox = SqlInbox(db, cipher)
    first = inbox.file(
        RequestDraft(
            RequestKind.SICK_LEAVE,
            "Rosalind Quentin-Vasseur",
            WHO.birth_date,
            PHONE,
            DETAILS,
            extra={"medicament": EXTRA},
        ),
        NOW,
    )
    second = inbox.file(
        RequestDraft(
            RequestKind.FOLLOW_UP_CONCERN, "R. Quentin-Vasseur", None, "06 87 65 43 21", "idées noires"
        ),
        NOW,
    )
    RequestsAdmin(db, cipher).update(first, NOW, note=NOTE, by="secretariat")
    inbox.update(second, NOW, notes=NOTE)
    calls = CallLogStore(db, cipher)
    await calls.call_ended(
        SessionRecord(
            call_id="call-1",
            channel_id="call-1",
            caller_id="0687654321",
            direction="inbound",
            recognizer="vosk",
            started_at=NOW,
            ended_at=NOW + dt.timedelta(minutes=2),
            outcome=Outcome(OutcomeKind.EMERGENCY_TRANSFERRED, {"rule": RULE, "said": "idées noires"}),
            path=["heard:Rosalind Quentin-Vasseur"],
            transcript=[Utterance("caller", "Rosalind Quentin-Vasseur, idées noires")],
        )
    )
    await calls.call_ended(
        SessionRecord(
            "call-2", "call-2", PHONE, "inbound", "vosk", NOW, NOW, transcript=[Utterance("caller", "x")]
        )
    )
    reminders = ReminderStore(db, cipher)
    spec = JobSpec("reminder", appointment.id, NOW + dt.timedelta(hours=1), slot.start, slot.end, PHONE)
    reminders.put(spec, NOW)
    reminders.raise_fence(1)
    job = reminders.claim(spec.job_id, NOW + dt.timedelta(hours=2), 1)
    assert job is not None and job.phone == PHONE
    attempt = reminders.start_attempt(job, 1, "node-a", NOW + dt.timedelta(hours=2))
    reminders.finish_attempt(attempt, job, "emergency", {"rule": RULE}, NOW + dt.timedelta(hours=2), None)
    calls._writer.shutdown(wait=True)
    return {"first": first, "second": second, "appointment": appointment.id}


def _raw_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.fixture
def sealed_db(tmp_path: Path, demo_config: Config):  # type: ignore[no-untyped-def]
    path = tmp_path / "stolen.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    yield db, path
    db.dispose()


async def test_stolen_database_file_has_none_of_the_values(sealed_db, demo_config: Config) -> None:  # type: ignore[no-untyped-def]
    db, path = sealed_db
    cipher = FieldCipher(_key())
    ids = await _fill(db, cipher, demo_config)
    raw = _raw_bytes(path)  # the database and its write-ahead log, as a thief copies them
    found = [s for s in SECRETS if s.encode() in raw or s.encode("utf-16-le") in raw]
    assert found == []
    # ...yet the practice reads everything back with the key.
    request = SqlInbox(db, cipher).get(ids["first"])
    assert request.kind == RequestKind.SICK_LEAVE and NOTE in request.notes
    assert request.extra == {"medicament": EXTRA}
    call = CallLogStore(db, cipher).get_sync("call-1")
    assert call is not None and call.outcome == "emergency_transferred"
    assert call.outcome_details == {"rule": RULE, "said": "idées noires"}
    assert [v.kind for v in RequestsAdmin(db, cipher).list(kind="sick_leave")] == ["sick_leave"]
    attempts = ReminderStore(db, cipher).attempts()
    assert attempts[0].details == {"rule": RULE}


async def test_blind_indexes_cannot_be_joined_across_tables(sealed_db, demo_config: Config) -> None:  # type: ignore[no-untyped-def]
    db, _ = sealed_db
    cipher = FieldCipher(_key())
    await _fill(db, cipher, demo_config)
    with db.engine.connect() as conn:
        patients = set(conn.execute(text("SELECT phone_index FROM agenda_patients")).scalars())
        requests = set(conn.execute(text("SELECT callback_index FROM agenda_requests")).scalars())
        calls = set(conn.execute(text("SELECT caller_index FROM calllog_calls")).scalars())
        joined = conn.execute(
            text(
                "SELECT count(*) FROM agenda_patients p "
                "JOIN calllog_calls c ON c.caller_index = p.phone_index"
            )
        ).scalar_one()
    # Within a table the same number gives the same index (search works)...
    assert len(requests) == 1 and len(calls) == 1 and None not in patients | requests | calls
    # ...across tables the same number gives unrelated indexes: the thief's join finds nothing.
    assert patients.isdisjoint(requests) and patients.isdisjoint(calls) and requests.isdisjoint(calls)
    assert joined == 0
    assert cipher.blind_index(PHONE, "agenda_patients.phone") != cipher.blind_index(
        PHONE, "calllog_calls.caller_id"
    )
    with pytest.raises(ValueError):
        cipher.blind_index(PHONE, "phone")  # the old shared purpose is refused
    # And the search by number still works in each table.
    assert len(SqlInbox(db, cipher).from_number("06 87 65 43 21")) == 2
    assert len(CallLogStore(db, cipher).from_number_sync(PHONE)) == 2


async def test_a_ciphertext_moved_to_another_row_or_column_does_not_open(
    sealed_db, demo_config: Config
) -> None:  # type: ignore[no-untyped-def]
    db, _ = sealed_db
    cipher = FieldCipher(_key())
    ids = await _fill(db, cipher, demo_config)
    with db.engine.begin() as conn:
        # The attacker with write access swaps the second request's kind for the first one's (another
        # row), and moves the first request's note into its own details (another column).
        note, kind = conn.execute(
            text("SELECT notes, kind FROM agenda_requests WHERE id = :i"), {"i": ids["first"]}
        ).one()
        conn.execute(
            text("UPDATE agenda_requests SET kind = :k WHERE id = :i"), {"k": kind, "i": ids["second"]}
        )
        conn.execute(
            text("UPDATE agenda_requests SET details = :n WHERE id = :i"), {"n": note, "i": ids["first"]}
        )
        transcript = conn.execute(
            text("SELECT transcript FROM calllog_calls WHERE id = 'call-1'")
        ).scalar_one()
        conn.execute(text("UPDATE calllog_calls SET transcript = :t WHERE id = 'call-2'"), {"t": transcript})
        details = conn.execute(
            text("SELECT outcome_details FROM calllog_calls WHERE id = 'call-1'")
        ).scalar_one()
        conn.execute(
            text("UPDATE calllog_calls SET outcome_details = :d WHERE id = 'call-2'"), {"d": details}
        )
    inbox = SqlInbox(db, cipher)
    for request_id in (ids["first"], ids["second"]):
        with pytest.raises(DecryptionError):
            inbox.get(request_id)
    with pytest.raises(DecryptionError):
        CallLogStore(db, cipher).get_sync("call-2")
    # Nothing moved, nothing refused: the first call still opens.
    assert CallLogStore(db, cipher).get_sync("call-1") is not None


async def test_reseal_moves_clear_columns_and_old_indexes(sealed_db, demo_config: Config) -> None:  # type: ignore[no-untyped-def]
    """Rows written by the previous version (notes, kind, outcome details, reminder number in clear) are
    sealed by `standardiste privacy reseal`; a rotated key opens everything, the old one nothing."""
    db, path = sealed_db
    await _fill(db, None, demo_config)  # type: ignore[arg-type]
    assert b"lithium" in _raw_bytes(path)
    cipher = FieldCipher(_key())
    report = reseal(db, cipher, cipher)
    assert report.failed == [] and report.rows["agenda_requests"] == 2 and report.rows["reminders"] == 2
    scrub_free_space(db)  # what the command does after resealing: old clear pages rewritten
    db.dispose()
    raw = _raw_bytes(path)
    assert [s for s in SECRETS if s.encode() in raw] == []
    rotated = FieldCipher(_key())
    assert reseal(db, cipher, rotated).failed == []
    assert (
        SqlInbox(db, rotated).list()[0].notes.endswith(NOTE) or NOTE in SqlInbox(db, rotated).list()[1].notes
    )
    with pytest.raises(DecryptionError):
        SqlInbox(db, cipher).list()
    # A key that opens nothing writes nothing.
    assert reseal(db, cipher, rotated).failed != []
    assert len(SqlInbox(db, rotated).list()) == 2


async def test_start_reseals_indexes_written_under_the_old_shared_key(sealed_db, demo_config: Config) -> None:  # type: ignore[no-untyped-def]
    """An upgraded install: its indexes were computed with the old single index key. Left so, lookups by
    phone would silently miss; the start-up check reseals first."""
    db, _ = sealed_db
    cipher = FieldCipher(_key())
    await _fill(db, cipher, demo_config)
    assert not needs_reseal(db, cipher)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE agenda_patients SET phone_index = 'legacy-index'"))
        conn.execute(text("UPDATE calllog_calls SET caller_index = 'legacy-index'"))
    assert needs_reseal(db, cipher)
    assert CallLogStore(db, cipher).from_number_sync(PHONE) == []
    report = reseal_if_needed(db, cipher)
    assert report is not None and report.failed == []
    assert not needs_reseal(db, cipher) and len(CallLogStore(db, cipher).from_number_sync(PHONE)) == 2
    assert reseal_if_needed(db, cipher) is None
