"""Builds the practice's agenda from the configuration: embedded (SQL) or the clinic's CalDAV server."""

from __future__ import annotations

from standardiste.agenda.caldav import CalDavAgenda, CalDavClient
from standardiste.agenda.inbox import SqlInbox
from standardiste.agenda.sql import SqlAgenda
from standardiste.config import Config, ConfigError
from standardiste.storage.db import Database


def build_agenda(db: Database, config: Config) -> tuple[SqlAgenda | CalDavAgenda, SqlInbox]:
    """The agenda and the inbox; raises ConfigError for an unusable [deployment.caldav] section."""
    cal = config.deployment.caldav
    if cal is None:
        return SqlAgenda(db, config.practice), SqlInbox(db)
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
    return CalDavAgenda(config.practice, client, cal.calendars, db), SqlInbox(db)
