"""Spoken safety: does the emergency net hear red flags said by voice, at any question?

Each sentence of the spoken safety set (understanding/safety_corpus.spoken_items: red flags alone, at the
opening, in the middle of a booking, after a routine request; hard negatives that share their words and
sounds) is spoken by each test caller voice (tests/fixtures/caller_voice.py: MBROLA fr4 and SVOX Pico),
passed through 8 kHz G.711 mu-law and transcribed by Whisper base with the server's settings
(speech/whisper_backend.WhisperEngine, the same decode as a call's turn). The transcript then goes to the
real dialogue (DialogueManager, real understanding engine, SQL agenda) as a recogniser's turn
(Heard(from_recognizer=True)), at two questions: the opening, and the date-time question of a booking
(where the classifier's bar is higher). What the dialogue does is scored:
- vital: "composez le 15" and a priority transfer; check: "Est-ce une urgence ?"; same_day: a human now;
- a red flag is caught when the dialogue transfers or asks the check question (same_day counted apart);
- a hard negative is a false alarm when it transfers (vital or same day), and a check question on one is
  counted too (allowed only where the practice's policy asks it: a question about an emergency).

Transcripts are cached (bench/results/spoken_safety_transcripts.json, keyed by the recogniser settings), so a
rerun after a rule change costs only the dialogue. CPU-heavy the first time: run it with `nice -n 10`.

Usage: python bench/bench_spoken_safety.py [--voices mbrola,pico] [--tag before]
Results: bench/results/spoken_safety[-TAG].json and .md, and a summary on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "spoken_safety_transcripts.json"
QUESTIONS = ("opening", "date_time")


def recogniser_settings() -> dict[str, Any]:
    """What a cached transcript depends on: the recogniser's settings and the model file."""
    from standardiste.speech import whisper_backend as wb
    from standardiste.speech.whisper_model import find_whisper_model

    model = find_whisper_model()
    size = (model / "model.bin").stat().st_size if model is not None else None
    return {
        "window_s": wb.WINDOW_S, "beam": wb.BEAM_SIZE, "max_tokens": wb.MAX_TOKENS,
        "gate": repr(wb.GateSettings()), "model_bytes": size, "line": "g711-ulaw-8k", "padding": "300/500 ms",
    }  # fmt: skip


def load_cache(settings: dict[str, Any]) -> dict[str, dict[str, str]]:
    if CACHE.exists():
        doc = json.loads(CACHE.read_text(encoding="utf-8"))
        if doc.get("settings") == settings:
            return {voice: dict(texts) for voice, texts in doc.get("transcripts", {}).items()}
        print("recogniser settings changed: transcripts decoded again", flush=True)
    return {}


def save_cache(settings: dict[str, Any], transcripts: dict[str, dict[str, str]]) -> None:
    doc = {"settings": settings, "transcripts": transcripts}
    tmp = CACHE.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(CACHE)


