"""Patient matching tolerant of speech recognition, and the requests inbox (real SQLite file)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from standardiste.agenda.model import (
    InvalidRequest,
    NotFound,
    PatientIdentity,
    RequestDraft,
    RequestKind,
    RequestStatus,
    Slot,
    Source,
)
from standardiste.agenda.names import fold, name_similarity, normalise_phone, phonetic
from standardiste.agenda.sql import SqlAgenda, SqlInbox
from standardiste.config import Config
from standardiste.storage.db import Database

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)
BIRTH = dt.date(1984, 7, 12)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'agenda.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_normalisation() -> None:
    assert fold("Le Fèvre-Dupont") == "lefevredupont"
    assert fold("Œuvray") == "oeuvray"
    assert phonetic("le faivre") == phonetic("Lefèvre")
    assert phonetic("Rousseau") == phonetic("rousso")
    assert name_similarity("Philippe", "filip") >= 85
    assert name_similarity("Martin", "Bernard") < 70
    assert normalise_phone("06 11 22 33 44") == "+33611223344"
    assert normalise_phone("0033 6 11 22 33 44") == "+33611223344"
    assert normalise_phone("") is None


@pytest.mark.parametrize(
    ("last", "first", "found"),
    [
        ("Lefèvre", "Jeanne", True),
        ("le faivre", "jeanne", True),
        ("LEFEVRE", "JEANNE", True),
        ("lefebvre", "jeanne", True),
        ("Jeanne", "Lefèvre", True),  # said the other way round
        ("Lefèvre", "Marc", False),  # another family member, same birth date
        ("Lefèvre", "Jean", False),  # a twin brother: sounds different from Jeanne
        ("Lefèvre", "Jeane", True),  # a misspelling that sounds the same
        ("Dubois", "Jeanne", False),
    ],
)
def test_find_patient_spelling_tolerance(
    db: Database, demo_config: Config, last: str, first: str, found: bool
) -> None:
    agenda = SqlAgenda(db, demo_config.practice)
    start = dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ)
    booked = agenda.book(
        Slot("martin", "consultation", start, start + dt.timedelta(minutes=20)),
        PatientIdentity("Lefèvre", "Jeanne", BIRTH, "+33611223344"),
        Source.PHONE,
        NOW,
    )
    match = agenda.find_patient(PatientIdentity(last, first, BIRTH))
    assert (match is not None and match.id == booked.patient.id) is found
    assert agenda.find_patient(PatientIdentity("Lefèvre", "Jeanne", dt.date(1984, 7, 13))) is None


def test_phone_hint_helps_a_poorly_heard_name(db: Database, demo_config: Config) -> None:
    agenda = SqlAgenda(db, demo_config.practice)
    start = dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ)
    booked = agenda.book(
        Slot("martin", "consultation", start, start + dt.timedelta(minutes=20)),
        PatientIdentity("Nguyen", "Thi", BIRTH, "+33611223344"),
        Source.PHONE,
        NOW,
    )
    heard = PatientIdentity("nouyen", "ti", BIRTH)
    assert agenda.find_patient(heard) is None
    with_phone = agenda.find_patient(PatientIdentity("nouyen", "ti", BIRTH, "06 11 22 33 44"))
    assert with_phone is not None and with_phone.id == booked.patient.id


def test_same_patient_reused_across_bookings(db: Database, demo_config: Config) -> None:
    agenda = SqlAgenda(db, demo_config.practice)
    day = dt.datetime(2026, 3, 3, 9, 0, tzinfo=TZ)
    a = agenda.book(
        Slot("martin", "consultation", day, day + dt.timedelta(minutes=20)),
        PatientIdentity("Lefèvre", "Jeanne", BIRTH),
        Source.PHONE,
        NOW,
    )
    later = day + dt.timedelta(days=1)
    b = agenda.book(
        Slot("martin", "consultation", later, later + dt.timedelta(minutes=20)),
        PatientIdentity("le faivre", "jeanne", BIRTH, "0611223344"),
        Source.PHONE,
        NOW,
    )
    assert a.patient.id == b.patient.id
    assert b.patient.phone == "+33611223344"  # learnt from the caller ID
    assert [x.id for x in agenda.upcoming(a.patient.id, NOW)] == [a.id, b.id]


def test_inbox_file_list_update(db: Database) -> None:
    inbox = SqlInbox(db)
    first = inbox.file(
        RequestDraft(
            RequestKind.PRESCRIPTION_RENEWAL,
            "Jeanne Lefèvre",
            BIRTH,
            "06 11 22 33 44",
            "mon traitement pour la tension",
            call_id="c1",
        ),
        NOW,
    )
    urgent = inbox.file(
        RequestDraft(
            RequestKind.CALLBACK,
            "Paul Durand",
            None,
            None,
            "résultats inquiets",
            urgent=True,
            extra={"lab": "Biogroup"},
        ),
        NOW + dt.timedelta(minutes=5),
    )
    listed = inbox.list()
    assert [r.id for r in listed] == [urgent, first]
    got = inbox.get(first)
    assert got.callback_number == "+33611223344" and got.status == RequestStatus.NEW and got.call_id == "c1"
    assert inbox.get(urgent).extra == {"lab": "Biogroup"}
    done = inbox.update(first, NOW, status=RequestStatus.DONE, assignee="anne", notes="ordonnance faxée")
    assert (done.status, done.assignee, done.notes) == (RequestStatus.DONE, "anne", "ordonnance faxée")
    assert [r.id for r in inbox.list(RequestStatus.NEW)] == [urgent]
    assert inbox.counts()[RequestStatus.DONE] == 1
    with pytest.raises(NotFound):
        inbox.get("missing")
    with pytest.raises(InvalidRequest):
        inbox.file(RequestDraft(RequestKind.CALLBACK, "x", None, None, "y"), NOW.replace(tzinfo=None))
    # Garbage is stored safely (truncated), never refused: staff call back.
    long_id = inbox.file(RequestDraft(RequestKind.CALLBACK, "", None, "n/a", "é" * 10000), NOW)
    stored = inbox.get(long_id)
    assert stored.caller_name == "(inconnu)" and len(stored.details) == 4000
