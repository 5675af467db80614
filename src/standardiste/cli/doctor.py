"""`standardiste doctor`: checks everything and says what is wrong, in plain French.

Each check is small and independent; one failing never stops the others. The exit status is
0 when nothing is wrong (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from standardiste.cli.common import add_config_option
from standardiste.config import Config, ConfigError, load_config


class Level(StrEnum):
    OK = "ok"
    WARNING = "attention"
    PROBLEM = "problème"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    level: Level
    message: str


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("doctor", help="vérifie l'installation et dit ce qui ne va pas")
    add_config_option(parser)
    parser.set_defaults(func=run)


def _port_listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def check_secrets(config: Config) -> Finding:
    path = Path(config.deployment.data_dir) / "secrets.toml"
    if not path.exists():
        return Finding(
            "secrets",
            Level.WARNING,
            f"{path} n'existe pas encore : il sera créé au premier démarrage (mots de passe ARI/AMI).",
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Finding(
            "secrets",
            Level.PROBLEM,
            f"{path} est lisible par d'autres comptes (mode {mode:o}) : faites « chmod 600 {path} ».",
        )
    return Finding("secrets", Level.OK, f"secrets propres à cette installation dans {path}.")


def check_asterisk(config: Config) -> Finding:
    from standardiste.pbx.deployment import deployment_instance, deployment_root
    from standardiste.pbx.root import root_ready

    root = deployment_root(config.deployment)
    if not root_ready(root):
        return Finding(
            "asterisk",
            Level.PROBLEM,
            f"la racine Asterisk est absente ({root}) : lancez « standardiste pbx build ».",
        )
    status = deployment_instance(config.deployment, root).status()
    if not status.running:
        return Finding(
            "asterisk",
            Level.WARNING,
            "Asterisk est installé mais ne tourne pas : « standardiste pbx start » ou « make run ».",
        )
    return Finding("asterisk", Level.OK, status.describe())


def check_database(config: Config) -> Finding:
    from sqlalchemy import text

    from standardiste.storage.db import Database

    db = Database(config.deployment.sqlalchemy_url)
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db.migrate()
    except Exception as err:
        return Finding("base de données", Level.PROBLEM, f"base inaccessible ({type(err).__name__}: {err}).")
    finally:
        db.dispose()
    return Finding("base de données", Level.OK, f"{db.engine.dialect.name}, schéma à jour.")


def check_synthesis(config: Config) -> Finding:
    """Which voice callers hear (Pico, or espeak-ng as the fallback), proven by saying one word."""
    from standardiste.speech.tts import SynthesisError, load_synthesizer

    speech = config.deployment.speech
    try:
        choice = load_synthesizer(
            speech.synthesizer,
            espeak_voice=speech.voice,
            speed_wpm=speech.speed_wpm,
            pico_speed_percent=speech.pico_speed_percent,
        )
        pcm = asyncio.run(choice.synthesizer.synthesize("Bonjour."))
    except SynthesisError as err:
        return Finding("synthèse vocale", Level.PROBLEM, f"l'assistant ne peut pas parler : {err}")
    if not pcm:
        return Finding("synthèse vocale", Level.PROBLEM, "la voix ne produit aucun son.")
    if choice.fallback:
        return Finding("synthèse vocale", Level.WARNING, f"{choice.explanation}.")
    fallback = "" if shutil.which("espeak-ng") else " (espeak-ng, la voix de secours, est absent)"
    return Finding("synthèse vocale", Level.OK, f"{choice.explanation}{fallback}.")


def check_recognizer(config: Config) -> Finding:
    from standardiste.speech.select import load_recognizer

    choice = load_recognizer(config.deployment)
    level = Level.OK if choice.backend in ("whisper", "vosk") else Level.WARNING
    return Finding("reconnaissance vocale", level, choice.explanation)


def check_understanding(config: Config) -> Finding:
    from standardiste.understanding.engine import load_understander

    started = time.perf_counter()
    understander = load_understander(config.practice, config.practice.nlu_extra)
    seconds = time.perf_counter() - started
    import datetime as dt

    result = understander.parse("j'ai très mal à la poitrine", dt.datetime.now(dt.UTC))
    if result.urgency != "urgent":
        return Finding(
            "compréhension", Level.PROBLEM, "la règle d'urgence ne reconnaît pas une douleur thoracique."
        )
    return Finding("compréhension", Level.OK, f"modèle chargé en {seconds:.1f} s ; règles d'urgence actives.")


def check_redis(config: Config) -> Finding:
    import redis

    from standardiste.config import load_or_create_secrets
    from standardiste.redis_server import managed_url

    secret_url = managed_url(config.deployment, load_or_create_secrets(config.deployment.data_dir))
    url = config.deployment.redis.url or "socket du serveur géré / managed server's socket"
    try:
        redis.Redis.from_url(secret_url, socket_timeout=1, socket_connect_timeout=1).ping()
    except Exception:
        return Finding(
            "redis",
            Level.WARNING,
            f"Redis ne répond pas ({url}) : les appels fonctionnent, mais les rappels patients "
            "attendent son retour (rien n'est perdu).",
        )
    return Finding("redis", Level.OK, f"Redis répond ({url}).")


def check_controller(config: Config) -> Finding:
    from standardiste.pbx.deployment import deployment_instance

    pbx = deployment_instance(config.deployment)
    if not pbx.status().running:
        return Finding(
            "contrôleur", Level.WARNING, "Asterisk ne tourne pas : impossible de vérifier le contrôleur."
        )

    async def apps() -> list[str]:
        import aiohttp

        async with (
            aiohttp.ClientSession(headers=pbx.ari_headers()) as session,
            session.get(f"{pbx.ari_url}/applications", timeout=aiohttp.ClientTimeout(total=3)) as resp,
        ):
            return [a["name"] for a in await resp.json()]

    try:
        names = asyncio.run(apps())
    except Exception as err:
        return Finding("contrôleur", Level.PROBLEM, f"l'interface ARI d'Asterisk ne répond pas ({err}).")
    if config.deployment.asterisk.app_name not in names:
        return Finding(
            "contrôleur",
            Level.PROBLEM,
            "le contrôleur Standardiste n'est pas connecté : les appels vont directement au "
            "secrétariat (« standardiste serve » ou le service systemd standardiste).",
        )
    return Finding("contrôleur", Level.OK, "connecté à Asterisk ; les appels sont pris par l'assistant.")


def check_dashboard(config: Config) -> Finding:
    d = config.deployment.dashboard
    if _port_listening(d.host, d.port):
        return Finding("tableau de bord", Level.OK, f"http://{d.host}:{d.port}/")
    return Finding("tableau de bord", Level.WARNING, f"rien n'écoute sur http://{d.host}:{d.port}/.")


CHECKS: tuple[Callable[[Config], Finding], ...] = (
    check_secrets,
    check_asterisk,
    check_controller,
    check_database,
    check_synthesis,
    check_recognizer,
    check_understanding,
    check_redis,
    check_dashboard,
)


def diagnose(config: Config) -> list[Finding]:
    findings = []
    for check in CHECKS:
        try:
            findings.append(check(config))
        except Exception as err:
            name = check.__name__.removeprefix("check_")
            findings.append(
                Finding(name, Level.PROBLEM, f"vérification impossible ({type(err).__name__}: {err}).")
            )
    return findings


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"[problème] configuration : {err}")
        return 1
    print(f"Configuration : {args.config or 'cabinet de démonstration'} ({config.practice.name})")
    findings = diagnose(config)
    for f in findings:
        print(f"[{f.level}] {f.check} : {f.message}", flush=True)
    problems = sum(f.level is Level.PROBLEM for f in findings)
    warnings = sum(f.level is Level.WARNING for f in findings)
    if problems:
        print(f"{problems} problème(s) à corriger, {warnings} point(s) d'attention.")
    else:
        print("Aucun problème bloquant." + (f" {warnings} point(s) d'attention." if warnings else ""))
    return 1 if problems else 0
