"""`standardiste pbx build|start|stop|status`: the practice's Asterisk."""

from __future__ import annotations

import argparse
import asyncio
import sys

from standardiste.cli.common import add_config_option, config_from
from standardiste.pbx import PbxError, PbxInstance, deployment_instance, deployment_root, ensure_root

DRAIN_LIMIT_S = 120.0  # `pbx stop`: longest wait for the calls in progress


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("pbx", help="l'Asterisk du cabinet (construire, démarrer, arrêter, état)")
    sub = parser.add_subparsers(dest="pbx_command", required=True, metavar="ACTION")

    build = sub.add_parser(
        "build", help="construire la racine Asterisk 22 (environ une minute la première fois)"
    )
    add_config_option(build)
    build.set_defaults(func=cmd_build)

    start = sub.add_parser("start", help="démarrer Asterisk en arrière-plan")
    add_config_option(start)
    start.add_argument("--timeout", type=float, default=30.0, help="délai de démarrage en secondes")
    start.add_argument(
        "--foreground",
        action="store_true",
        help="rester au premier plan (systemd) jusqu'à l'arrêt d'Asterisk",
    )
    start.set_defaults(func=cmd_start)

    stop = sub.add_parser(
        "stop", help="arrêter Asterisk : plus de nouvel appel, ceux en cours se terminent (délai maximal)"
    )
    add_config_option(stop)
    stop.add_argument(
        "--limit",
        type=float,
        default=DRAIN_LIMIT_S,
        help=f"secondes laissées aux appels en cours avant de les couper (défaut {DRAIN_LIMIT_S:.0f})",
    )
    stop.add_argument("--now", action="store_true", help="arrêt immédiat : les appels en cours sont coupés")
    stop.set_defaults(func=cmd_stop)

    status = sub.add_parser("status", help="dire ce qui tourne")
    add_config_option(status)
    status.set_defaults(func=cmd_status)

    render = sub.add_parser(
        "render",
        help="écrire la configuration d'Asterisk sans le démarrer (systemd le lance ensuite dans sa racine)",
    )
    add_config_option(render)
    render.set_defaults(func=cmd_render)


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    config = config_from(args)
    root = deployment_root(config.deployment)
    try:
        ensure_root(root, progress=_say)
    except PbxError as err:
        print(f"Échec : {err}", file=sys.stderr)
        return 1
    _say(f"Racine Asterisk prête / Asterisk root ready: {root}")
    return 0


def _instance(args: argparse.Namespace) -> tuple[PbxInstance, object]:
    config = config_from(args)
    return deployment_instance(config.deployment), config


def install_prompts(pbx: PbxInstance, emergency: str, voice: str = "fr+f2") -> bool:
    """The French messages the dialplan plays by itself: waiting line, message box, unavailable."""
    from standardiste.pbx.sounds import install_fallback_prompts_sync

    try:
        return bool(install_fallback_prompts_sync(pbx, emergency, voice))
    except Exception as err:  # Asterisk's own French prompts are used instead
        _say(f"(messages de secours non synthétisés : {err})")
        return False


def cmd_render(args: argparse.Namespace) -> int:
    """The configuration, prompts and file ownership of the deployment's instance; then systemd starts
    Asterisk itself in its root as the service user (deploy/standardiste-asterisk.service)."""
    config = config_from(args)
    dep = config.deployment
    root = deployment_root(dep)
    try:
        ensure_root(root, progress=_say)
        pbx = deployment_instance(dep, root)
        pbx.render()
    except PbxError as err:
        print(f"Échec : {err}", file=sys.stderr)
        return 1
    install_prompts(pbx, config.practice.emergency_number, dep.speech.voice)
    if dep.asterisk.run_as_user:
        pbx.render()  # the prompts just written get the service user's group too
    pbx.rotate_logs()
    _say(f"Configuration écrite / written: {pbx.instance_dir / 'etc'} (racine/root {root})")
    _say(f"asterisk -C {pbx.chroot_dir}/etc/asterisk.conf")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    config = config_from(args)
    dep = config.deployment
    root = deployment_root(dep)
    try:
        ensure_root(root, progress=_say)
    except PbxError as err:
        print(f"Échec de la construction de la racine Asterisk : {err}", file=sys.stderr)
        return 1
    pbx = deployment_instance(dep, root)
    if pbx.pid() is not None:
        _say(pbx.status().describe())
        return 0
    _say("Démarrage d'Asterisk / starting Asterisk ...")
    pbx.render()
    install_prompts(pbx, config.practice.emergency_number, dep.speech.voice)
    try:
        asyncio.run(pbx.start(args.timeout))
    except PbxError as err:
        print(f"Asterisk n'a pas démarré / did not start: {err}", file=sys.stderr)
        print(f"Journal / log: {pbx.log_path}", file=sys.stderr)
        return 1
    a = dep.asterisk
    _say(pbx.status().describe())
    _say(f"SIP : {a.bind}:{a.sip_port} (UDP) ; ARI : {pbx.ari_url} ; application « {a.app_name} »")
    _say(f"Configuration : {pbx.instance_dir / 'etc'} ; journal : {pbx.log_path}")
    _say(f"Mots de passe des téléphones / phone passwords: {pbx.instance_dir / 'phones.json'}")
    if args.foreground:
        return _wait_foreground(pbx)
    return 0


def _wait_foreground(pbx: PbxInstance) -> int:
    import signal
    import time

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last_rotation = time.monotonic()
    while not stopping and pbx.pid() is not None:
        time.sleep(0.5)
        if time.monotonic() - last_rotation > 60:  # Asterisk's logs: size-based rotation, mode 0640
            last_rotation = time.monotonic()
            pbx.rotate_logs()
    if stopping:
        pbx.stop_sync()
        return 0
    print("Asterisk s'est arrêté / Asterisk exited", file=sys.stderr)
    return 1


def cmd_stop(args: argparse.Namespace) -> int:
    pbx, _ = _instance(args)
    if pbx.pid() is None:
        _say("Asterisk ne tournait pas / was not running.")
        return 0
    if args.now:
        pbx.stop_sync()
        _say("Asterisk arrêté / stopped.")
        return 0
    calls = pbx.active_calls()
    if calls:
        _say(
            f"{calls} appel(s) en cours : plus aucun nouvel appel, arrêt quand ils seront terminés "
            f"(au plus {args.limit:.0f} s) / draining {calls} call(s)"
        )
    result = pbx.drain_sync(args.limit)
    _say(result.describe())
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    pbx, _ = _instance(args)
    status = pbx.status()
    _say(status.describe())
    if not status.running:
        if not (pbx.root / "usr/sbin/asterisk").exists():
            _say("La racine Asterisk n'existe pas : `standardiste pbx build`.")
        else:
            _say("Pour le démarrer / to start it: standardiste pbx start")
        return 3
    try:
        asyncio.run(pbx.wait_ari(3.0))
        _say(f"ARI répond / answers on {pbx.ari_url}.")
    except PbxError as err:
        _say(f"ARI ne répond pas / does not answer: {err}")
        return 1
    try:
        apps = pbx.rx("ari show apps")
        connected = pbx.app_name in apps.split()  # not "<app>-dialer" (the reminders' event app)
    except PbxError:
        connected = False
    _say(
        f"Contrôleur (application « {pbx.app_name} ») : "
        + ("connecté / connected." if connected else "non connecté — les appels vont au secrétariat.")
    )
    return 0
