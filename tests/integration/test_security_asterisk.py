"""Attack replays on a real Asterisk 22 (issue 15, items 6 and 10).

- A reception phone dials a SIP URI (the old `Dial(PJSIP/${EXTEN})` sent an INVITE to any host):
  a UDP listener on 127.0.0.1 must receive nothing. Dialling an allowed internal phone still rings.
- The controller's AMI account cannot read phone passwords (GetConfig, CLI commands, PJSIP
  endpoint listings are refused), and still does what the controller needs.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from standardiste.pbx import PbxInstance
from standardiste.testphone import CallState, PhoneError
from tests.fixtures.pbx import PhoneFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(120)]


def _udp_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _received(sock: socket.socket) -> list[bytes]:
    packets = []
    while True:
        try:
            packets.append(sock.recv(65535))
        except BlockingIOError:
            return packets


async def test_reception_phone_cannot_dial_a_sip_uri(pbx: PbxInstance, phone_factory: PhoneFactory) -> None:
    reception = await phone_factory(pbx.reception)
    listener = _udp_listener()
    port = listener.getsockname()[1]
    try:
        attempts = [
            f"reception/sip%3Aevil%40127.0.0.1%3A{port}",  # Dial(PJSIP/reception/sip:evil@127.0.0.1:port)
            f"evil%40127.0.0.1%3A{port}",
            f"trunk/sip%3A0899000000%40127.0.0.1%3A{port}",
        ]
        for extension in attempts:
            try:
                call = await reception.call(extension)
            except PhoneError:
                continue  # refused before any INVITE left: fine
            try:
                await call.wait_disconnected(10)
            except PhoneError:
                await call.hangup()
        await asyncio.sleep(1.0)
        assert _received(listener) == [], "Asterisk sent SIP to a URI a reception phone dialled"
    finally:
        listener.close()


async def test_reception_phone_still_rings_an_allowed_phone(
    pbx: PbxInstance, phone_factory: PhoneFactory
) -> None:
    assert "caller1" in pbx.dialable_endpoints()
    extensions = (pbx.instance_dir / "etc" / "extensions.conf").read_text()
    assert "Dial(PJSIP/${EXTEN}" not in extensions
    reception = await phone_factory(pbx.reception)
    callee = await phone_factory(pbx.phone("caller1"))
    call = await reception.call("caller1")
    incoming = await callee.wait_incoming(10)
    await call.wait_state(CallState.CONFIRMED, timeout=10)
    await call.hangup()
    await incoming.wait_disconnected(10)


async def _ami(pbx: PbxInstance, *actions: str) -> list[str]:
    """Log in as the controller's AMI user, send each action, return each reply (up to its end)."""
    reader, writer = await asyncio.open_connection(pbx.host, pbx.ami_port)
    replies = []
    try:
        await reader.readline()  # banner
        login = (
            f"Action: Login\r\nUsername: {pbx.ami_user}\r\nSecret: {pbx.ami_secret}\r\nEvents: off\r\n\r\n"
        )
        writer.write(f"{login}\r\n\r\n".encode())
        await writer.drain()
        assert "Success" in (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
        for index, action in enumerate(actions):
            writer.write(f"{action}\r\nActionID: a{index}\r\n\r\n".encode())
            await writer.drain()
            text = ""
            # Read until the action's reply is complete (lists end with an ...Complete event).
            with pytest.raises(TimeoutError):
                while True:
                    text += (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.5)).decode()
            replies.append(text)
    finally:
        writer.close()
    return replies


async def test_ami_account_cannot_read_phone_passwords(pbx: PbxInstance) -> None:
    passwords = [pbx.phone(name).password for name in pbx.phone_names()]
    replies = await _ami(
        pbx,
        "Action: GetConfig\r\nFilename: pjsip.conf",
        "Action: GetConfigJSON\r\nFilename: pjsip.conf",
        "Action: Command\r\nCommand: pjsip show auths",
        "Action: PJSIPShowEndpoint\r\nEndpoint: reception",
        "Action: PJSIPShowEndpoints",
        "Action: Getvar\r\nVariable: FILE(/etc/passwd)",
        "Action: DeviceStateList",
        "Action: Ping",
    )
    for reply in replies[:5]:
        assert "Permission denied" in reply or "Error" in reply, reply
    assert "Value: \r\n" in replies[5]  # Getvar (reporting class): FILE() refused (live_dangerously = no)
    everything = "".join(replies)
    for password in passwords:
        assert password not in everything
    assert "root:" not in everything
    # What the controller needs still works.
    assert "Success" in replies[-2] and "DeviceStateListComplete" in replies[-2]
    assert "Pong" in replies[-1]
