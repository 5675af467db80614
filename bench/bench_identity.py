"""Cost of encrypted identities: patient matching, FastAGI caller lookup and the dashboard day view,
with identities sealed (production) vs in clear, on SQLite with N patients.

    python bench/bench_identity.py [--patients 20000]   -> bench/results/identity.json
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from standardiste.agenda.model import PatientIdentity
from standardiste.agenda.sealed import new_patient_row
from standardiste.agenda.sql import SqlAgenda
from standardiste.agenda.tables import PatientRow
from standardiste.config import load_config
from standardiste.integration.lookup import caller_lookup
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

TZ = ZoneInfo("Europe/Paris")
ROOT = Path(__file__).resolve().parent
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
FIRST = ["Marie", "Jean", "Pierre", "Camille", "Louis", "Emma", "Léa", "Hugo", "Chloé", "Lucas"]


def identities(n: int, rng: random.Random) -> list[PatientIdentity]:
    out = []
    for i in range(n):
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(90 * 365))
        out.append(PatientIdentity(f"{rng.choice(LAST)}{i}", rng.choice(FIRST), born, f"06{i:08d}"))
    return out


def ms_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def run(n: int, sealed: bool) -> dict[str, object]:
    rng = random.Random(3)
    cipher = FieldCipher(base64.urlsafe_b64encode(os.urandom(32)).decode()) if sealed else None
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.migrate()
        agenda = SqlAgenda(db, load_config(None).practice, cipher=cipher)
        people = identities(n, rng)
        now = dt.datetime.now(TZ)
        t0 = time.perf_counter()
        rows = [new_patient_row(p, now, cipher) for p in people]
        seal_s = time.perf_counter() - t0
        with db.session() as s:
            s.execute(
                insert(PatientRow),
                [{c.key: getattr(r, c.key) for c in PatientRow.__table__.columns} for r in rows],
            )
        sample = rng.sample(people, 300)
        find, lookup = [], []
        for p in sample:
            heard = PatientIdentity(p.last_name.lower(), p.first_name, p.birth_date)
            t0 = time.perf_counter()
            assert agenda.find_patient(heard) is not None
            find.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            assert caller_lookup(db, "+33" + (p.phone or "")[1:], now, cipher)[0]
            lookup.append((time.perf_counter() - t0) * 1000)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = sum(f.stat().st_size for f in Path(tmp).glob("bench.db*"))
        db.dispose()
    return {
        "patients": n,
        "sealed": sealed,
        "seal_rows_s": round(seal_s, 3),
        "find_patient": ms_summary(find),
        "caller_lookup": ms_summary(lookup),
        "db_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20000)
    args = parser.parse_args()
    results = [run(args.patients, sealed) for sealed in (False, True)]
    for r in results:
        print(json.dumps(r))
    out = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "note": "shared 2-core machine with other helpers' tests running; relative figures matter",
        "results": results,
    }
    out["context"] = describe("none (text turns)", "none")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "identity.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
