"""Staff pages: today, requests inbox, appointments, settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from standardiste.agenda.sealed import patient_of
from standardiste.agenda.tables import AppointmentRow, PatientRow
from standardiste.config import WEEKDAYS, WEEKDAYS_FR, ConfigError
from standardiste.dashboard.audit import form_detail
from standardiste.dashboard.auth import Role
from standardiste.dashboard.requests_admin import (
    KIND_LABELS_FR,
    STATUS_LABELS_FR,
    RequestsAdmin,
    RequestUpdateError,
)
from standardiste.dashboard.web import (
    AUDIT_DETAIL,
    CONTEXT_KEY,
    SESSION,
    DashboardContext,
    practitioner_filter,
    redirect,
    render,
    requires,
)
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database

STATUS_FR = {
    "booked": "réservé",
    "confirmed": "confirmé",
    "cancelled": "annulé",
    "attended": "venu",
    "no_show": "absent",
}


@dataclass(frozen=True, slots=True)
class StaffServices:
    db: Database
    settings: PracticeSettings
    requests: RequestsAdmin
    # Reminder status per appointment id, from the reminders capability (None: not available).
    reminder_status: Callable[[list[str]], dict[str, str]] | None = None


SERVICES_KEY = web.AppKey("staff_services", StaffServices)


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SERVICES_KEY].settings.current().timezone)


@dataclass(frozen=True, slots=True)
class AppointmentLine:
    id: str
    start: dt.datetime
    end: dt.datetime
    practitioner: str
    patient: str
    kind: str
    status: str
    source: str
    reminder: str


def appointments_between(
    services: StaffServices, start: dt.datetime, end: dt.datetime, practitioner: str | None, tz: ZoneInfo
) -> list[AppointmentLine]:
    practice = services.settings.current()
    names = {p.id: p.name for p in practice.practitioners}
    query = (
        select(AppointmentRow, PatientRow)
        .join(PatientRow, PatientRow.id == AppointmentRow.patient_id)
        .where(AppointmentRow.start >= start, AppointmentRow.start < end)
        .order_by(AppointmentRow.practitioner_id, AppointmentRow.start)
    )
    if practitioner is not None:  # "" (a practitioner's account without a practitioner): nothing
        query = query.where(AppointmentRow.practitioner_id == practitioner)
    with services.db.session() as s:
        rows = [(a, patient_of(p, services.requests.cipher)) for a, p in s.execute(query)]
    reminders = services.reminder_status([a.id for a, _ in rows]) if services.reminder_status else {}
    return [
        AppointmentLine(
            id=a.id,
            start=a.start.astimezone(tz),
            end=a.end.astimezone(tz),
            practitioner=names.get(a.practitioner_id, a.practitioner_id),
            patient=f"{p.last_name.upper()} {p.first_name}",
            kind=a.appointment_type,
            status=STATUS_FR.get(a.status, a.status),
            source=a.source,
            reminder=reminders.get(a.id, "—"),
        )
        for a, p in rows
    ]


@requires()
async def today(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    ctx = request.app[CONTEXT_KEY]
    tz = _tz(request)
    now = ctx.clock().astimezone(tz)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    own = practitioner_filter(request[SESSION], ctx)
    waiting = services.requests.waiting(practitioner=own)
    appointments = appointments_between(services, day_start, day_start + dt.timedelta(days=1), own, tz)
    calls = ctx.extra.get("calls_today")
    return render(
        request,
        "today.html",
        "Aujourd'hui",
        now=now,
        waiting=waiting,
        urgent=[r for r in waiting if r.urgent],
        appointments=appointments,
        calls=calls(now) if calls else None,
    )


@requires()
async def requests_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    status = request.query.get("statut") or None
    kind = request.query.get("type") or None
    own = practitioner_filter(request[SESSION], request.app[CONTEXT_KEY])
    items = services.requests.list(status=status, kind=kind, practitioner=own)
    staff = request.app[CONTEXT_KEY].auth.users()
    # Requests whose call kept the caller's spoken name (identity by voice): played beside the name.
    spoken_names = request.app[CONTEXT_KEY].extra.get("spoken_names")
    with_audio = {r.id for r in items if r.call_id and callable(spoken_names) and spoken_names(r.call_id)}
    return render(
        request,
        "requests.html",
        "Demandes",
        items=items,
        status_filter=status or "",
        kind=kind or "",
        kinds=KIND_LABELS_FR,
        statuses=STATUS_LABELS_FR,
        staff=staff,
        with_audio=with_audio,
    )


@requires()
async def request_update(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES_KEY]
    form = await request.post()
    session = request[SESSION]
    try:
        services.requests.update(
            request.match_info["id"],
            request.app[CONTEXT_KEY].clock(),
            status=str(form["statut"]) if form.get("statut") else None,
            assignee=str(form["assigne"]) if "assigne" in form else None,
            note=str(form.get("note", "")) or None,
            caller_name=str(form["nom"]) if form.get("nom") else None,
            by=session.user.username,
            practitioner=practitioner_filter(session, request.app[CONTEXT_KEY]),
        )
    except RequestUpdateError as err:
        raise redirect(f"/demandes?ok={err}") from None
    request[AUDIT_DETAIL] = form_detail(form)  # never the note's text
    raise redirect("/demandes?ok=Demande mise à jour.")


@requires()
async def appointments_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    tz = _tz(request)
    try:
        day = dt.date.fromisoformat(request.query["jour"]) if request.query.get("jour") else None
    except ValueError:
        day = None
    day = day or request.app[CONTEXT_KEY].clock().astimezone(tz).date()
    practitioner = request.query.get("praticien") or None
    own = practitioner_filter(request[SESSION], request.app[CONTEXT_KEY])
    if own is not None:
        practitioner = own  # a practitioner sees their own agenda only, whatever the URL asks
    start = dt.datetime.combine(day, dt.time(0), tz)
    lines = appointments_between(services, start, start + dt.timedelta(days=1), practitioner, tz)
    practice = services.settings.current()
    return render(
        request,
        "appointments.html",
        "Rendez-vous",
        day=day,
        lines=lines,
        practitioners=practice.practitioners,
        practitioner=practitioner or "",
        previous=day - dt.timedelta(days=1),
        next=day + dt.timedelta(days=1),
    )


@requires(Role.ADMIN)
async def settings_page(request: web.Request) -> web.Response:
    practice = request.app[SERVICES_KEY].settings.current()
    hours = {day: ", ".join(str(r) for r in practice.hours.for_weekday(i)) for i, day in enumerate(WEEKDAYS)}
    return render(
        request,
        "settings.html",
        "Réglages du cabinet",
        practice=practice,
        hours=hours,
        days=list(zip(WEEKDAYS, WEEKDAYS_FR, strict=True)),
        error=request.query.get("erreur", ""),
    )


@requires(Role.ADMIN)
async def settings_hours(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    value = {day: [r.strip() for r in str(form.get(day, "")).split(",") if r.strip()] for day in WEEKDAYS}
    return _save(request, "hours", value, "Horaires enregistrés : ils s'appliquent dès le prochain appel.")


@requires(Role.ADMIN)
async def settings_faq(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    current = request.app[SERVICES_KEY].settings.current().faq.model_dump(mode="json")
    value = current | {k: str(form.get(k, "")).strip() for k in current if k != "extra"}
    return _save(request, "faq", value, "Réponses enregistrées.")


@requires(Role.ADMIN)
async def settings_closure_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    current = [c.model_dump(mode="json") for c in request.app[SERVICES_KEY].settings.current().closures]
    start = str(form.get("debut", "")).strip()
    closure = {
        "start": start,
        "end": str(form.get("fin", "")).strip() or start,
        "label": str(form.get("motif", "")).strip() or "fermeture",
        "practitioner": str(form.get("praticien", "")).strip() or None,
    }
    return _save(request, "closures", [*current, closure], "Fermeture ajoutée.")


@requires(Role.ADMIN)
async def settings_closure_remove(request: web.Request) -> web.StreamResponse:
    current = [c.model_dump(mode="json") for c in request.app[SERVICES_KEY].settings.current().closures]
    try:
        index = int(request.match_info["index"])
        del current[index]
    except (ValueError, IndexError):
        raise redirect("/reglages?erreur=Fermeture introuvable.") from None
    return _save(request, "closures", current, "Fermeture supprimée.")


@requires(Role.ADMIN)
async def settings_practitioners(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    practitioners = []
    for p in request.app[SERVICES_KEY].settings.current().practitioners:
        data = p.model_dump(mode="json")
        data["name"] = str(form.get(f"nom-{p.id}", p.name)).strip()
        data["specialty"] = str(form.get(f"specialite-{p.id}", p.specialty)).strip()
        aliases = str(form.get(f"alias-{p.id}", ", ".join(p.aliases)))
        data["aliases"] = [a.strip() for a in aliases.split(",") if a.strip()]
        practitioners.append(data)
    new_id = str(form.get("nouveau-id", "")).strip().lower()
    if new_id:
        practitioners.append(
            {
                "id": new_id,
                "name": str(form.get("nouveau-nom", "")).strip(),
                "specialty": str(form.get("nouveau-specialite", "")).strip(),
            }
        )
    return _save(request, "practitioners", practitioners, "Praticiens enregistrés.")


@requires(Role.ADMIN)
async def settings_reminders(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    current = request.app[SERVICES_KEY].settings.current().reminders.model_dump(mode="json")
    value = current | {
        "enabled": form.get("actifs") == "on",
        "mode": str(form.get("mode", current["mode"])),
        "at": str(form.get("heure", current["at"])),
        "hours_before": str(form.get("heures_avant", current["hours_before"])),
        "window_start": str(form.get("debut_appels", current["window_start"])),
        "window_end": str(form.get("fin_appels", current["window_end"])),
        "call_on_saturday": form.get("samedi") == "on",
        "retries": str(form.get("relances", current["retries"])),
        "retry_delay_minutes": str(form.get("delai_relance", current["retry_delay_minutes"])),
        "max_concurrent_calls": str(form.get("lignes", current["max_concurrent_calls"])),
    }
    return _save(request, "reminders", value, "Rappels enregistrés.")


def _save(request: web.Request, section: str, value: object, message: str) -> web.StreamResponse:
    ctx = request.app[CONTEXT_KEY]
    try:
        request.app[SERVICES_KEY].settings.update(section, value, request[SESSION].user.username, ctx.clock())
    except ConfigError as err:
        request[AUDIT_DETAIL] = f"refusé: {section}"
        detail = str(err).split("\n", 1)[-1].strip()
        raise redirect(f"/reglages?erreur={detail}") from None
    request[AUDIT_DETAIL] = f"{section}: {value}"[:500]
    raise redirect(f"/reglages?ok={message}")


def add_staff_pages(services: StaffServices) -> Callable[[web.Application, DashboardContext], None]:
    def add(app: web.Application, _ctx: DashboardContext) -> None:
        app[SERVICES_KEY] = services
        app.router.add_get("/", today)
        app.router.add_get("/demandes", requests_page)
        app.router.add_post("/demandes/{id}", request_update)
        app.router.add_get("/rendez-vous", appointments_page)
        app.router.add_get("/reglages", settings_page)
        app.router.add_post("/reglages/horaires", settings_hours)
        app.router.add_post("/reglages/faq", settings_faq)
        app.router.add_post("/reglages/fermetures", settings_closure_add)
        app.router.add_post("/reglages/fermetures/{index}/supprimer", settings_closure_remove)
        app.router.add_post("/reglages/praticiens", settings_practitioners)
        app.router.add_post("/reglages/rappels", settings_reminders)

    return add
