"""Admission control on a real Asterisk with real SIP phones: an overloaded controller (capacity set to
N = 2 calls) admits N callers, and caller N + 1 goes to the reception's waiting line at once (the reception
phone rings within 1 s of the call being placed: never silence, never the assistant), while the calls in
progress go on (a key pressed there still gets its answer)."""

from __future__ import annotations

import asyncio
import time

import pytest

from standardiste.dialogue import prompts
from standardiste.pbx import PbxInstance
from standardiste.telephony.admission import AdmissionSettings
from tests.fixtures.pbx import PhoneFactory
from tests.fixtures.voice import AppFactory, synth, wait_found

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

N = 2


async def test_call_beyond_capacity_goes_to_the_waiting_line_within_a_second(
    pbx: PbxInstance, app_factory: AppFactory, phone_factory: PhoneFactory
) -> None:
    app = await app_factory()
    assert app.controller is not None
    app.controller.admission = AdmissionSettings(max_calls=N)
    reception = await phone_factory(pbx.reception)
    callers = [await phone_factory(pbx.phone(f"caller{i + 1}")) for i in range(N + 1)]
    greeting = await synth(app, prompts.greeting(app.config.practice, False))

    admitted = []
    for phone in callers[:N]:
        call = await phone.call(pbx.practice_extension, answer_timeout=10)
        await wait_found(call, greeting[: 32000 * 2])  # the assistant greets each admitted caller
        admitted.append(call)
    assert len(app.controller.calls) == N

    placed = time.monotonic()
    extra = await callers[N].call(pbx.practice_extension, answer_timeout=None)
    incoming = await reception.wait_incoming(timeout=5)
    to_reception_s = time.monotonic() - placed
    print(f"\ncall {N + 1}: reception phone rang {to_reception_s * 1000:.0f} ms after the call was placed")
    assert to_reception_s <= 1.0, to_reception_s
    assert app.controller.stats.calls_queued == 1
    assert len(app.controller.calls) == N  # the assistant never took it
    await extra.wait_answered(timeout=10)  # the secretary answered it (auto-answer)
    assert incoming is not None

    # The calls in progress go on: a key on the first gets the hours.
    hours = await synth(app, prompts.hours_answer(app.config.practice))
    await admitted[0].send_dtmf("1")
    await wait_found(admitted[0], hours[: 32000 * 2])
    for call in [*admitted, extra]:
        await call.hangup()
    async with asyncio.timeout(15):
        while app.controller.calls:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
