"""`standardiste understand`: one utterance per stdin line -> one JSON object per line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import zoneinfo
from pathlib import Path

from standardiste.cli.common import add_config_option, config_from
from standardiste.clock import clock_from_env


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "understand",
        help="analyse des phrases (une par ligne sur l'entrée standard), résultat en JSON",
        description="Lit une phrase d'appelant par ligne et écrit pour chacune l'intention, l'urgence et les "
        "entités reconnues (une ligne JSON par phrase).",
    )
    add_config_option(parser)
    parser.add_argument("--now", help="date et heure de référence, ISO 8601 (défaut : maintenant)")
    parser.add_argument(
        "--nlu",
        type=Path,
        action="append",
        default=[],
        help="données d'entraînement supplémentaires (nlu.yml)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="dossier du modèle entraîné en cache")
    parser.add_argument("--rasa-url", default=None, help="serveur Rasa pour les intentions (optionnel)")
    parser.add_argument(
        "--build-package-model",
        action="store_true",
        help="(développement) entraîne le modèle livré avec le paquet sur data/nlu.yml et quitte",
    )
    parser.set_defaults(func=run)


def _now(text: str | None, timezone: str) -> dt.datetime | None:
    tz = zoneinfo.ZoneInfo(timezone)
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--now : date invalide / invalid datetime {text!r} (ISO 8601 attendu)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def run(args: argparse.Namespace) -> int:
    if args.build_package_model:
        from standardiste.understanding.classifier import load_examples, packaged_model, packaged_nlu, train

        model = train(load_examples([packaged_nlu()]))
        model.save(packaged_model())
        print(f"{packaged_model()} ({model.key}, {model.meta['examples']} exemples)")
        return 0
    from standardiste.understanding.classifier import TrainingDataError
    from standardiste.understanding.engine import load_understander

    config = config_from(args)
    practice = config.practice
    fixed_now = _now(args.now, practice.timezone)
    try:
        understander = load_understander(practice, args.nlu, cache_dir=args.cache_dir, rasa_url=args.rasa_url)
    except TrainingDataError as err:
        print(err, file=sys.stderr)
        return 2
    tz = zoneinfo.ZoneInfo(practice.timezone)
    clock = clock_from_env(practice.timezone)
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        now = fixed_now or clock.now().astimezone(tz)
        result = understander.parse(text, now)
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0
