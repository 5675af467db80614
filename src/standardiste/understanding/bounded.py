"""Understanding with a deadline, for callers on an event loop (FastAGI `classify`).

`LocalUnderstander.parse` is bounded by construction (input caps, Duckling's CPU budget in its own
process: see dates.py), and it runs in a worker thread. This is the belt on top: past `timeout_s` the
caller gets a clear "not understood" (OUT_OF_SCOPE, confidence 0) in which the emergency rules, cheap,
have still run: a deadline never hides an emergency.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Callable

from standardiste.understanding import urgency as urgency_rules
from standardiste.understanding.normalize import digits, fold, lower, without_fillers
from standardiste.understanding.types import Intent, Understanding, Urgency

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0  # far above a parse's worst case (~50 ms): only a stuck backend reaches it
_MAX_CHARS = 1000  # as engine.MAX_CHARS
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def rules_only(text: str) -> Understanding:
    """`text` not understood, except by the emergency rules."""
    safe = _CONTROL.sub(" ", text[:_MAX_CHARS])
    verdict = urgency_rules.assess(fold(digits(without_fillers(lower(safe)))).text)
    if verdict.urgency is Urgency.URGENT:
        return Understanding(
            text,
            Intent.EMERGENCY,
            1.0,
            Urgency.URGENT,
            emergency_rule=verdict.rule,
            alternatives=((Intent.EMERGENCY, 1.0),),
            safety_level=urgency_rules.VITAL,
            red_flag=verdict.rule,
            who=verdict.who,
        )
    urgency = Urgency.SOON if verdict.level == urgency_rules.CHECK else verdict.urgency
    return Understanding(
        text,
        Intent.OUT_OF_SCOPE,
        0.0,
        urgency,
        safety_level=verdict.level,
        red_flag=verdict.red_flag,
        who=verdict.who,
    )


async def understand(
    parse: Callable[[str, dt.datetime], Understanding],
    text: str,
    now: dt.datetime,
    timeout_s: float = TIMEOUT_S,
) -> Understanding:
    """`parse(text, now)` in a worker thread; past `timeout_s` or on an error, rules_only(text)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(parse, text, now), timeout_s)
    except TimeoutError:
        log.warning("understanding took over %.1f s: not understood (emergency rules applied)", timeout_s)
    except Exception:
        log.exception("understanding failed: not understood (emergency rules applied)")
    return await asyncio.to_thread(rules_only, text)
