"""Which numbers the assistant may call: reminder calls and callback numbers callers give.

A number is allowed when, written in French national form (0 + 9 digits), it starts with one of
the practice's allowed prefixes (default: geographic 01-05 and mobile 06-07). Premium-rate 08,
09, short numbers, and every international number are refused, so a caller (or a forged agenda
entry) cannot make the practice's line call a paying or foreign number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from standardiste.config import DEFAULT_OUTBOUND_PREFIXES, OutboundPolicy


class NumberNotAllowed(ValueError):
    """The number is outside the allowed ranges (the message names the reason, for logs)."""


def national_form(number: str | None) -> str | None:
    """'+33 6 12 34 56 78', '0033612345678', '06.12.34.56.78' -> '0612345678'; anything that is
    not a French number of 10 digits -> None."""
    if not number:
        return None
    text = number.strip()
    if re.search(r"[^\d+ .()-]", text):
        return None  # letters, '@', ':', '/', '*', '#': a URI or a service code, never a phone
    digits = re.sub(r"[^\d+]", "", text)
    if digits.count("+") > 1 or ("+" in digits and not digits.startswith("+")):
        return None
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    elif digits.startswith(("+", "00")):
        return None  # another country
    if len(digits) != 10 or not digits.startswith("0") or digits[1] == "0":
        return None
    return digits


def allowed_prefixes(policy: OutboundPolicy | None) -> Sequence[str]:
    return tuple(policy.allowed_prefixes) if policy is not None else DEFAULT_OUTBOUND_PREFIXES


def check_number(number: str | None, policy: OutboundPolicy | None = None) -> str:
    """The number in national form when it may be called; raises NumberNotAllowed otherwise."""
    national = national_form(number)
    if national is None:
        raise NumberNotAllowed("not a French number")
    if not national.startswith(tuple(allowed_prefixes(policy))):
        raise NumberNotAllowed(f"prefix {national[:2]} not allowed")
    return national


def is_allowed(number: str | None, policy: OutboundPolicy | None = None) -> bool:
    try:
        check_number(number, policy)
    except NumberNotAllowed:
        return False
    return True
