"""`standardiste cluster kamailio-config`: render the edge's kamailio.cfg and dispatcher.list from the
configuration's [deployment.cluster.edge] (the standardiste-kamailio unit runs it before Kamailio)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from standardiste.cli.common import add_config_option, config_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("cluster", help="plusieurs nœuds derrière Kamailio (docs/scale.md)")
    sub = parser.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    render = sub.add_parser("kamailio-config", help="écrire kamailio.cfg et dispatcher.list (rôle edge)")
    add_config_option(render)
    render.add_argument(
        "--out", type=Path, required=True, help="répertoire de sortie (ex. /run/standardiste-kamailio)"
    )
    render.add_argument("--no-check", action="store_true", help="ne pas vérifier avec `kamailio -c`")
    render.set_defaults(func=cmd_kamailio_config)


def cmd_kamailio_config(args: argparse.Namespace) -> int:
    from standardiste.cluster.kamailio import KamailioError, check_config, write_config

    cluster = config_from(args).deployment.cluster
    if cluster.edge is None:
        print(
            "pas de section [deployment.cluster.edge] : ce serveur n'est pas l'entrée SIP du cluster / "
            "no [deployment.cluster.edge] section",
            file=sys.stderr,
        )
        return 2
    try:
        cfg = write_config(cluster.edge, args.out.absolute())
        if not args.no_check:
            check_config(cfg)
    except KamailioError as err:
        print(err, file=sys.stderr)
        return 1
    nodes = ", ".join(f"{n.name} ({n.address}:{n.sip_port})" for n in cluster.edge.nodes)
    print(f"{cfg} écrit ; nœuds : {nodes}")
    return 0
