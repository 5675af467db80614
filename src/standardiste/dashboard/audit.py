"""What the audit log may keep: who did what, where, from which address; never what was written or searched.

Staff notes, a searched name or number, a caller's words are health data: copied into the audit log they
would escape the encryption and the retention of the records themselves. Targets keep their path and only
the query parameters that are filters (a day, a status); free text is replaced by a marker.
"""

from __future__ import annotations

import re
import urllib.parse

# Query parameters that are filters, not personal data.
SAFE_QUERY_KEYS = frozenset({"statut", "type", "jour", "praticien", "du", "au", "issue", "telecharger"})
# Form fields whose values are choices, not text typed about a person.
SAFE_FORM_KEYS = frozenset({"statut", "assigne"})
MASK = "[masqué]"


def safe_target(path_qs: str) -> str:
    """The path and its filter parameters; other parameters' values (search terms, next=...) masked."""
    path, _, query = path_qs.partition("?")
    if not query:
        return path[:256]
    kept = []
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        kept.append((key, value if key in SAFE_QUERY_KEYS else MASK))
    return f"{path}?{urllib.parse.urlencode(kept, safe='[]')}"[:256]


def form_detail(form: object) -> str:
    """A changed form as the audit log keeps it: choices in full, free text as a marker."""
    items = getattr(form, "items", None)
    if items is None:
        return ""
    parts = []
    for key, value in items():
        if key == "csrf_token":
            continue
        if key in SAFE_FORM_KEYS:
            parts.append(f"{key}={value}")
        elif str(value).strip():
            parts.append(f"{key}={MASK}")
    return ", ".join(parts)[:500]


_FREE_TEXT = re.compile(r"\b(note|q|details?|texte?|nom|numero|telephone)=[^,]*")


def safe_detail(detail: str) -> str:
    """Scrubs an entry written by an older version (which copied the note text in full)."""
    return _FREE_TEXT.sub(lambda m: f"{m.group(1)}={MASK}", detail)
