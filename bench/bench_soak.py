"""Soak: 1,000 calls through the real controller, sessions and dialogue; memory must stay flat.

Runs the real VoiceApp in this process (SQLite database, real understanding, agenda and call log,
encrypted rows) with simulated call legs in place of Asterisk: each call is answered, hears the
greeting, presses 1 (opening hours), hears the answer and hangs up. Calls run 20 at a time. Every
100 calls the process's RSS, its live Python objects and the controller's per-call structures are
printed; the verdict compares RSS after 1,000 calls with RSS after the warm-up (first 200).

Recogniser: keypad only (no speech is recognised: this measures per-call residue, not recognition).
Audio source: none (simulated legs; prompts are 0.2 s of silence played 40x faster than real time).

Usage: python bench/bench_soak.py [--calls 1000] [--concurrency 20]
Results: bench/results/soak.json and soak.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import logging
import os
import platform
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FRAME_BYTES = 640
SPEEDUP = 40.0
RECOGNISER = "keypad only (no recogniser on the path)"
AUDIO_SOURCE = "none: simulated call legs, DTMF events"


def rss_mb(pid: int | None = None) -> float:
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kb / 1024


class SimLeg:
    """Stands for Asterisk's side of one call (the controller's _TrackedLeg signature)."""

    def __init__(self, ari: Any, channel: Any, settings: Any, registry: dict[str, Any]) -> None:
        self.channel_id = channel.id
        self.media_channel_id: str | None = None
        self.media_lost = asyncio.Event()
        self.recording: str | None = None
        self.prompts = 0
        self.transferred = False
        self._stop = asyncio.Event()

    async def answer(self) -> None:
        pass

    async def open_media(self, on_frame: Callable[[bytes], None]) -> None:
        pass

    async def play(self, pcm: bytes, on_first_frame: Callable[[], None] | None = None) -> bool:
        self._stop.clear()
        if on_first_frame:
            on_first_frame()
        try:
            await asyncio.wait_for(self._stop.wait(), len(pcm) / FRAME_BYTES * 0.02 / SPEEDUP)
            return False
        except TimeoutError:
            return True
        finally:
            self.prompts += 1

    async def stop_playback(self) -> None:
        self._stop.set()

    async def transfer(self, priority: bool = False) -> None:
        self.transferred = True

    async def hangup(self) -> None:
        pass

    async def close(self) -> None:
        pass


class SilentSynth:
    async def synthesize(self, text: str) -> bytes:
        return bytes(FRAME_BYTES * 10)  # 0.2 s


async def run(calls: int, concurrency: int) -> dict[str, Any]:
    from standardiste.app import AriAccess, VoiceApp
    from standardiste.config import Secrets, load_config
    from standardiste.speech.keypad_backend import KeypadOnlyRecognizer
    from standardiste.storage.db import Database
    from standardiste.telephony import controller as controller_module
    from standardiste.telephony.ari import Channel, ChannelHangup, DtmfReceived, StasisStart

    logging.basicConfig(level=logging.ERROR)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    config = load_config(None)
    privacy = config.deployment.privacy.model_copy(update={"key_file": data_dir / "key" / "data.key"})
    deployment = config.deployment.model_copy(update={"data_dir": data_dir / "data", "privacy": privacy})
    config = config.model_copy(update={"deployment": deployment})
    secrets_ = Secrets(
        ari_password="soak",
        ami_secret="soak",
        encryption_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        session_key="soak",
    )
    controller_module._TrackedLeg = SimLeg  # type: ignore[misc,assignment]
    app = VoiceApp(
        config,
        AriAccess("http://127.0.0.1:9", "u", "p", "soak"),  # nothing listens: events come from here
        db=Database(f"sqlite:///{data_dir / 'soak.db'}"),
        recognizer=KeypadOnlyRecognizer(),
        synthesizer=SilentSynth(),
        secrets_=secrets_,
    )

    async def no_guardian(access: Any) -> None:
        return None

    app._start_guardian = no_guardian  # type: ignore[method-assign]
    await app.start()
    ctl = app.controller
    assert ctl is not None

    done = 0
    failures = 0
    rows: list[dict[str, Any]] = []
    slots = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def until(cond: Callable[[], bool], limit_s: float = 20.0) -> None:
        async with asyncio.timeout(limit_s):
            while not cond():  # noqa: ASYNC110
                await asyncio.sleep(0.005)

    async def one(i: int) -> None:
        nonlocal done, failures
        async with slots:
            channel = Channel(f"soak-{i}", f"PJSIP/caller-{i}", caller_number=f"06{i:08d}")
            try:
                await ctl.on_event(StasisStart(channel, ()))
                await until(lambda: channel.id in ctl.calls and ctl.calls[channel.id].leg.prompts >= 1)
                leg = ctl.calls[channel.id].leg
                await ctl.on_event(DtmfReceived(channel, "1"))
                await until(lambda: leg.prompts >= 2 or channel.id not in ctl.calls)
                await ctl.on_event(ChannelHangup(channel, 16))
                await until(lambda: channel.id not in ctl.calls)
            except TimeoutError:
                failures += 1
            done += 1
            if done % 100 == 0:
                gc.collect()
                row = {
                    "calls": done,
                    "rss_mb": round(rss_mb(), 1),
                    "python_objects": len(gc.get_objects()),
                    "live_calls": len(ctl.calls),
                    "ended_kept": ctl.ended.qsize(),
                    "elapsed_s": round(time.monotonic() - started, 1),
                }
                rows.append(row)
                print(
                    f"{row['calls']:5d} calls  RSS {row['rss_mb']:7.1f} MB  "
                    f"objects {row['python_objects']:8d}  live {row['live_calls']:3d}  "
                    f"ended kept {row['ended_kept']:3d}  {row['elapsed_s']:6.1f} s",
                    flush=True,
                )

    load_before = os.getloadavg()
    await asyncio.gather(*(one(i) for i in range(calls)))
    load_after = os.getloadavg()
    # What the calls did, from the call log the sessions wrote (encrypted rows, real store).
    from sqlalchemy import func, select

    from standardiste.calllog.tables import CallRow

    assert app.db is not None
    with app.db.session() as s:
        outcomes = {
            str(o): n for o, n in s.execute(select(CallRow.outcome, func.count()).group_by(CallRow.outcome))
        }
    await app.stop()
    warm = next((r for r in rows if r["calls"] >= 200), rows[0])
    last = rows[-1]
    growth_mb = last["rss_mb"] - warm["rss_mb"]
    per_call_kb = growth_mb * 1024 / max(1, last["calls"] - warm["calls"])
    return {
        "bench": "soak",
        "recogniser": RECOGNISER,
        "audio_source": AUDIO_SOURCE,
        "machine": f"{platform.node()} {os.cpu_count()} CPU",
        "machine_load_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "calls": calls,
        "concurrency": concurrency,
        "failures": failures,
        "rows": rows,
        "rss_growth_after_warmup_mb": round(growth_mb, 1),
        "rss_growth_per_call_kb": round(per_call_kb, 2),
        "ended_records_kept": ctl.ended.qsize(),
        "call_log_outcomes": outcomes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print(
        f"soak: {args.calls} calls, {args.concurrency} at a time; recogniser: {RECOGNISER}; "
        f"audio: {AUDIO_SOURCE}; machine load (1/5/15 min): {os.getloadavg()}",
        flush=True,
    )
    result = asyncio.run(run(args.calls, args.concurrency))
    print(
        f"RSS growth after warm-up (200 -> {args.calls} calls): {result['rss_growth_after_warmup_mb']} MB "
        f"({result['rss_growth_per_call_kb']} KB/call); failures {result['failures']}; "
        f"call log outcomes {result['call_log_outcomes']}; "
        f"machine load (1 min) {result['machine_load_1min']}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Soak: 1,000 calls through the real controller (bench/bench_soak.py)",
        "",
        f"Recogniser: {RECOGNISER}. Audio source: {AUDIO_SOURCE}. Machine: {result['machine']}, "
        f"load (1 min) before/after {result['machine_load_1min']}.",
        "",
        "| calls | RSS MB | Python objects | live calls | ended records kept | elapsed s |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['calls']} | {r['rss_mb']} | {r['python_objects']} | {r['live_calls']} | "
            f"{r['ended_kept']} | {r['elapsed_s']} |"
            for r in result["rows"]
        ),
        "",
        f"RSS growth after warm-up: {result['rss_growth_after_warmup_mb']} MB "
        f"({result['rss_growth_per_call_kb']} KB per call); failed calls: {result['failures']}; "
        f"call log outcomes: {result['call_log_outcomes']}.",
    ]
    (RESULTS / "soak.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
