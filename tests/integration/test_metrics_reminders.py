"""standardiste_reminders_total follows the reminder attempts: a real redis-server, a real SQLite
agenda; the dialer is the recording double of the reminders tests (a real call is in
test_reminders_asterisk.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from standardiste import metrics
from standardiste.agenda.sql import SqlAgenda
from standardiste.config import Config
from standardiste.redis_server import RedisServer
from standardiste.reminders.clock import Clock
from standardiste.reminders.service import ReminderService
from standardiste.reminders.store import DONE, ReminderStore
from standardiste.storage.db import Database
from tests.integration.reminders_support import VIRTUAL_NOW, RecordingDialer, book, wait_until, wednesday

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def reminders(outcome: str) -> float:
    labels = {"purpose": "reminder", "outcome": outcome}
    return metrics.REGISTRY.get_sample_value("standardiste_reminders_total", labels) or 0.0


async def test_a_reminder_attempt_counts_by_outcome(
    tmp_path: Path, redis_server: RedisServer, demo_config: Config
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'standardiste.db'}")
    db.migrate()
    before = reminders("confirmed")
    dialer = RecordingDialer()
    clock = Clock.starting_at(VIRTUAL_NOW)
    agenda = SqlAgenda(db, demo_config.practice)
    service = ReminderService(
        db=db,
        practice=demo_config.practice,
        redis_url=redis_server.url,
        dialer=dialer,
        agenda=agenda,
        clock=clock,
        namespace="test:metrics",
        lease_ttl_s=1.5,
        sweep_interval_s=1.0,
        sweep_grace_s=2.0,
        drain_interval_s=0.2,
    )
    agenda.add_listener(service.listener)
    await service.start()
    try:
        clock.set(VIRTUAL_NOW)  # J-1 18:00 is 3 s ahead
        appointment = book(agenda, wednesday(10), clock.now())
        store = ReminderStore(db)
        job_id = f"reminder:{appointment.id}"
        assert await wait_until(lambda: getattr(store.get(job_id), "state", None) == DONE, 20)
        assert reminders("confirmed") == before + 1
        assert 'standardiste_reminders_total{outcome="confirmed",purpose="reminder"}' in (
            metrics.exposition().decode()
        )
    finally:
        await service.stop()
        db.dispose()
