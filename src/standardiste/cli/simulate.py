"""`standardiste simulate`: talk to the assistant by text, or play scripted calls (JSONL)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from standardiste.cli.common import add_config_option, config_from


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "simulate",
        help="parler à l'assistant par écrit, ou rejouer des appels scriptés (JSONL)",
        description=(
            "Joue des appels par écrit avec le vrai moteur de conversation, sur une copie neuve des données "
            "du cabinet. Sans --script : mode interactif (une réplique par ligne ; #1 = touche 1, "
            "ligne vide = silence, <hangup> = raccrocher)."
        ),
    )
    add_config_option(parser)
    parser.add_argument("--script", type=Path, default=None, help="fichier JSONL : un appel par ligne")
    parser.add_argument("--now", default=None, help="date et heure de référence ISO (défaut : maintenant)")
    parser.add_argument(
        "--caller-id", default=None, help="numéro de l'appelant (mode interactif ; défaut : numéro masqué)"
    )
    parser.add_argument("--state", action="store_true", help="ajoute l'état de l'agenda après chaque appel")
    parser.set_defaults(func=run)


def _now(args: argparse.Namespace, tz: str) -> dt.datetime | None:
    if not args.now:
        return None
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(args.now)
    except ValueError:
        raise SystemExit(f"--now : date ISO invalide / invalid ISO datetime {args.now!r}") from None
    return moment.replace(tzinfo=ZoneInfo(tz)) if moment.tzinfo is None else moment


def run(args: argparse.Namespace) -> int:
    from standardiste.dialogue.simulation import ScriptError, Simulator, summary
    from standardiste.understanding.engine import load_understander

    config = config_from(args)
    practice = config.practice
    understander = load_understander(practice)
    with Simulator(practice, understander, now=_now(args, practice.timezone)) as simulator:
        if args.script is None:
            return _interactive(simulator, args)
        try:
            lines = args.script.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            print(f"{args.script}: fichier illisible / cannot read file ({err.strerror})", file=sys.stderr)
            return 2
        results = []
        errors = 0
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                spec: Any = json.loads(line)
                if not isinstance(spec, dict):
                    raise ScriptError("un objet JSON est attendu / a JSON object is expected")
                result = simulator.run(spec, with_state=args.state)
            except (json.JSONDecodeError, ScriptError) as err:
                errors += 1
                print(json.dumps({"line": number, "error": str(err)}, ensure_ascii=False))
                continue
            results.append(result)
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
        report = summary(results)
        report["summary"]["script_errors"] = errors
        print(json.dumps(report, ensure_ascii=False))
        return 1 if errors else 0


def _interactive(simulator: Any, args: argparse.Namespace) -> int:
    """One call typed in the terminal; each line is played as a scripted turn."""
    print("Appel simulé. Une réplique par ligne (#1 = touche 1, ligne vide = silence, Ctrl-D = raccrocher).")
    turns: list[str] = []
    printed = 0
    while True:
        result = simulator.run({"id": "interactive", "caller_id": args.caller_id, "turns": turns})
        dialogue = result.dialogue
        # Replay is deterministic: show only what the assistant said since the last line.
        new = [d for d in dialogue[printed:] if d["speaker"] != "caller"]
        for d in new:
            if d["speaker"] == "assistant":
                print(f"Assistant : {d['text']}")
            elif d["text"] != "<hangup>":
                print(f"  ({d['text'].strip('<>')})")
        ended = any(d["speaker"] == "system" and d["text"] != "<hangup>" for d in dialogue)
        if ended:
            break
        printed = len([d for d in dialogue if d["text"] != "<hangup>"])
        try:
            line = input("Vous : ")
        except EOFError:
            turns.append("<hangup>")
            result = simulator.run({"id": "interactive", "caller_id": args.caller_id, "turns": turns})
            break
        turns.append(line)
    print(json.dumps({"outcome": result.outcome}, ensure_ascii=False))
    return 0
