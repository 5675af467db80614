"""Call log rows (real SQLite through the real migrations) and JSON logs carrying the call id."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
import logging
import os
from pathlib import Path

import pytest

from standardiste.calllog.store import CallLogStore
from standardiste.calllog.tables import CallRow
from standardiste.dialogue.messages import Outcome, OutcomeKind, Utterance
from standardiste.logs import call_id_var, setup_logging
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord


def _record() -> SessionRecord:
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    return SessionRecord(
        call_id="c-1",
        channel_id="c-1",
        caller_id="0601020304",
        direction="inbound",
        recognizer="keypad",
        started_at=now,
        ended_at=now + dt.timedelta(seconds=42),
        end_reason="transferred",
        outcome=Outcome(OutcomeKind.TRANSFERRED, {"reason": "keypad_0"}),
        path=["answered", "CallStarted", "keypad:0", "transfer:reception"],
        actions=[{"say": "Bonjour", "expect": "choice"}, {"transfer": "reception", "priority": False}],
        transcript=[Utterance("assistant", "Bonjour"), Utterance("caller", "[clavier 0]")],
        greeting_ms=12.5,
    )


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'calls.db'}")
    database.migrate()
    return database


async def test_row_per_call_with_encrypted_transcript(db: Database) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    store = CallLogStore(db, FieldCipher(key))
    record = _record()
    ended, record.ended_at = record.ended_at, None
    await store.call_started(record)
    record.ended_at = ended
    await store.call_ended(record)  # same row, updated
    entry = await store.get("c-1")
    assert entry is not None
    assert entry.transcript == record.transcript
    assert entry.outcome == "transferred" and entry.outcome_details == {"reason": "keypad_0"}
    assert entry.path[-1] == "transfer:reception" and entry.actions[1]["transfer"] == "reception"
    with db.session() as s:
        row = s.get(CallRow, "c-1")
        assert row is not None and row.transcript_encrypted == 1
        assert "Bonjour" not in (row.transcript or "")  # encrypted at rest
        assert s.query(CallRow).count() == 1
    with pytest.raises(ValueError):
        CallLogStore(db).get_sync("c-1")  # no key, no transcript


async def test_clear_store_and_recent(db: Database) -> None:
    store = CallLogStore(db)
    await store.call_ended(_record())
    assert [e.id for e in store.recent_sync()] == ["c-1"]
    assert store.recent_sync()[0].transcript[1].text == "[clavier 0]"


async def test_json_logs_carry_the_call_id() -> None:
    out = io.StringIO()
    setup_logging("json", logging.INFO, stream=out)
    log = logging.getLogger("standardiste.test")

    async def call(cid: str) -> None:
        call_id_var.set(cid)
        log.info("hello", extra={"step": 1})
        await asyncio.to_thread(log.info, "from a thread")

    await asyncio.gather(asyncio.create_task(call("A")), asyncio.create_task(call("B")))
    log.info("no call")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(entry.get("call_id") for entry in lines if entry["msg"] == "from a thread") == ["A", "B"]
    assert {"msg": "hello", "call_id": "A", "step": 1}.items() <= next(
        e for e in lines if e.get("call_id") == "A"
    ).items()
    assert "call_id" not in lines[-1]
    logging.getLogger().handlers.clear()
