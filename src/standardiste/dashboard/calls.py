"""Calls and statistics: what the assistant did, for the staff and the practice's manager."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select

from standardiste.agenda.tables import AppointmentRow
from standardiste.calllog.store import CallEntry, CallLogStore
from standardiste.calllog.tables import CallRow
from standardiste.dashboard.web import (
    AUDIT_DETAIL,
    CONTEXT_KEY,
    DashboardContext,
    render,
    requires,
    wav_response,
)

OUTCOME_FR = {
    "booked": "rendez-vous pris",
    "cancelled": "rendez-vous annulé",
    "rescheduled": "rendez-vous déplacé",
    "confirmed": "rendez-vous confirmé",
    "request_filed": "demande enregistrée",
    "answered": "renseignement donné",
    "transferred": "transféré au secrétariat",
    "emergency_transferred": "urgence transférée",
    "abandoned": "abandonné",
    "no_answer": "pas de réponse",
    "busy": "occupé",
    "voicemail": "messagerie",
    "wrong_person": "mauvais interlocuteur",
    "failed": "échec",
}
# Calls the assistant finished without a human.
AUTOMATED = frozenset({"booked", "cancelled", "rescheduled", "confirmed", "request_filed", "answered"})
TRANSFERRED = frozenset({"transferred", "emergency_transferred"})
REMINDER_OUTCOMES = (
    "confirmed",
    "cancelled",
    "rescheduled",
    "no_answer",
    "busy",
    "voicemail",
    "wrong_person",
    "failed",
)
IN_PROGRESS_WINDOW = dt.timedelta(
    hours=4
)  # an unended row older than this is a crashed session, not a live call


@dataclass(frozen=True, slots=True)
class CallLine:
    id: str
    started_at: dt.datetime
    caller: str
    direction: str
    duration_s: int | None
    outcome: str
    outcome_label: str
    in_progress: bool
    node: str = ""  # the cluster node (docs/scale.md); "" on a single server


def _line(entry: CallEntry, tz: ZoneInfo, now: dt.datetime) -> CallLine:
    started = entry.started_at if entry.started_at.tzinfo else entry.started_at.replace(tzinfo=dt.UTC)
    ended = (
        entry.ended_at.replace(tzinfo=dt.UTC)
        if entry.ended_at and not entry.ended_at.tzinfo
        else entry.ended_at
    )
    live = ended is None and now - started < IN_PROGRESS_WINDOW
    return CallLine(
        id=entry.id,
        started_at=started.astimezone(tz),
        caller=entry.caller_id or "numéro masqué",
        direction="sortant" if entry.direction == "outbound" else "entrant",
        duration_s=int((ended - started).total_seconds()) if ended else None,
        outcome=entry.outcome or "",
        outcome_label="en cours" if live else OUTCOME_FR.get(entry.outcome or "", entry.outcome or "inconnu"),
        in_progress=live,
        node=entry.node,
    )


@dataclass(frozen=True, slots=True)
class CallFilter:
    day_from: dt.date | None = None
    day_to: dt.date | None = None
    outcome: str | None = None
    text: str | None = None  # searched in the caller number and the (decrypted) transcript


class CallQueries:
    def __init__(self, store: CallLogStore, tz: Callable[[], ZoneInfo]) -> None:
        self._store = store
        self._tz = tz

    def _rows(
        self, start: dt.datetime | None, end: dt.datetime | None, outcome: str | None, limit: int
    ) -> list[CallEntry]:
        query = select(CallRow).order_by(CallRow.started_at.desc()).limit(limit)
        if start is not None:
            query = query.where(CallRow.started_at >= start)
        if end is not None:
            query = query.where(CallRow.started_at < end)
        if outcome:
            query = query.where(CallRow.outcome == outcome)
        with self._store.db.session() as s:
            return [self._store._entry(r) for r in s.scalars(query)]

    def search(self, f: CallFilter, now: dt.datetime, limit: int = 300) -> list[CallLine]:
        tz = self._tz()
        start = dt.datetime.combine(f.day_from, dt.time(0), tz) if f.day_from else None
        end = dt.datetime.combine(f.day_to + dt.timedelta(days=1), dt.time(0), tz) if f.day_to else None
        entries = self._rows(start, end, f.outcome, limit if not f.text else limit * 10)
        if f.text:
            # Transcripts are encrypted at rest: the search runs on decrypted text, in memory.
            needle = f.text.lower()
            entries = [
                e
                for e in entries
                if needle in (e.caller_id or "").lower()
                or any(needle in u.text.lower() for u in e.transcript)
            ][:limit]
        return [_line(e, tz, now) for e in entries]

    def detail(self, call_id: str) -> CallEntry | None:
        return self._store.get_sync(call_id)

    def recording(self, entry: CallEntry) -> bool:
        """Whether the call's audio (privacy.record_audio) is still kept."""
        return self._store.has_recording(entry)

    def recording_audio(self, entry: CallEntry) -> bytes | None:
        """The call's WAV, decrypted on the fly (never written in clear)."""
        return self._store.recording_audio(entry)

    def has_name_audio(self, call_id: str) -> bool:
        """Whether the caller's spoken name (identity by voice) is kept with this call."""
        return self._store.has_name_audio(call_id)

    def name_audio(self, call_id: str) -> bytes | None:
        return self._store.name_audio(call_id)

    def today(self, now: dt.datetime) -> dict[str, int]:
        tz = self._tz()
        day_start = dt.datetime.combine(now.astimezone(tz).date(), dt.time(0), tz)
        entries = self._rows(day_start, None, None, 10000)
        lines = [_line(e, tz, now) for e in entries]
        outcomes = Counter(e.outcome for e in entries)
        return {
            "total": len(entries),
            "in_progress": sum(1 for line in lines if line.in_progress),
            "transferred": sum(outcomes[o] for o in TRANSFERRED),
            "emergencies": outcomes["emergency_transferred"],
            "booked": outcomes["booked"],
            "cancelled": outcomes["cancelled"],
        }


