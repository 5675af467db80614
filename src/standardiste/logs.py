"""Structured logs: one JSON object per line, with the call id of the current call on every line.

The call id lives in a context variable, so every task a call session starts (and every
`asyncio.to_thread` it runs, which copies the context) logs with it automatically.

No personal data by default: callers' numbers are masked (`mask_phone`), keypad entries are
replaced by their length (`mask_digits`), emergency rules by a coarse word (`coarse_reason`); and
a last filter masks anything that still looks like a phone number. `log_transcripts = true` keeps
them in clear (a practice that wants it). A log file, when configured, is mode 0640 and rotated.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path
from typing import Any

call_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


# International (+33 6 12 34 56 78, 0033612345678) and French national (06 12 34 56 78) numbers.
_PHONE_LIKE = re.compile(
    r"(?<![\w.+-])(\+\d{1,3}(?:[ .-]?\d){8,12}|00\d{9,15}|0[1-9](?:[ .-]?\d{2}){4})(?![\w])"
)
_KEEP = 5  # "+33612******": the country and the operator's prefix, never the subscriber


def mask_phone(number: str | None) -> str:
    """A number for the logs: "+33612345678" -> "+33612******"; short or odd input: "***"."""
    if not number:
        return ""
    digits = re.sub(r"[^\d+]", "", number)
    plus = "+" if digits.startswith("+") else ""
    body = digits.lstrip("+")
    if len(body) < 8:
        return "*" * len(body) if body else "***"
    return plus + body[:_KEEP] + "*" * (len(body) - _KEEP)


def mask_digits(digits: str | None) -> str:
    """Keypad entries (birth dates, callback numbers): only their length."""
    return f"<{len(digits or '')} touches>"


def coarse_reason(reason: str | None) -> str:
    """A transfer/outcome reason without its clinical detail: "emergency:suicidal" -> "emergency"."""
    return (reason or "").split(":", 1)[0]


def _mask_text(text: str) -> str:
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group(1)), text)


class PersonalDataFilter(logging.Filter):
    """Last line of defence: masks phone-like numbers in every message and string field."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = _mask_text(value)
        return True


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_id"):
            record.call_id = call_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id:
            entry["call_id"] = call_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "call_id" and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        call_id = getattr(record, "call_id", None)
        prefix = f"[{call_id}] " if call_id else ""
        extras = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _STANDARD and k != "call_id" and not k.startswith("_")
        }
        stamp = self.formatTime(record, "%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {prefix}{record.getMessage()}"
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file created mode 0640 (owner and the log-reading group only)."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.fchmod(fd, 0o640)
        return os.fdopen(fd, self.mode, encoding=self.encoding)


def setup_logging(
    fmt: str = "json",
    level: int | str = logging.INFO,
    stream: Any = None,
    *,
    mask_personal_data: bool = True,
    file: Path | None = None,
    file_max_bytes: int = 10 * 1024 * 1024,
    file_backups: int = 5,
) -> None:
    """Configure the root logger once for the process (replaces earlier handlers).

    `mask_personal_data=False` only when the practice asked for transcripts in the logs."""
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(PrivateRotatingFileHandler(file, maxBytes=file_max_bytes, backupCount=file_backups))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        handler.addFilter(CallIdFilter())
        if mask_personal_data:
            handler.addFilter(PersonalDataFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access logs and asyncio debug chatter are noise for an IT person.
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
