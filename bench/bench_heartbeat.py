"""How late can the controller's heartbeat get under load? (justifies guardian.DEFAULT_STALL_S)

The controller writes one byte to its guardian every HEARTBEAT_S from its asyncio event loop; the
guardian declares it stuck after DEFAULT_STALL_S without one. A threshold below the longest gap the
real load produces would hand live calls to reception (false alarm). This bench measures the gaps
as the guardian sees them (a separate process reading the pipe, like pbx/guardian.py) under:

- idle: nothing else;
- cpu: the machine loaded to twice its cores (busy-loop processes at the same priority);
- cpu+...: the same, plus inside the writer process what a busy controller does: 20 ms of CPU
  work on the event loop 10 times a second (loop: a call's turn handling), a full GC pass every 2 s
  over a 500,000-object heap (gc: the controller holds ~110,000 objects with Whisper loaded, before
  NLU and calls), the same heap frozen (gc.freeze(), as VoiceApp.start does) with 50,000 live
  objects still scanned (frozen), a thread running pure Python (gil: holds the GIL in 5 ms slices,
  like a PocketSphinx decode) and, when the Whisper model is installed, Whisper decodes back to back
  in two threads (whisper: CTranslate2).

    python bench/bench_heartbeat.py              # 30 s per condition
    python bench/bench_heartbeat.py --seconds 60

Results: bench/results/heartbeat.json (gap percentiles and maximum per condition, GC pause).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]

from standardiste.pbx.guardian import DEFAULT_STALL_S, HEARTBEAT_S  # noqa: E402

RESULTS = REPO / "bench" / "results"
LIVE_OBJECTS = 50_000  # made after start (calls in progress): still scanned when the heap is frozen
HEAP_OBJECTS = 500_000  # the controller holds ~110 k objects with Whisper loaded, before NLU and calls

READER = r"""
import os, select, sys, time, json
fd = 0
gaps = []
last = None
while True:
    ready, _, _ = select.select([fd], [], [], 1.0)
    if not ready:
        continue
    data = os.read(fd, 4096)
    now = time.monotonic()
    if not data:
        break
    if last is not None:
        gaps.append(now - last)
    last = now
