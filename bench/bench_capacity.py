"""Capacity with open recognition on (issue 14, item 4), and the machinery of bench_end_of_turn.py.

Real Asterisk, real SIP callers (pjsua2 phones, 4 per process), the real VoiceApp in its own process with
the default recogniser (Whisper base + PocketSphinx grammars, decoded in the controller's threads and the
Sphinx worker processes) and a scripted questionnaire (each question a kind of answer: time, date and time,
day, yes/no, phone), so that every caller's turn has a known right answer. Callers speak human French:
Debian's asterisk-core-sounds-fr-wav word recordings (June, Canadian French) spliced into answers, with a
natural pause inside some (pico: the yes/no answers, SVOX Pico, there is no human "oui" in that package).

For each level (calls placed at once) it prints and keeps: voice-to-voice p50/p95 measured at the callers'
phones (end of the caller's voice in what they sent -> first sound of the reply they hear) and at the
controller (last voiced frame -> first reply frame sent), turns cut while the caller still spoke, the
right-reply rate (the recognised answer equals the words said), CPU (% of one core, and CPU-s per call) and
RSS of the controller, of the Sphinx workers and of Asterisk, apart from the callers' processes, and the
machine's load. Where it breaks: the first level whose p95 exceeds 1 s or whose right-reply rate falls
under the 1-call level's by more than 10 points.

Usage: python bench/bench_capacity.py [--calls 1 10 20 30 40] [--turns 4] [--short-ms 250]
Results: bench/results/capacity.json and capacity.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import secrets as pysecrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLK = os.sysconf("SC_CLK_TCK")
PHONES_PER_WORKER = 4  # the pjsua2 wheel handles at most 4 calls at once per process
RATE = 16000
LOUD_RMS = 300.0  # a 20 ms frame louder than this is sound (the assistant's voice, the caller's)

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe

# --- the turns callers say ------------------------------------------------------------------------
# (kind, words; "|" is a natural pause inside the answer). "<pico>" turns are synthesised (SVOX Pico).

PLAIN_TURNS: list[tuple[str, str]] = [
    ("time", "quatorze heures trente"),
    ("date_time", "mardi dix heures quinze"),
    ("day", "douze mars"),
    ("yes_no", "<pico>Oui, c'est ça."),
]
PAUSED_TURNS: list[tuple[str, str]] = [
    ("time", "seize heures | quarante cinq"),
    ("date_time", "jeudi | neuf heures trente"),
    ("date_time", "lundi quatorze heures | vingt"),
    ("day", "vingt cinq | avril"),
    ("phone", "zéro six | douze | trente quatre | cinquante six | soixante dix huit"),
    ("time", "onze heures quinze"),
    ("date_time", "vendredi huit heures trente"),
    ("yes_no", "<pico>Non."),
]
QUESTIONS = {
    "time": "À quelle heure ?",
    "date_time": "Quel jour et à quelle heure ?",
    "day": "Quel jour ?",
    "yes_no": "Vous confirmez ?",
    "phone": "Votre numéro de téléphone ?",
}


def build_turn_audio(turns: list[tuple[str, str]], pause_s: float, out_dir: Path) -> list[dict[str, Any]]:
    """slin16 files for the turns; each with where the caller's voice ends (seconds into the file)."""
    import random

    import numpy as np

    sys.path.insert(0, str(ROOT))
    from tests.fixtures.speech_corpus import _WORD_FILES, _load_8k
    from tests.fixtures.spoken_calls import _pico_say

    from standardiste.speech.audio import resample

    rng = random.Random(20261207)
    cache: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for i, (kind, text) in enumerate(turns):
        if text.startswith("<pico>"):
            pcm = b"\x00" * 9600 + _pico_say(text[6:]) + b"\x00" * 16000
            source, words = "pico", text[6:]
        else:
            parts = [np.zeros(2400, np.float32)]
            for token in text.split():
                if token == "|":
                    parts.append(np.zeros(int(8000 * pause_s), np.float32))
                    continue
                name = _WORD_FILES.get(token) or ("hours" if token == "heures" else None)
                assert name, token
                if name not in cache:
                    cache[name] = _load_8k("june", name)
                parts.append(np.zeros(int(8000 * rng.uniform(0.06, 0.16)), np.float32))
                parts.append(cache[name])
            parts.append(np.zeros(8000, np.float32))
            audio = np.concatenate(parts)
            audio += np.random.default_rng(i).normal(0, 12, len(audio)).astype(np.float32)
            pcm = resample(np.clip(audio, -32768, 32767).astype("<i2").tobytes(), 8000, RATE)
            source, words = "human", text.replace("|", " ")
        path = out_dir / f"turn-{i}.raw"
        path.write_bytes(pcm)
        out.append(
            {"kind": kind, "words": " ".join(words.split()), "source": source, "path": str(path),
             "seconds": len(pcm) / (2 * RATE), "voice_end_s": voice_end(pcm),
             "voice_start_s": voice_start(pcm), "paused": "|" in text}
        )  # fmt: skip
    return out


