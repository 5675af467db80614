"""Duckling in its own process, with a hard CPU budget per request.

Duckling's chart parser is exponential on some inputs: "le deux mars" said six times costs 85 s, and
four odd words ("semaine vingt matin avril") 20 ms. Its native call holds the GIL, so a thread cannot
bound it, and nothing can interrupt it. Here it runs in a child process; before each request the child
arms a CPU timer (ITIMER_PROF, default action: terminate), so a request that overruns its budget kills
the child and nothing else. The parent keeps a spare child started, so the next utterance has dates
again at once. Input is also cut into small windows by dates.py, which keeps ordinary turns far under
budget; this is the bound for the rest.

Protocol (JSON lines): request {"tz", "ref", "texts", "budget"}; one line {"i", "r"} per text (r is
Duckling's own JSON string), then {"done": true}. The first line a child writes is {"ready": true}.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ZONEINFO_DIR = "/usr/share/zoneinfo"
START_TIMEOUT_S = 30.0  # a cold start on a loaded machine (python + the Haskell runtime) takes ~0.5-3 s
# Wall-clock guard on top of the CPU budget: a child that is starved by load keeps its CPU budget, but a
# child that neither answers nor burns CPU (stopped, swapped) is given up after this.
WALL_SLACK_S = 2.0
SPARE_WAIT_S = 1.0


def _child_main() -> None:  # pragma: no cover - runs in the child process
    import duckling

    tzdb = duckling.load_time_zones(ZONEINFO_DIR)
    locale = duckling.default_locale_lang(duckling.parse_lang("FR"))
    dims = duckling.parse_dimensions(["time"])
    warm = duckling.Context(duckling.parse_ref_time(tzdb, "Europe/Paris", 1_800_000_000), locale)
    duckling.parse_text("demain à 10 h", warm, dims, False)  # the first parse pays lazy start-up
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        budget = max(0.001, float(req["budget"]))
        cpu0 = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, budget)  # overrun: SIGPROF, default action kills us
        ref = duckling.parse_ref_time(tzdb, req["tz"], int(req["ref"]))
        context = duckling.Context(ref, locale)
        for i, text in enumerate(req["texts"]):
            result = duckling.parse_text(text, context, dims, False)
            out.write(json.dumps({"i": i, "r": result}) + "\n")
            out.flush()
        signal.setitimer(signal.ITIMER_PROF, 0)
        out.write(json.dumps({"done": True, "cpu": time.process_time() - cpu0}) + "\n")
        out.flush()


class _Child:
    def __init__(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "standardiste.understanding.duckling_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._buf = b""
        self.ready = False

    def wait_ready(self, timeout: float) -> bool:
        line = self.read_line(time.monotonic() + timeout)
        self.ready = line is not None and line.get("ready") is True
        return self.ready

    def read_line(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON line, or None on EOF (the child died) or past the deadline."""
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self._fd], [], [], left)
            if not r:
                return None
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)  # one JSON object a line: the worker's own protocol
        return reply

    def send(self, obj: dict[str, Any]) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass(slots=True)
class Parsed:
    """One request's outcome: Duckling's results per text (None: not parsed), whether the budget ran
    out (the rest was abandoned), and the child's CPU time spent (the budget when it ran out)."""

    results: list[list[dict[str, Any]] | None]
    over: bool = False
    cpu_s: float = 0.0


class DucklingWorker:
    """A Duckling child process with a per-request CPU budget, and a spare to replace it at once.

    Thread-safe: requests are serialised (each is bounded by its budget). `parse` never raises and
    never waits for a child to start: with no child ready it returns no results (dates not understood).
    """

    def __init__(self, start_timeout: float = START_TIMEOUT_S) -> None:
        self._lock = threading.Lock()
        self._spare_lock = threading.Condition()
        self._active: _Child | None = None
        self._spare: _Child | None = None
        self._starting = False
        self.kills = 0  # requests that overran their budget (for tests and metrics)
        self.closed = False
        child = _Child()
        if child.wait_ready(start_timeout):
            self._active = child
            self._start_spare()  # ready to take over at once if a request ever overruns
        else:
            child.kill()
            log.error("Duckling worker did not start: dates will not be understood")
        atexit.register(self.close)

    def _spare_ready(self, wait_s: float) -> _Child | None:
        with self._spare_lock:
            self._spare_lock.wait_for(lambda: self._spare is not None or self.closed, wait_s)
            spare, self._spare = self._spare, None
        return spare

    def _start_spare(self) -> None:
        with self._spare_lock:
            if self._starting or self._spare is not None or self.closed:
                return
            self._starting = True

        def run() -> None:
            child = _Child()
            ready = child.wait_ready(START_TIMEOUT_S)
            with self._spare_lock:
                self._starting = False
                if ready and not self.closed and self._spare is None:
                    self._spare = child
                    self._spare_lock.notify_all()
                    return
            child.kill()

        threading.Thread(target=run, name="duckling-spare", daemon=True).start()

    def parse(self, texts: Sequence[str], timezone: str, ref_ts: int, budget_s: float) -> Parsed:
        """Duckling's results for each text, within `budget_s` of the child's CPU time."""
        out = Parsed([None] * len(texts))
        if not texts:
            return out
        if budget_s <= 0:
            out.over = True
            return out
        with self._lock:
            child = self._active
            if child is None or not child.alive:
                child = self._replace(child)
                if child is None:
                    out.over = True
                    return out
            request = {"tz": timezone, "ref": ref_ts, "texts": list(texts), "budget": budget_s}
            if not child.send(request):
                self._replace(child)
                out.over = True
                return out
            deadline = time.monotonic() + budget_s + WALL_SLACK_S
            while True:
                line = child.read_line(deadline)
                if line is None:  # killed by its CPU timer, or stuck past the wall guard
                    self.kills += 1
                    log.warning("Duckling over budget (%.0f ms): request abandoned", budget_s * 1000)
                    self._replace(child)
                    out.over, out.cpu_s = True, budget_s
                    return out
                if line.get("done"):
                    out.cpu_s = float(line.get("cpu", 0.0))
                    return out
                out.results[int(line["i"])] = json.loads(line["r"])

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> bool:
        """Whether a child is ready to parse, waiting up to `timeout` for the spare after an overrun."""
        with self._lock:
            child = self._active
            if child is not None and child.alive:
                return True
            if child is not None:
                child.kill()
            self._active = self._spare_ready(timeout)
            self._start_spare()
            return self._active is not None

    def _replace(self, dead: _Child | None) -> _Child | None:
        if dead is not None:
            dead.kill()
        # The spare is normally ready; right after another overrun it may still be starting: wait for it
        # a little (this runs in a worker thread, never on the event loop) rather than lose the dates.
        self._active = self._spare_ready(SPARE_WAIT_S)
        self._start_spare()
        return self._active

    def close(self) -> None:
        self.closed = True
        for child in (self._active, self._spare):
            if child is not None:
                child.kill()
        self._active = self._spare = None


_shared: DucklingWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> DucklingWorker:
    """One worker per process (its child serves every time zone)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = DucklingWorker()
        return _shared


if __name__ == "__main__":  # pragma: no cover
    _child_main()
