"""Just enough iCalendar (RFC 5545) to write our events and read anyone's busy times."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

_DURATION = re.compile(r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def fold_line(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    chunk = b""
    for ch in line:
        b = ch.encode()
        if len(chunk) + len(b) > (75 if not parts else 74):
            parts.append(chunk.decode())
            chunk = b""
        chunk += b
    parts.append(chunk.decode())
    return "\r\n ".join(parts)


def utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Event:
    """One VEVENT (or one expanded instance) as read from a server."""

    uid: str
    start: dt.datetime
    end: dt.datetime
    status: str = ""
    transparent: bool = False
    props: dict[str, str] = field(default_factory=dict)


def build_event(
    uid: str,
    start: dt.datetime,
    end: dt.datetime,
    summary: str,
    status: str,
    props: dict[str, str],
    now: dt.datetime,
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Standardiste//Agenda//FR",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{utc_stamp(now)}",
        f"DTSTART:{utc_stamp(start)}",
        f"DTEND:{utc_stamp(end)}",
        f"SUMMARY:{escape(summary)}",
        f"STATUS:{status}",
    ]
    lines += [f"{name}:{escape(value)}" for name, value in props.items()]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(fold_line(line) for line in lines) + "\r\n"


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if raw.startswith((" ", "\t")) and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def _split(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    # A quoted parameter value may contain ':'; rare enough in what we read to ignore.
    name, *params = head.split(";")
    parsed = {}
    for p in params:
        k, _, v = p.partition("=")
        parsed[k.upper()] = v.strip('"')
    return name.upper(), parsed, value


def parse_time(value: str, params: dict[str, str], tz: dt.tzinfo) -> dt.datetime:
    if params.get("VALUE") == "DATE" or (len(value) == 8 and value.isdigit()):
        return dt.datetime.combine(dt.date(int(value[:4]), int(value[4:6]), int(value[6:8])), dt.time(0), tz)
    moment = dt.datetime.strptime(value.rstrip("Z")[:15], "%Y%m%dT%H%M%S")
    if value.endswith("Z"):
        return moment.replace(tzinfo=dt.UTC)
    tzid = params.get("TZID")
    if tzid:
        try:
            return moment.replace(tzinfo=ZoneInfo(tzid))
        except Exception:  # Windows names and the like: assume the practice's zone
            return moment.replace(tzinfo=tz)
    return moment.replace(tzinfo=tz)  # floating time


def parse_duration(value: str) -> dt.timedelta:
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"bad duration {value!r}")
    sign, weeks, days, hours, minutes, seconds = m.groups()
    delta = dt.timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=int(seconds or 0),
    )
    return -delta if sign == "-" else delta


def parse_events(text: str, tz: dt.tzinfo) -> list[Event]:
    """VEVENTs of an iCalendar text; unreadable events are skipped rather than failing the whole read."""
    events: list[Event] = []
    current: list[str] | None = None
    depth = 0
    for line in _unfold(text):
        upper = line.upper()
        if upper == "BEGIN:VEVENT":
            current, depth = [], 0
            continue
        if current is None:
            continue
        if upper.startswith("BEGIN:"):
            depth += 1  # VALARM inside the event: skip its properties
        elif upper.startswith("END:") and depth:
            depth -= 1
        elif upper == "END:VEVENT":
            event = _event(current, tz)
            if event is not None:
                events.append(event)
            current = None
        elif depth == 0:
            current.append(line)
    return events


def _event(lines: list[str], tz: dt.tzinfo) -> Event | None:
    props: dict[str, str] = {}
    start = end = None
    duration = None
    all_day = False
    try:
        for line in lines:
            name, params, value = _split(line)
            if name == "DTSTART":
                start = parse_time(value, params, tz)
                all_day = params.get("VALUE") == "DATE" or len(value) == 8
            elif name == "DTEND":
                end = parse_time(value, params, tz)
            elif name == "DURATION":
                duration = parse_duration(value)
            else:
                props[name] = unescape(value)
        if start is None:
            return None
        if end is None:
            end = start + (
                duration if duration is not None else dt.timedelta(days=1) if all_day else dt.timedelta(0)
            )
    except ValueError:
        return None
    return Event(
        uid=props.get("UID", ""),
        start=start,
        end=end,
        status=props.get("STATUS", "").upper(),
        transparent=props.get("TRANSP", "").upper() == "TRANSPARENT",
        props=props,
    )
