"""`standardiste serve` (the controller) and `standardiste run` (Asterisk, Redis, controller: make run)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from standardiste.cli.common import add_config_option, config_from
from standardiste.config import Config
from standardiste.logs import setup_logging

log = logging.getLogger("standardiste.run")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="le contrôleur d'appels (Asterisk doit tourner)")
    add_config_option(serve)
    serve.add_argument("--log-format", choices=("json", "text"), default=None, help="format des journaux")
    serve.set_defaults(func=cmd_serve)

    run = sub.add_parser("run", help="démarre Asterisk, Redis et le contrôleur (make run)")
    add_config_option(run)
    run.add_argument("--log-format", choices=("json", "text"), default="text", help="format des journaux")
    run.set_defaults(func=cmd_run)


def _logging(args: argparse.Namespace, config: Config) -> None:
    dep = config.deployment
    setup_logging(
        args.log_format or dep.log_format,
        mask_personal_data=not dep.privacy.log_transcripts,
        file=dep.log_file,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    config = config_from(args)
    _logging(args, config)
    return asyncio.run(_serve(config))


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from(args)
    _logging(args, config)
    return asyncio.run(_run(config))


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _serve(config: Config) -> int:
    from standardiste.server import StandardisteServer

    app = StandardisteServer(config)
    try:
        await app.start()
    except Exception as err:
        log.exception("le contrôleur n'a pas pu démarrer / controller failed to start")
        print(f"Erreur au démarrage : {err}", file=sys.stderr)
        await app.stop()
        return 1
    try:
        await _until_signal()
    finally:
        log.info("arrêt : les appels en cours sont passés au secrétariat / stopping")
        await app.stop()
    return 0


async def _run(config: Config) -> int:
    from standardiste.pbx import ensure_root
    from standardiste.pbx.deployment import deployment_instance

    dep = config.deployment
    root = await asyncio.to_thread(ensure_root, dep.asterisk.root)
    pbx = deployment_instance(dep, root)  # the same instance `standardiste pbx start|status` uses
    already = (await asyncio.to_thread(pbx.status)).running
    if already:
        print("Asterisk tourne déjà pour cette configuration ; on s'y connecte.", flush=True)
    else:
        print("Démarrage d'Asterisk ...", flush=True)
        await pbx.start()
    redis = None
    try:
        if dep.redis.manage_server:
            try:
                from standardiste.config import load_or_create_secrets
                from standardiste.redis_server import RedisServer

                redis = RedisServer.from_deployment(dep, load_or_create_secrets(dep.data_dir))
                await asyncio.to_thread(redis.start)
            except Exception as err:  # the voice loop works without Redis (reminders need it)
                log.warning("Redis non démarré / Redis not started: %s", err)
                redis = None
        print(_how_to_call(pbx, config), flush=True)
        print(await asyncio.to_thread(_dashboard_access, config), flush=True)
        return await _serve(config)
    finally:
        if redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(redis.stop)
        if not already:
            await pbx.stop()
            print("Asterisk arrêté.", flush=True)


def _how_to_call(pbx: object, config: Config) -> str:
    from standardiste.pbx import PbxInstance

    assert isinstance(pbx, PbxInstance)
    caller = pbx.phone("caller1")
    reception = pbx.reception
    a = config.deployment.asterisk
    return "\n".join(
        [
            "",
            f"Standardiste répond pour « {config.practice.name} ».",
            f"Pour l'appeler : un softphone SIP (Linphone, Zoiper...) sur {a.bind}:{a.sip_port} (UDP),",
            f"  compte « {caller.username} », mot de passe « {caller.password} »,",
            f"  puis composez le {a.practice_extension}.",
            f"Le secrétariat (transferts) : compte « {reception.username} »,"
            f" mot de passe « {reception.password} ».",
            "Ou bien : standardiste call --config <fichier>",
            "  (un téléphone de test appelle et affiche le dialogue).",
            "Ctrl-C pour tout arrêter.",
            "",
        ]
    )


def _dashboard_access(config: Config) -> str:
    """How to reach the dashboard; on a first run, an admin account with a fresh password."""
    import datetime as dt
    import secrets

    from standardiste.dashboard.auth import Role, StaffAuth
    from standardiste.storage.db import Database

    d = config.deployment.dashboard
    lines = [f"Tableau de bord : http://{d.host}:{d.port}/"]
    db = Database(config.deployment.sqlalchemy_url)
    try:
        db.migrate()
        auth = StaffAuth(db)
        if not auth.users():
            password = secrets.token_urlsafe(12)
            auth.create_user("admin", "Administrateur", Role.ADMIN, password, dt.datetime.now(dt.UTC))
            lines.append(f"  premier démarrage : compte « admin », mot de passe « {password} »")
            lines.append("  (changez-le avec : standardiste users passwd admin)")
    finally:
        db.dispose()
    return "\n".join(lines)
