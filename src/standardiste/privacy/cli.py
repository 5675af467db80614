"""`standardiste privacy encrypt-existing`: seal identities and transcripts written in clear."""

from __future__ import annotations

import argparse

from standardiste.cli.common import add_config_option, config_from


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("privacy", help="protection des données (chiffrement au repos)")
    sub = parser.add_subparsers(dest="privacy_command", required=True)
    seal = sub.add_parser(
        "encrypt-existing",
        help="chiffre les identités et transcriptions enregistrées en clair (après une mise à jour)",
    )
    add_config_option(seal)
    seal.set_defaults(func=encrypt_existing)


def encrypt_existing(args: argparse.Namespace) -> int:
    from standardiste.agenda.factory import identity_cipher
    from standardiste.privacy.seal_existing import seal_existing
    from standardiste.storage.db import Database

    config = config_from(args)
    db = Database(config.deployment.sqlalchemy_url)
    try:
        db.migrate()
        report = seal_existing(db, identity_cipher(config))
    finally:
        db.dispose()
    print(f"Chiffrés : {report.patients} patient(s), {report.requests} demande(s), {report.calls} appel(s).")
    for failure in report.failed:
        print(f"NON CHIFFRÉ : {failure}")
    return 1 if report.failed else 0
