"""Measured alternative to the watchdog: Asterisk 22's ARI outbound websocket, per-call connection.

Asterisk dials the application for each call (websocket_client.conf connection_type =
per_call_config, ari.conf type = outbound_websocket). When that connection dies and the
reconnection attempts are exhausted, Stasis() RETURNS with STASISSTATUS=FAILED and the dialplan
goes on to reception — within reconnect_attempts x reconnect_interval. Standardiste's controller
is a client (it dials Asterisk), so the shipped configuration relies on the watchdog; this test
keeps the measured behaviour of the alternative honest (docs/asterisk.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from standardiste.pbx import PbxInstance, free_asterisk_config, free_port
from standardiste.pbx.instance import templates_dir
from tests.fixtures.pbx import PhoneFactory, make_test_secrets

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

SERVER = r"""
import asyncio, base64, json, sys
from aiohttp import ClientSession, web

port, ari, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

async def handler(request):
    ws = web.WebSocketResponse(protocols=("ari",))
    await ws.prepare(request)
    async for msg in ws:
        event = json.loads(msg.data)
        if event.get("type") == "StasisStart":
            async with ClientSession(headers=auth) as http:
                async with http.post(f"{ari}/channels/{event['channel']['id']}/answer") as r:
                    print("CALL", r.status, flush=True)
    return ws

app = web.Application()
app.router.add_get("/{tail:.*}", handler)
print("LISTENING", flush=True)
web.run_app(app, host="127.0.0.1", port=port, print=None)
"""


def _templates(dest: Path, ws_port: int) -> Path:
    dest.mkdir()
    for conf in templates_dir().glob("*.conf"):
        shutil.copy(conf, dest / conf.name)
    with (dest / "ari.conf").open("a") as f:
        f.write(
            "\n[percall]\ntype = outbound_websocket\nwebsocket_client_id = percall_ws\n"
            "apps = percallapp\nlocal_ari_user = @@ARI_USER@@\n"
        )
    (dest / "websocket_client.conf").write_text(
        f"[percall_ws]\ntype = websocket_client\nconnection_type = per_call_config\n"
        f"uri = ws://127.0.0.1:{ws_port}/\nprotocols = ari\nconnection_timeout = 500\n"
        f"reconnect_interval = 300\nreconnect_attempts = 2\n"
    )
    ext = (dest / "extensions.conf").read_text()
    ext = ext.replace(
        "[standardiste-inbound]\n",
        "[standardiste-inbound]\nexten => 300,1,Set(TIMEOUT(absolute)=0)\n same => n,Stasis(percallapp)\n"
        " same => n,NoOp(PERCALL STASISSTATUS=${STASISSTATUS})\n"
        " same => n,Goto(standardiste-transfer,reception,1)\n",
        1,
    )
    (dest / "extensions.conf").write_text(ext)
    return dest


async def test_per_call_outbound_websocket_death_continues_the_dialplan(
    asterisk_root: Path, instances_parent: Path, phone_factory: PhoneFactory, tmp_path: Path
) -> None:
    import tempfile

    ws_port = free_port()
    pbx = PbxInstance(
        asterisk_root,
        Path(tempfile.mkdtemp(prefix="test-", dir=instances_parent)),
        free_asterisk_config(),
        make_test_secrets(),
        templates=_templates(tmp_path / "templates", ws_port),
        log_dialplan=True,
    )
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(ws_port), pbx.ari_url, pbx.ari_user, pbx.ari_password,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await pbx.start()
        assert server.stdout is not None
        assert (await asyncio.wait_for(server.stdout.readline(), 15)).startswith(b"LISTENING")
        reception = await phone_factory(pbx.reception)
        caller = await phone_factory(pbx.phone("caller1"))
        call = await caller.call("300")
        assert (await asyncio.wait_for(server.stdout.readline(), 10)).strip() == b"CALL 204"
        await call.wait_answered(5)
        await asyncio.sleep(1.0)
        os.kill(server.pid, signal.SIGKILL)
        killed = time.monotonic()
        await reception.wait_incoming(10)
        delay = time.monotonic() - killed
        print(f"per-call websocket: reception rang {delay:.2f} s after the kill")
        assert delay < 3.0
        assert re.search(r"PERCALL STASISSTATUS=FAILED", pbx.log_path.read_text())
        await call.hangup()
    finally:
        if server.returncode is None:
            server.kill()
        await server.wait()
        await pbx.stop()
        pbx.remove()
