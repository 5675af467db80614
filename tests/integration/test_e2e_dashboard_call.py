"""The whole server end to end: real Asterisk 22, real pjsua2 phones, real espeak-ng, the real
`StandardisteServer` (voice controller + dashboard + FastAGI/AMI + retention) and a real headless
Chromium for the staff side.

A call asks for the hours (key 1): staff see it in "Appels" with its dialogue. A second call files a
prescription request with the keypad only: staff mark it done in "Demandes". An admin changes the
hours in "Réglages": the next caller HEARS the new hours (the audio the phone recorded is matched
against espeak's rendering of the new sentence). /metrics counts the calls.

The recogniser is the keypad-only backend (what a clinic without a French speech model runs): every
step here is done with keys, so the test does not depend on speech recognition accuracy.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from standardiste.app import AriAccess, VoiceApp
from standardiste.config import Config
from standardiste.dashboard.auth import Role, StaffAuth
from standardiste.dialogue import prompts
from standardiste.pbx import PbxInstance
from standardiste.server import StandardisteServer
from standardiste.speech.keypad_backend import KeypadOnlyRecognizer
from standardiste.speech.tts import EspeakSynthesizer
from standardiste.storage.db import Database
from standardiste.telephony.session import SessionRecord
from standardiste.testphone import PhoneCall, TestPhone, find_reference
from tests.fixtures.clock import running_from
from tests.fixtures.pbx import PhoneFactory
from tests.fixtures.voice import synth, wait_found
from tests.integration.integration_support import service_secrets

# Alone (make test's second phase): typed digit runs over SIP beside Chromium; with 6 workers saturating
# both CPUs a digit run timed out twice (b1, b3), as the busy-reception call's did before it moved.
pytestmark = [pytest.mark.asterisk, pytest.mark.browser, pytest.mark.slow, pytest.mark.alone]

ADMIN_PASSWORD = "motdepasse-admin-e2e"


@contextlib.asynccontextmanager
async def running_server(
    pbx: PbxInstance, demo_config: Config, tmp_path: Path, prompt_cache: Path
) -> AsyncIterator[StandardisteServer]:
    """What `standardiste serve` runs, on the test Asterisk: dashboard and FastAGI on free ports
    (port 0), AMI on the instance's, reminders off (they need Redis; tested in test_reminders_*)."""
    deployment = demo_config.deployment.model_copy(
        update={
            "data_dir": tmp_path,
            "asterisk": pbx.config,
            # model_copy does not validate: port 0 = a free port chosen at bind time.
            "dashboard": demo_config.deployment.dashboard.model_copy(update={"port": 0}),
            "agi": demo_config.deployment.agi.model_copy(update={"port": 0}),
        }
    )
    config = demo_config.model_copy(update={"deployment": deployment})
    secrets_ = service_secrets(pbx)
    voice = VoiceApp(
        config,
        AriAccess(pbx.ari_url, pbx.ari_user, pbx.ari_password, pbx.app_name),
        db=Database(f"sqlite:///{tmp_path / 'std.db'}"),
        recognizer=KeypadOnlyRecognizer(),
        synthesizer=EspeakSynthesizer(cache_dir=prompt_cache),
        secrets_=secrets_,
        clock=running_from(),  # calls, dialogue, dashboard and retention on one pinned clock
    )
    server = StandardisteServer(config, voice=voice, reminders=False)
    await server.start()
    try:
        assert voice.controller is not None and voice.db is not None
        async with asyncio.timeout(10):
            await voice.controller.ari.connected.wait()
        StaffAuth(voice.db).create_user("admin", "Admin E2E", Role.ADMIN, ADMIN_PASSWORD, voice.clock.now())
        yield server
    finally:
        await server.stop()


def live_record(server: StandardisteServer) -> SessionRecord:
    assert server.voice.controller is not None
    live = list(server.voice.controller.calls.values())
    assert len(live) == 1, live
    return live[0].session.record


async def ended(server: StandardisteServer, limit_s: float = 20.0) -> SessionRecord:
    assert server.voice.controller is not None
    async with asyncio.timeout(limit_s):
        return await server.voice.controller.ended.get()


async def step(record: SessionRecord, call: PhoneCall, keys: str, limit_s: float = 30.0) -> dict[str, Any]:
    """Press keys once the assistant waits for an answer; return the assistant's next action."""
    before = len(record.actions)
    await call.send_dtmf(keys, gap_s=0.15)
    async with asyncio.timeout(limit_s):
        while f"keypad:{keys}" not in record.path or len(record.actions) == before:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return record.actions[-1]


async def start_call(
    server: StandardisteServer, phone: TestPhone, pbx: PbxInstance
) -> tuple[PhoneCall, SessionRecord]:
    call = await phone.call(pbx.practice_extension, answer_timeout=10)
    async with asyncio.timeout(10):
        while not server.voice.controller or not server.voice.controller.calls:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    record = live_record(server)
    async with asyncio.timeout(10):
        while not record.actions:  # the greeting is decided  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await call.wait_sound(timeout=10)
    return call, record