def transcribe(texts: list[str], voices: list[str], settings: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Whisper's transcript of each text in each voice (from the cache when there)."""
    transcripts = load_cache(settings)
    todo = [(v, t) for v in voices for t in texts if t not in transcripts.get(v, {})]
    if not todo:
        return transcripts
    from tests.fixtures.caller_voice import caller_say
    from tests.fixtures.voice_check import padded, telephone

    from benchinfo import whisper_engine

    engine = whisper_engine()
    t0 = time.monotonic()
    try:
        for n, (voice, text) in enumerate(todo, 1):
            transcripts.setdefault(voice, {})[text] = engine.decode(
                telephone(padded(caller_say(text, voice)))
            ).text
            if n % 20 == 0 or n == len(todo):
                save_cache(settings, transcripts)
                print(f"  decoded {n}/{len(todo)} ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        engine.close()
    return transcripts


@dataclass(frozen=True, slots=True)
class Verdict:
    level: str | None  # "vital", "same_day", "check" or None (the dialogue went on)
    layer: str | None  # "rules", "classifier", "sounds_like" (what made the check question), else None


class DialogueProbe:
    """A real DialogueManager at a given question, fed one recogniser turn."""

    def __init__(self) -> None:
        from tests.fixtures.dialogue import SIM_NOW

        from standardiste.config import load_config
        from standardiste.dialogue.simulation import Simulator
        from standardiste.understanding.engine import load_understander

        practice = load_config(None).practice
        self.understander = load_understander(practice)
        self._tmp = tempfile.TemporaryDirectory(prefix="spoken-safety-")
        self.simulator = Simulator(practice, self.understander, now=SIM_NOW, workdir=Path(self._tmp.name))
        self.start_now = SIM_NOW

    def close(self) -> None:
        self.simulator.close()
        self._tmp.cleanup()

    def verdict(self, transcript: str, question: str) -> Verdict:
        from standardiste.dialogue.manager import DialogueManager
        from standardiste.dialogue.messages import CallStarted, Expect, Heard, OutcomeKind, Transfer
        from standardiste.dialogue.services import ConversationServices

        _db, agenda, inbox, path = self.simulator.fresh()
        manager = DialogueManager(
            ConversationServices(self.simulator.practice, self.understander, agenda, inbox)
        )
        now = self.start_now
        try:
            manager.handle(CallStarted("spoken-safety", now, caller_id="+33612345678"))
            if question == "date_time":
                now += dt.timedelta(seconds=5)
                asked = manager.handle(Heard("je voudrais un rendez-vous avec le docteur martin", now))
                assert asked and asked[-1].expect.kind == Expect.DATE_TIME, asked  # type: ignore[union-attr]
            now += dt.timedelta(seconds=5)
            actions = manager.handle(Heard(transcript, now, 0.6, transcript, from_recognizer=True))
            path_taken = list(manager.core.state.path)
            outcome = manager.outcome
            if outcome is not None and outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED:
                return Verdict("vital", "rules")
            if any(p.startswith("same_day:") for p in path_taken):
                return Verdict("same_day", "rules")
            if manager.question is not None and manager.question.name == "emergency_confirm":
                u = self.understander.parse(transcript, now)
                if any(p.startswith("sounds_like:") for p in path_taken):
                    layer = "sounds_like"
                elif u.safety_level is not None and u.red_flag is not None:
                    layer = "rules"
                else:
                    layer = "classifier"
                return Verdict("check", layer)
            if any(isinstance(a, Transfer) and a.priority for a in actions):
                return Verdict("vital", "rules")
            return Verdict(None, None)
        finally:
            _db.close() if hasattr(_db, "close") else None
            path.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="mbrola,pico", help="caller voices, comma-separated")
    parser.add_argument("--tag", default="", help="results file suffix (e.g. before)")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only (0: all)")
    parser.add_argument(
        "--set", default="tuning", choices=("tuning", "holdout"),
        help="tuning: the set the sounds-like terms were chosen on; holdout: never used to choose them",
    )  # fmt: skip
    args = parser.parse_args()
    from standardiste.understanding.safety_corpus import spoken_holdout, spoken_items

    items = spoken_items() if args.set == "tuning" else spoken_holdout()
    if args.limit:
        items = items[: args.limit]
    voices = [v for v in args.voices.split(",") if v]
    settings = recogniser_settings()
    probe = DialogueProbe()  # loaded first: the rules scored are those of the tree when the run started
    transcripts = transcribe([i.text for i in items], voices, settings)
    t0 = time.monotonic()
    per: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    misses: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []
    layers: Counter[str] = Counter()
    try:
        for voice in voices:
            for item in items:
                heard = transcripts[voice][item.text]
                for question in QUESTIONS:
                    v = probe.verdict(heard, question) if heard.strip() else Verdict(None, None)
                    key = f"{voice}/{question}"
                    if item.vital:
                        caught = v.level in ("vital", "check")
                        for group in (item.category, f"context:{item.context}", "ALL"):
                            c = per[key][group]
                            c["n"] += 1
                            c["caught"] += caught
                            c["vital"] += v.level == "vital"
                            c["check"] += v.level == "check"
                            c["same_day"] += v.level == "same_day"
                            c["empty"] += not heard.strip()
                        if v.level == "check" and v.layer:
                            layers[f"{voice}/{question}/{v.layer}"] += 1
                        if not caught:
                            misses.append(
                                {"voice": voice, "question": question, "category": item.category,
                                 "context": item.context, "said": item.text, "heard": heard,
                                 "level": v.level}
                            )  # fmt: skip
                    else:
                        c = per[key]["NEGATIVES"]
                        c["n"] += 1
                        c["transfer"] += v.level in ("vital", "same_day")
                        c["check"] += v.level == "check"
                        c["check_not_allowed"] += v.level == "check" and not item.check_ok
                        if v.level in ("vital", "same_day") or (v.level == "check" and not item.check_ok):
                            alarms.append(
                                {"voice": voice, "question": question, "category": item.category,
                                 "said": item.text, "heard": heard, "level": v.level, "layer": v.layer}
                            )  # fmt: skip
    finally:
        probe.close()
    dialogue_s = time.monotonic() - t0

    positives = [i for i in items if i.vital]
    summary: dict[str, Any] = {
        "run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg": os.getloadavg(),
        "set": args.set,
        "sentences": len(items),
        "positives": len(positives),
        "negatives": len(items) - len(positives),
        "voices": voices,
        "recogniser": settings,
        "dialogue_s": round(dialogue_s, 1),
        "per": {k: {g: dict(c) for g, c in sorted(groups.items())} for k, groups in sorted(per.items())},
        "check_layers": dict(sorted(layers.items())),
        "misses": misses,
        "false_alarms": alarms,
        "transcripts": {v: {i.text: transcripts[v][i.text] for i in items} for v in voices},
    }
    lines = report_lines(summary)
    print("\n".join(lines))
    suffix = ("-holdout" if args.set == "holdout" else "") + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"spoken_safety{suffix}.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (RESULTS / f"spoken_safety{suffix}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written: bench/results/spoken_safety{suffix}.json and .md")
    return 0


def report_lines(s: dict[str, Any]) -> list[str]:
    out = [
        "# Spoken safety: red flags said by the test callers' voices, through G.711 and Whisper base",
        "",
        f"Run {s['run']}, load average {', '.join(f'{x:.2f}' for x in s['load_avg'])}. "
        f"{s['positives']} red-flag sentences and {s['negatives']} hard negatives per voice "
        f"(set {s.get('set', 'tuning')}: understanding/safety_corpus.spoken_items or spoken_holdout), "
        "each transcript fed to the real dialogue at the opening "
        "and at the date-time question of a booking. Caught = a priority transfer or the check question.",
        "",
        "## Recall per voice and question",
        "",
        "| voice / question | caught | vital | check | same day only | empty transcript |",
        "|---|---|---|---|---|---|",
    ]
    for key, groups in s["per"].items():
        c = groups.get("ALL")
        if c:
            out.append(
                f"| {key} | {c['caught']}/{c['n']} ({c['caught'] / c['n']:.1%}) | {c['vital']} "
                f"| {c['check']} | {c['same_day']} | {c['empty']} |"
            )
    out += ["", "## Recall per category (both questions)", ""]
    groups_all: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for key, groups in s["per"].items():
        voice = key.split("/")[0]
        for group, c in groups.items():
            if group not in ("ALL", "NEGATIVES"):
                groups_all[group][voice].update(c)
    voices = s["voices"]
    out += ["| category | " + " | ".join(voices) + " |", "|---|" + "---|" * len(voices)]
    for group in sorted(groups_all):
        cells = []
        for voice in voices:
            c = groups_all[group][voice]
            cells.append(f"{c['caught']}/{c['n']}" if c["n"] else "-")
        out.append(f"| {group} | " + " | ".join(cells) + " |")
    out += [
        "",
        "## Hard negatives",
        "",
        "| voice / question | n | transfers | check questions | checks outside policy |",
    ]
    out.append("|---|---|---|---|---|")
    for key, groups in s["per"].items():
        c = groups.get("NEGATIVES")
        if c:
            out.append(f"| {key} | {c['n']} | {c['transfer']} | {c['check']} | {c['check_not_allowed']} |")
    out += ["", f"Check questions by layer (red flags): {s['check_layers']}", "", "## Missed red flags", ""]
    for m in s["misses"]:
        out.append(
            f"- [{m['voice']} @ {m['question']}, {m['category']}/{m['context']}] "
            f"{m['said']!r} -> {m['heard']!r}"
        )
    if not s["misses"]:
        out.append("none")
    out += ["", "## False alarms on hard negatives", ""]
    for a in s["false_alarms"]:
        out.append(
            f"- [{a['voice']} @ {a['question']}, {a['category']}, {a['level']}/{a['layer']}] "
            f"{a['said']!r} -> {a['heard']!r}"
        )
    if not s["false_alarms"]:
        out.append("none")
    return out


if __name__ == "__main__":
    sys.exit(main())
