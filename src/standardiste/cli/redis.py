"""`standardiste redis serve`: the managed Redis in the foreground (the standardiste-redis unit)."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from standardiste.cli.common import add_config_option, config_from
from standardiste.config import load_or_create_secrets


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("redis", help="le Redis des rappels (socket privé, mot de passe)")
    sub = parser.add_subparsers(dest="redis_command", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", help="lancer Redis au premier plan (systemd)")
    add_config_option(serve)
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from standardiste.redis_server import RedisServer

    config = config_from(args)
    deployment = config.deployment
    server = RedisServer.from_deployment(deployment, load_or_create_secrets(deployment.data_dir))

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    print(f"Redis prêt sur {server.socket_path}", flush=True)
    return server.wait()