print(json.dumps(gaps))
"""


def busy() -> None:
    x = 0
    while True:
        x += 1


def pure_python_thread(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(20_000))


def whisper_thread(stop: threading.Event, engine: object, pcm: bytes) -> None:
    while not stop.is_set():
        engine.decode(pcm)  # type: ignore[attr-defined]


def load_whisper() -> tuple[object, bytes] | None:
    try:
        import numpy as np

        from standardiste.speech.whisper_backend import WhisperEngine
        from standardiste.speech.whisper_model import find_whisper_model
    except ImportError:
        return None
    model = find_whisper_model()
    if model is None:
        return None
    engine = WhisperEngine(model, workers=2)
    engine.load()
    t = np.arange(16000 * 3) / 16000.0
    tone = (np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) * 8000).astype("<i2")
    return engine, tone.tobytes()


async def heartbeat(fd: int, seconds: float, loop_work: bool) -> None:
    end = time.monotonic() + seconds

    async def beats() -> None:
        while time.monotonic() < end:
            os.write(fd, b".")
            await asyncio.sleep(HEARTBEAT_S)

    async def work() -> None:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.02:  # 20 ms of a call's work on the loop
                pass
            await asyncio.sleep(0.08)

    await asyncio.gather(beats(), *([work()] if loop_work else []))


def run_condition(
    name: str, seconds: float, cpu_load: int, parts: frozenset[str] = frozenset()
) -> dict[str, object]:
    """parts: what runs inside the writer process besides the heartbeat ('gc', 'gil', 'loop', 'whisper')."""
    hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(cpu_load)]
    for h in hogs:
        h.start()  # before the pipe exists: a forked hog must not hold its write end
    reader = subprocess.Popen([sys.executable, "-c", READER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert reader.stdin is not None and reader.stdout is not None
    stop = threading.Event()
    threads: list[threading.Thread] = []
    heap: list[object] = []
    gc_pauses: list[float] = []
    whisper = None
    if "gil" in parts:
        threads.append(threading.Thread(target=pure_python_thread, args=(stop,), daemon=True))
    if "whisper" in parts:
        whisper = load_whisper()
        if whisper is not None:
            threads += [
                threading.Thread(target=whisper_thread, args=(stop, *whisper), daemon=True) for _ in range(2)
            ]
    if "gc" in parts:
        heap = [{"k": i, "v": [i]} for i in range(HEAP_OBJECTS // 2)]  # HEAP_OBJECTS tracked objects
        if "frozen" in parts:  # what VoiceApp.start does once loaded: gc.freeze()
            gc.collect()
            gc.freeze()
            heap.append([{"call": i, "v": [i]} for i in range(LIVE_OBJECTS // 2)])  # per-call objects

        def collector() -> None:
            while not stop.is_set():
                time.sleep(2.0)
                t0 = time.perf_counter()
                gc.collect()  # the full pass runs in whichever thread triggers it, holding the GIL
                gc_pauses.append(time.perf_counter() - t0)

        threads.append(threading.Thread(target=collector, daemon=True))
    for t in threads:
        t.start()
    try:
        asyncio.run(heartbeat(reader.stdin.fileno(), seconds, "loop" in parts))
    finally:
        stop.set()
        for h in hogs:
            h.kill()
        reader.stdin.close()
        gaps = json.loads(reader.stdout.read() or b"[]")
        reader.wait()
        for t in threads:
            t.join(30)
        del heap
        gc.unfreeze()
    gaps.sort()

    def pct(p: float) -> float:
        return round(gaps[min(len(gaps) - 1, int(p * len(gaps)))], 4)

    return {
        "condition": name,
        "seconds": seconds,
        "busy_processes": cpu_load,
        "in_process": sorted(parts),
        "whisper_decoding": whisper is not None,
        "beats": len(gaps),
        "gap_p50_s": pct(0.5),
        "gap_p99_s": pct(0.99),
        "gap_p999_s": pct(0.999),
        "gap_max_s": round(gaps[-1], 4) if gaps else None,
        "gap_mean_s": round(statistics.fmean(gaps), 4) if gaps else None,
        "gc_full_pass_max_s": round(max(gc_pauses), 4) if gc_pauses else None,
        "gc_full_passes": len(gc_pauses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only", default="", help="comma-separated conditions")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    hogs = 2 * cores
    conditions = {
        "idle": (0, frozenset[str]()),
        "cpu": (hogs, frozenset[str]()),
        "cpu+loop+gc": (hogs, frozenset({"loop", "gc"})),
        "cpu+loop+whisper": (hogs, frozenset({"loop", "whisper"})),
        "cpu+loop+gil": (hogs, frozenset({"loop", "gil"})),
        "cpu+all": (hogs, frozenset({"loop", "gc", "gil", "whisper"})),
        "cpu+loop+gc-frozen": (hogs, frozenset({"loop", "gc", "frozen"})),
        "cpu+all-frozen": (hogs, frozenset({"loop", "gc", "frozen", "gil", "whisper"})),
    }
    chosen = args.only.split(",") if args.only else list(conditions)
    rows = [run_condition(name, args.seconds, *conditions[name]) for name in chosen]
    worst = max(float(r["gap_max_s"] or 0) for r in rows)
    for r in rows:
        print(
            f"{r['condition']:12s} beats {r['beats']:4d}  gap p50 {r['gap_p50_s'] * 1000:6.0f} ms  "
            f"p99 {r['gap_p99_s'] * 1000:6.0f} ms  p99.9 {r['gap_p999_s'] * 1000:6.0f} ms  "
            f"max {r['gap_max_s'] * 1000:6.0f} ms  GC full pass max {r['gc_full_pass_max_s']}  "
            f"whisper {r['whisper_decoding']}",
            flush=True,
        )
    print(
        f"heartbeat every {HEARTBEAT_S * 1000:.0f} ms; stall threshold {DEFAULT_STALL_S * 1000:.0f} ms; "
        f"longest gap measured {worst * 1000:.0f} ms (margin x{DEFAULT_STALL_S / worst:.1f})"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "machine": {"cpus": cores, "python": platform.python_version(), "load_before": os.getloadavg()},
        "heartbeat_s": HEARTBEAT_S,
        "stall_threshold_s": DEFAULT_STALL_S,
        "longest_gap_s": worst,
        "conditions": rows,
    }
    (RESULTS / "heartbeat.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
