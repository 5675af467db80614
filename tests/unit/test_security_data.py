"""Issue 15 items 5 and 10, replayed: recordings, the key, erasing one person, retention everywhere.

- A recording copied off the disk is ciphertext (0600, in data_dir/recordings 0700), plays for logged-in
  staff only (decrypted on the fly), goes with the purge, and a recording with no call row goes too.
- A copy of data_dir holds no key; data_dir is 0700; `privacy rotate-key` re-encrypts everything and the
  old key then opens nothing.
- `privacy erase --phone` leaves nothing of that person in the database file, the audit log, the reminder
  jobs, the recordings or Asterisk's logs; other people's data stays.
- The purge covers the audit log, reminder jobs and attempts, rotated log files.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import io
import os
import re
import wave
from importlib import resources
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.model import PatientIdentity, RequestDraft, RequestKind, SlotQuery, Source
from standardiste.agenda.sql import SqlAgenda
from standardiste.calllog.store import CallLogStore
from standardiste.cli.main import main
from standardiste.config import Config, load_config
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dashboard.calls import CallQueries, add_call_pages
from standardiste.dashboard.tables import AuditEntry
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.dialogue.messages import Utterance
from standardiste.pbx.messages import ENCRYPTED_SUFFIX, decrypt_file, encrypt_file
from standardiste.privacy.crypto import DecryptionError, FieldCipher
from standardiste.privacy.erase import erase_person
from standardiste.privacy.keys import cipher_for, key_file, load_or_create_key
from standardiste.privacy.recordings import SUFFIX, RecordingVault
from standardiste.privacy.retention import purge
from standardiste.reminders.store import JobSpec, ReminderStore
from standardiste.reminders.tables import ReminderJobRow
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
PHONE, OTHER = "+33687654321", "+33611223344"


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"RIFFSECRETVOICE" * 800)
    return buf.getvalue()


def _raw(directory: Path, pattern: str) -> bytes:
    """The database file and its write-ahead log, as a thief copies them."""
    return b"".join(p.read_bytes() for p in directory.glob(pattern))


def _call(call_id: str, caller: str, started: dt.datetime, recording: str | None = None) -> SessionRecord:
    return SessionRecord(
        call_id=call_id,
        channel_id=call_id,
        caller_id=caller,
        direction="inbound",
        recognizer="keypad",
        started_at=started,
        ended_at=started + dt.timedelta(minutes=1),
        transcript=[Utterance("caller", f"je suis {caller}")],
        recording=recording,
    )


# --- item 5: recordings ---------------------------------------------------------------------------


async def test_recordings_are_sealed_0600_under_data_dir_and_play_decrypted(tmp_path: Path) -> None:
    spool, vault_dir = tmp_path / "asterisk-spool", tmp_path / "data" / "recordings"
    spool.mkdir()
    (spool / "appel-1.wav").write_bytes(_wav())
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    cipher = FieldCipher(_key())
    store = CallLogStore(db, cipher, spool, vault=RecordingVault(vault_dir, cipher), seal_delay_s=0)
    going_on = dataclasses.replace(_call("c1", PHONE, NOW, "appel-1"), ended_at=None)
    await store.call_started(going_on)  # the call is going on: its file stays in the spool
    assert (spool / "appel-1.wav").exists()
    await store.call_ended(_call("c1", PHONE, NOW, "appel-1"))
    sealed = vault_dir / f"appel-1{SUFFIX}"
    assert not (spool / "appel-1.wav").exists()  # the clear file is gone
    assert sealed.stat().st_mode & 0o777 == 0o600 and vault_dir.stat().st_mode & 0o777 == 0o700
    assert b"SECRETVOICE" not in sealed.read_bytes() and b"RIFF" not in sealed.read_bytes()
    # A sealed file renamed to another call's recording does not open.
    sealed.rename(vault_dir / f"appel-2{SUFFIX}")
    with pytest.raises(DecryptionError):
        RecordingVault(vault_dir, cipher).open("appel-2")
    (vault_dir / f"appel-2{SUFFIX}").rename(sealed)

    auth = StaffAuth(db)
    auth.create_user("accueil", "Accueil", Role.SECRETARY, "correct-cheval-agrafe", NOW)
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: "Cabinet",
        clock=lambda: NOW,
        pages=[add_call_pages(CallQueries(store, lambda: dt.UTC))],
    )
    async with TestClient(TestServer(create_app(ctx))) as client:
        anonymous = await client.get("/appels/c1/enregistrement", allow_redirects=False)
        assert anonymous.status == 303
        await client.post("/connexion", data={"username": "accueil", "password": "correct-cheval-agrafe"})
        response = await client.get("/appels/c1/enregistrement")
        assert response.status == 200 and await response.read() == _wav()
    store._writer.shutdown(wait=True)
    db.dispose()


async def test_purge_deletes_sealed_recordings_and_recordings_without_a_call(tmp_path: Path) -> None:
    spool, vault_dir = tmp_path / "spool", tmp_path / "data" / "recordings"
    spool.mkdir()
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    cipher = FieldCipher(_key())
    store = CallLogStore(db, cipher, spool, vault=RecordingVault(vault_dir, cipher), seal_delay_s=0)
    for name, age in (("old", 100), ("new", 1)):
        (spool / f"{name}.wav").write_bytes(_wav())
        await store.call_ended(_call(name, PHONE, NOW - dt.timedelta(days=age), name))
    # Recordings no call row names: one sealed (row deleted by hand), one left in the spool by a crash.
    (vault_dir / f"stray{SUFFIX}").write_bytes(b"x")
    (spool / "crashed.wav").write_bytes(_wav())
    (spool / "live.wav").write_bytes(_wav())  # a call going on right now: too young to be an orphan
    ancient = (NOW - dt.timedelta(days=2)).timestamp()
    for path in (vault_dir / f"stray{SUFFIX}", spool / "crashed.wav"):
        os.utime(path, (ancient, ancient))
    live = NOW.timestamp()
    os.utime(spool / "live.wav", (live, live))
    report = purge(db, 90, NOW, spool, sealed_dir=vault_dir)
    assert report.calls == 1 and report.recordings == 1 and report.orphan_recordings == 2
    assert sorted(p.name for p in vault_dir.iterdir()) == [f"new{SUFFIX}"]
    assert sorted(p.name for p in spool.iterdir()) == ["live.wav"]
    store._writer.shutdown(wait=True)
    db.dispose()


# --- item 10: the key, the data dir, rotation --------------------------------------------------------


def _install(tmp_path: Path) -> tuple[Path, Config]:
    demo = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
    cfg = tmp_path / "cabinet.toml"
    cfg.write_text(demo.replace('data_dir = "var/demo"', f'data_dir = "{tmp_path / "data"}"'), "utf-8")
    return cfg, load_config(cfg)


def test_key_lives_apart_from_the_data_and_old_installs_are_moved(tmp_path: Path) -> None:
    _, config = _install(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    legacy = _key()
    (data / "secrets.toml").write_text(f'ari_password = "a"\nami_secret = "b"\nencryption_key = "{legacy}"\n')
    assert load_or_create_key(config.deployment) == legacy  # the old key keeps opening the old data
    path = key_file(config.deployment)
    assert data not in path.parents and path.read_text().strip() == legacy
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert legacy not in (data / "secrets.toml").read_text()  # a copy of data_dir holds no key
    leaked = [p for p in data.rglob("*") if p.is_file() and legacy.encode() in p.read_bytes()]
    assert leaked == []
    from standardiste.privacy.keys import ensure_private_dir

    ensure_private_dir(data)
    assert data.stat().st_mode & 0o777 == 0o700


def _fill(db: Database, cipher: FieldCipher, config: Config, phone: str, name: str) -> str:
    agenda = SqlAgenda(db, config.practice, cipher=cipher)
    slot = agenda.find_slots(SlotQuery(), NOW)[0 if phone == PHONE else 1]
    appointment = agenda.book(
        slot, PatientIdentity(name, "Rosalind", dt.date(1984, 3, 12), phone), Source.PHONE, NOW
    )
    SqlInbox(db, cipher).file(RequestDraft(RequestKind.CALLBACK, name, None, phone, f"rappeler {name}"), NOW)
    ReminderStore(db, cipher).put(
        JobSpec("reminder", appointment.id, NOW + dt.timedelta(hours=1), slot.start, slot.end, phone), NOW
    )
    return appointment.id


async def test_rotate_key_command_reencrypts_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, config = _install(tmp_path)
    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    old = cipher_for(config.deployment)
    _fill(db, old, config, PHONE, "Quentin-Vasseur")
    vault = RecordingVault(tmp_path / "data" / "recordings", old)
    (tmp_path / "a.wav").write_bytes(_wav())
    vault.seal_file(tmp_path / "a.wav", "appel-1")
    messages = tmp_path / "data" / "messages"
    messages.mkdir()
    voicemail = messages / f"1765000000-0687654321-abc{ENCRYPTED_SUFFIX}"
    voicemail.write_text(encrypt_file(old, _wav(), "1765000000-0687654321-abc"), encoding="ascii")
    db.dispose()
    assert main(["privacy", "rotate-key", "--config", str(cfg)]) == 0
    assert "Nouvelle clé en place" in capsys.readouterr().out
    path = key_file(config.deployment)
    assert path.with_name(path.name + ".old").read_text().strip() != path.read_text().strip()
    new = cipher_for(config.deployment)
    db = Database(config.deployment.sqlalchemy_url)
    assert SqlInbox(db, new).list()[0].details == "rappeler Quentin-Vasseur"
    assert SqlAgenda(db, config.practice, cipher=new).find_patient(
        PatientIdentity("Quentin-Vasseur", "Rosalind", dt.date(1984, 3, 12))
    )
    assert RecordingVault(tmp_path / "data" / "recordings", new).open("appel-1") == _wav()
    assert decrypt_file(new, voicemail) == _wav()
    with pytest.raises(DecryptionError):
        SqlInbox(db, old).list()
    with pytest.raises(DecryptionError):
        RecordingVault(tmp_path / "data" / "recordings", old).open("appel-1")
    db.dispose()


# --- item 10: erase one person ------------------------------------------------------------------------


async def test_erase_leaves_nothing_of_the_person_anywhere(tmp_path: Path, demo_config: Config) -> None:
    path = tmp_path / "e.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    cipher = FieldCipher(_key())
    spool, vault_dir, logs = tmp_path / "spool", tmp_path / "recordings", tmp_path / "log"
    spool.mkdir()
    logs.mkdir()
    appointment = _fill(db, cipher, demo_config, PHONE, "Quentin-Vasseur")
    _fill(db, cipher, demo_config, OTHER, "Autre-Personne")
    store = CallLogStore(db, cipher, spool, vault=RecordingVault(vault_dir, cipher), seal_delay_s=0)
    for call_id, caller in (("c1", "0687654321"), ("c2", OTHER)):
        (spool / f"rec-{call_id}.wav").write_bytes(_wav())
        await store.call_ended(_call(call_id, caller, NOW, f"rec-{call_id}"))
    store._writer.shutdown(wait=True)
    auth = StaffAuth(db)
    auth.audit("accueil", "view", "/appels/c1", NOW)
    auth.audit("accueil", "view", f"/rendez-vous/{appointment}", NOW)
    auth.audit("accueil", "view", "/appels/c2", NOW)
    (logs / "messages.log").write_text(
        f"[Dec  7] VERBOSE Called 0687654321\n[Dec  7] VERBOSE Called {OTHER}\n[Dec  7] +33687654321 hangup\n"
    )

    voicemails = tmp_path / "messages"
    voicemails.mkdir()
    for name in ("1765000000-0687654321-a", f"1765000001-{OTHER}-b", "msg-1765000002-c"):
        (voicemails / f"{name}{ENCRYPTED_SUFFIX}").write_text(
            encrypt_file(cipher, _wav(), name), encoding="ascii"
        )
    # Today's message names carry no number: the request it was filed under names it.
    voice_request = RequestDraft(
        RequestKind.CALLBACK, "(message vocal)", None, "+33687654321", "Message vocal laissé",
        extra={"voicemail": f"msg-1765000002-c{ENCRYPTED_SUFFIX}"},
    )  # fmt: skip
    SqlInbox(db, cipher).file(voice_request, NOW)
    report = erase_person(
        db,
        cipher,
        "06 87 65 43 21",
        recordings_dir=vault_dir,
        spool_dir=spool,
        log_files=[logs / "messages.log"],
        messages_dir=voicemails,
    )
    from standardiste.privacy.reseal import scrub_free_space

    scrub_free_space(db)
    assert (report.patients, report.appointments, report.calls, report.requests) == (1, 1, 1, 2)
    assert (report.reminder_jobs, report.audit_entries, report.recordings, report.log_lines) == (1, 2, 1, 2)
    raw = _raw(tmp_path, "e.db*")
    for secret in ("Quentin", "Vasseur", "0687654321", "687654321"):
        assert secret.encode() not in raw
    assert [p.name for p in vault_dir.iterdir()] == [f"rec-c2{SUFFIX}"]
    assert report.voice_messages == 2 and [p.name for p in voicemails.iterdir()] == [
        f"1765000001-{OTHER}-b{ENCRYPTED_SUFFIX}"
    ]
    assert (
        "687654321" not in (logs / "messages.log").read_text()
        and OTHER in (logs / "messages.log").read_text()
    )
    # The other person is untouched.
    assert CallLogStore(db, cipher).get_sync("c2") is not None
    assert [r.caller_name for r in SqlInbox(db, cipher).list()] == ["Autre-Personne"]
    with db.session() as s:
        assert [e.target for e in s.scalars(select(AuditEntry))] == ["/appels/c2"]
        assert len(list(s.scalars(select(ReminderJobRow)))) == 1
    with pytest.raises(ValueError):
        erase_person(db, cipher, "pas un numéro")
    db.dispose()


def test_erase_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, config = _install(tmp_path)
    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    _fill(db, cipher_for(config.deployment), config, PHONE, "Quentin-Vasseur")
    db.dispose()
    assert main(["privacy", "erase", "--phone", "0687654321", "--yes", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Patients effacés : 1", out) and re.search(r"Demandes effacées : 1", out)
    raw = _raw(tmp_path / "data", "standardiste.db*")
    assert b"Quentin" not in raw and b"Rosalind" not in raw


# --- item 10: retention covers every store ------------------------------------------------------------


async def test_purge_covers_audit_log_reminder_jobs_and_old_logs(tmp_path: Path, demo_config: Config) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    db.migrate()
    cipher = FieldCipher(_key())
    old = NOW - dt.timedelta(days=400)
    auth = StaffAuth(db)
    auth.audit("accueil", "view", "/appels/x", old)
    auth.audit("accueil", "view", "/appels/y", NOW - dt.timedelta(days=10))
    reminders = ReminderStore(db, cipher)
    for i, when in enumerate((old, NOW)):
        spec = JobSpec("reminder", f"a{i}", when, when, when + dt.timedelta(minutes=20), PHONE)
        reminders.put(spec, when)
    with db.session() as s:
        for row in s.scalars(select(ReminderJobRow)):
            row.state = "done"  # over: the call was made
    logs = tmp_path / "log"
    logs.mkdir()
    for name in ("messages.log", "messages.log.1", "messages.log.2.gz"):
        (logs / name).write_text("x")
    stamp = old.timestamp()
    for name in ("messages.log.1", "messages.log.2.gz"):
        os.utime(logs / name, (stamp, stamp))
    report = purge(db, 90, NOW, audit_retention_days=365, log_dirs=[logs])
    assert (report.audit_entries, report.reminder_jobs, report.log_files) == (1, 1, 2)
    assert sorted(p.name for p in logs.iterdir()) == ["messages.log"]
    with db.session() as s:
        assert [e.target for e in s.scalars(select(AuditEntry))] == ["/appels/y"]
    db.dispose()


def test_init_key_command_makes_the_key_outside_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, config = _install(tmp_path)
    assert main(["privacy", "init-key", "--group", "root", "--config", str(cfg)]) == 0
    path = key_file(config.deployment)
    assert "Clé créée" in capsys.readouterr().out and path.stat().st_mode & 0o777 == 0o640
    assert not (tmp_path / "data").exists() or path not in (tmp_path / "data").rglob("*")
    path.chmod(0o644)  # readable by every user: narrowed at the next read
    assert load_or_create_key(config.deployment) == path.read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o640


async def test_recording_is_sealed_after_asterisk_has_finished_it(tmp_path: Path) -> None:
    """Asterisk closes the WAV once the bridge is gone: sealing waits a little; a restart seals leftovers."""
    spool, vault_dir = tmp_path / "spool", tmp_path / "data" / "recordings"
    spool.mkdir()
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    cipher = FieldCipher(_key())
    store = CallLogStore(db, cipher, spool, vault=RecordingVault(vault_dir, cipher), seal_delay_s=0.3)
    (spool / "late.wav").write_bytes(_wav())
    await store.call_ended(_call("c1", PHONE, NOW, "late"))
    assert (spool / "late.wav").exists()  # Asterisk may still be writing it
    for _ in range(50):
        if not (spool / "late.wav").exists():
            break
        await asyncio.sleep(0.05)
    assert not (spool / "late.wav").exists() and RecordingVault(vault_dir, cipher).open("late") == _wav()
    # Stopped before sealing: the next start seals what an ended call left in the spool.
    (spool / "left.wav").write_bytes(_wav())
    await CallLogStore(db, cipher).call_ended(_call("c2", PHONE, NOW, "left"))
    restarted = CallLogStore(db, cipher, spool, vault=RecordingVault(vault_dir, cipher))
    assert await asyncio.to_thread(restarted.seal_pending_recordings, 0.0) == 1
    assert not (spool / "left.wav").exists() and RecordingVault(vault_dir, cipher).has("left")
    for s in (store, restarted):
        s._writer.shutdown(wait=True)
    db.dispose()


def test_purge_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, config = _install(tmp_path)
    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    StaffAuth(db).audit("accueil", "view", "/appels/x", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    db.dispose()
    assert main(["privacy", "purge", "--config", str(cfg)]) == 0
    assert "1 entrée(s) d'audit" in capsys.readouterr().out
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
