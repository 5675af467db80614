"""Voice loop benchmark on a real Asterisk with real pjsua2 phones.

Measures, for 1, 5, 10, 20 calls placed at once:
- answer -> first greeting frame sent (controller side), and call answered -> first sound heard (phone side);
- end of the caller's turn -> first frame of our reply (our processing: recognition finish, dialogue,
  synthesis from cache, first frame);
- CPU and RAM of the controller process per concurrent call (the controller runs in its own process,
  so the phones' CPU is not counted).

Usage: python bench/bench_voice_loop.py [--calls 1 5 10 20] [--recognizer keypad|vosk-ko]
Results: bench/results/voice_loop-<recognizer>.json and .md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLK = os.sysconf("SC_CLK_TCK")


# --- the controller process -----------------------------------------------------------------------


def child_main(spec_path: str) -> None:
    """Runs the real VoiceApp against the bench Asterisk; logs JSON lines to stderr."""
    import logging
    import signal

    from standardiste.app import AriAccess, VoiceApp
    from standardiste.config import Secrets, load_config
    from standardiste.logs import setup_logging
    from standardiste.storage.db import Database

    spec = json.loads(Path(spec_path).read_text())
    setup_logging("json", logging.INFO)
    config = load_config(None)
    deployment = config.deployment.model_copy(update={"data_dir": Path(spec["data_dir"])})
    config = config.model_copy(update={"deployment": deployment})
    recognizer: Any
    if spec["recognizer"] == "vosk-ko":
        from concurrent.futures import ThreadPoolExecutor

        from standardiste.speech.vosk_backend import VoskRecognizer

        # Decoding threads: leave a core to the event loop (the backend's default is 2 per core).
        workers = spec.get("vosk_workers") or None
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk") if workers else None
        recognizer = VoskRecognizer(spec["vosk_model"], understands_french=True, executor=executor)
    else:
        from standardiste.speech.keypad_backend import KeypadOnlyRecognizer

        recognizer = KeypadOnlyRecognizer()

    async def main() -> None:
        app = VoiceApp(
            config,
            AriAccess(spec["ari_url"], spec["ari_user"], spec["ari_password"], spec["app"]),
            db=Database(f"sqlite:///{spec['data_dir']}/bench.db"),
            recognizer=recognizer,
            secrets_=Secrets(**spec["secrets"]),
        )
        await app.start()
        print(json.dumps({"ready": True}), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await app.stop()

    asyncio.run(main())


def proc_stats(pid: int) -> tuple[float, float]:
    """(cpu seconds, RSS MB) of a process (raises ProcessLookupError once it is gone)."""
    status = Path(f"/proc/{pid}/status").read_text()
    if "VmRSS:" not in status:
        raise ProcessLookupError(f"controller process {pid} exited")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kb / 1024


# --- the bench ------------------------------------------------------------------------------------


async def one_call(phone: Any, extension: str, utterance: bytes, turns: int) -> dict[str, float | None]:
    call = await phone.call(extension, answer_timeout=15)
    answered = time.monotonic()
    heard_at: float | None = None
    try:
        pos = await call.wait_sound(timeout=10)
        heard_at = pos  # seconds into the recording (recording starts at media start)
        for _ in range(turns):
            await asyncio.sleep(1.0)
            await call.play_pcm(utterance, wait=True)
            await asyncio.sleep(1.5)
    finally:
        await call.hangup()
    return {"first_sound_s": heard_at, "wall_s": time.monotonic() - answered}


PHONES_PER_WORKER = 4  # the pjsua2 wheel handles at most 4 calls at once per process


async def phone_worker(spec_path: str, first: int, count: int) -> None:
    """A process with `count` registered phones; on 'go' (stdin) they all call at once."""
    from standardiste.pbx.instance import PhoneAccount
    from standardiste.testphone import TestPhone

    spec = json.loads(Path(spec_path).read_text())  # noqa: ASYNC240 (start-up, before any call)
    phones = []
    for i in range(first, first + count):
        acc = PhoneAccount(**spec["phones"][f"caller{i}"])
        phones.append(await TestPhone(acc).start())
    utterance = Path(spec["utterance"]).read_bytes()  # noqa: ASYNC240
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    tasks = [asyncio.create_task(one_call(p, spec["extension"], utterance, 2)) for p in phones]
    await asyncio.wait(tasks)
    out = [t.result() if not t.exception() else {"error": _describe(t.exception())} for t in tasks]
    print(json.dumps(out), flush=True)
    for p in phones:
        with contextlib.suppress(Exception):
            await p.close()
    os._exit(0)  # pjsua2 teardown is not needed (and may assert) in a throw-away process


async def run_level(spec_path: Path, n: int, pid: int) -> dict[str, Any]:
    workers = []
    for first in range(1, n + 1, PHONES_PER_WORKER):
        count = min(PHONES_PER_WORKER, n + 1 - first)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--phone-worker",
            str(spec_path),
            str(first),
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=(spec_path.parent / f"worker-{first}.log").open("w"),
        )
        workers.append(proc)
    for proc in workers:
        # pjsua2 logs to stdout as well: skip until our own marker.
        await asyncio.wait_for(_read_until(proc, lambda line: line == b"ready"), 30)
    cpu0, rss0 = proc_stats(pid)
    peak = rss0
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    reads = [asyncio.create_task(_read_until(proc, lambda line: line.startswith(b"["))) for proc in workers]
    while not all(r.done() for r in reads):
        await asyncio.sleep(0.2)
        peak = max(peak, proc_stats(pid)[1])
    wall = time.monotonic() - t0
    cpu1, _ = proc_stats(pid)
    results: list[dict[str, Any]] = []
    for r in reads:
        with contextlib.suppress(ValueError):
            results += json.loads(r.result() or b"[]")
    for proc in workers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 10)
    ok = [r for r in results if "error" not in r]
    return {
        "calls": n,
        "completed": len(ok),
        "errors": [r["error"] for r in results if "error" in r][:3],
        "wall_s": round(wall, 1),
        "controller_cpu_s": round(cpu1 - cpu0, 2),
        "controller_cpu_percent_per_call": round(100 * (cpu1 - cpu0) / wall / n, 2),
        "rss_before_mb": round(rss0, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_per_call_mb": round((peak - rss0) / n, 2),
        "first_sound_s": [r["first_sound_s"] for r in ok],
        "machine_load_1min": round(max(load_before, os.getloadavg()[0]), 1),
    }


async def _read_until(proc: asyncio.subprocess.Process, want: Any) -> bytes:
    assert proc.stdout is not None
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("phone worker exited early")
        if want(line.strip()):
            return line


def _describe(err: BaseException | None) -> str:
    info = getattr(err, "info", None)
    if callable(info):
        try:
            return str(info())
        except Exception:
            pass
    return repr(err)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


async def bench(levels: list[int], recognizer: str, vosk_workers: int = 0) -> dict[str, Any]:
    from standardiste.config import Secrets
    from standardiste.pbx import PbxInstance, ensure_root, free_asterisk_config
    from standardiste.speech.audio import silence
    from standardiste.speech.tts import EspeakSynthesizer

    root = ensure_root()
    (root / "instances").mkdir(exist_ok=True)
    inst = Path(tempfile.mkdtemp(prefix="bench-", dir=root / "instances"))
    import base64
    import secrets as s

    secrets_ = Secrets(
        ari_password=s.token_urlsafe(16),
        ami_secret=s.token_urlsafe(16),
        encryption_key=base64.urlsafe_b64encode(s.token_bytes(32)).decode(),
        session_key="bench",
    )
    most = max(levels)
    pbx = PbxInstance(root, inst, free_asterisk_config("bench"), secrets_, callers=most)
    await pbx.start()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-data-"))
    spec = {
        "ari_url": pbx.ari_url,
        "ari_user": pbx.ari_user,
        "ari_password": pbx.ari_password,
        "app": pbx.app_name,
        "secrets": secrets_.model_dump(),
        "data_dir": str(data_dir),
        "recognizer": recognizer,
    }
    if recognizer == "vosk-ko":
        sys.path.insert(0, str(ROOT))
        from tests.fixtures.speech import vosk_ko_model_path

        spec["vosk_model"] = str(vosk_ko_model_path())
        spec["vosk_workers"] = vosk_workers
    spec_path = data_dir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = data_dir / "controller.log"
    child = subprocess.Popen(  # noqa: ASYNC220 (started once, before any call)
        [sys.executable, __file__, "--child", str(spec_path)],
        stdout=subprocess.PIPE,
        stderr=log_path.open("w"),
        text=True,
    )
    out: dict[str, Any] = {"recognizer": recognizer, "vosk_workers": vosk_workers or "default", "levels": []}
    try:
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        if "ready" not in line:
            raise RuntimeError(f"controller did not start; see {log_path}")
        utterance = silence(100) + await EspeakSynthesizer().synthesize(
            "Bonjour, je voudrais un rendez-vous."
        )
        (data_dir / "utterance.pcm").write_bytes(utterance)
        phone_spec = {
            "phones": {f"caller{i}": dataclasses.asdict(pbx.phone(f"caller{i}")) for i in range(1, most + 1)},
            "utterance": str(data_dir / "utterance.pcm"),
            "extension": pbx.practice_extension,
        }
        phone_spec_path = data_dir / "phones.json"
        phone_spec_path.write_text(json.dumps(phone_spec))
        await asyncio.sleep(1.0)
        _, idle_rss = proc_stats(child.pid)
        out["controller_idle_rss_mb"] = round(idle_rss, 1)
        for n in levels:
            mark = log_path.stat().st_size
            level = await run_level(phone_spec_path, n, child.pid)
            await asyncio.sleep(2.0)
            with log_path.open() as f:
                f.seek(mark)
                entries = [json.loads(x) for x in f if x.startswith("{")]
            greet = [e["answer_to_first_frame_ms"] for e in entries if "answer_to_first_frame_ms" in e]
            reply = [
                e["end_of_turn_to_first_frame_ms"] for e in entries if "end_of_turn_to_first_frame_ms" in e
            ]
            recog = [e["recognition_ms"] for e in entries if "recognition_ms" in e]
            barge = [e["speech_to_stop_ms"] for e in entries if "speech_to_stop_ms" in e]
            level.update(
                {
                    "greeting_ms_p50": percentile(greet, 0.5),
                    "greeting_ms_p95": percentile(greet, 0.95),
                    "greeting_ms_max": max(greet) if greet else None,
                    "reply_ms_p50": percentile(reply, 0.5),
                    "reply_ms_p95": percentile(reply, 0.95),
                    "reply_samples": len(reply),
                    "barge_in_ms_p50": percentile(barge, 0.5),
                    "barge_in_ms_p95": percentile(barge, 0.95),
                    "recognition_ms_p50": percentile(recog, 0.5),
                    "recognition_ms_p95": percentile(recog, 0.95),
                    "errors_logged": sum(1 for e in entries if e.get("level") == "error"),
                }
            )
            first = [x for x in level.pop("first_sound_s") if x is not None]
            level["phone_first_sound_ms_p50"] = percentile([x * 1000 for x in first], 0.5)
            print(json.dumps(level), flush=True)
            out["levels"].append(level)
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        await pbx.stop()
        pbx.remove()
    return out


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"voice_loop-{result['recognizer']}"
    if result.get("vosk_workers") not in (None, "default"):
        name += f"-{result['vosk_workers']}workers"
    result["machine"] = {"cpus": os.cpu_count(), "note": "2-core machine shared with other jobs"}
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["context"] = describe(
        result["recognizer"] if result["recognizer"] != "keypad" else "keypad only (no recogniser)",
        "pjsua2 phones playing a synthesised French utterance (espeak-ng)",
    )
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Voice loop benchmark ({result['recognizer']}, decoding threads: {result.get('vosk_workers')}, "
        f"{result['date']})",
        "",
        f"Controller idle RSS: {result.get('controller_idle_rss_mb')} MB (shared model and code included).",
        "",
        f"Recogniser: {result['context']['recogniser']}. Audio source: {result['context']['audio_source']}. "
        f"Machine load (1/5/15 min) when written: {result['context']['machine_load_1_5_15min']}.",
        "",
        "| calls | greeting p50/p95/max ms | reply p50/p95 ms (n) | of which recogniser p50/p95 "
        "| barge-in stop p50/p95 ms | CPU %/call | RSS/call MB "
        "| phone first sound p50 ms | machine load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in result["levels"]:
        lines.append(
            f"| {lv['calls']} ({lv['completed']} ok) | {lv['greeting_ms_p50']}/{lv['greeting_ms_p95']}/"
            f"{lv['greeting_ms_max']} | {lv['reply_ms_p50']}/{lv['reply_ms_p95']} ({lv['reply_samples']}) | "
            f"{lv.get('recognition_ms_p50')}/{lv.get('recognition_ms_p95')} | "
            f"{lv.get('barge_in_ms_p50')}/{lv.get('barge_in_ms_p95')} | "
            f"{lv['controller_cpu_percent_per_call']} | {lv['rss_per_call_mb']} | "
            f"{lv['phone_first_sound_ms_p50']} | {lv.get('machine_load_1min')} |"
        )
    lines += [
        "",
        "Machine load: 1-minute load average of the shared 2-core machine (other jobs ran tests meanwhile);",
        "figures taken under a load far above 2 are pessimistic.",
        "",
        "Goals: greeting <= 300 ms, reply p95 <= 100 ms, RAM per call <= 20 MB beyond the shared model.",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--recognizer", choices=("keypad", "vosk-ko"), default="keypad")
    parser.add_argument(
        "--vosk-workers", type=int, default=0, help="decoding threads (0: the backend's default)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--phone-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phone_worker:
        spec, first, count = args.phone_worker
        asyncio.run(phone_worker(spec, int(first), int(count)))
        return
    if args.child:
        child_main(args.child)
        return
    write_results(asyncio.run(bench(args.calls, args.recognizer, args.vosk_workers)))


if __name__ == "__main__":
    main()
