"""Practice settings changed from the dashboard, stored over the configuration file's values."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from standardiste.storage.db import Base


class PracticeOverride(Base):
    __tablename__ = "practice_overrides"

    section: Mapped[str] = mapped_column(String(32), primary_key=True)  # hours, closures, faq, ...
    value_json: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))