async def login(page: Any, base: str) -> None:
    await page.goto(f"{base}/")
    await page.get_by_label("Identifiant").fill("admin")
    await page.get_by_label("Mot de passe").fill(ADMIN_PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Se connecter").click()
    assert await page.locator("h1").inner_text() == "Aujourd'hui"


async def test_call_seen_request_done_hours_changed_and_heard(
    pbx: PbxInstance,
    demo_config: Config,
    tmp_path: Path,
    prompt_cache: Path,
    phone_factory: PhoneFactory,
    browser: Any,
) -> None:
    async with running_server(pbx, demo_config, tmp_path, prompt_cache) as server:
        assert server.dashboard is not None
        base = f"http://127.0.0.1:{server.dashboard.port}"
        caller = await phone_factory(pbx.phone("caller1"))
        old_practice = server.voice.practice_now()

        # 1. A caller asks for the hours (key 1), then hangs up.
        call, record = await start_call(server, caller, pbx)
        said = await step(record, call, "1")
        assert said["say"].startswith(prompts.hours_answer(old_practice))
        await wait_found(call, (await synth(server.voice, prompts.hours_answer(old_practice)))[: 32000 * 3])
        await call.hangup()
        first = await ended(server)
        assert first.outcome is not None and str(first.outcome.kind) == "answered"

        # 2. Staff see it in "Appels" with its dialogue.
        page = await browser.new_page(locale="fr-FR")
        await login(page, base)
        await page.get_by_role("link", name="Appels", exact=True).click()
        row = page.locator("tbody tr").first
        cells = await row.locator("td").all_inner_texts()
        local = first.started_at.astimezone(ZoneInfo(old_practice.timezone))
        assert cells[0] == local.strftime("%d/%m %H:%M"), cells
        assert cells[1] == "caller1" and cells[4] == "renseignement donné", cells
        await row.get_by_role("link").click()
        main = await page.locator("main").inner_text()
        assert "renseignement donné" in main
        assert "Appelant : caller1" in main, main
        assert prompts.hours_answer(old_practice) in main

        # 3. A second caller files a prescription renewal with keys only; staff mark it done.
        requester = await phone_factory(pbx.phone("caller2"))
        call, record = await start_call(server, requester, pbx)
        for keys, expected in (
            ("4", "ordonnance"),
            ("1", "date de naissance"),
            ("06061966", "numéro"),
            ("0612345678", "transmise"),
        ):
            said = await step(record, call, keys)
            assert expected in said.get("say", ""), (keys, said)
        said = await step(record, call, "2")  # nothing else
        assert "hangup" in record.actions[-1] or "au revoir" in said.get("say", "")
        filed = await ended(server)
        assert filed.outcome is not None and str(filed.outcome.kind) == "request_filed"
        inbox = server.voice._inbox
        [request] = inbox.list()
        assert request.kind == "prescription_renewal" and request.callback_number == "+33612345678"
        await page.get_by_role("link", name="Demandes").click()
        await page.locator(f"#st-{request.id}").select_option("done")
        await page.locator(f"#no-{request.id}").fill("ordonnance prête, patient prévenu")
        await (
            page.locator(f"article[aria-labelledby='req-{request.id}']")
            .get_by_role("button", name="Enregistrer")
            .click()
        )
        assert "Demande mise à jour." in await page.locator(".flash").inner_text()
        assert str(inbox.get(request.id).status) == "done"

        # 4. An admin changes the hours: Monday morning only, Saturday closed.
        await page.get_by_role("link", name="Réglages").click()
        await page.get_by_label("Lundi", exact=True).fill("07:00-12:00")
        await page.get_by_label("Samedi", exact=True).fill("")
        await page.get_by_role("button", name="Enregistrer les horaires").click()
        assert "Horaires enregistrés" in await page.locator(".flash").inner_text()
        new_practice = server.voice.practice_now()
        assert new_practice.hours.saturday == [] and str(new_practice.hours.monday[0]) == "07:00-12:00"
        new_sentence = prompts.hours_answer(new_practice)
        old_sentence = prompts.hours_answer(old_practice)
        assert new_sentence != old_sentence

        # 5. The next caller hears the new hours.
        call, record = await start_call(server, caller, pbx)
        said = await step(record, call, "1")
        assert said["say"].startswith(new_sentence), said
        heard_from = call.heard_seconds()
        reference = await synth(server.voice, new_sentence)
        await wait_found(call, reference, limit_s=40, after_s=max(0.0, heard_from - 1.0))
        await call.hangup()
        third = await ended(server)
        heard = call.heard_pcm()[int(max(0.0, heard_from - 1.0) * 16000) * 2 :]
        new_match = find_reference(reference, heard)
        print(
            f"\nnew hours heard: score {new_match.score:.2f}, {new_match.matched_fraction:.0%} of chunks;"
            f" answer -> first greeting frame {[r.greeting_ms for r in (first, filed, third)]} ms;"
            f" key -> first reply frame {[r.reply_latencies_ms for r in (first, filed, third)]} ms"
        )
        old_match = find_reference(await synth(server.voice, old_sentence), heard)
        assert not old_match.found, f"old hours heard (score {old_match.score:.2f})"
        entry = await server.voice.call_log.get(third.call_id)  # type: ignore[union-attr]
        assert entry is not None
        assert any(new_sentence in u.text for u in entry.transcript if u.speaker == "assistant")
        assert not any(old_sentence in u.text for u in entry.transcript)

        # 6. /metrics counts the calls (no login needed: Prometheus scrapes it).
        async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        answered = _sample(text, 'standardiste_calls_total{direction="inbound",outcome="answered"}')
        requests = _sample(text, 'standardiste_calls_total{direction="inbound",outcome="request_filed"}')
        assert answered >= 2 and requests >= 1, text
        assert _sample(text, 'standardiste_calls_in_progress{direction="inbound"}') == 0
        assert _sample(text, "standardiste_greeting_latency_seconds_count") >= 3
        assert _sample(text, "standardiste_turn_latency_seconds_count") >= 7  # one per key entry
        await page.close()


def _sample(exposition: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", exposition, re.MULTILINE)
    assert match, f"{name} missing"
    return float(match.group(1))
