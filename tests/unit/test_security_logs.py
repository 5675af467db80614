"""Logs without personal data by default (issue 15, item 3): a whole call where the caller types a
birth date and a callback number and the assistant transfers an emergency, logged through the real
logging set-up; neither the caller's number, nor the digits, nor the emergency rule may appear unless
the practice turned log_transcripts on."""

from __future__ import annotations

import io
import logging

import pytest

from standardiste.dialogue.messages import (
    Action,
    CallerEvent,
    CallStarted,
    Expect,
    Expectation,
    Keypad,
    Outcome,
    OutcomeKind,
    Say,
    Transfer,
)
from standardiste.logs import mask_digits, mask_phone, setup_logging
from tests.unit.test_telephony_session import Harness

CALLER = "0601020304"  # the Harness's caller ID
BIRTH = "15031985"
CALLBACK = "0698765432"
RULE = "suicidal"


def _script(harness_box: list[Harness]):  # type: ignore[no-untyped-def]
    birth = Expectation(Expect.BIRTH_DATE, digits=8, timeout_s=2.0)
    phone = Expectation(Expect.PHONE, digits=10, timeout_s=2.0)

    def react(event: CallerEvent) -> list[Action]:
        if isinstance(event, CallStarted):
            return [Say("Votre date de naissance ?", expect=birth)]
        if isinstance(event, Keypad) and len(event.digits) == 8:
            return [Say("Votre numéro ?", expect=phone)]
        if isinstance(event, Keypad) and len(event.digits) == 10:
            harness_box[0].conversation._outcome = Outcome(
                OutcomeKind.TRANSFERRED, {"reason": f"emergency:{RULE}", "callback_number": event.digits}
            )
            return [Transfer("reception", True, f"emergency:{RULE}")]
        return []

    return react


@pytest.mark.parametrize("log_transcripts", [False, True])
async def test_call_logs_carry_no_number_digits_or_emergency_rule(log_transcripts: bool) -> None:
    out = io.StringIO()
    setup_logging("json", logging.DEBUG, stream=out, mask_personal_data=not log_transcripts)
    try:
        box: list[Harness] = []
        h = Harness(_script(box), log_speech=log_transcripts)
        box.append(h)
        h.start()
        await h.until(lambda: len(h.leg.played) == 1)
        for key in BIRTH:
            h.session.digit(key)
        await h.until(lambda: len(h.leg.played) == 2)
        for key in CALLBACK:
            h.session.digit(key)
        await h.until(lambda: h.leg.transfers == [True])
        h.session.hung_up()
        await h.finish()
    finally:
        logging.getLogger().handlers.clear()
    logged = out.getvalue()
    assert "call ended" in logged and "transferring" in logged
    secrets_ = [CALLER, CALLER[1:], BIRTH, CALLBACK, CALLBACK[1:], RULE]
    if log_transcripts:
        assert all(s in logged for s in (CALLER, BIRTH, RULE)), logged  # the test sees them when allowed
    else:
        for secret in secrets_:
            assert secret not in logged, (secret, logged)
        assert mask_phone(CALLER) in logged and "emergency" in logged


def test_masks() -> None:
    assert mask_phone("+33612345678") == "+33612******"
    assert mask_phone("06 12 34 56 78") == "06123*****"
    assert mask_phone(None) == "" and mask_phone("15") == "**"
    assert mask_digits("15031985") == "<8 touches>"


def test_log_file_is_0640_and_rotated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "logs" / "standardiste.log"
    setup_logging("json", logging.INFO, stream=io.StringIO(), file=path, file_max_bytes=2000, file_backups=2)
    try:
        log = logging.getLogger("standardiste.test")
        for i in range(200):
            log.info("appel de %s numéro %d", "+33612345678", i)
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["standardiste.log", "standardiste.log.1", "standardiste.log.2"]
    for p in path.parent.iterdir():
        assert p.stat().st_mode & 0o777 == 0o640, p
        assert "+33612345678" not in p.read_text() and "+33612******" in p.read_text()
