import datetime as dt

from sqlalchemy import func, select

from standardiste.agenda.model import PatientIdentity, SlotQuery, Source
from standardiste.agenda.sql import SqlAgenda
from standardiste.agenda.tables import AppointmentRow
from standardiste.calllog.store import CallLogStore
from standardiste.calllog.tables import CallRow
from standardiste.privacy.retention import purge
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


async def test_old_calls_are_purged_and_appointments_kept(tmp_path, demo_config):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    store = CallLogStore(db)
    for call_id, age in (("old", 91), ("edge", 89), ("new", 1)):
        start = NOW - dt.timedelta(days=age)
        await store.call_ended(
            SessionRecord(
                call_id=call_id,
                channel_id=call_id,
                caller_id="+33612345678",
                direction="inbound",
                recognizer="keypad",
                started_at=start,
                ended_at=start + dt.timedelta(minutes=2),
            )
        )
    agenda = SqlAgenda(db, demo_config.practice)
    old_booking_time = NOW - dt.timedelta(days=120)
    slot = agenda.find_slots(SlotQuery(), old_booking_time)[0]
    agenda.book(slot, PatientIdentity("Durand", "Paul", dt.date(1970, 5, 4)), Source.PHONE, old_booking_time)

    report = purge(db, retention_days=90, now=NOW)

    assert report.calls == 1
    with db.session() as s:
        assert sorted(s.scalars(select(CallRow.id))) == ["edge", "new"]
        assert s.scalar(select(func.count()).select_from(AppointmentRow)) == 1
    db.dispose()
