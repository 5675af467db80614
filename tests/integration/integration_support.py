"""Helpers for the IT-integration tests on a real Asterisk: extra dialplan, globals, a minimal ARI app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from standardiste.config import Secrets
from standardiste.pbx import PbxInstance

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "asterisk" / "examples"
TEST_CONTEXT = "standardiste-tests"

# What the `report` subroutine copies into globals (read back through ARI).
REPORTED = (
    "STANDARDISTE_STATUS",
    "STANDARDISTE_ERROR",
    "STANDARDISTE_OPEN",
    "STANDARDISTE_NEXT_OPENING",
    "STANDARDISTE_NEXT_OPENING_FR",
    "STANDARDISTE_INTENT",
    "STANDARDISTE_URGENCY",
    "STANDARDISTE_CONFIDENCE",
    "STANDARDISTE_TEXT",
    "STANDARDISTE_KNOWN_PATIENT",
    "STANDARDISTE_NEXT_APPOINTMENT",
    "AGISTATUS",
    "DIALSTATUS",
    "STASISSTATUS",
)

REPORT_SUBROUTINE = (
    "[standardiste-tests-report]\nexten => s,1,NoOp(report ${ARG1})\n"
    + "".join(f" same => n,Set(GLOBAL(R_${{ARG1}}_{name})=${{{name}}})\n" for name in REPORTED)
    + " same => n,Set(GLOBAL(R_${ARG1}_DONE)=1)\n same => n,Return()\n"
)


def add_dialplan(pbx: PbxInstance, text: str) -> None:
    """Append contexts to the running instance's dialplan; `standardiste-tests` becomes reachable
    from the test callers' context (standardiste-inbound)."""
    path = pbx.instance_dir / "etc" / "extensions.conf"
    conf = path.read_text(encoding="utf-8")
    if f"include => {TEST_CONTEXT}" not in conf:
        conf = conf.replace(
            "[standardiste-inbound]\n", f"[standardiste-inbound]\ninclude => {TEST_CONTEXT}\n", 1
        )
        conf += "\n" + REPORT_SUBROUTINE
    path.write_text(conf + "\n" + text + "\n", encoding="utf-8")
    pbx.rx("dialplan reload")


def example(name: str, agi_port: int, **replacements: str) -> str:
    """An example file from asterisk/examples, with the test's AGI port and other values put in."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    text = text.replace("agi://127.0.0.1:4573/", f"agi://127.0.0.1:{agi_port}/")
    for old, new in replacements.items():
        assert old in text, f"{old!r} not in {name}"
        text = text.replace(old, new)
    return text


async def global_var(pbx: PbxInstance, name: str) -> str | None:
    async with (
        aiohttp.ClientSession(headers=pbx.ari_headers()) as http,
        http.get(f"{pbx.ari_url}/asterisk/variable", params={"variable": name}) as r,
    ):
        if r.status != 200:
            return None
        return str((await r.json()).get("value", ""))


async def wait_report(pbx: PbxInstance, tag: str, timeout: float = 20.0) -> dict[str, str]:  # noqa: ASYNC109
    """The channel variables the `report` subroutine saved under `tag`."""
    deadline = time.monotonic() + timeout
    while await global_var(pbx, f"R_{tag}_DONE") != "1":
        if time.monotonic() > deadline:
            raise AssertionError(f"no report {tag!r} within {timeout} s; log: {tail(pbx)}")
        await asyncio.sleep(0.1)
    values = {}
    for name in REPORTED:
        values[name] = await global_var(pbx, f"R_{tag}_{name}") or ""
    return values


def tail(pbx: PbxInstance, lines: int = 30) -> str:
    try:
        return "\n".join(pbx.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class AriApp:
    """A minimal ARI application (raw aiohttp) standing for the assistant: records StasisStart events
    and lets the test continue or hang up the channels it receives."""

    def __init__(self, pbx: PbxInstance, app: str | None = None) -> None:
        self.pbx = pbx
        self.app = app or pbx.app_name
        self.starts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> AriApp:
        self._http = aiohttp.ClientSession(headers=self.pbx.ari_headers())
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def _run(self) -> None:
        assert self._http is not None
        url = f"{self.pbx.ws_url}/ari/events?app={self.app}"
        async with self._http.ws_connect(url) as ws:
            self._ready.set()
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(msg.data)
                if event.get("type") == "StasisStart":
                    await self.starts.put(event)

    async def next_start(self, timeout: float = 20.0) -> dict[str, Any]:  # noqa: ASYNC109
        return await asyncio.wait_for(self.starts.get(), timeout)

    async def post(self, path: str, **params: str) -> int:
        assert self._http is not None
        async with self._http.post(f"{self.pbx.ari_url}{path}", params=params) as r:
            return r.status

    async def continue_(self, channel_id: str, **target: str) -> int:
        return await self.post(f"/channels/{channel_id}/continue", **target)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._http is not None:
            await self._http.close()


def service_secrets(pbx: PbxInstance) -> Secrets:
    """The instance's secrets (same AMI secret) with a real encryption key (the fixtures' is a dummy)."""
    import base64
    import os

    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return pbx.secrets.model_copy(update={"encryption_key": key})
