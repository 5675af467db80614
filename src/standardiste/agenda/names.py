"""Name normalisation and fuzzy matching tolerant of speech recognition ("le faivre" ~ "Lefèvre")."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

_NON_LETTERS = re.compile(r"[^a-z]")
# Rough French phonetics, applied in order on an accent-free lowercase key.
_PHONETIC = [
    (re.compile(r"eau|au"), "o"),
    (re.compile(r"ai|ei|ay|ey"), "e"),
    (re.compile(r"ph"), "f"),
    (re.compile(r"qu|ck|q"), "k"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"c"), "k"),
    (re.compile(r"y"), "i"),
    (re.compile(r"z"), "s"),
    (re.compile(r"(?<=[aeiou])s(?=[aeiou])"), "z"),
    (re.compile(r"gu(?=[ei])"), "g"),
    (re.compile(r"th"), "t"),
    (re.compile(r"(?<!^)h|^h"), ""),
    (re.compile(r"(.)\1+"), r"\1"),
    # Nasal vowels (a vowel + n/m not followed by a vowel) are other sounds: "Jean" is not "Jeanne".
    (re.compile(r"[ae][nm](?=[^aeiou]|$)"), "A"),
    (re.compile(r"i[nm](?=[^aeiou]|$)"), "I"),
    (re.compile(r"o[nm](?=[^aeiou]|$)"), "O"),
    (re.compile(r"u[nm](?=[^aeiou]|$)"), "U"),
    (re.compile(r"(?<=.)[estxd]$"), ""),
]


def fold(text: str) -> str:
    """Lowercase, accents removed, everything but letters dropped: 'Le Fèvre-Dupont' -> 'lefevredupont'."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("œ", "oe").replace("æ", "ae"))
    return _NON_LETTERS.sub("", "".join(c for c in decomposed if not unicodedata.combining(c)))


def phonetic(text: str) -> str:
    key = fold(text)
    for pattern, replacement in _PHONETIC:
        key = pattern.sub(replacement, key)
    return key


def name_similarity(a: str, b: str) -> float:
    """0-100: best of spelling and sound similarity of two names."""
    fa, fb = fold(a), fold(b)
    if not fa or not fb:
        return 0.0
    if fa == fb:
        return 100.0
    sounded = fuzz.ratio(phonetic(a), phonetic(b))
    if sounded < 75:
        # They do not sound alike ("Jean"/"Jeanne", "Marin"/"Marine"): close spelling must not rescue them.
        return sounded
    return max(fuzz.ratio(fa, fb), sounded)


def identity_score(last: str, first: str, cand_last: str, cand_first: str) -> float:
    """0-100 for a caller-given name against a stored one; tolerates first/last swapped.

    The weaker of the two names caps the score, so a close last name cannot carry another first name
    (a twin, a parent with the same birth date is rare, "Jean" for "Jeanne" is not)."""
    straight = _pair(name_similarity(last, cand_last), name_similarity(first, cand_first))
    swapped = _pair(name_similarity(last, cand_first), name_similarity(first, cand_last))
    # Recognisers sometimes glue both names together.
    glued = name_similarity(last + first, cand_last + cand_first)
    return max(straight, swapped - 5, glued - 10)


def _pair(last: float, first: float) -> float:
    return min(0.6 * last + 0.4 * first, last + 10, first + 10)


def normalise_phone(phone: str | None) -> str | None:
    """French numbers to E.164 (+33...), other inputs kept as digits with '+'; None when empty."""
    if not phone:
        return None
    digits = re.sub(r"[^\d+]", "", phone)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("0") and len(digits) == 10:
        digits = "+33" + digits[1:]
    return digits or None
