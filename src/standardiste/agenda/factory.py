"""Builds the practice's agenda from the configuration: embedded (SQL) or the clinic's CalDAV server."""

from __future__ import annotations

from standardiste.agenda.caldav import CalDavAgenda, CalDavClient
from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.sealed import check_key
from standardiste.agenda.sql import SqlAgenda
from standardiste.config import Config, ConfigError, Secrets
from standardiste.privacy.crypto import FieldCipher
from standardiste.privacy.keys import cipher_for
from standardiste.storage.db import Database


def identity_cipher(config: Config, secrets: Secrets | None = None) -> FieldCipher:
    """The cipher for caller identities at rest: the install's key, kept apart from the data
    (privacy.key_file, see privacy/keys.py); a key in `secrets` (tests) wins."""
    return cipher_for(config.deployment, secrets)


def build_agenda(
    db: Database, config: Config, secrets: Secrets | None = None
) -> tuple[SqlAgenda | CalDavAgenda, SqlInbox]:
    """The agenda and the inbox, encrypting caller identities with the install's key (read from
    data_dir/secrets.toml when `secrets` is not given); ConfigError for an unusable [deployment.caldav],
    WrongKey when the key does not open the identities already stored."""
    cipher = identity_cipher(config, secrets)
    check_key(db, cipher)  # WrongKey now rather than duplicate patients later
    cal = config.deployment.caldav
    if cal is None:
        return SqlAgenda(db, config.practice, cipher=cipher), SqlInbox(db, cipher)
    unknown = sorted(set(cal.calendars) - {p.id for p in config.practice.practitioners})
    missing = sorted({p.id for p in config.practice.practitioners} - set(cal.calendars))
    if unknown or missing:
        raise ConfigError(
            "deployment.caldav.calendars: praticiens inconnus / unknown practitioners "
            f"{unknown}, sans calendrier / without calendar {missing}"
        )
    password = ""
    if cal.password_file is not None:
        try:
            password = cal.password_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(
                f"deployment.caldav.password_file: illisible / unreadable ({err.strerror})"
            ) from None
    client = CalDavClient(
        cal.url, auth=(cal.username, password) if cal.username else None, timeout=cal.timeout_s
    )
    return CalDavAgenda(config.practice, client, cal.calendars, db, cipher=cipher), SqlInbox(db, cipher)
