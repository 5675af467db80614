"""The dashboard as an async component of `standardiste serve`: staff pages, /metrics, /healthz."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import ssl
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from standardiste import metrics
from standardiste.calllog.store import CallLogStore
from standardiste.config import DashboardConfig
from standardiste.dashboard.auth import StaffAuth
from standardiste.dashboard.calls import CallQueries, add_call_pages
from standardiste.dashboard.pages import StaffServices, add_staff_pages
from standardiste.dashboard.requests_admin import RequestsAdmin
from standardiste.dashboard.tls import ensure_self_signed, fingerprint, server_context
from standardiste.dashboard.voicemail import VoiceMessages, add_voicemail_pages
from standardiste.dashboard.web import DashboardContext, create_app
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database

log = logging.getLogger(__name__)

LOOPBACK = ("127.", "::1")


FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


async def metrics_endpoint(request: web.Request) -> web.Response:
    # Scraped by a local Prometheus; never exposed beyond the machine. A reverse proxy on this machine
    # connects from loopback too: what it forwards (it always adds X-Forwarded-For) is refused.
    if not (request.remote or "").startswith(LOOPBACK) or any(
        h in request.headers for h in FORWARDING_HEADERS
    ):
        raise web.HTTPForbidden()
    return web.Response(body=metrics.exposition(), content_type="text/plain", charset="utf-8")


def build_dashboard(
    db: Database,
    settings: PracticeSettings,
    calls: CallLogStore,
    config: DashboardConfig,
    reminder_status=None,
    clock=None,
    messages_dir=None,
) -> web.Application:  # type: ignore[no-untyped-def]
    """`clock`: a callable giving the current instant (the server's clock); default: the wall clock.
    `messages_dir`: where the encrypted voice messages are (<data_dir>/messages): staff can play them."""
    auth = StaffAuth(db, session_minutes=config.session_minutes)
    services = StaffServices(
        db=db, settings=settings, requests=RequestsAdmin(db, calls.cipher), reminder_status=reminder_status
    )
    queries = CallQueries(calls, lambda: ZoneInfo(settings.current().timezone))
    pages = [add_staff_pages(services), add_call_pages(queries)]
    if messages_dir is not None and calls.cipher is not None:
        pages.append(add_voicemail_pages(VoiceMessages(Path(messages_dir), calls.cipher)))
    ctx = DashboardContext(
        auth=auth,
        practice_name=lambda: settings.current().name,
        secure_cookies=config.uses_tls,  # behind a trusted proxy: X-Forwarded-Proto (web.is_secure)
        trusted_proxies=tuple(config.trusted_proxies),
        practitioner_scope=config.practitioner_scope,
        pages=pages,
        **({"clock": clock} if clock is not None else {}),
    )
    app = create_app(ctx)
    app.router.add_get("/metrics", metrics_endpoint)
    return app


def tls_context(config: DashboardConfig, data_dir: Path) -> ssl.SSLContext | None:
    """The dashboard's TLS context (dashboard/tls.py), or None when it serves plain HTTP."""
    if not config.uses_tls:
        return None
    if config.cert_file is not None and config.key_file is not None:
        cert, key = config.cert_file, config.key_file
    else:
        cert, key = ensure_self_signed(Path(data_dir) / "tls", config.host)
        log.info("dashboard certificate (self-signed) SHA-256 %s", fingerprint(cert))
    return server_context(cert, key)


class DashboardServer:
    """Serves the dashboard on its own event loop, in its own thread.

    Staff pages read and decrypt the database, hash passwords, build statistics: none of it may ever
    delay a call. The dashboard's services are synchronous and thread-safe (database engine, settings,
    call log reads), and nothing in it touches the call loop's objects, so it runs entirely apart:
    `start` and `stop` are awaited from the call loop without blocking it.
    """

    def __init__(
        self, app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._app = app
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._ssl = ssl_context
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_here())
            except BaseException as err:  # handed to the caller of start()
                ready.set_exception(err)
                loop.close()
                return
            ready.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="dashboard", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(ready)
        scheme = "https" if self._ssl else "http"
        log.info("dashboard on %s://%s:%s/ (its own thread and event loop)", scheme, self._host, self.port)

    async def _start_here(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        if self._runner is not None:
            done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(done)
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 10)
        self._loop = self._thread = None
