"""Everything `standardiste serve` runs: the voice controller, and around it the staff dashboard,
the FastAGI/AMI integration, reminder calls and the retention purge.

Only the voice controller is essential: if another part cannot start, it is logged loudly and the
assistant keeps answering calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from standardiste.app import VoiceApp
from standardiste.config import Config

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0
MESSAGES_INTERVAL_S = 3.0


class StandardisteServer:
    def __init__(
        self,
        config: Config,
        *,
        voice: VoiceApp | None = None,
        dashboard: bool = True,
        integration: bool = True,
        reminders: bool = True,
    ) -> None:
        self.config = config
        self.voice = voice or VoiceApp(config)
        self._want_dashboard = dashboard
        self._want_integration = integration
        self._want_reminders = reminders
        self.integration: Any = None
        self.reminders: Any = None
        self.dashboard: Any = None
        self._retention: asyncio.Task[None] | None = None
        self._messages: asyncio.Task[None] | None = None
        # Where Asterisk leaves callers' voice messages (None: the deployment's instance); tests set it.
        self.messages_dir: Path | None = None
        self.voice.before_calls = self._before_calls

    async def _before_calls(self, voice: VoiceApp) -> None:
        assert voice.db is not None and voice.secrets is not None
        if self._want_integration:
            await self._start("intégration FastAGI/AMI", self._start_integration)
        if self._want_reminders:
            await self._start("appels de rappel", self._start_reminders)

    async def _start_integration(self) -> None:
        from standardiste.integration.service import IntegrationService

        v = self.voice
        assert v.db is not None and v.secrets is not None and v.understander is not None
        self.integration = IntegrationService(
            self.config, v.secrets, v.db, v.understander, v.recognizer, clock=v.clock.now
        )
        await self.integration.start()
        v.reception_available = self.integration.reception_available

    async def _start_reminders(self) -> None:
        from standardiste.reminders.component import ReminderComponent

        v = self.voice
        assert v.db is not None and v.secrets is not None
        self.reminders = ReminderComponent(self.config, v.secrets, v.db, v._agenda, v.call_log, clock=v.clock)
        self.reminders.service.settings = v.practice_now  # policy changes from the dashboard apply
        await self.reminders.start()

    async def _start_dashboard(self) -> None:
        from standardiste.dashboard.server import DashboardServer, build_dashboard, tls_context
        from standardiste.reminders.status import reminder_status_for

        v = self.voice
        assert v.db is not None and v.settings is not None and v.call_log is not None
        d = self.config.deployment.dashboard
        app = build_dashboard(
            v.db,
            v.settings,
            v.call_log,
            d,
            reminder_status=reminder_status_for(v.db, self.config.practice.timezone),
            clock=v.clock.now,
            messages_dir=Path(self.config.deployment.data_dir) / "messages",
        )
        context = await asyncio.to_thread(tls_context, d, self.config.deployment.data_dir)
        self.dashboard = DashboardServer(app, d.host, d.port, ssl_context=context)
        await self.dashboard.start()

    @staticmethod
    async def _start(what: str, start: Any) -> None:
        try:
            await start()
        except Exception:
            log.exception(
                "%s : démarrage impossible ; l'assistant répond quand même / %s not started", what, what
            )

    async def start(self) -> None:
        await self.voice.start()
        if self._want_dashboard:
            await self._start("tableau de bord", self._start_dashboard)
        self._retention = asyncio.create_task(self._retention_loop(), name="retention")
        self._messages = asyncio.create_task(self._messages_loop(), name="voice-messages")

    async def _messages_loop(self) -> None:
        """Voice messages left in the fallback message box -> encrypted, filed in the inbox; and every
        minute, the opening hours for the dialplan (pbx/closed_hours.py)."""
        from standardiste.pbx import closed_hours
        from standardiste.pbx.deployment import deployment_instance_dir, deployment_root
        from standardiste.pbx.messages import import_messages

        v = self.voice
        dep = self.config.deployment
        spool = deployment_instance_dir(deployment_root(dep), dep) / "spool" / "standardiste-messages"
        store = Path(dep.data_dir) / "messages"
        hours_at = 0.0
        while True:
            if time.monotonic() - hours_at >= closed_hours.REFRESH_S:
                try:  # opening hours for the dialplan, when the assistant cannot take a call
                    if v.controller is not None and v.settings is not None:
                        await closed_hours.publish(v.controller.ari, v.settings.current(), v.clock.now())
                        hours_at = time.monotonic()
                except Exception:
                    log.warning("opening hours not passed to Asterisk; retried shortly", exc_info=True)
            try:
                if v._inbox is not None and v.call_log is not None and v.call_log.cipher is not None:
                    await asyncio.to_thread(
                        import_messages,
                        self.messages_dir or spool,
                        store,
                        v._inbox,
                        v.call_log.cipher,
                        self.config.practice.timezone,
                    )
            except Exception:
                log.exception("voice messages import failed; retried shortly")
            await asyncio.sleep(MESSAGES_INTERVAL_S)

    async def _retention_loop(self) -> None:
        from standardiste.privacy.recordings import recordings_dir
        from standardiste.privacy.retention import purge

        v = self.voice
        days = self.config.deployment.privacy.retention_days
        while True:
            try:
                assert v.db is not None
                await asyncio.to_thread(
                    purge,
                    v.db,
                    days,
                    v.clock.now(),
                    v.recordings_dir,
                    sealed_dir=recordings_dir(self.config.deployment),
                    audit_retention_days=self.config.deployment.privacy.audit_retention_days,
                    log_dirs=[v.recordings_dir.parent.parent / "log"] if v.recordings_dir else [],
                )
                expire = getattr(v._agenda, "purge_expired", None)  # offered-but-abandoned holds
                if callable(expire):
                    local = v.clock.now().astimezone(ZoneInfo(self.config.practice.timezone))
                    await asyncio.to_thread(expire, local)
            except Exception:
                log.exception("retention purge failed; retried in an hour")
            await asyncio.sleep(RETENTION_INTERVAL_S)

    async def stop(self) -> None:
        if self._messages is not None:
            self._messages.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._messages
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        for part in (self.dashboard, self.reminders, self.integration):
            if part is not None:
                try:
                    await part.stop()
                except Exception:
                    log.exception("stopping %s failed", type(part).__name__)
        await self.voice.stop()
