"""The practice's live settings: the configuration file, with the sections an admin changed
from the dashboard laid over it. A call takes a snapshot at its start, so a change applies
to the next call and never to a call in progress."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from standardiste.config import ConfigError, PracticeConfig, parse_config
from standardiste.settings.tables import PracticeOverride
from standardiste.storage.db import Database

EDITABLE_SECTIONS = ("hours", "closures", "faq", "practitioners", "reminders")


class PracticeSettings:
    def __init__(self, db: Database, base: PracticeConfig) -> None:
        self._db = db
        self._base = base
        self._lock = threading.Lock()
        self._cached: tuple[int, PracticeConfig] | None = None

    def _stamp(self) -> int:
        with self._db.session() as s:
            return int(s.scalar(select(func.coalesce(func.sum(PracticeOverride.version), 0))) or 0)

    def current(self) -> PracticeConfig:
        """The settings in force now; re-read only when an override changed (even in another process)."""
        stamp = self._stamp()
        with self._lock:
            if self._cached is not None and self._cached[0] == stamp:
                return self._cached[1]
        with self._db.session() as s:
            overrides = {o.section: json.loads(o.value_json) for o in s.scalars(select(PracticeOverride))}
        practice = self._merge(overrides)
        with self._lock:
            self._cached = (stamp, practice)
        return practice

    def _merge(self, overrides: dict[str, Any]) -> PracticeConfig:
        data = self._base.model_dump(mode="json")
        data.update({k: v for k, v in overrides.items() if k in EDITABLE_SECTIONS})
        return parse_config({"practice": data}, "réglages du tableau de bord / dashboard settings").practice

    def update(self, section: str, value: Any, by: str, now: dt.datetime) -> PracticeConfig:
        """Validate the whole practice with the new section, then store it; ConfigError names the bad key."""
        if section not in EDITABLE_SECTIONS:
            raise ConfigError(f"practice.{section}: section non modifiable / section not editable")
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif isinstance(value, list):
            value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
        with self._db.session() as s:
            overrides = {o.section: json.loads(o.value_json) for o in s.scalars(select(PracticeOverride))}
            overrides[section] = value
            practice = self._merge(overrides)  # raises ConfigError before anything is written
            row = s.get(PracticeOverride, section)
            text = json.dumps(value, ensure_ascii=False)
            if row is None:
                row = PracticeOverride(
                    section=section, value_json=text, version=1, updated_at=now, updated_by=by
                )
                s.add(row)
            else:
                row.value_json, row.version, row.updated_at, row.updated_by = text, row.version + 1, now, by
        return practice