def _rms(frame: bytes) -> float:
    import numpy as np

    x = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def voice_end(pcm: bytes) -> float:
    """Seconds into `pcm` where its last loud 20 ms frame ends."""
    step = RATE * 2 // 50
    last = 0
    for i in range(0, len(pcm) - step + 1, step):
        if _rms(pcm[i : i + step]) > LOUD_RMS:
            last = i + step
    return last / (2 * RATE)


def voice_start(pcm: bytes) -> float:
    """Seconds into `pcm` where its first loud 20 ms frame starts."""
    step = RATE * 2 // 50
    for i in range(0, len(pcm) - step + 1, step):
        if _rms(pcm[i : i + step]) > LOUD_RMS:
            return i / (2 * RATE)
    return 0.0


# --- the controller process -----------------------------------------------------------------------


def _norm(text: str) -> list[str]:
    from standardiste.speech.snap import spell_out

    words = re.split(r"[\s\-]+", spell_out(text))
    return ["heures" if w == "heure" else ("vingt" if w == "vingts" else w) for w in words if w]


def right_answer(kind: str, said: str, heard: str) -> bool:
    if kind == "yes_no":
        first = (_norm(heard) or [""])[0]
        return first in ("oui", "ouais") if said.lower().startswith("oui") else first == "non"
    return _norm(heard) == _norm(said)


class Questionnaire:
    """The scripted conversation: one question per turn, in the callers' order; logs each answer's verdict."""

    def __init__(self, turns: list[dict[str, Any]], log: Any) -> None:
        from standardiste.dialogue.messages import Utterance

        self.turns = turns
        self.i = 0
        self.log = log
        self._transcript: list[Utterance] = []

    def _ask(self) -> list[Any]:
        from standardiste.dialogue.messages import Expect, Expectation, Hangup, Say

        if self.i >= len(self.turns):
            return [Say("Merci, au revoir."), Hangup("bench")]
        kind = self.turns[self.i]["kind"]
        return [Say(QUESTIONS[kind], expect=Expectation(Expect(kind), timeout_s=8.0))]

    def handle(self, event: Any) -> list[Any]:
        from standardiste.dialogue.messages import CallStarted, Heard, NoInput

        if isinstance(event, CallStarted):
            return self._ask()
        if isinstance(event, Heard | NoInput) and self.i < len(self.turns):
            turn = self.turns[self.i]
            heard = event.text if isinstance(event, Heard) else ""
            self.log.info(
                "bench answer",
                extra={"turn": self.i, "kind": turn["kind"], "heard": heard, "said": turn["words"],
                       "right": right_answer(turn["kind"], turn["words"], heard)},
            )  # fmt: skip
            self.i += 1
        return self._ask()

    @property
    def outcome(self) -> None:
        return None

    @property
    def transcript(self) -> list[Any]:
        return self._transcript


