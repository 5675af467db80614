"""Call log tables: one row per call (the "calllog" alembic branch)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from standardiste.storage.db import Base


class CallRow(Base):
    __tablename__ = "calllog_calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the call id (caller channel id)
    channel_id: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    # Encrypted by CallLogStore when it has a key (calllog_0002); caller_index: blind index of the number.
    caller_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    caller_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_reason: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    outcome_details: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The path taken: "answered > CallStarted > keypad:1 > transfer:reception ..."
    path: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # What the assistant did (say / transfer / hang up), in order.
    actions: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # Both sides of the conversation, serialised by CallLogStore (which may encrypt it).
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    transcript_encrypted: Mapped[int] = mapped_column(Integer, default=0)
    recognizer: Mapped[str] = mapped_column(String(128), default="")
    greeting_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    barge_ins: Mapped[int] = mapped_column(Integer, default=0)
    # Name of the audio recording (NAME.wav in Asterisk's recording dir, calllog_0003); None: not recorded.
    recording: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The cluster node that handled the call (calllog_0004; docs/scale.md); "" on a single server.
    node: Mapped[str] = mapped_column(String(64), default="", server_default="")
