"""Optional intent backend: a real Rasa server's `POST /model/parse` over HTTP.

Only intents come from Rasa; the emergency rules and the entities stay in-process, so a clinic's Rasa
model can never lower an emergency. A Rasa failure (down, slow, malformed) falls back to the local model.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable

from standardiste.understanding.types import Intent

log = logging.getLogger(__name__)


class RasaHttpIntents:
    """Callable text -> ranked [(Intent, confidence)], asking a Rasa server."""

    def __init__(
        self,
        url: str,
        fallback: Callable[[str], list[tuple[Intent, float]]] | None = None,
        timeout_s: float = 0.5,
        token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        if token:
            self.url += f"?token={token}"
        self.fallback = fallback
        self.timeout_s = timeout_s

    def __call__(self, text: str) -> list[tuple[Intent, float]]:
        try:
            return self._ask(text)
        except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError) as err:
            log.warning("Rasa /model/parse failed (%s); using the local model", err)
            return self.fallback(text) if self.fallback else []

    def _ask(self, text: str) -> list[tuple[Intent, float]]:
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            data = json.loads(response.read().decode("utf-8"))
        ranking = data.get("intent_ranking") or ([data["intent"]] if data.get("intent") else [])
        out: list[tuple[Intent, float]] = []
        for item in ranking:
            name = item.get("name")
            try:
                intent = Intent(name)
            except ValueError:
                intent = Intent.OUT_OF_SCOPE  # a clinic's own intent name: unknown to the dialogue
            out.append((intent, float(item.get("confidence", 0.0))))
        if not out:
            raise ValueError("no intent in Rasa answer")
        return out
