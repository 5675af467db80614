"""One caller on one cluster node (run inside that node's network namespace), for the cluster test:
waits for the go file, books the slot on the shared PostgreSQL, prints "won <id>" or "taken". Run with -m."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from standardiste.agenda.model import PatientIdentity, Slot, SlotTaken, Source
from standardiste.agenda.sql import SqlAgenda
from standardiste.config import load_config
from standardiste.storage.db import Database

TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 2, 9, 3, tzinfo=TZ)  # pinned: the race does not depend on today
SLOT = Slot(
    "martin",
    "consultation",
    dt.datetime(2026, 3, 3, 9, 10, tzinfo=TZ),
    dt.datetime(2026, 3, 3, 9, 30, tzinfo=TZ),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--go", required=True, type=Path)
    parser.add_argument("--caller", required=True)
    args = parser.parse_args()
    db = Database(args.db)
    agenda = SqlAgenda(db, load_config(None).practice)
    with db.engine.connect():  # connected before the start line: the race is on the booking only
        pass
    print("ready", flush=True)
    while not args.go.exists():
        time.sleep(0.001)
    try:
        appointment = agenda.book(
            SLOT, PatientIdentity(args.caller, "Test", dt.date(1980, 1, 1)), Source.PHONE, NOW
        )
        print(f"won {appointment.id}", flush=True)
    except SlotTaken:
        print("taken", flush=True)
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