def child_main(spec_path: str) -> None:
    """The real VoiceApp (default recogniser) against the bench Asterisk; JSON log lines on stderr."""
    import logging
    import signal

    from standardiste.app import AriAccess, VoiceApp
    from standardiste.config import Secrets, load_config
    from standardiste.logs import setup_logging
    from standardiste.storage.db import Database

    spec = json.loads(Path(spec_path).read_text())
    setup_logging("json", logging.INFO)
    log = logging.getLogger("bench")
    config = load_config(None)
    speech = config.deployment.speech.model_copy(update={"short_end_of_turn_ms": spec["short_ms"]})
    capacity = config.deployment.capacity.model_copy(update={"max_calls": spec.get("max_calls", 0)})
    deployment = config.deployment.model_copy(
        update={"data_dir": Path(spec["data_dir"]), "speech": speech, "capacity": capacity}
    )
    config = config.model_copy(update={"deployment": deployment})
    turns = json.loads(Path(spec["turns"]).read_text())
    if spec.get("late_pass_ms") is not None:  # the late pass (endpointing.EndpointSettings), for A/B runs
        import functools

        import standardiste.app as app_module

        app_module.EndpointSettings = functools.partial(  # type: ignore[misc]
            app_module.EndpointSettings, late_pass_after_ms=spec["late_pass_ms"]
        )

    async def main() -> None:
        app = VoiceApp(
            config,
            AriAccess(spec["ari_url"], spec["ari_user"], spec["ari_password"], spec["app"]),
            db=Database(f"sqlite:///{spec['data_dir']}/bench.db"),
            secrets_=Secrets(**spec["secrets"]),
        )
        app.new_conversation = lambda *_args, **_kw: Questionnaire(turns, log)  # type: ignore[method-assign,assignment,return-value]
        # No 3 s "not understood" deadline here: its late answers would be taken for the next question's,
        # and the figures must show how long recognition really took under load.
        app.recognition_timeout_s = 30.0
        await app.start()
        grammar = getattr(app.recognizer, "grammar", None)
        pids = grammar.worker_pids() if grammar is not None and hasattr(grammar, "worker_pids") else []
        name = app.recognizer.name if app.recognizer is not None else "none"
        print(json.dumps({"ready": True, "recognizer": name, "sphinx_pids": pids}), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await app.stop()

    asyncio.run(main())


def proc_stats(pid: int) -> tuple[float, float]:
    """(cpu seconds, RSS MB) of a process; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    rss = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:")), 0)
    return (int(fields[11]) + int(fields[12])) / CLK, rss / 1024


# --- the callers ----------------------------------------------------------------------------------


class HeardStream:
    """Reads a call's recording as it grows (16 kHz slin16 WAV), 20 ms frames, without re-reading it all."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.offset = 44
        self.loud: list[bool] = []  # per 20 ms frame heard so far
        self._rest = b""

    def poll(self) -> None:
        try:
            with open(self.call.record_path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        data = self._rest + data
        step = RATE * 2 // 50
        n = len(data) // step
        self.loud += [_rms(data[i * step : (i + 1) * step]) > LOUD_RMS for i in range(n)]
        self._rest = data[n * step :]

    @property
    def seconds(self) -> float:
        return len(self.loud) * 0.02

    def first_loud(self, after_s: float) -> float | None:
        for i in range(int(after_s / 0.02), len(self.loud)):
            if self.loud[i]:
                return i * 0.02
        return None

    def quiet_for(self, seconds: float) -> bool:
        n = int(seconds / 0.02)
        return len(self.loud) >= n and not any(self.loud[-n:])

    def size(self) -> int:
        try:
            return os.stat(self.call.record_path).st_size
        except OSError:
            return 0

    async def anchor(self) -> tuple[float, float]:
        """(position in the recording in seconds, monotonic time) of the same instant.

        pjsua's WAV writer flushes every 4,000 bytes (125 ms at 16 kHz): the file's length lags the call by
        up to that much, which made the callers' clock late (the figures longer) by 0-125 ms. The moment the
        file grows, its length is the call's position (to a poll of 2 ms and a 20 ms tick).
        """
        size = self.size()
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            grown = self.size()
            if grown != size:
                return (grown - 44) / (2 * RATE), time.monotonic()
            await asyncio.sleep(0.002)
        return (size - 44) / (2 * RATE), time.monotonic()


async def _until(cond: Any, stream: HeardStream, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        stream.poll()
        if cond():
            return True
        await asyncio.sleep(0.02)
    return False


async def one_call(phone: Any, extension: str, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from standardiste.testphone.phone import write_wav

    call = await phone.call(extension, answer_timeout=20)
    heard = HeardStream(call)
    out: list[dict[str, Any]] = []
    try:
        # The question: sound, then 0.6 s of quiet (its end).
        await _until(lambda: heard.first_loud(0) is not None, heard, 20)
        first_sound = heard.first_loud(0)  # seconds after the answer: never silence, admitted or not
        for i, turn in enumerate(turns):
            await _until(lambda: heard.quiet_for(0.6), heard, 20)
            await asyncio.sleep(0.2)
            path = Path(turn["path"]).with_suffix(f".{phone.account.username}.wav")
            if not path.exists():
                write_wav(path, Path(turn["path"]).read_bytes(), RATE)  # noqa: ASYNC240
            if call.ended:
                out.append({"turn": i, "kind": turn["kind"], "paused": turn["paused"], "call_ended": True})
                break  # the assistant hung up first (it took a turn split in two for two answers)
            await call.wait_media()
            heard.poll()
            anchor_pos, anchor_t = await heard.anchor()
            player_t = await phone._hub.run(lambda p=path: _start_player(call, p))
            heard.poll()
            # The caller's voice starts at the bridge's next 20 ms tick after the player is connected.
            start = anchor_pos + (player_t - anchor_t) + 0.01
            voice_end_at = start + turn["voice_end_s"]
            # The reply: the first sound heard after the caller's voice began.
            ok = await _until(
                lambda s=start: heard.first_loud(s + 0.1) is not None, heard, 15 + turn["seconds"]
            )
            reply = heard.first_loud(start + 0.1) if ok else None
            record: dict[str, Any] = {
                "turn": i, "kind": turn["kind"], "paused": turn["paused"], "phone": phone.account.username,
                "first_sound_s": first_sound,
            }  # fmt: skip
            # Monotonic clock (system-wide): matched with the controller's stamps for the breakdown.
            record["voice_end_t"] = round(anchor_t + (voice_end_at - anchor_pos), 4)
            record["voice_start_t"] = round(anchor_t + (start + turn["voice_start_s"] - anchor_pos), 4)
            if reply is not None:
                record["voice_to_voice_ms"] = round((reply - voice_end_at) * 1000)
                record["reply_t"] = round(anchor_t + (reply - anchor_pos), 4)
                record["cut"] = reply < voice_end_at - 0.05
            else:
                record["no_reply"] = True
            out.append(record)
            if reply is not None and reply < start + turn["seconds"]:
                await asyncio.sleep(start + turn["seconds"] - heard.seconds)  # let the caller finish
    finally:
        await call.hangup()
    return out


def _start_player(call: Any, path: Path) -> float:
    """Hub thread: play the turn into the call; returns the monotonic time it was connected."""
    import pjsua2 as pj

    player = pj.AudioMediaPlayer()
    player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
    call.phone._hub.objects.append(player)
    call._players.append(player)
    player.startTransmit(call._audio)
    return time.monotonic()


async def phone_worker(spec_path: str, first: int, count: int) -> None:
    """A process with `count` registered phones; on 'go' (stdin) they all call at once."""
    from standardiste.pbx.instance import PhoneAccount
    from standardiste.testphone import TestPhone

    spec = json.loads(Path(spec_path).read_text())  # noqa: ASYNC240 (start-up, before any call)
    turns = json.loads(Path(spec["turns"]).read_text())  # noqa: ASYNC240
    phones = []
    for i in range(first, first + count):
        phones.append(await TestPhone(PhoneAccount(**spec["phones"][f"caller{i}"])).start())
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    tasks = [asyncio.create_task(one_call(p, spec["extension"], turns)) for p in phones]
    await asyncio.wait(tasks)
    out: list[Any] = []
    for t in tasks:
        out += t.result() if not t.exception() else [{"error": repr(t.exception())}]
    print("RESULT " + json.dumps(out), flush=True)
    os._exit(0)  # pjsua2 teardown is not needed (and may assert) in a throw-away process


async def _read_until(proc: asyncio.subprocess.Process, want: Any) -> bytes:
    assert proc.stdout is not None
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("phone worker exited early")
        if want(line.strip()):
            return line.strip()


# The parts of a turn, in order: their sum is voice-to-voice at the phones.
BREAKDOWN = (
    (
        "inbound",
        "caller's voice end -> last voiced frame at the controller (transport + the detector's tail)",
    ),
    ("end_of_turn", "silence waited before the turn ended (short or long window)"),
    ("recognition", "turn ended -> transcript (Whisper + PocketSphinx, arbitration)"),
    ("understand", "understanding + dialogue (off the loop)"),
    ("synthesis", "the reply's speech (cache: ~0 ms)"),
    ("session", "the rest in the session before playback (grammar switch, queues)"),
    ("first_frame", "playback start -> first frame sent on the websocket"),
    (
        "outbound",
        "first frame sent -> first sound at the phone (Asterisk, RTP, jitter buffer, leading quiet)",
    ),
)


def admission_figures(turns: list[dict[str, Any]], started: int, placed: int) -> dict[str, Any]:
    """Calls the assistant took (the controller's 'call started' lines) and calls sent elsewhere (admission
    control: the waiting line), and how soon every caller heard something after the answer. (Which phone
    was refused is not told apart: the calls start together, so their turns' times cannot say it.)"""
    calls: dict[str, list[dict[str, Any]]] = {}
    for t in turns:
        calls.setdefault(t.get("phone", "?"), []).append(t)
    first = [v[0].get("first_sound_s") for v in calls.values()]
    return {
        "admitted_calls": started,
        "other_calls": max(0, placed - started),
        "first_sound_s_max": max((f for f in first if f is not None), default=None),
        "calls_silent": sum(1 for f in first if f is None) + max(0, placed - len(calls)),
    }


def breakdown(turns: list[dict[str, Any]], replies: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Each phone turn matched with the controller's 'reply started' (by the voice end, same clock)."""
    out = []
    for t in turns:
        if "reply_t" not in t or t.get("cut"):
            continue
        near = [r for r in replies if "voice_end_at" in r and abs(r["voice_end_at"] - t["voice_end_t"]) < 1.0]
        if not near:
            continue
        r = min(near, key=lambda r: abs(r["voice_end_at"] - t["voice_end_t"]))
        if not all(k in r for k in ("turn_end_at", "heard_at", "play_at", "first_frame_at")):
            continue
        understand, synth = r.get("understand_ms", 0.0), r.get("synth_ms", 0.0)
        out.append(
            {
                "inbound": 1000 * (r["voice_end_at"] - t["voice_end_t"]),
                "end_of_turn": 1000 * (r["turn_end_at"] - r["voice_end_at"]),
                "recognition": 1000 * (r["heard_at"] - r["turn_end_at"]),
                "understand": understand,
                "synthesis": synth,
                "session": 1000 * (r["play_at"] - r["heard_at"]) - understand - synth,
                "first_frame": 1000 * (r["first_frame_at"] - r["play_at"]),
                "outbound": 1000 * (t["reply_t"] - r["first_frame_at"]),
                "total": 1000 * (t["reply_t"] - t["voice_end_t"]),
            }
        )
        if "speech_at" in r and "voice_start_t" in t:
            out[-1]["transport_in"] = 1000 * (r["speech_at"] - t["voice_start_t"])
    return out


def breakdown_lines(levels: list[dict[str, Any]]) -> list[str]:
    """Where the time of a turn goes, p50/p95 per part (ms), per level."""
    lines = [
        "Where a turn's time goes (p50/p95 ms; turns matched between the phones and the controller on the "
        "same monotonic clock; parts do not add up exactly at p95):",
        "",
        "| calls | turns matched | " + " | ".join(name for name, _ in BREAKDOWN) + " | total |",
        "|---|---|" + "---|" * (len(BREAKDOWN) + 1),
    ]
    onset = []
    for lv in levels:
        b = lv.get("breakdown_ms")
        if not b:
            continue
        cells = [f"{b[name]['p50']}/{b[name]['p95']}" for name, _ in BREAKDOWN] + [
            f"{b['total']['p50']}/{b['total']['p95']}"
        ]
        lines.append(f"| {lv['calls']} | {b['turns']} | " + " | ".join(cells) + " |")
        if "answered_before_whisper" in lv:
            onset.append(
                f"{lv['calls']} call(s): {lv['answered_before_whisper']} turns answered before Whisper "
                f"(PocketSphinx), Whisper disagreed on {lv['optimistic_kept_against_whisper']} (kept) and "
                f"raised urgency on {lv['optimistic_overtaken']}"
            )
        if b.get("transport_in"):
            onset.append(f"{lv['calls']} call(s): {b['transport_in']['p50']}/{b['transport_in']['p95']} ms")
    lines += ["", *(f"- {name}: {what}" for name, what in BREAKDOWN)]
    if onset:
        lines.append(
            "- transport in alone (caller's voice onset -> controller's first voiced frame, p50/p95), and "
            "optimistic answers: " + "; ".join(onset)
        )
    return lines


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


@dataclasses.dataclass
class Watched:
    name: str
    pids: list[int]

    def sample(self) -> tuple[float, float]:
        cpu = rss = 0.0
        for pid in self.pids:
            c, r = proc_stats(pid)
            cpu, rss = cpu + c, rss + r
        return cpu, rss


async def run_level(
    phone_spec: Path, n: int, watched: list[Watched], log_path: Path, work: Path
) -> dict[str, Any]:
    workers = []
    for first in range(1, n + 1, PHONES_PER_WORKER):
        count = min(PHONES_PER_WORKER, n + 1 - first)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--phone-worker", str(phone_spec), str(first), str(count),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=(work / f"worker-{n}-{first}.log").open("w"),
        )  # fmt: skip
        workers.append(proc)
    for proc in workers:
        await asyncio.wait_for(_read_until(proc, lambda line: line == b"ready"), 60)
    mark = log_path.stat().st_size  # noqa: ASYNC240
    before = {w.name: w.sample() for w in watched}
    peak = {w.name: before[w.name][1] for w in watched}
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    reads = [asyncio.create_task(_read_until(p, lambda line: line.startswith(b"RESULT "))) for p in workers]
    while not all(r.done() for r in reads):
        await asyncio.sleep(0.5)
        for w in watched:
            peak[w.name] = max(peak[w.name], w.sample()[1])
    wall = time.monotonic() - t0
    after = {w.name: w.sample() for w in watched}
    turns: list[dict[str, Any]] = []
    errors: list[str] = []
    for r in reads:
        try:
            for item in json.loads(r.result()[len(b"RESULT ") :]):
                if "error" in item:
                    errors.append(item["error"])
                elif not item.get("call_ended"):
                    turns.append(item)
        except Exception as err:
            errors.append(repr(err))
    for proc in workers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 10)
    await asyncio.sleep(1.0)
    with log_path.open() as f:
        f.seek(mark)
        entries = [json.loads(x) for x in f if x.startswith("{")]
    answers = [e for e in entries if e.get("msg") == "bench answer" and e.get("call_id")]  # not the warm-up
    v2v_ctl = [e["voice_to_voice_ms"] for e in entries if "voice_to_voice_ms" in e]
    ended = [e for e in entries if e.get("msg") == "turn ended"]
    recog = [e["recognition_ms"] for e in entries if "recognition_ms" in e]
    passes = [e for e in entries if e.get("msg") == "speculative pass"]
    parts = breakdown(turns, [e for e in entries if e.get("msg") == "reply started"])
    started = sum(1 for e in entries if e.get("msg") == "call started")
    admission = admission_figures(turns, started, n)
    admission["refusals_logged"] = sum(1 for e in entries if "sent to the waiting line" in str(e.get("msg")))
    work = [e for e in entries if e.get("msg") == "open recogniser work"]  # one per call, at its end
    whisper_turns = sum(e.get("turns", 0) for e in work)
    decodes = round(sum(e.get("decodes", 0) for e in work) / whisper_turns, 2) if whisper_turns else None
    breakdown_ms: dict[str, Any] = {"turns": len(parts)}
    for name in [*(n for n, _ in BREAKDOWN), "total", "transport_in"]:
        values = [p[name] for p in parts if name in p]
        breakdown_ms[name] = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)}
    v2v = [t["voice_to_voice_ms"] for t in turns if "voice_to_voice_ms" in t and not t.get("cut")]
    paused = [t for t in turns if t.get("paused")]
    procs: dict[str, Any] = {}
    server_cpu = 0.0
    for w in watched:
        cpu = after[w.name][0] - before[w.name][0]
        if w.name != "callers":
            server_cpu += cpu
        procs[w.name] = {
            "cpu_percent": round(100 * cpu / wall, 1),
            "cpu_s_per_call": round(cpu / n, 2),
            "rss_before_mb": round(before[w.name][1], 1),
            "rss_peak_mb": round(peak[w.name], 1),
            "rss_per_call_mb": round((peak[w.name] - before[w.name][1]) / n, 2),
        }
    return {
        "calls": n,
        "turns": len(turns),
        "admission": admission,
        "whisper_decodes_per_turn": decodes,
        "errors": errors[:3],
        "no_reply": sum(1 for t in turns if t.get("no_reply")),
        "calls_ended_early": sum(1 for t in turns if t.get("call_ended")),
        "wall_s": round(wall, 1),
        "voice_to_voice_ms_p50": percentile(v2v, 0.5),
        "voice_to_voice_ms_p95": percentile(v2v, 0.95),
        "controller_voice_to_voice_ms_p50": percentile(v2v_ctl, 0.5),
        "controller_voice_to_voice_ms_p95": percentile(v2v_ctl, 0.95),
        "recognition_ms_p50": percentile(recog, 0.5),
        "recognition_ms_p95": percentile(recog, 0.95),
        "speculative_passes": len(passes),
        "speculative_passes_complete": sum(1 for e in passes if e.get("complete")),
        "speculative_pass_ms_p50": percentile([e["pass_ms"] for e in passes], 0.5),
        "speculative_pass_ms_p95": percentile([e["pass_ms"] for e in passes], 0.95),
        "breakdown_ms": breakdown_ms,
        "answered_before_whisper": sum(1 for e in entries if e.get("msg") == "answered before Whisper"),
        "optimistic_overtaken": sum(1 for e in entries if e.get("msg") == "optimistic answer overtaken"),
        "optimistic_kept_against_whisper": sum(
            1 for e in entries if e.get("msg") == "optimistic answer kept"
        ),
        "cut_turns": sum(1 for t in turns if t.get("cut")),
        "paused_turns": len(paused),
        "paused_turns_cut": sum(1 for t in paused if t.get("cut")),
        "ended_early": sum(1 for e in ended if e.get("reason") == "complete"),
        "turns_ended": len(ended),
        "answers": len(answers),
        "right_replies": sum(1 for a in answers if a.get("right")),
        "right_rate": round(sum(1 for a in answers if a.get("right")) / len(answers), 3) if answers else None,
        "wrong_examples": [f"{a.get('said')} -> {a.get('heard')}" for a in answers if not a.get("right")][:4],
        "overload_warnings": sum(1 for e in entries if "overloaded" in str(e.get("msg"))),
        "recogniser_timeouts": sum(1 for e in entries if "too slow" in str(e.get("msg"))),
        "server_cpu_s_per_call": round(server_cpu / n, 2),
        "server_cpu_percent": round(100 * server_cpu / wall, 1),
        "processes": procs,
        "machine_load_1min": round(max(load_before, os.getloadavg()[0]), 1),
    }


async def bench(
    levels: list[int], turns_spec: list[tuple[str, str]], short_ms: int, pause_s: float = 0.45,
    max_calls: int = 0, repeat: int = 1, late_pass_ms: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    from standardiste.config import Secrets
    from standardiste.pbx import PbxInstance, ensure_root, free_asterisk_config
    from standardiste.telephony.endpointing import EndpointSettings as EndpointDefaults

    root = ensure_root()
    (root / "instances").mkdir(exist_ok=True)
    inst = Path(tempfile.mkdtemp(prefix="bench-", dir=root / "instances"))
    secrets_ = Secrets(
        ari_password=pysecrets.token_urlsafe(16),
        ami_secret=pysecrets.token_urlsafe(16),
        encryption_key=base64.urlsafe_b64encode(pysecrets.token_bytes(32)).decode(),
        session_key="bench",
    )
    most = max(levels)
    pbx = PbxInstance(root, inst, free_asterisk_config("bench"), secrets_, callers=most)
    await pbx.start()
    work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    turns = await asyncio.to_thread(build_turn_audio, turns_spec * repeat, pause_s, work)
    (work / "turns.json").write_text(json.dumps(turns, ensure_ascii=False))
    spec = {
        "ari_url": pbx.ari_url, "ari_user": pbx.ari_user, "ari_password": pbx.ari_password,
        "app": pbx.app_name, "secrets": secrets_.model_dump(), "data_dir": str(work),
        "turns": str(work / "turns.json"), "short_ms": short_ms, "max_calls": max_calls,
        "late_pass_ms": late_pass_ms,
    }  # fmt: skip
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / "controller.log"
    child = subprocess.Popen(  # noqa: ASYNC220 (started once, before any call)
        [sys.executable, __file__, "--child", str(spec_path)],
        stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True,
    )  # fmt: skip
    out: dict[str, Any] = {
        "short_end_of_turn_ms": short_ms, "pause_s": pause_s, "levels": [],
        "late_pass_ms": late_pass_ms if late_pass_ms is not None else EndpointDefaults().late_pass_after_ms,
    }  # fmt: skip
    try:
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        if "ready" not in line:
            raise RuntimeError(f"controller did not start; see {log_path}")
        ready = json.loads(line)
        out["recognizer"] = ready["recognizer"]
        phone_spec = {
            "phones": {f"caller{i}": dataclasses.asdict(pbx.phone(f"caller{i}")) for i in range(1, most + 1)},
            "turns": str(work / "turns.json"),
            "extension": pbx.practice_extension,
        }
        phone_spec_path = work / "phones.json"
        phone_spec_path.write_text(json.dumps(phone_spec))
        await asyncio.sleep(1.0)
        asterisk_pid = pbx.pid()
        for n in levels:
            watched = [
                Watched("controller", [child.pid]),
                Watched("sphinx_workers", list(ready.get("sphinx_pids") or [])),
                Watched("asterisk", [asterisk_pid] if asterisk_pid else []),
            ]
            level = await run_level(phone_spec_path, n, watched, log_path, work)
            print(json.dumps(level), flush=True)
            out["levels"].append(level)
            await asyncio.sleep(2.0)
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        await pbx.stop()
        pbx.remove()
    out["controller_log"] = str(log_path)
    return out


def breaking_point(levels: list[dict[str, Any]]) -> str:
    if not levels:
        return "no level ran"
    base = levels[0].get("right_rate") or 0.0
    for lv in levels:
        p95 = lv.get("voice_to_voice_ms_p95")
        right = lv.get("right_rate") or 0.0
        if p95 is None or p95 > 1000 or right < base - 0.10 or lv.get("no_reply"):
            return (
                f"breaks at {lv['calls']} calls: voice-to-voice p95 {p95} ms, right replies {right:.0%} "
                f"(1-call level {base:.0%}), {lv.get('no_reply')} turns without reply"
            )
    return f"held up to {levels[-1]['calls']} calls (p95 <= 1 s, right replies within 10 points)"


def table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| calls | turns | voice-to-voice p50/p95 ms (phones) | controller p50/p95 ms "
        "| recognition p50/p95 ms | passes (complete), p50/p95 ms | ended early | cut (paused cut) "
        "| right replies | server CPU % (s/call) "
        "| controller CPU %, RSS/call MB | Sphinx CPU %, RSS/call MB | Asterisk CPU %, RSS/call MB | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in result["levels"]:
        p = lv["processes"]
        lines.append(
            f"| {lv['calls']} | {lv['turns']} "
            f"| {lv['voice_to_voice_ms_p50']}/{lv['voice_to_voice_ms_p95']} "
            f"| {lv['controller_voice_to_voice_ms_p50']}/{lv['controller_voice_to_voice_ms_p95']} "
            f"| {lv['recognition_ms_p50']}/{lv['recognition_ms_p95']} "
            f"| {lv['speculative_passes']} ({lv['speculative_passes_complete']}), "
            f"{lv['speculative_pass_ms_p50']}/{lv['speculative_pass_ms_p95']} "
            f"| {lv['ended_early']}/{lv['turns_ended']} "
            f"| {lv['cut_turns']} ({lv['paused_turns_cut']}/{lv['paused_turns']}) "
            f"| {lv['right_replies']}/{lv['answers']} "
            f"| {lv['server_cpu_percent']} ({lv['server_cpu_s_per_call']}) "
            f"| {p['controller']['cpu_percent']}, {p['controller']['rss_per_call_mb']} "
            f"| {p['sphinx_workers']['cpu_percent']}, {p['sphinx_workers']['rss_per_call_mb']} "
            f"| {p['asterisk']['cpu_percent']}, {p['asterisk']['rss_per_call_mb']} "
            f"| {lv['machine_load_1min']} |"
        )
    return lines


def write_results(name: str, title: str, result: dict[str, Any], notes: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result.setdefault("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if "context" not in result:  # kept when rewritten from stored figures: the context of the run
        result["context"] = describe(
            result.get("recognizer", "?"),
            "human French (Debian asterisk-core-sounds-fr-wav, June: words spliced, natural pauses in some), "
            "yes/no answers in SVOX Pico; real SIP callers (pjsua2)",
        )
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    ctx = result["context"]
    lines = [
        f"# {title} ({result['date']})",
        "",
        f"Recogniser: {ctx['recogniser']}. Audio: {ctx['audio_source']}. Machine: {ctx['machine']}; "
        f"load (1/5/15 min) when written: {ctx['machine_load_1_5_15min']} (shared with other jobs).",
        f"Adaptive end of turn: short window {result['short_end_of_turn_ms']} ms (0: off), "
        f"long window 700 ms, late pass at {result.get('late_pass_ms', 'none')} ms of silence (0: off).",
        "",
        *table(result),
        "",
        *notes,
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 20, 30, 40])
    parser.add_argument("--short-ms", type=int, default=250, help="adaptive end of turn (0: off)")
    parser.add_argument("--max-calls", type=int, default=0, help="admission control cap (0: none)")
    parser.add_argument("--late-pass-ms", type=int, default=None, help="the late pass (0: off; default: on)")
    parser.add_argument("--name", default="capacity")
    parser.add_argument("--rewrite", action="store_true", help="rewrite the .md from the stored .json")
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
    if args.rewrite:  # the tables and notes again from the stored figures
        result = json.loads((RESULTS / f"{args.name}.json").read_text())
    else:
        result = asyncio.run(
            bench(
                args.calls,
                PLAIN_TURNS,
                args.short_ms,
                max_calls=args.max_calls,
                late_pass_ms=args.late_pass_ms,
            )
        )
    write_results(
        args.name, "Capacity with open recognition (Whisper + PocketSphinx)", result, notes_for(result)
    )


def notes_for(result: dict[str, Any]) -> list[str]:
    verdict = breaking_point(result["levels"])
    result["breaking_point"] = verdict
    cores = os.cpu_count() or 1
    # The server's cores per call in progress, from the 1-call level (the least contended: at higher levels
    # on a saturated machine the server gets less CPU than it needs, so its CPU per call looks smaller).
    first = result["levels"][0] if result["levels"] else None
    if first and first["wall_s"]:
        share = first["server_cpu_s_per_call"] / first["wall_s"]
        result["server_cores_per_call"] = round(share, 3)
        result["calls_per_core_implied"] = round(1 / share, 1) if share else None
    refused = [
        f"{lv['calls']} calls placed: {a['admitted_calls']} taken by the assistant (their voice-to-voice at "
        f"the controller p50/p95 {lv['controller_voice_to_voice_ms_p50']}/"
        f"{lv['controller_voice_to_voice_ms_p95']} ms), {a['other_calls']} sent to the waiting line "
        f"({a['refusals_logged']} refusals logged, the waiting line's and the message box's); every caller "
        f"heard a first sound within {a['first_sound_s_max']} s of the answer, {a['calls_silent']} left "
        "in silence"
        for lv in result["levels"]
        if (a := lv.get("admission")) and a.get("other_calls")
    ]
    return [
        f"Where it breaks: {verdict}.",
        *(f"Admission control: {line}." for line in refused),
        "Whisper decodes per turn (passes and finals; 1.0 = every turn decoded once): "
        + ", ".join(f"{lv['calls']} calls: {lv.get('whisper_decodes_per_turn')}" for lv in result["levels"])
        + ".",
        *result.get("observed", []),
        f"Server cores per call in progress (controller + Sphinx workers + Asterisk, from the 1-call level): "
        f"{result.get('server_cores_per_call')}, i.e. about {result.get('calls_per_core_implied')} calls per "
        f"core ({cores} cores here) if the server had the cores to itself; the callers' pjsua2 processes and "
        "the other jobs of this shared machine ran on the same cores and are not counted.",
        "No 3 s recognition deadline in this bench (recognition_timeout_s = 30): the figures show how long "
        "recognition really took. In production a turn not recognised within 3 s is 'not understood'.",
        "Voice-to-voice at the phones: end of the caller's voice in the audio sent -> first sound heard "
        "back (cut turns left out of the percentiles and counted apart). Right replies: the recognised "
        "answer equals the words said (yes/no: its first word).",
    ]


if __name__ == "__main__":
    main()