class CallFacts(Protocol):
    """What statistics read of a call (a CallEntry, or a row of those columns alone)."""

    started_at: dt.datetime
    direction: str
    outcome: str | None
    greeting_ms: float | None


@dataclass
class Statistics:
    days: list[tuple[str, int]] = field(default_factory=list)
    hours: list[tuple[str, int]] = field(default_factory=list)
    handled: list[tuple[str, int]] = field(default_factory=list)  # assistant / transferred / abandoned
    reasons: list[tuple[str, int]] = field(default_factory=list)
    reminders: list[tuple[str, int]] = field(default_factory=list)
    total: int = 0
    automation_rate: float | None = None
    mean_answer_ms: float | None = None
    no_show_rate: float | None = None


def compute_statistics(
    entries: Iterable[CallFacts],
    tz: ZoneInfo,
    first_day: dt.date,
    last_day: dt.date,
    attended: int,
    no_shows: int,
) -> Statistics:
    stats = Statistics()
    per_day: Counter[dt.date] = Counter()
    per_hour: Counter[int] = Counter()
    inbound_outcomes: Counter[str] = Counter()
    reminder_outcomes: Counter[str] = Counter()
    greetings: list[float] = []
    for e in entries:
        local = (e.started_at if e.started_at.tzinfo else e.started_at.replace(tzinfo=dt.UTC)).astimezone(tz)
        if e.direction == "outbound":
            reminder_outcomes[e.outcome or "failed"] += 1
            continue
        stats.total += 1
        per_day[local.date()] += 1
        per_hour[local.hour] += 1
        inbound_outcomes[e.outcome or "abandoned"] += 1
        if e.greeting_ms is not None:
            greetings.append(e.greeting_ms)
    day = first_day
    while day <= last_day:
        stats.days.append((day.strftime("%d/%m"), per_day[day]))
        day += dt.timedelta(days=1)
    stats.hours = [(f"{h} h", per_hour[h]) for h in range(7, 21)]
    automated = sum(inbound_outcomes[o] for o in AUTOMATED)
    transferred = sum(inbound_outcomes[o] for o in TRANSFERRED)
    stats.handled = [
        ("par l'assistant", automated),
        ("transférés", transferred),
        ("abandonnés", inbound_outcomes["abandoned"]),
    ]
    stats.reasons = [(OUTCOME_FR.get(o, o), n) for o, n in inbound_outcomes.most_common()]
    stats.reminders = [(OUTCOME_FR.get(o, o), reminder_outcomes[o]) for o in REMINDER_OUTCOMES]
    stats.automation_rate = automated / stats.total if stats.total else None
    stats.mean_answer_ms = sum(greetings) / len(greetings) if greetings else None
    stats.no_show_rate = no_shows / (attended + no_shows) if attended + no_shows else None
    return stats


