"""Agenda benchmark: slot-search and booking latency (p50/p95) and bookings per second under concurrency,
on the demo practice (3 practitioners) with 6 months of bookings (3 past, 3 ahead, ~75% full).

    python bench/bench_agenda.py              # SQLite file in a temp dir
    python bench/bench_agenda.py --postgres   # also a real PostgreSQL started in a temp dir
Results: bench/results/agenda.json
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
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from standardiste.agenda.model import PartOfDay, PatientIdentity, SlotQuery, SlotTaken, Source
from standardiste.agenda.rules import units
from standardiste.agenda.sealed import new_patient_row
from standardiste.agenda.sql import SqlAgenda
from standardiste.agenda.tables import AppointmentRow, PatientRow, SlotUnitRow
from standardiste.config import PracticeConfig, load_config
from standardiste.privacy.crypto import FieldCipher
from standardiste.storage.db import Database

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

TZ = ZoneInfo("Europe/Paris")
ROOT = Path(__file__).resolve().parent


def practice() -> PracticeConfig:
    base = load_config(None).practice
    data = base.model_dump(mode="json")
    data["booking"]["horizon_days"] = 120
    return PracticeConfig.model_validate(data)


def fill(agenda: SqlAgenda, now: dt.datetime, fill_ratio: float, rng: random.Random) -> int:
    """Bulk-load 6 months of appointments (the rows book() writes), packed on each practitioner's grid."""
    rules = agenda.rules
    # Encrypted like production (names, birth date sealed; blind index of the birth date).
    sealed = [
        new_patient_row(
            PatientIdentity(f"Nom{i}", "Prénom", dt.date(1950 + i % 60, 1 + i % 12, 1 + i % 28)),
            now,
            agenda.cipher,
        )
        for i in range(3000)
    ]
    patients = [{c.key: getattr(r, c.key) for c in PatientRow.__table__.columns} for r in sealed]
    appts: list[dict[str, Any]] = []
    unit_rows: list[dict[str, Any]] = []
    first = now.date() - dt.timedelta(days=91)
    for offset in range(182):
        day = first + dt.timedelta(days=offset)
        for pid in rules.practitioner_ids:
            kinds = [t.id for t in agenda.practice.appointment_types if pid in rules.performers(t.id, None)]
            for opening in rules.open_intervals(pid, day):
                t = opening.start
                while True:
                    kind = rng.choice(kinds)
                    end = t + dt.timedelta(minutes=rules.type_minutes(kind))
                    if end > opening.end:
                        break
                    if rng.random() < fill_ratio:
                        aid = uuid.uuid4().hex
                        appts.append(
                            {
                                "id": aid,
                                "practitioner_id": pid,
                                "patient_id": rng.choice(patients)["id"],
                                "appointment_type": kind,
                                "start": t,
                                "end": end,
                                "status": "booked",
                                "source": "staff",
                                "created_at": now,
                                "updated_at": now,
                                "version": 1,
                            }
                        )
                        unit_rows += [
                            {
                                "practitioner_id": pid,
                                "unit_start": u,
                                "appointment_id": aid,
                                "hold_id": None,
                                "expires_at": None,
                            }
                            for u in units(t, end)
                        ]
                    t = end
    with agenda.db.session() as s:
        s.execute(insert(PatientRow), patients)
        for i in range(0, len(appts), 2000):
            s.execute(insert(AppointmentRow), appts[i : i + 2000])
        for i in range(0, len(unit_rows), 5000):
            s.execute(insert(SlotUnitRow), unit_rows[i : i + 5000])
    return len(appts)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": pct(ms, 0.5),
        "p95_ms": pct(ms, 0.95),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def queries(now: dt.datetime, rng: random.Random) -> list[SlotQuery]:
    out = []
    for _ in range(300):
        day = now + dt.timedelta(days=rng.randint(1, 80))
        day0 = day.replace(hour=0, minute=0, second=0, microsecond=0)
        out.append(
            rng.choice(
                [
                    SlotQuery(),
                    SlotQuery(asap=True),
                    SlotQuery(practitioner_id=rng.choice(["martin", "benali"])),
                    SlotQuery(appointment_type="pediatrie"),
                    SlotQuery(part_of_day=rng.choice(list(PartOfDay))),
                    SlotQuery(earliest=day0, latest=day0 + dt.timedelta(days=1)),
                    SlotQuery(
                        practitioner_id="martin",
                        earliest=day0,
                        latest=day0 + dt.timedelta(days=7),
                        part_of_day=PartOfDay.AFTERNOON,
                    ),
                    SlotQuery(appointment_type="nouveau_patient", earliest=day0),
                ]
            )
        )
    return out


CPU_MS: list[float] = []  # this thread's CPU time per timed call: less sensitive to a busy machine


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    c0 = time.thread_time()
    t0 = time.perf_counter()
    result = fn()
    wall = (time.perf_counter() - t0) * 1000
    CPU_MS.append((time.thread_time() - c0) * 1000)
    return wall, result


