"""AMI (panoramisk): can a human take a transfer right now? And originate calls for IT tooling.

Reception availability comes from the device states of the reception endpoints (the secretaries'
phones): a phone that is registered and idle (NOT_INUSE) can take a call; ringing, busy, in use or
unregistered phones cannot. When AMI is down the answer is "unknown" (None) and the caller is put
through anyway: never worse than without Standardiste.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from panoramisk import Manager

log = logging.getLogger(__name__)

IDLE = "NOT_INUSE"


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager schedules reconnections (bound methods, via call_later) from several
    places; once stopped, none of them may reconnect, or a stopped watch would log in again."""

    stopped = False

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self.stopped:
            return None
        return super().connect(*args, **kwargs)

    def connection_made(self, f: Any) -> None:
        if self.stopped:
            with contextlib.suppress(Exception):
                f.result()[0].close()
            return
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stopped:
            return
        super().connection_lost(exc)


class ReceptionPresence:
    def __init__(
        self, *, host: str, port: int, username: str, secret: str, reception_devices: Sequence[str]
    ) -> None:
        self._config = {"host": host, "port": port, "username": username, "secret": secret}
        self._devices = {d.upper() for d in reception_devices}
        self._states: dict[str, str] = {}
        self._manager: _Manager | None = None
        self._logged_in = asyncio.Event()
        self._refreshing: asyncio.Future[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, wait_s: float = 5.0) -> None:
        """Connect; returns once logged in or after `wait_s` (it keeps reconnecting in the background)."""
        loop = asyncio.get_running_loop()  # panoramisk wants the running loop
        self._manager = _Manager(
            loop=loop,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            ping_delay=5,
            ping_interval=10,
            reconnect_timeout=2,
            **self._config,
        )
        self._manager.register_event("DeviceStateChange", self._on_device_state)
        self._manager.connect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._logged_in.wait(), wait_s)
        if not self._logged_in.is_set():
            log.warning("AMI: not logged in yet; reception availability unknown")

    async def stop(self) -> None:
        if self._manager is not None:
            self._manager.stopped = True  # no reconnection from now on
            self._manager.close()
            self._manager = None
        self._logged_in.clear()
        self._states.clear()

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

    # --- state ------------------------------------------------------------------------------------

    def available(self) -> bool | None:
        """True: a reception phone is idle; False: none is; None: unknown (AMI down)."""
        if not self._logged_in.is_set():
            return None
        return any(self._states.get(d) == IDLE for d in self._devices)

    def states(self) -> dict[str, str]:
        return {d: self._states.get(d, "UNKNOWN") for d in sorted(self._devices)}

    def _on_login(self, _manager: Manager) -> None:
        self._logged_in.set()
        self._refreshing = asyncio.ensure_future(self.refresh())

    def _on_disconnect(self, _manager: Manager, _exc: Exception | None) -> None:
        self._logged_in.clear()
        self._states.clear()

    def _on_device_state(self, _manager: Manager, event: Mapping[str, Any]) -> None:
        device, state = str(event.get("Device", "")).upper(), str(event.get("State", ""))
        if device in self._devices and state:
            self._states[device] = state
            log.info("AMI: %s is %s", device, state)

    async def refresh(self) -> None:
        """Ask for every device state (at login, and whenever an answer must be fresh)."""
        if self._manager is None or not self._logged_in.is_set():
            return
        try:
            replies = await asyncio.wait_for(
                self._manager.send_action({"Action": "DeviceStateList"}, as_list=True), 5
            )
        except (TimeoutError, OSError) as err:
            log.warning("AMI: DeviceStateList failed: %s", err)
            return
        for reply in replies or []:
            if reply.get("Event") == "DeviceStateChange":
                self._on_device_state(self._manager, reply)

    # --- actions ----------------------------------------------------------------------------------

    async def originate(
        self,
        channel: str,
        *,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_s: int = 30,
    ) -> bool:
        """Place a call (AMI Originate, async); True when Asterisk accepted it."""
        if self._manager is None or not self._logged_in.is_set():
            return False
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "Async": "true",
            "Timeout": str(timeout_s * 1000),
        }
        if caller_id:
            action["CallerID"] = caller_id
        if variables:
            action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        reply = await asyncio.wait_for(self._manager.send_action(action), 10)
        first = reply[0] if isinstance(reply, list) else reply  # with Async, panoramisk returns a list
        return str(first.get("Response", "")).lower() == "success"
