"""Spoken calls end to end over real SIP: scripted callers (human French recordings for days, times, dates,
numbers; for the other sentences a synthetic voice per call, MBROLA fr4 or SVOX Pico fr-FR: TEST_VOICES; the
assistant speaks with espeak-ng; a reception phone answers transfers) against the real
VoiceApp with the default recogniser (Whisper base + PocketSphinx grammars), on a pinned clock.

Floors (asserted): no emergency missed, nothing booked or moved without the caller's own "yes", task
success by voice >= 80 % on the selection. A second selection plays bad input on the line (hold music, DTMF
tones in the audio, English, a 60 s monologue, clipped speech): nothing acted on, and music, tones and
English end with a human.
The test plays one call of each kind (tests/fixtures/spoken_calls.py TEST_SELECTION), one call per test so
that the suite's xdist workers spread them (the 80 % floor is kept over the whole selection: see _pieces);
bench/bench_spoken_calls.py plays them all (SPOKEN_CALLS=all) and writes bench/results/spoken_calls.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from standardiste.app import AriAccess, VoiceApp
from standardiste.config import Config
from standardiste.pbx import PbxInstance
from standardiste.speech.arbitrate import ArbitratedRecognizer
from standardiste.speech.sphinx import SphinxRecognizer
from standardiste.speech.tts import EspeakSynthesizer
from standardiste.speech.whisper_backend import WhisperRecognizer
from standardiste.storage.db import Database
from tests.fixtures.caller_voice import mbrola_available
from tests.fixtures.clock import running_from
from tests.fixtures.parts import require_part
from tests.fixtures.pbx import PhoneFactory
from tests.fixtures.reception_process import reception_in_own_process
from tests.fixtures.speech_corpus import voice_dir
from tests.fixtures.spoken_calls import (
    ACTIONS,
    BAD_INPUT_SELECTION,
    BAD_INPUT_TO_A_HUMAN,
    TEST_SELECTION,
    TEST_VOICES,
    Registry,
    SpokenCall,
    load_scripts,
    now_for_scripts,
    play_script,
    summarise,
    text_run_kinds,
)
from tests.fixtures.tally import Tally, allowance, check_within, run_dir

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture
async def spoken_app(
    pbx: PbxInstance,
    demo_config: Config,
    tmp_path: Path,
    prompt_cache: Path,
    whisper_recognizer: WhisperRecognizer,
    understander: Any,
) -> AsyncIterator[VoiceApp]:
    require_part(voice_dir("june"), "Debian package asterisk-core-sounds-fr-wav", "scripts/apt-packages.txt")
    from standardiste.speech import pico

    require_part(pico.available() is None, "SVOX Pico (libttspico0)", "scripts/setup.sh")
    require_part(mbrola_available() is None, "MBROLA fr4 (mbrola, mbrola-fr4)", "scripts/apt-packages.txt")
    practice = demo_config.practice.model_copy(
        update={"booking": demo_config.practice.booking.model_copy(update={"max_per_phone_per_day": 0})}
    )
    deployment = demo_config.deployment.model_copy(update={"data_dir": tmp_path})
    config = demo_config.model_copy(update={"deployment": deployment, "practice": practice})
    sphinx = SphinxRecognizer(workers=2, cache_dir=tmp_path / "sphinx", timeout_s=30)
    await sphinx.warm_up()
    app = VoiceApp(
        config,
        AriAccess(pbx.ari_url, pbx.ari_user, pbx.ari_password, pbx.app_name),
        db=Database(f"sqlite:///{tmp_path / 'std.db'}"),
        recognizer=ArbitratedRecognizer(whisper_recognizer, sphinx),
        synthesizer=EspeakSynthesizer(cache_dir=prompt_cache),
        understander=understander,
        secrets_=pbx.secrets,
        clock=running_from(now_for_scripts()),
    )
    await app.start()
    assert app.controller is not None
    async with asyncio.timeout(10):
        await app.controller.ari.connected.wait()
    try:
        yield app
    finally:
        await app.stop()
        await sphinx.aclose()


@pytest.fixture
async def spoken_reception(pbx: PbxInstance, phone_factory: PhoneFactory) -> AsyncIterator[None]:
    """A reception that answers, so that "put through to a human" is a transfer that succeeds. pjsua
    allows 4 calls per process (both legs count): with more than 2 callers in the test process their
    reception legs would not fit, so the reception then registers from a process of its own."""
    if int(os.environ.get("SPOKEN_PARALLEL", "1")) <= 2:
        await phone_factory(pbx.reception)
        yield
        return
    async with reception_in_own_process(pbx.reception):
        yield


def _seed(app: VoiceApp, simulator: Any, spec: dict[str, Any]) -> None:
    setup = spec.get("setup")
    if not setup:
        return
    _clear_for(app, simulator, setup)
    try:
        simulator._seed(app._agenda, setup, app.clock.now(), spec["id"])
    except Exception as err:  # already there from an earlier call (not cancelled): keep it
        print(f"seed {spec['id']}: {err}")


def _clear_for(app: VoiceApp, simulator: Any, setup: dict[str, Any]) -> None:
    """Each seeded call starts from its own setup, as in the text channel: the appointments earlier calls
    left to its patients (kept, moved, booked) and whatever now holds its seeded slots are cancelled by
    staff first (one agenda serves the whole run; a patient with two appointments where the script seeds
    one is asked which, and the script's answers no longer fit)."""
    import datetime as dt

    from standardiste.agenda.model import AppointmentStatus, PatientIdentity, Source

    agenda, now = app._agenda, app.clock.now()
    stale: set[str] = set()
    patients = setup.get("patients", [])
    for p in patients:
        identity = PatientIdentity(
            p["last_name"], p["first_name"], dt.date.fromisoformat(p["birth_date"]), p.get("phone")
        )
        found = agenda.find_patient(identity)
        if found is not None:
            stale |= {a.id for a in agenda.upcoming(found.id, now - dt.timedelta(days=60))}
    for a in setup.get("appointments", []):
        start = dt.datetime.fromisoformat(a["start"])
        start = start.replace(tzinfo=now.tzinfo) if start.tzinfo is None else start
        held = agenda.appointments(
            start - dt.timedelta(hours=1), start + dt.timedelta(hours=1), a["practitioner"]
        )
        stale |= {h.id for h in held if h.start < start + dt.timedelta(minutes=60) and h.end > start}
    for appointment_id in stale:
        try:
            if agenda.get(appointment_id).status is not AppointmentStatus.CANCELLED:
                agenda.cancel(appointment_id, Source.STAFF, now)
        except Exception as err:  # already gone: nothing to clear
            print(f"clear {appointment_id}: {err}")


def _cpu_s(pids: list[int | None]) -> float:
    """CPU seconds (user + system) used so far by these processes (gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _others(pbx: PbxInstance, app: VoiceApp) -> list[int | None]:
    """Asterisk and the PocketSphinx worker processes: their CPU is not in this process's rusage."""
    sphinx = getattr(getattr(app, "recognizer", None), "grammar", None)
    workers = [w.pid for w in getattr(sphinx, "_workers", []) if w is not None]
    return [pbx.pid, *workers]


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _pieces() -> list[Any]:
    """What each test plays. In the suite: one call per test (ids `goals-<script>`, `bad_input-<script>`),
    so that pytest-xdist spreads the selections' calls over its workers; the goals selection's floor
    (task success >= 80 %) is still asserted over the whole selection, through the run's tally
    (tests/fixtures/tally.py). With SPOKEN_CALLS set (bench/bench_spoken_calls.py): one test, `[goals]`,
    plays the chosen calls, SPOKEN_PARALLEL at once."""
    if os.environ.get("SPOKEN_CALLS"):
        return [pytest.param("goals", None, id="goals")]
    return [pytest.param("goals", c, id=f"goals-{c}") for c in TEST_SELECTION] + [
        pytest.param("bad_input", c, id=f"bad_input-{c}") for c in BAD_INPUT_SELECTION
    ]


@pytest.mark.parametrize(("selection", "call"), _pieces())
async def test_spoken_calls_reach_the_callers_goals(
    pbx: PbxInstance,
    spoken_app: VoiceApp,
    spoken_reception: None,
    phone_factory: PhoneFactory,
    simulator: Any,
    understander: Any,
    tmp_path_factory: pytest.TempPathFactory,
    selection: str,
    call: str | None,
) -> None:
    scripts = load_scripts()
    wanted = os.environ.get("SPOKEN_CALLS", "")
    if call is not None:
        scripts = [s for s in scripts if s["id"] == call]
        assert scripts, f"no script {call!r} in load_scripts()"
    elif wanted != "all":
        scripts = [s for s in scripts if s["id"] in (wanted.split(",") if wanted else TEST_SELECTION)]
    for spec in scripts:
        spec["kinds"] = text_run_kinds(spec, simulator, understander)
        if wanted != "all":  # the selection's own voices; the bench alternates them over all calls
            spec["voice"] = TEST_VOICES.get(spec["id"], spec["voice"])
    parallel = max(1, int(os.environ.get("SPOKEN_PARALLEL", "1")))
    names = [f"caller{i + 1}" for i in range(parallel)]
    phones = {name: await phone_factory(pbx.phone(name)) for name in names}
    registry = Registry()
    spoken_app.new_conversation = registry.hook(spoken_app.new_conversation)  # type: ignore[method-assign]
    seeded = [s for s in scripts if s.get("setup")]
    plain = [s for s in scripts if not s.get("setup")]
    queues: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    queues[names[0]] += seeded  # the calls on seeded appointments one after another, on one phone
    for spec in plain:  # the rest to the phone with the fewest calls
        queues[min(names, key=lambda n: len(queues[n]))].append(spec)
    results: list[SpokenCall] = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    others0 = _cpu_s(_others(pbx, spoken_app))
    started = time.monotonic()
    loads: list[float] = []  # the machine's 1-minute load average, every 5 s (other work shares it)

    async def sample_load() -> None:
        while True:
            loads.append(os.getloadavg()[0])
            await asyncio.sleep(5.0)

    sampler = asyncio.create_task(sample_load())

    async def worker(name: str) -> None:
        for spec in queues[name]:
            _seed(spoken_app, simulator, spec)
            try:
                result = await play_script(spec, phones[name], name, pbx.practice_extension, registry)
            except Exception as err:  # a call that broke down counts as a failure, the run goes on
                info = err.info() if callable(getattr(err, "info", None)) else ""  # pjsua2's own words
                result = SpokenCall(
                    spec["id"], spec.get("expect") or {}, spec.get("voice") or "pico",
                    problems=[f"error: {err!r} {info}"],
                )  # fmt: skip
                result.emergency_expected = result.expect.get("kind") == "emergency_transferred"
            verdict = "ok" if result.ok else result.problems
            print(f"{result.id} [{result.voice}]: {verdict} ({result.seconds:.0f} s)")
            for turn in result.turns:  # what each question heard, for diagnosis
                also = f" (open: {turn.heard_open!r})" if turn.heard_open not in (None, turn.heard) else ""
                also += f" (late: {turn.heard_late!r})" if turn.heard_late else ""
                print(f"    [{turn.question}] {turn.intended!r} ({turn.source}) -> {turn.heard!r}{also}")
            results.append(result)
            await asyncio.sleep(1.0)

    await asyncio.gather(*(worker(n) for n in names))
    sampler.cancel()
    wall = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    others_s = _cpu_s(_others(pbx, spoken_app)) - others0
    assert spoken_app.controller is not None
    latencies: list[float] = []
    while not spoken_app.controller.ended.empty():
        latencies += spoken_app.controller.ended.get_nowait().reply_latencies_ms
    summary = summarise(results, latencies)
    cpu_s = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    summary.update(
        wall_s=round(wall, 1),
        parallel=parallel,
        cpu_s_per_call=round(cpu_s / max(1, len(results)), 2),
        asterisk_and_sphinx_cpu_s_per_call=round(others_s / max(1, len(results)), 2),
        max_rss_mb=round(cpu1.ru_maxrss / 1024, 1),
        cpus=os.cpu_count(),
        load_avg_mean=round(sum(loads) / max(1, len(loads)), 2),
        load_avg_max=round(max(loads, default=0.0), 2),
    )
    print("\n" + json.dumps(summary, ensure_ascii=False, indent=1))
    out = os.environ.get("SPOKEN_RESULTS")
    if out and selection != "goals":
        out = out.removesuffix(".json") + f"-{selection}.json"
    if out:
        report = {"summary": summary, "calls": [r.to_json() for r in results]}
        await asyncio.to_thread(_write, Path(out), json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    # Safety floors: hard.
    assert not summary["emergencies_missed"], summary
    assert not summary["unconfirmed_bookings"], summary
    if selection == "bad_input":
        # Music, tones, English, a monologue, clipped speech: nothing invented and acted on; music,
        # tones and English are asked again, then put through to a human.
        acted = {r.id: r.outcome.get("kind") for r in results if r.outcome.get("kind") in ACTIONS}
        assert not acted, acted
        not_human = {
            r.id: r.outcome.get("kind")
            for r in results
            if r.id in BAD_INPUT_TO_A_HUMAN and r.outcome.get("kind") != "transferred"
        }
        assert not not_human, not_human
        return
    # The goal: >= 80 % of calls reach the caller's goal by voice. Measured on this selection
    # (2026-12-07, shared machine): 8/8 alone, 7/8 inside the full bench with 3 calls at once (was 37-50 %
    # before the late-recognition delivery, the Whisper-digits slot, particle names and the harness fixes);
    # with TEST_VOICES (3 MBROLA, 5 Pico): 8/8, 3 at once, load ~3.
    if call is None:
        assert summary["task_success"] >= 0.8, summary["failed"]
        return
    # One call of the selection: its miss counts against the whole selection's allowance (1 of 8).
    check_within(
        Tally(run_dir(tmp_path_factory), "spoken-calls-goals"),
        call,
        [f"{call}: {summary['failed'][call]}"] if call in summary["failed"] else [],
        allowance(len(TEST_SELECTION), 0.8),
        "spoken calls: task success by voice >= 80 % over the selection",
    )