def run(url: str, label: str, threads: int) -> dict[str, Any]:
    rng = random.Random(7)
    db = Database(url)
    db.migrate()
    agenda = SqlAgenda(db, practice(), cipher=FieldCipher(base64.urlsafe_b64encode(os.urandom(32)).decode()))
    now = dt.datetime.now(TZ).replace(microsecond=0)
    t0 = time.perf_counter()
    count = fill(agenda, now, 0.75, rng)
    print(f"[{label}] loaded {count} appointments in {time.perf_counter() - t0:.1f}s")

    qs = queries(now, rng)
    for q in qs[:20]:  # warm-up (connection pool, caches)
        agenda.find_slots(q, now)
    CPU_MS.clear()
    search_ms = [timed(lambda q=q: agenda.find_slots(q, now))[0] for q in qs]
    search_cpu = summary(CPU_MS)
    print(f"[{label}] find_slots wall: {summary(search_ms)}")
    print(f"[{label}] find_slots cpu:  {search_cpu}")

    # Sequential booking latency: book one of the offered slots, as a call would.
    book_ms = []
    CPU_MS.clear()
    for i in range(150):
        offered = agenda.find_slots(SlotQuery(earliest=now + dt.timedelta(days=rng.randint(1, 80))), now)
        if not offered:
            continue
        ms, _ = timed(
            lambda s=offered[0], i=i: agenda.book(
                s, PatientIdentity(f"Bench{i}", "Seq", dt.date(1980, 1, 1 + i % 28)), Source.PHONE, now
            )
        )
        book_ms.append(ms)
    book_cpu = summary(CPU_MS)
    print(f"[{label}] book wall: {summary(book_ms)}")
    print(f"[{label}] book cpu:  {book_cpu}")

    # Concurrency: `threads` callers each book 25 distinct free slots as fast as they can.
    free = []
    day = now + dt.timedelta(days=85)
    while len(free) < threads * 25:
        found = agenda.find_slots(SlotQuery(earliest=day, limit=10), now)
        free += found
        day = max(s.end for s in found) if found else day + dt.timedelta(days=1)
    free = list(dict.fromkeys(free))[: threads * 25]
    taken = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(k: int) -> None:
        barrier.wait()
        for j, slot in enumerate(free[k::threads]):
            try:
                who = PatientIdentity(f"Conc{k}", f"N{j}", dt.date(1990, 1, 1))
                agenda.book(slot, who, Source.PHONE, now)
            except SlotTaken:
                with lock:
                    taken[0] += 1

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    booked = len(free) - taken[0]
    rate = round(booked / elapsed, 1)
    print(
        f"[{label}] {threads} threads: {booked} bookings in {elapsed:.2f}s = {rate}/s "
        f"({taken[0]} overlapping slots refused)"
    )

    # Contention: all threads fight for the same 20 slots; exactly 20 must win.
    contested = []
    for days in (100, 101, 102, 103):
        day0 = (now + dt.timedelta(days=days)).replace(hour=0, minute=0, second=0)
        contested += agenda.find_slots(
            SlotQuery(earliest=day0, latest=day0 + dt.timedelta(days=1), limit=10), now
        )
    contested = contested[:20]
    wins = [0]
    barrier2 = threading.Barrier(threads)

    def fighter(k: int) -> None:
        barrier2.wait()
        for slot in contested:
            try:
                agenda.book(slot, PatientIdentity(f"Fight{k}", "X", dt.date(1990, 1, 1)), Source.PHONE, now)
                with lock:
                    wins[0] += 1
            except SlotTaken:
                pass

    pool = [threading.Thread(target=fighter, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    contention_s = time.perf_counter() - t0
    print(
        f"[{label}] contention: {threads} threads x {len(contested)} slots -> {wins[0]} wins "
        f"in {contention_s:.2f}s"
    )
    db.dispose()
    return {
        "backend": label,
        "appointments_loaded": count,
        "practitioners": 3,
        "months_of_bookings": 6,
        "find_slots": summary(search_ms),
        "find_slots_cpu": search_cpu,
        "book": summary(book_ms),
        "book_cpu": book_cpu,
        "concurrency": {
            "threads": threads,
            "bookings": booked,
            "seconds": round(elapsed, 2),
            "bookings_per_s": rate,
        },
        "contention": {
            "threads": threads,
            "slots": len(contested),
            "wins": wins[0],
            "attempts": threads * len(contested),
            "seconds": round(contention_s, 2),
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgres", action="store_true", help="also run on a temporary PostgreSQL")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "agenda.json")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run(f"sqlite:///{tmp}/bench.db", "sqlite", args.threads))
    if args.postgres:
        sys.path.insert(0, str(ROOT.parent))
        from tests.fixtures.postgres import PostgresServer, _free_port, _pg_bin

        bindir = _pg_bin()
        if bindir is None:
            print("PostgreSQL not installed: skipped")
        else:
            import os
            import shutil

            root = Path(tempfile.mkdtemp(prefix="std-bench-pg-"))
            if os.geteuid() == 0:
                shutil.chown(root, "postgres", "postgres")
            server = PostgresServer(bindir, root, _free_port())
            server.start()
            try:
                results.append(run(server.url(server.create_database()), "postgresql", args.threads))
            finally:
                server.stop()
                shutil.rmtree(root, ignore_errors=True)
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "note": "shared 2-core machine, other test runs in parallel: wall figures are noisy upper bounds;"
        " *_cpu is the calling thread's CPU time (client side only)",
        "load_average": list(__import__("os").getloadavg()),
        "goal": "find_slots p95 <= 20 ms",
        "results": results,
    }
    report["context"] = describe("none (agenda queries, no speech)", "none")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
