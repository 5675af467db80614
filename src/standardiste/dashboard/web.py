"""The staff dashboard's HTTP adapter (aiohttp + Jinja2): sessions, CSRF, roles, audit.

Every page view and every change is written to the audit log. Pages are server-rendered
HTML that works with the keyboard, a screen reader and on a tablet; no script is needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from standardiste.dashboard.auth import ROLE_LABELS_FR, OpenSession, Role, StaffAuth
from standardiste.dashboard.throttle import LoginThrottle

log = logging.getLogger(__name__)

COOKIE = "standardiste_session"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION = web.RequestKey("dashboard_session", OpenSession)
AUDIT_DETAIL = web.RequestKey("dashboard_audit_detail", str)

NAV: list[tuple[str, str, frozenset[Role]]] = [
    ("/", "Aujourd'hui", frozenset(Role)),
    ("/appels", "Appels", frozenset(Role)),
    ("/demandes", "Demandes", frozenset(Role)),
    ("/rendez-vous", "Rendez-vous", frozenset(Role)),
    ("/statistiques", "Statistiques", frozenset(Role)),
    ("/reglages", "Réglages", frozenset({Role.ADMIN})),
    ("/journal", "Journal d'audit", frozenset({Role.ADMIN})),
    ("/comptes", "Comptes", frozenset({Role.ADMIN})),
]


@dataclass
class DashboardContext:
    """What the pages need; built by whoever serves the dashboard."""

    auth: StaffAuth
    practice_name: Callable[[], str]
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    secure_cookies: bool = False
    pages: list[Callable[[web.Application, DashboardContext], None]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    # "own": a practitioner sees their own patients' requests and appointments, not the call log;
    # "all": every role sees every item (dashboard.practitioner_scope).
    practitioner_scope: str = "own"


def _in(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def from_trusted_proxy(request: web.Request) -> bool:
    return _in(request.remote or "", request.app[CONTEXT_KEY].trusted_proxies)


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or (behind a configured proxy only) the nearest address in
    X-Forwarded-For that is not one of our proxies. A client cannot choose its address by sending the
    header itself: from an untrusted peer the header is ignored."""
    peer = request.remote or ""
    trusted = request.app[CONTEXT_KEY].trusted_proxies
    if not _in(peer, trusted):
        return peer
    hops = [
        h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()
    ]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:64]
    return peer


def is_secure(request: web.Request) -> bool:
    """HTTPS as the browser sees it: our own TLS, or a trusted proxy's (X-Forwarded-Proto)."""
    if request.secure:
        return True
    return from_trusted_proxy(request) and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def practitioner_filter(session: OpenSession, ctx: DashboardContext) -> str | None:
    """None: the whole practice; else the only practitioner id whose items this session may see ("" when
    a practitioner's account names no practitioner: nothing)."""
    if session.user.role != Role.PRACTITIONER or ctx.practitioner_scope == "all":
        return None
    return session.user.practitioner_id or ""


# Pages a practitioner restricted to their own patients may not open (the call log is not per practitioner).
PRACTICE_WIDE_PATHS = ("/appels",)


CONTEXT_KEY = web.AppKey("dashboard_context", DashboardContext)
TEMPLATES_KEY = web.AppKey("dashboard_templates", jinja2.Environment)


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    allowed = frozenset(roles) or frozenset(Role)

    def wrap(handler: Handler) -> Handler:
        handler.__dict__["allowed_roles"] = allowed
        return handler

    return wrap


def current_session(request: web.Request) -> OpenSession:
    return request[SESSION]


