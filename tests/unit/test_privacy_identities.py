"""Caller identities encrypted at rest: nothing identifying in clear in the database (raw SQLite bytes,
real PostgreSQL rows), matching and lookups still work through blind indexes, a wrong key is a clear
error, clear rows from before agenda_0002 stay readable and are sealed by `privacy encrypt-existing`."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from standardiste.agenda.factory import build_agenda
from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.model import PatientIdentity, RequestDraft, RequestKind, SlotQuery, Source
from standardiste.agenda.sealed import WrongKey, check_key
from standardiste.agenda.sql import SqlAgenda
from standardiste.calllog.store import CallLogStore
from standardiste.config import Config, Secrets
from standardiste.dashboard.pages import StaffServices, appointments_between
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dialogue.messages import Outcome, OutcomeKind, Utterance
from standardiste.integration.lookup import caller_lookup
from standardiste.privacy.crypto import DecryptionError, FieldCipher
from standardiste.privacy.reseal import reseal
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=TZ)  # a Monday
WHO = PatientIdentity("Lefèvre-Bertin", "Amandine", dt.date(1987, 4, 23), "06 12 34 56 78")
# Every form in which this identity could leak (compared case-insensitively).
NEEDLES = [
    "lefèvre",
    "lefevre",
    "bertin",
    "amandine",
    "1987-04-23",
    "19870423",
    "23/04/1987",
    "+33612345678",
    "0612345678",
    "612345678",
    "xylophène",
]


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'identities.db'}"
    return str(request.getfixturevalue("pg_url"))


def _record(call_id: str, caller: str | None) -> SessionRecord:
    start = NOW.astimezone(dt.UTC)
    return SessionRecord(
        call_id=call_id,
        channel_id=call_id,
        caller_id=caller,
        direction="inbound",
        recognizer="vosk",
        started_at=start,
        ended_at=start + dt.timedelta(seconds=60),
        end_reason="hangup",
        outcome=Outcome(OutcomeKind.REQUEST_FILED, {"request_type": "prescription_renewal"}),
        path=["answered", "heard:Amandine Lefèvre-Bertin née le 23/04/1987"],
        actions=[{"say": "Merci Madame Lefèvre-Bertin, née le 23/04/1987.", "expect": None}],
        transcript=[Utterance("caller", "Amandine Lefèvre-Bertin, xylophène")],
    )


def _fill(db: Database, cipher: FieldCipher | None, practice: object) -> tuple[SqlAgenda, SqlInbox, str]:
    agenda = SqlAgenda(db, practice, cipher=cipher)  # type: ignore[arg-type]
    inbox = SqlInbox(db, cipher)
    slot = agenda.find_slots(SlotQuery(), NOW)[0]
    appointment = agenda.book(slot, WHO, Source.PHONE, NOW)
    inbox.file(
        RequestDraft(
            kind=RequestKind.PRESCRIPTION_RENEWAL,
            caller_name="Amandine Lefèvre-Bertin",
            birth_date=WHO.birth_date,
            callback_number="0612345678",
            details="renouveler mon xylophène pour la tension",
        ),
        NOW,
    )
    store = CallLogStore(db, cipher)
    asyncio.run(store.call_ended(_record("call-1", "0612345678")))
    store._writer.shutdown(wait=True)
    return agenda, inbox, appointment.id


def _leaks(blob: str) -> list[str]:
    low = blob.lower()
    return [n for n in NEEDLES if n in low]


def test_nothing_identifying_in_clear_at_rest(url: str, demo_config: Config) -> None:
    db = Database(url)
    db.migrate()
    _fill(db, FieldCipher(_key()), demo_config.practice)
    tables = ("agenda_patients", "agenda_requests", "agenda_appointments", "agenda_appointment_history")
    with db.engine.connect() as conn:
        rows = {t: [str(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {t}"))] for t in tables}
        rows["calllog_calls"] = [str(tuple(r)) for r in conn.execute(text("SELECT * FROM calllog_calls"))]
    assert all(rows.values()), rows  # something was written everywhere
    assert _leaks(repr(rows)) == []
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        path = Path(url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert _leaks(raw.decode("latin-1")) == []
        assert _leaks(raw.decode("utf-8", errors="ignore")) == []
    db.dispose()


def test_without_a_cipher_the_same_data_is_visible(tmp_path: Path, demo_config: Config) -> None:
    # The check above is meaningful: the same fill, unencrypted, shows the needles in the file.
    db = Database(f"sqlite:///{tmp_path / 'clear.db'}")
    db.migrate()
    _fill(db, None, demo_config.practice)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("clear.db*")).decode("utf-8", errors="ignore")
    assert {"amandine", "1987-04-23", "+33612345678", "xylophène"} <= set(_leaks(raw))


def test_matching_and_lookups_work_encrypted(url: str, demo_config: Config) -> None:
    db = Database(url)
    db.migrate()
    cipher = FieldCipher(_key())
    agenda, inbox, appointment_id = _fill(db, cipher, demo_config.practice)
    # Fuzzy/phonetic matching on decrypted candidates of the same birth date.
    heard = PatientIdentity("le faivre bertin", "amandine", WHO.birth_date)
    found = agenda.find_patient(heard)
    assert found is not None and found.last_name == "Lefèvre-Bertin" and found.phone == "+33612345678"
    assert agenda.find_patient(PatientIdentity("Lefèvre-Bertin", "Amandine", dt.date(1987, 4, 24))) is None
    assert agenda.get(appointment_id).patient.first_name == "Amandine"
    # Booking again with the same identity reuses the patient (no duplicate).
    slot = agenda.find_slots(SlotQuery(earliest=NOW + dt.timedelta(days=3)), NOW)[0]
    assert agenda.book(slot, heard, Source.PHONE, NOW).patient.id == found.id
    # FastAGI `caller` route: the phone's blind index.
    known, start = caller_lookup(db, "+33612345678", NOW, cipher)
    assert known and start is not None
    assert caller_lookup(db, "+33699999999", NOW, cipher) == (False, None)
    # Requests and calls by number.
    assert [r.caller_name for r in inbox.from_number("06 12 34 56 78")] == ["Amandine Lefèvre-Bertin"]
    req = inbox.list()[0]
    assert req.birth_date == WHO.birth_date and "xylophène" in req.details
    store = CallLogStore(db, cipher)
    [call] = store.from_number_sync("+33 6 12 34 56 78")
    assert call.caller_id == "0612345678" and call.path[-1].startswith("heard:Amandine")
    assert call.actions[0]["say"].startswith("Merci Madame")
    assert store.from_number_sync("0699999999") == []
    db.dispose()


def test_dashboard_shows_the_names(tmp_path: Path, demo_config: Config) -> None:
    db = Database(f"sqlite:///{tmp_path / 'dash.db'}")
    db.migrate()
    cipher = FieldCipher(_key())
    _fill(db, cipher, demo_config.practice)
    services = StaffServices(db, PracticeSettings(db, demo_config.practice), RequestsAdmin(db, cipher))
    lines = appointments_between(services, NOW, NOW + dt.timedelta(days=30), None, TZ)
    assert [line.patient for line in lines] == ["LEFÈVRE-BERTIN Amandine"]
    [view] = services.requests.waiting()
    assert view.caller_name == "Amandine Lefèvre-Bertin" and view.callback_number == "+33612345678"
    assert view.birth_date == WHO.birth_date
    db.dispose()


def test_wrong_key_is_a_clear_error_not_garbage(tmp_path: Path, demo_config: Config) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wrong.db'}")
    db.migrate()
    _, _, appointment_id = _fill(db, FieldCipher(_key()), demo_config.practice)
    other = FieldCipher(_key())
    with pytest.raises(DecryptionError):
        SqlAgenda(db, demo_config.practice, cipher=other).get(appointment_id)
    with pytest.raises(DecryptionError):
        SqlInbox(db, other).list()
    with pytest.raises(DecryptionError):
        RequestsAdmin(db, other).waiting()
    with pytest.raises(DecryptionError):
        CallLogStore(db, other).get_sync("call-1")
    with pytest.raises(DecryptionError):  # sealed values and no key at all
        SqlAgenda(db, demo_config.practice).get(appointment_id)
    # At start: the production wiring refuses a key that does not open what is stored.
    with pytest.raises(WrongKey, match=r"key_file"):
        check_key(db, other)
    secrets = Secrets(ari_password="x", ami_secret="x", encryption_key=_key(), session_key="x")
    with pytest.raises(WrongKey):
        build_agenda(db, demo_config, secrets)
    db.dispose()


def test_build_agenda_encrypts_with_the_install_key(tmp_path: Path, demo_config: Config) -> None:
    data = demo_config.model_dump(mode="json")
    data["deployment"]["data_dir"] = str(tmp_path / "data")
    from standardiste.config import load_or_create_secrets, parse_config

    config = parse_config(data)
    db = Database(f"sqlite:///{tmp_path / 'prod.db'}")
    db.migrate()
    agenda, inbox = build_agenda(db, config)  # reads (creates) the key file
    key = (tmp_path / "data-keys" / "encryption.key").read_text().strip()  # kept apart from data_dir
    assert load_or_create_secrets(tmp_path / "data").encryption_key == ""
    assert "encryption_key" not in (tmp_path / "data" / "secrets.toml").read_text()
    assert agenda.cipher is not None and inbox.cipher is not None
    slot = agenda.find_slots(SlotQuery(), NOW)[0]
    agenda.book(slot, WHO, Source.PHONE, NOW)
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT last_name FROM agenda_patients")).scalar_one()
    assert stored.startswith("v1:")
    patient = agenda.find_patient(WHO)
    assert patient is not None
    assert FieldCipher(key).decrypt(stored, f"agenda_patients.last_name:{patient.id}") == "Lefèvre-Bertin"
    db.dispose()


def _alembic_to(db: Database, target: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from standardiste.storage.db import _package_root, migration_folders

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_package_root() / "storage" / "alembic"))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in migration_folders()))
    cfg.set_main_option("path_separator", "space")
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)


def test_clear_rows_from_before_survive_the_migration_and_get_sealed(url: str, demo_config: Config) -> None:
    db = Database(url)
    _alembic_to(db, "agenda_0001")
    _alembic_to(db, "calllog_0001")
    naive = NOW.astimezone(dt.UTC).replace(tzinfo=None)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agenda_patients (id, last_name, first_name, birth_date, phone, last_key, "
                "first_key, created_at) VALUES ('p1', 'Lefèvre-Bertin', 'Amandine', :born, '+33612345678', "
                "'lefevrebertin', 'amandine', :now)"
            ),
            {"born": WHO.birth_date, "now": naive},
        )
        conn.execute(
            text(
                "INSERT INTO agenda_requests (id, kind, caller_name, birth_date, callback_number, details, "
                "status, notes, urgent, extra, created_at, updated_at) VALUES ('r1', 'callback', "
                "'Amandine Lefèvre-Bertin', :born, '+33612345678', 'rappeler pour le xylophène', 'new', '', "
                ":no, '{}', :now, :now)"
            ),
            {"born": WHO.birth_date, "now": naive, "no": False},
        )
        conn.execute(
            text(
                "INSERT INTO calllog_calls (id, channel_id, direction, caller_id, started_at, end_reason, "
                "path, actions, transcript, transcript_encrypted, recognizer, barge_ins) VALUES ('c1', 'c1', "
                "'inbound', '0612345678', :now, 'hangup', '[\"heard:Amandine\"]', '[]', "
                '\'[{"speaker": "caller", "text": "Amandine"}]\', 0, \'vosk\', 0)'
            ),
            {"now": NOW},
        )
    db.migrate()  # agenda_0002, calllog_0002: clear rows stay as they are
    cipher = FieldCipher(_key())
    agenda = SqlAgenda(db, demo_config.practice, cipher=cipher)
    found = agenda.find_patient(PatientIdentity("Lefèvre Bertin", "Amandine", WHO.birth_date))
    assert found is not None and found.id == "p1" and found.birth_date == WHO.birth_date
    assert caller_lookup(db, "+33612345678", NOW, cipher)[0]
    assert SqlInbox(db, cipher).get("r1").birth_date == WHO.birth_date

    report = reseal(db, cipher, cipher)
    assert report.failed == [] and report.rows["agenda_patients"] == 1
    assert (report.rows["agenda_requests"], report.rows["calllog_calls"]) == (1, 1)
    assert reseal(db, cipher, cipher).failed == []  # again: harmless
    with db.engine.connect() as conn:
        dump = [
            str(tuple(r))
            for t in ("agenda_patients", "agenda_requests", "calllog_calls")
            for r in conn.execute(text(f"SELECT * FROM {t}"))
        ]
    assert _leaks(repr(dump)) == []
    found = agenda.find_patient(PatientIdentity("Lefèvre Bertin", "Amandine", WHO.birth_date))
    assert found is not None and found.id == "p1" and found.phone == "+33612345678"
    assert caller_lookup(db, "+33612345678", NOW, cipher)[0]
    assert SqlInbox(db, cipher).from_number("0612345678")[0].details == "rappeler pour le xylophène"
    call = CallLogStore(db, cipher).get_sync("c1")
    assert call is not None and call.caller_id == "0612345678" and call.transcript[0].text == "Amandine"
    assert call.path == ["heard:Amandine"]
    check_key(db, cipher)
    db.dispose()


def test_encrypt_existing_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import resources

    from standardiste.cli.main import main
    from standardiste.config import load_config

    demo = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
    cfg = tmp_path / "cabinet.toml"
    cfg.write_text(demo.replace('data_dir = "var/demo"', f'data_dir = "{tmp_path / "data"}"'), "utf-8")
    config = load_config(cfg)
    (tmp_path / "data").mkdir()
    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    _fill(db, None, config.practice)  # written in clear (as before agenda_0002)
    db.dispose()
    assert main(["privacy", "encrypt-existing", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "agenda_patients : 1, agenda_requests : 1, calllog_calls : 1" in out
    db = Database(config.deployment.sqlalchemy_url)
    with db.engine.connect() as conn:
        dump = [str(tuple(r)) for r in conn.execute(text("SELECT * FROM agenda_patients"))]
    assert _leaks(repr(dump)) == []
    agenda, _ = build_agenda(db, config)  # the same install key opens them
    assert agenda.find_patient(WHO) is not None
    db.dispose()
