"""`standardiste users add|passwd|list|disable|enable`: staff accounts for the dashboard."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from standardiste.cli.common import add_config_option, config_from
from standardiste.dashboard.auth import ROLE_LABELS_FR, AccountError, Role, StaffAuth
from standardiste.storage.db import Database


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("users", help="comptes du personnel pour le tableau de bord")
    add_config_option(parser)
    actions = parser.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="créer un compte")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="nom affiché")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument(
        "--password-stdin", action="store_true", help="lire le mot de passe sur l'entrée standard"
    )
    add.add_argument(
        "--practitioner", default=None, help="praticien du cabinet (identifiant) pour un compte praticien"
    )
    passwd = actions.add_parser("passwd", help="changer un mot de passe (ferme les sessions ouvertes)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    actions.add_parser("list", help="lister les comptes")
    disable = actions.add_parser("disable", help="désactiver un compte (ferme ses sessions)")
    disable.add_argument("username")
    enable = actions.add_parser("enable", help="réactiver un compte")
    enable.add_argument("username")
    parser.set_defaults(func=run)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Confirmez : ") != first:
        raise AccountError("Les deux mots de passe diffèrent.")
    return first


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    auth = StaffAuth(db, config.deployment.dashboard.session_minutes)
    try:
        if args.users_action == "add":
            user = auth.create_user(
                args.username,
                args.name,
                Role(args.role),
                _password(args.password_stdin),
                dt.datetime.now(dt.UTC),
                practitioner_id=args.practitioner,
            )
            print(f"Compte « {user.username} » créé ({ROLE_LABELS_FR[user.role]}).")
        elif args.users_action == "passwd":
            auth.set_password(args.username, _password(args.password_stdin))
            print("Mot de passe changé ; les sessions ouvertes de ce compte sont fermées.")
        elif args.users_action in ("disable", "enable"):
            user = auth.set_active(args.username, args.users_action == "enable")
            state = "réactivé" if user.active else "désactivé ; ses sessions sont fermées"
            print(f"Compte « {user.username} » {state}.")
        else:
            for user in auth.users():
                state = "" if user.active else "\tdésactivé"
                print(f"{user.username}\t{ROLE_LABELS_FR[user.role]}\t{user.display_name}{state}")
    except AccountError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0
