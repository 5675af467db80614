"""`standardiste privacy reseal|rotate-key|erase|purge`: the data's protection, by hand.

- reseal (alias encrypt-existing): seals what older versions wrote in clear, rebinds ciphertexts to
  their row and moves blind indexes to per-column keys (run once after an upgrade; again is harmless).
- rotate-key: a new key, every sealed value re-encrypted under it (see privacy/keys.py).
- erase --phone N: one person's data, everywhere (privacy/erase.py).
- purge: the retention purge now (it also runs hourly in `standardiste serve`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from standardiste.cli.common import add_config_option, config_from


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("privacy", help="protection des données (chiffrement, effacement)")
    sub = parser.add_subparsers(dest="privacy_command", required=True)
    for name, text in (
        ("reseal", "re-chiffre toutes les données sensibles (après une mise à jour)"),
        ("encrypt-existing", "ancien nom de « reseal »"),
    ):
        reseal_cmd = sub.add_parser(name, help=text)
        add_config_option(reseal_cmd)
        reseal_cmd.set_defaults(func=reseal_command)
    rotate = sub.add_parser("rotate-key", help="nouvelle clé de chiffrement ; tout est re-chiffré")
    add_config_option(rotate)
    rotate.set_defaults(func=rotate_key_command)
    erase = sub.add_parser("erase", help="efface toutes les données d'une personne (par son numéro)")
    add_config_option(erase)
    erase.add_argument("--phone", required=True, help="numéro de téléphone de la personne")
    erase.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")
    erase.set_defaults(func=erase_command)
    init = sub.add_parser(
        "init-key", help="crée la clé de chiffrement (installation), hors du dossier de données"
    )
    add_config_option(init)
    init.add_argument("--group", default=None, help="groupe autorisé à lire la clé (ex. standardiste)")
    init.set_defaults(func=init_key_command)
    purge_cmd = sub.add_parser("purge", help="applique la durée de conservation maintenant")
    add_config_option(purge_cmd)
    purge_cmd.set_defaults(func=purge_command)


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from standardiste.privacy.keys import ensure_private_dir
    from standardiste.storage.db import Database

    config = config_from(args)
    ensure_private_dir(config.deployment.data_dir)
    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    return config, db


def init_key_command(args: argparse.Namespace) -> int:
    """Installation: the key file made before the service first starts (it may not write /etc)."""
    import grp
    import os

    from standardiste.privacy.keys import key_file, load_or_create_key

    config = config_from(args)
    path = key_file(config.deployment)
    existed = path.exists()
    load_or_create_key(config.deployment)
    if args.group:
        try:
            gid = grp.getgrnam(args.group).gr_gid
        except KeyError:
            print(f"Groupe inconnu : {args.group}", file=sys.stderr)
            return 2
        os.chown(path, -1, gid)
        path.chmod(0o640)
        os.chown(path.parent, -1, gid)
        path.parent.chmod(0o750)
    print(f"Clé {'déjà présente' if existed else 'créée'} : {path}")
    print(
        "La sauvegarder à part des données (clé USB au coffre, copie papier) : sans elle rien ne se restaure."
    )
    return 0


def reseal_command(args: argparse.Namespace) -> int:
    from standardiste.privacy.keys import cipher_for
    from standardiste.privacy.reseal import reseal, scrub_free_space

    config, db = _open(args)
    try:
        cipher = cipher_for(config.deployment)
        report = reseal(db, cipher, cipher)
        scrub_free_space(db)  # the clear values' old pages
    finally:
        db.dispose()
    return _print_report(report, "Re-chiffrés")


def rotate_key_command(args: argparse.Namespace) -> int:
    from standardiste.privacy.keys import rotate_key
    from standardiste.privacy.reseal import scrub_free_space

    config, db = _open(args)
    try:
        report = rotate_key(db, config.deployment)
        scrub_free_space(db)
    finally:
        db.dispose()
    code = _print_report(report, "Re-chiffrés sous la nouvelle clé")
    if code == 0:
        print(
            "Nouvelle clé en place ; l'ancienne est gardée en « .old » : "
            "la détruire après la prochaine sauvegarde."
        )
    return code


def erase_command(args: argparse.Namespace) -> int:
    from standardiste.privacy.erase import erase_person
    from standardiste.privacy.keys import cipher_for
    from standardiste.privacy.reseal import scrub_free_space

    if not args.yes:
        answer = input(f"Effacer toutes les données liées au {args.phone} ? Écrire « oui » : ")
        if answer.strip().lower() != "oui":
            print("Rien n'a été effacé.")
            return 1
    config, db = _open(args)
    try:
        report = erase_person(
            db,
            cipher_for(config.deployment),
            args.phone,
            recordings_dir=_recordings_dir(config),
            spool_dir=_spool_dir(config),
            log_files=_asterisk_logs(config),
            messages_dir=config.deployment.data_dir / "messages",
        )
        scrub_free_space(db)  # erased rows gone from the file, not only unlinked
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    for line in report.lines():
        print(line)
    return 0


def purge_command(args: argparse.Namespace) -> int:
    from standardiste.clock import clock_from_env
    from standardiste.privacy.retention import purge

    config, db = _open(args)
    try:
        report = purge(
            db,
            config.deployment.privacy.retention_days,
            clock_from_env(config.practice.timezone).now(),  # STANDARDISTE_NOW pins it
            _spool_dir(config),
            sealed_dir=_recordings_dir(config),
            audit_retention_days=config.deployment.privacy.audit_retention_days,
            log_dirs=[_spool_dir(config).parent.parent / "log"],
        )
    finally:
        db.dispose()
    print(report.summary())
    return 0


def _recordings_dir(config):  # type: ignore[no-untyped-def]
    from standardiste.privacy.recordings import recordings_dir

    return recordings_dir(config.deployment)


def _spool_dir(config):  # type: ignore[no-untyped-def]
    from standardiste.app import _deployment_recordings_dir

    return _deployment_recordings_dir(config)


def _asterisk_logs(config) -> list:  # type: ignore[no-untyped-def]
    """Asterisk's text logs and the controller's log file (they may name callers): scrubbed by erase."""
    log_dir = _spool_dir(config).parent.parent / "log"
    files = sorted(p for p in log_dir.glob("*") if p.is_file()) if log_dir.is_dir() else []
    own = config.deployment.log_file  # the controller's own log file and its rotations, when configured
    if own is not None and Path(own).parent.is_dir():
        files += sorted(p for p in Path(own).parent.glob(f"{Path(own).name}*") if p.is_file())
    return files


def _print_report(report, what: str) -> int:  # type: ignore[no-untyped-def]
    if report.failed:
        print("RIEN N'A ÉTÉ ÉCRIT : des valeurs ne s'ouvrent pas avec la clé actuelle.", file=sys.stderr)
        for failure in report.failed[:50]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{table} : {n}" for table, n in report.rows.items())
    print(f"{what} : {counts}.")
    return 0