def bar_chart(title: str, data: list[tuple[str, int]], width: int = 640) -> str:
    """An accessible inline SVG bar chart (the numbers are also in a table next to it)."""
    from html import escape

    peak = max((v for _, v in data), default=0) or 1
    bar_h, gap, label_w = 18, 6, 130
    height = len(data) * (bar_h + gap) + gap
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%">']
    for i, (label, value) in enumerate(data):
        y = gap + i * (bar_h + gap)
        w = int((width - label_w - 50) * value / peak)
        parts.append(
            f'<text x="0" y="{y + 13}">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#0b5cad"></rect>'
            f'<text x="{label_w + w + 4}" y="{y + 13}">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


CALLS_KEY = web.AppKey("dashboard_calls", CallQueries)


def _period(request: web.Request) -> tuple[dt.date, dt.date]:
    ctx = request.app[CONTEXT_KEY]
    tz = request.app[CALLS_KEY]._tz()
    today = ctx.clock().astimezone(tz).date()
    try:
        first = (
            dt.date.fromisoformat(request.query["du"]) if request.query.get("du") else today - dt.timedelta(6)
        )
        last = dt.date.fromisoformat(request.query["au"]) if request.query.get("au") else today
    except ValueError:
        first, last = today - dt.timedelta(6), today
    if last < first or (last - first).days > 366:
        first, last = today - dt.timedelta(6), today
    return first, last


def _statistics(request: web.Request) -> tuple[Statistics, dt.date, dt.date]:
    calls = request.app[CALLS_KEY]
    tz = calls._tz()
    first, last = _period(request)
    start = dt.datetime.combine(first, dt.time(0), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz)
    # Only the columns the figures need: no row is decrypted for statistics.
    facts = select(CallRow.started_at, CallRow.direction, CallRow.outcome, CallRow.greeting_ms).where(
        CallRow.started_at >= start, CallRow.started_at < end
    )
    with calls._store.db.session() as s:
        entries = list(s.execute(facts.limit(100000)).all())
        counts = dict(
            s.execute(
                select(AppointmentRow.status, func.count())
                .where(AppointmentRow.start >= start, AppointmentRow.start < end)
                .group_by(AppointmentRow.status)
            ).all()
        )
    stats = compute_statistics(entries, tz, first, last, counts.get("attended", 0), counts.get("no_show", 0))
    return stats, first, last


@requires()
async def calls_page(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT_KEY]
    q = request.query

    def day(name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(q[name]) if q.get(name) else None
        except ValueError:
            return None

    f = CallFilter(day("du"), day("au"), q.get("issue") or None, (q.get("q") or "").strip()[:100] or None)
    lines = request.app[CALLS_KEY].search(f, ctx.clock())
    return render(request, "calls.html", "Appels", lines=lines, f=f, outcomes=OUTCOME_FR)


@requires()
async def call_detail(request: web.Request) -> web.Response:
    entry = request.app[CALLS_KEY].detail(request.match_info["id"])
    if entry is None:
        raise web.HTTPNotFound(text="Appel introuvable.")
    tz = request.app[CALLS_KEY]._tz()
    line = _line(entry, tz, request.app[CONTEXT_KEY].clock())
    return render(
        request,
        "call.html",
        f"Appel du {line.started_at.strftime('%d/%m/%Y à %H:%M')}",
        entry=entry,
        line=line,
        recording=request.app[CALLS_KEY].recording(entry),
        name_audio=request.app[CALLS_KEY].has_name_audio(entry.id),
    )


@requires()
async def call_name_audio(request: web.Request) -> web.StreamResponse:
    """The caller saying their name (WAV), for staff to correct a name the assistant did not find;
    every listen is audited."""
    calls = request.app[CALLS_KEY]
    call_id = request.match_info["id"]
    audio = await asyncio.to_thread(calls.name_audio, call_id)
    if audio is None:
        raise web.HTTPNotFound(text="Enregistrement du nom introuvable.")
    request[AUDIT_DETAIL] = f"écoute du nom dit par l'appelant (appel {call_id})"
    return wav_response(audio, "nom.wav")


@requires()
async def call_recording(request: web.Request) -> web.StreamResponse:
    """The call's audio (WAV), for logged-in staff only; every listen or download is audited."""
    calls = request.app[CALLS_KEY]
    entry = calls.detail(request.match_info["id"])
    audio = await asyncio.to_thread(calls.recording_audio, entry) if entry is not None else None
    if entry is None or audio is None:
        raise web.HTTPNotFound(text="Enregistrement introuvable.")
    request[AUDIT_DETAIL] = f"écoute/téléchargement de l'enregistrement {entry.recording}"
    return wav_response(audio, f"{entry.recording}.wav", download=request.query.get("telecharger") == "1")


@requires()
async def stats_page(request: web.Request) -> web.Response:
    stats, first, last = await asyncio.to_thread(_statistics, request)
    charts = {
        "days": bar_chart("Appels par jour", stats.days),
        "hours": bar_chart("Appels par heure", stats.hours),
        "handled": bar_chart("Qui a traité les appels", stats.handled),
        "reasons": bar_chart("Issues des appels", stats.reasons),
        "reminders": bar_chart("Issues des rappels", stats.reminders),
    }
    return render(request, "stats.html", "Statistiques", stats=stats, charts=charts, first=first, last=last)


@requires()
async def stats_csv(request: web.Request) -> web.Response:
    stats, first, last = await asyncio.to_thread(_statistics, request)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["section", "libellé", "valeur"])
    for section, rows in (
        ("jour", stats.days),
        ("heure", stats.hours),
        ("traitement", stats.handled),
        ("issue", stats.reasons),
        ("rappels", stats.reminders),
    ):
        writer.writerows([section, label, value] for label, value in rows)
    writer.writerow(["synthèse", "appels entrants", stats.total])
    for label, value in (
        ("taux d'automatisation", stats.automation_rate),
        ("taux d'absence", stats.no_show_rate),
    ):
        writer.writerow(["synthèse", label, f"{value:.3f}" if value is not None else ""])
    writer.writerow(
        [
            "synthèse",
            "délai moyen de décroché (ms)",
            f"{stats.mean_answer_ms:.0f}" if stats.mean_answer_ms is not None else "",
        ]
    )
    request[AUDIT_DETAIL] = f"export CSV {first}..{last}"
    return web.Response(
        body=out.getvalue().encode("utf-8-sig"),  # the BOM lets spreadsheet software read the accents
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="statistiques-{first}-{last}.csv"'},
    )


def add_call_pages(queries: CallQueries) -> Callable[[web.Application, DashboardContext], None]:
    def add(app: web.Application, ctx: DashboardContext) -> None:
        app[CALLS_KEY] = queries
        ctx.extra["calls_today"] = queries.today
        ctx.extra["spoken_names"] = queries.has_name_audio
        app.router.add_get("/appels", calls_page)
        app.router.add_get("/appels/{id}", call_detail)
        app.router.add_get("/appels/{id}/enregistrement", call_recording)
        app.router.add_get("/appels/{id}/nom", call_name_audio)
        app.router.add_get("/statistiques", stats_page)
        app.router.add_get("/statistiques.csv", stats_csv)

    return add
