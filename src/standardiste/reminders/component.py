"""Reminders as one `serve` component: the ARI dialer, the scheduler service, the agenda listener.

In VoiceApp.start(), after the agenda and the call log exist:

    self.reminders = ReminderComponent(self.config, self.secrets, self.db, self._agenda, self.call_log)
    await self.reminders.start()

and `await self.reminders.stop()` first thing in stop(). It never blocks the voice loop: without
Redis, scheduling waits in the database outbox and no reminder goes out until Redis is back.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from standardiste.clock import Clock
from standardiste.config import Config, Secrets
from standardiste.redis_server import managed_url
from standardiste.reminders.ari_dialer import AriDialer, AriDialerSettings, call_log_lookup
from standardiste.reminders.service import DEFAULT_NAMESPACE, ReminderService
from standardiste.storage.db import Database

log = logging.getLogger(__name__)


class ReminderComponent:
    def __init__(
        self,
        config: Config,
        secrets_: Secrets,
        db: Database,
        agenda: Any,
        call_log: Any,
        *,
        ari_url: str | None = None,
        clock: Clock | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        ring_timeout_s: int = 30,
        **service_options: Any,
    ) -> None:
        a = config.deployment.asterisk
        practice = config.practice
        settings = AriDialerSettings(
            app=a.app_name,
            outbound_endpoint=a.outbound_endpoint,
            caller_id=practice.phone,
            ring_timeout_s=ring_timeout_s,
            allowed_prefixes=tuple(practice.outbound.allowed_prefixes),
        )
        url = ari_url or f"http://{a.local_host}:{a.http_port}"  # ARI is on loopback (pbx render)
        cluster = config.deployment.cluster
        if cluster.role == "node" and "node" not in service_options:
            # The scheduler's name in the lease and the attempts: the cluster node, plus a per-process part
            # (a restarted process is not its dead predecessor).
            service_options["node"] = f"{cluster.node_name}-{secrets.token_hex(4)}"
        self.dialer = AriDialer(url, a.ari_user, secrets_.ari_password, settings, call_log_lookup(call_log))
        self.service = ReminderService(
            db=db,
            practice=practice,
            redis_url=managed_url(config.deployment, secrets_),
            dialer=self.dialer,
            agenda=agenda,
            clock=clock,
            namespace=namespace,
            cipher=call_log.cipher,
            **service_options,
        )
        self.agenda = agenda
        self.enabled = practice.reminders.enabled and agenda is not None

    async def start(self) -> None:
        if not self.enabled:
            log.info("reminder calls off (practice.reminders.enabled = false, or no agenda)")
            return
        self.agenda.add_listener(self.service.listener)
        await self.dialer.start()
        await self.service.start()

    async def stop(self) -> None:
        if not self.enabled:
            return
        await self.service.stop()
        await self.dialer.stop()
