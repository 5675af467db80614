"""`standardiste` command line: each subcommand lives in its own module under standardiste.cli."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from standardiste.config import ConfigError

# Each module defines `register(subparsers)`; the parser it adds sets `func(args) -> int`.
COMMAND_MODULES = (
    "standardiste.cli.run",  # run, serve
    "standardiste.cli.pbx",  # pbx build|start|stop|status
    "standardiste.cli.models",  # models install|list
    "standardiste.cli.call",  # call
    "standardiste.cli.simulate",  # simulate
    "standardiste.cli.understand",  # understand
    "standardiste.cli.doctor",  # doctor
    "standardiste.cli.users",  # users add|passwd|list
    "standardiste.cli.redis",  # redis serve
    "standardiste.cli.cluster",  # cluster kamailio-config
    "standardiste.agenda.cli",  # agenda check|holidays|slots
    "standardiste.privacy.cli",  # privacy reseal|rotate-key|init-key|erase|purge
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="standardiste",
        description="Standardiste : l'assistant téléphonique du cabinet médical, sur votre propre serveur.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