def render(request: web.Request, template: str, title: str, status: int = 200, **values: Any) -> web.Response:
    ctx = request.app[CONTEXT_KEY]
    session: OpenSession | None = request.get(SESSION)
    nav = [(href, label) for href, label, roles in NAV if session and session.user.role in roles]
    html = (
        request.app[TEMPLATES_KEY]
        .get_template(template)
        .render(
            title=title,
            practice_name=ctx.practice_name(),
            user=session.user if session else None,
            role_label=ROLE_LABELS_FR[session.user.role] if session else "",
            csrf_token=session.csrf_token if session else "",
            nav=nav,
            current=request.path if request.path != "/" else "/",
            **({"flash": request.query.get("ok", ""), "error": ""} | values),
        )
    )
    return web.Response(text=html, content_type="text/html", status=status)


def wav_response(audio: bytes, filename: str, *, download: bool = False) -> web.Response:
    """A decrypted recording for staff: WAV, never cached by the browser or a proxy."""
    disposition = "attachment" if download else "inline"
    return web.Response(
        body=audio,
        headers={
            "Content-Type": "audio/wav",
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def redirect(location: str) -> web.HTTPSeeOther:
    # Messages put in the query (and ids from the URL) may hold spaces, accents or CR/LF: escape them
    # so the Location header is always valid and nothing can be injected into the response headers.
    return web.HTTPSeeOther(urllib.parse.quote(location, safe=_LOCATION_SAFE))


_LOCATION_SAFE = "/?=&;:%#+,@!$'()*~-._"


async def read_form(request: web.Request) -> Any:
    """The request's form (cached by aiohttp for the handlers); an unreadable one is a 400, not a 500."""
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except Exception as err:
        log.info("unreadable form on %s %s: %s", request.method, request.path, err)
        raise web.HTTPBadRequest(text="Formulaire illisible.") from None


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'",
    )
    if request.path != "/static/style.css":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("dashboard page failed: %s %s", request.method, request.path)
        return render(
            request,
            "error.html",
            "Erreur",
            status=500,
            message="Une erreur interne est survenue ; elle a été consignée.",
        )


PUBLIC_PATHS = ("/connexion", "/static/", "/healthz", "/metrics")


@web.middleware
async def sessions_and_audit(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CONTEXT_KEY]
    if request.method == "POST":
        await read_form(request)  # parsed once here; malformed forms end as 400 before any handler
    if request.path.startswith(PUBLIC_PATHS):
        return await handler(request)
    now = ctx.clock()
    session = ctx.auth.session(request.cookies.get(COOKIE), now)
    if session is None:
        if request.method == "GET":
            raise redirect(f"/connexion?next={request.path_qs}" if request.path != "/" else "/connexion")
        raise web.HTTPUnauthorized(text="Session expirée : reconnectez-vous.")
    request[SESSION] = session
    allowed = getattr(handler, "allowed_roles", None) or _route_roles(request)
    wide = request.path.startswith(PRACTICE_WIDE_PATHS) and practitioner_filter(session, ctx) is not None
    if wide or (allowed is not None and session.user.role not in allowed):
        ctx.auth.audit(session.user.username, "denied", request.path_qs, now, remote=client_address(request))
        return render(
            request,
            "error.html",
            "Accès refusé",
            status=403,
            message="Votre rôle ne donne pas accès à cette page.",
        )
    if request.method not in ("GET", "HEAD"):
        form = await request.post()
        token = form.get("csrf_token") if isinstance(form.get("csrf_token"), str) else None
        if not StaffAuth.csrf_ok(session, token):  # type: ignore[arg-type]
            ctx.auth.audit(
                session.user.username, "csrf_refused", request.path, now, remote=client_address(request)
            )
            return render(
                request,
                "error.html",
                "Requête refusée",
                status=403,
                message="Le formulaire a expiré ; rechargez la page et recommencez.",
            )
    action = "view" if request.method in ("GET", "HEAD") else "change"
    try:
        return await handler(request)
    finally:
        # Written whatever the outcome (a redirect after a change is an exception in aiohttp).
        ctx.auth.audit(
            session.user.username,
            action,
            request.path_qs,
            now,
            detail=request.get(AUDIT_DETAIL, ""),
            remote=client_address(request),
        )


def _route_roles(request: web.Request) -> frozenset[Role] | None:
    info = request.match_info.route.handler
    return getattr(info, "allowed_roles", None)


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", "Connexion", next=request.query.get("next", "/"))


async def login_submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT_KEY]
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next", "/"))
    if not target.startswith("/") or target.startswith("//"):
        target = "/"  # never redirect off-site
    now = ctx.clock()
    address = client_address(request)
    wait = ctx.throttle.wait(username, address, now)
    if wait is not None:
        # Not even checked: a locked account must not reveal whether the guess was right.
        ctx.auth.audit(username[:64] or "?", "login_throttled", "/connexion", now, remote=address)
        minutes = max(1, round(wait.total_seconds() / 60))
        response = render(
            request,
            "login.html",
            "Connexion",
            status=429,
            next=target,
            error=f"Trop d'essais : réessayez dans {minutes} minute{'s' if minutes > 1 else ''}.",
        )
        response.headers["Retry-After"] = str(max(1, int(wait.total_seconds())))
        return response
    # Argon2 costs tens of milliseconds of CPU: off the event loop, which also carries live calls.
    opened = await asyncio.to_thread(ctx.auth.login, username, password, now)
    if opened is None:
        ctx.throttle.failed(username, address, now)
        ctx.auth.audit(username[:64] or "?", "login_failed", "/connexion", now, remote=address)
        return render(
            request,
            "login.html",
            "Connexion",
            status=401,
            next=target,
            error="Identifiant ou mot de passe incorrect.",
        )
    ctx.throttle.succeeded(username, now)
    ctx.auth.audit(opened.user.username, "login", "/connexion", now, remote=address)
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        opened.token,
        httponly=True,
        samesite="Strict",
        secure=ctx.secure_cookies or is_secure(request),
        path="/",
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT_KEY]
    ctx.auth.logout(request.cookies[COOKIE])
    response = redirect("/connexion")
    response.del_cookie(COOKIE, path="/")
    raise response


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@requires(Role.ADMIN)
async def audit_page(request: web.Request) -> web.Response:
    entries = request.app[CONTEXT_KEY].auth.audit_entries(limit=300)
    return render(request, "audit.html", "Journal d'audit", entries=entries)


