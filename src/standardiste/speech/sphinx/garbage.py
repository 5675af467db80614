"""A garbage path for PocketSphinx grammars: what is not one of the question's phrases is rejected.

A JSGF grammar alone cannot reject: any sound is forced onto its nearest phrase ("urgent" came out "non",
"bonjour" "d'accord"). So a flat grammar (a list of whole phrases: yes/no, choices, practitioners) gets a
second branch beside its phrases: a loop over one "word" per phone of the acoustic model, with a small
prior weight. Speech that fits a phrase takes the phrase (the phone loop pays its prior); speech that fits
none is cheaper through the loop, and a hypothesis through the loop is "not understood".

Weight measured on SVOX Pico French through G.711 (yes/no grammar): at 1e-4 and above even a clean
"oui" was taken by the loop; at 1e-8 "oui", "non", "non merci", "d'accord", "c'est ça", "exactement" pass
and "bonjour", "euh", "le premier", "jeudi", "pardon" are rejected ("attendez", "je ne sais pas" still
slip through as phrases: the open recogniser is the other check). Structured grammars (days, times,
dates, numbers) absorb almost any sound whatever the weight, and the loop made their slots worse: they
keep no garbage path (the arbitration snaps the open transcript onto them instead).
"""

from __future__ import annotations

import re

# The context-independent phones of the French 8 kHz telephone model (its mdef), silence excepted.
_PHONE_LIST = "aa ai an au bb ch dd ee ei eu ff gg gn ii in jj kk ll mm nn oe on oo ou pp rr ss tt"
PHONES = (*_PHONE_LIST.split(" "), "un", "uu", "uy", "vv", "ww", "yy", "zz")
PREFIX = "zzgarbage"
WEIGHT = 1e-8
WORDS: dict[str, str] = {f"{PREFIX}{phone}": phone for phone in PHONES}

_PUBLIC = "public <answer> ="


def is_flat(jsgf: str) -> bool:
    """A list of whole phrases: no rule references in the public rule."""
    body = jsgf.split(_PUBLIC, 1)[-1]
    return _PUBLIC in jsgf and "<" not in body


def with_garbage(jsgf: str, weight: float = WEIGHT) -> str:
    """The same grammar with a phone loop beside its phrases (flat grammars only; others unchanged)."""
    if not is_flat(jsgf) or PREFIX in jsgf:
        return jsgf
    head, body = jsgf.split(_PUBLIC, 1)
    body = body.strip().rstrip(";").strip()
    loop = " | ".join(WORDS)
    return f"{head}<{PREFIX}> = {loop};\n{_PUBLIC} /1/ ({body}) | /{weight:g}/ <{PREFIX}>+ ;\n"


def rejected(hypothesis: str) -> bool:
    """The decoder took the garbage path (for part or all of the utterance)."""
    return PREFIX in hypothesis


def strip_rejected(text: str) -> str:
    """A hypothesis through the garbage path is no answer at all: ""."""
    return "" if rejected(text) else re.sub(r"\s+", " ", text).strip()
