"""Voice messages in the dashboard: staff listen to a message left in the fallback message box.

A message is filed as a "Rappel demandé" request whose extras name the encrypted file
(pbx/messages.py: `<data_dir>/messages/msg-<epoch>-<id>.wav.enc`). GET /demandes/{id}/message
answers the clear WAV (audio/wav, never cached) to a logged-in staff member who may see that
request (a practitioner in "own" scope: only their own requests; anything else is the same 404 as
a missing request). The file is decrypted in a worker thread (not on the event loop that also
serves calls' dashboards), and every listen is written in the audit log.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from standardiste.dashboard.pages import SERVICES_KEY
from standardiste.dashboard.web import (
    AUDIT_DETAIL,
    CONTEXT_KEY,
    SESSION,
    DashboardContext,
    practitioner_filter,
    requires,
    wav_response,
)
from standardiste.pbx.messages import Cipher, decrypt_file

# Stored names: msg-<epoch>-<channel id>.wav.enc (older: <epoch>-<number>-<id>.wav.enc); nothing else
# (no separator, no "..") is ever opened.
_STORED = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.+-]*\.wav\.enc$")


class VoiceMessages:
    """Where the encrypted messages are and how to open them."""

    def __init__(self, store_dir: Path, cipher: Cipher) -> None:
        self.store_dir = store_dir
        self.cipher = cipher

    def path_of(self, name: str) -> Path | None:
        if not _STORED.match(name) or ".." in name:
            return None
        path = self.store_dir / name
        return path if path.is_file() else None

    def audio(self, name: str) -> bytes | None:
        """The clear WAV (blocking: run it in a thread); None when the file is missing."""
        path = self.path_of(name)
        return decrypt_file(self.cipher, path) if path is not None else None


VOICE_MESSAGES_KEY = web.AppKey("voice_messages", VoiceMessages)


@requires()
async def request_message_audio(request: web.Request) -> web.StreamResponse:
    request_id = request.match_info["id"]
    own = practitioner_filter(request[SESSION], request.app[CONTEXT_KEY])
    requests = request.app[SERVICES_KEY].requests
    name = await asyncio.to_thread(requests.voicemail, request_id, own)
    messages = request.app[VOICE_MESSAGES_KEY]
    audio = await asyncio.to_thread(messages.audio, name) if name else None
    if audio is None:
        raise web.HTTPNotFound(text="Message vocal introuvable.")
    request[AUDIT_DETAIL] = f"écoute du message vocal (demande {request_id})"
    return wav_response(audio, "message.wav")


def add_voicemail_pages(messages: VoiceMessages) -> Callable[[web.Application, DashboardContext], None]:
    def add(app: web.Application, _ctx: DashboardContext) -> None:
        app[VOICE_MESSAGES_KEY] = messages
        app.router.add_get("/demandes/{id}/message", request_message_audio)

    return add