@requires(Role.ADMIN)
async def accounts_page(request: web.Request) -> web.Response:
    users = await asyncio.to_thread(request.app[CONTEXT_KEY].auth.users)
    return render(request, "accounts.html", "Comptes", users=users, roles=ROLE_LABELS_FR)


@requires(Role.ADMIN)
async def account_active(request: web.Request) -> web.StreamResponse:
    """Disable (closing its sessions at once) or enable an account; never one's own."""
    auth = request.app[CONTEXT_KEY].auth
    username = request.match_info["username"]
    active = request.match_info["action"] == "activer"
    if username == request[SESSION].user.username:
        raise redirect("/comptes?ok=Impossible de désactiver son propre compte.")
    try:
        auth.set_active(username, active)
    except ValueError as err:
        raise redirect(f"/comptes?ok={err}") from None
    request[AUDIT_DETAIL] = f"{'activé' if active else 'désactivé'}: {username}"
    raise redirect(f"/comptes?ok=Compte {username} {'réactivé' if active else 'désactivé'}.")


def create_app(ctx: DashboardContext) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, errors, sessions_and_audit], client_max_size=256 * 1024
    )
    app[CONTEXT_KEY] = ctx
    app[TEMPLATES_KEY] = jinja2.Environment(
        loader=jinja2.PackageLoader("standardiste.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/connexion", login_page)
    app.router.add_post("/connexion", login_submit)
    app.router.add_post("/deconnexion", logout)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/journal", audit_page)
    app.router.add_get("/comptes", accounts_page)
    app.router.add_post(r"/comptes/{username}/{action:activer|desactiver}", account_active)
    app.router.add_static("/static/", path=Path(__file__).parent / "static")
    for add_pages in ctx.pages:
        add_pages(app, ctx)
    return app
