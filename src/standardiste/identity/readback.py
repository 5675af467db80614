"""After a read-back the caller said "non": which part was wrong, and its new value when it was said.

"le cinq mars mille neuf cent cinquante-cinq" -> "non, cinquante-six" fixes the year, "non, avril" the
month, "non, le jour" asks for the day alone. A phone number read in pairs -> "non, pas quarante-six,
quarante-cinq" or "la fin c'est cinquante-six soixante-dix-huit" fixes those pairs only. Nothing here
decides: the fixed value is read back again before it is used.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

DatePart = Literal["day", "month", "year"]
MONTHS = ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
          "novembre", "decembre")  # fmt: skip


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _digits(text: str) -> str:
    from text_to_num import alpha2digit

    return re.sub(r"\bzero\b", "0", alpha2digit(_fold(text), "fr", threshold=0))


@dataclass(frozen=True, slots=True)
class DateFix:
    part: DatePart | None  # the part named or changed; None: not understood (ask which part)
    date: dt.date | None  # the corrected date when the new value was said; None: ask for `part`


def _valid(year: int, month: int, day: int, today: dt.date) -> dt.date | None:
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return None
    return born if dt.date(1900, 1, 1) <= born <= today else None


def _year(value: int, current: dt.date, today: dt.date) -> int | None:
    if 1900 <= value <= today.year:
        return value
    if value < 100:  # "cinquante-six": the same century as the year read back, else the latest past one
        same = current.year // 100 * 100 + value
        if same <= today.year:
            return same
        return 1900 + value
    return None


def date_fix(text: str, current: dt.date, today: dt.date) -> DateFix:
    """What a "non ..." after the read-back of `current` changes."""
    said = _digits(text)
    months = [i + 1 for i, m in enumerate(MONTHS) if re.search(rf"\b{m}\b", said)]
    numbers = [int(n) for n in re.findall(r"\b\d{1,4}\b", said)]
    named: DatePart | None = None
    if re.search(r"\bjours?\b|\bquantieme\b", said):
        named = "day"
    elif re.search(r"\bmois\b", said):
        named = "month"
    elif re.search(r"\bannees?\b|\bans?\b|\bmillesime\b", said):
        named = "year"
    # A whole new date: day, month and year said again.
    if months and len(numbers) >= 2:
        year = _year(numbers[-1], current, today)
        whole = _valid(year, months[-1], numbers[0], today) if year else None
        if whole is not None:
            return DateFix(None if whole == current else _changed(current, whole), whole)
    if len(numbers) >= 3 and not months:
        year = _year(numbers[2], current, today)
        whole = _valid(year, numbers[1], numbers[0], today) if year else None
        if whole is not None:
            return DateFix(_changed(current, whole), whole)
    new_months = [m for m in months if m != current.month]
    if new_months and named in (None, "month"):
        return DateFix("month", _valid(current.year, new_months[-1], current.day, today))
    if numbers:
        value = numbers[-1]
        if named == "day" or (named is None and 1 <= value <= 31 and value != current.day and value < 32):
            if named is None and value == current.day % 100:
                return DateFix(None, None)
            fixed = _valid(current.year, current.month, value, today)
            if fixed is not None:
                return DateFix("day", fixed)
            if named == "day":
                return DateFix("day", None)
        if named == "month" and 1 <= value <= 12:
            return DateFix("month", _valid(current.year, value, current.day, today))
        year = _year(value, current, today) if named in (None, "year") else None
        if year is not None and year != current.year:
            return DateFix("year", _valid(year, current.month, current.day, today))
    return DateFix(named, None)


def _changed(current: dt.date, new: dt.date) -> DatePart | None:
    diffs: list[DatePart] = []
    if new.day != current.day:
        diffs.append("day")
    if new.month != current.month:
        diffs.append("month")
    if new.year != current.year:
        diffs.append("year")
    return diffs[0] if len(diffs) == 1 else None


def replace_part(current: dt.date, part: DatePart, value: int, today: dt.date) -> dt.date | None:
    """The date with one part replaced (the answer to "quel jour ?" / "quel mois ?" / "quelle année ?")."""
    if part == "day":
        return _valid(current.year, current.month, value, today)
    if part == "month":
        return _valid(current.year, value, current.day, today)
    year = _year(value, current, today)
    return _valid(year, current.month, current.day, today) if year else None


def part_value(text: str, part: DatePart, current: dt.date, today: dt.date) -> int | None:
    """The day, month or year said (or typed) alone: "le douze", "avril", "cinquante-six", "1956"."""
    said = _digits(text)
    if part == "month":
        for i, m in enumerate(MONTHS):
            if re.search(rf"\b{m}\b", said):
                return i + 1
    numbers = [int(n) for n in re.findall(r"\b\d{1,4}\b", said)]
    if not numbers:
        return None
    value = numbers[-1]
    if part == "year":
        return _year(value, current, today)
    return value


def which_part(text: str) -> DatePart | None:
    """The answer to "le jour, le mois ou l'année ?" (1, 2, 3 on the keypad)."""
    said = _fold(text).strip()
    if said in ("1", "2", "3"):
        return ("day", "month", "year")[int(said) - 1]
    if re.search(r"\bjours?\b|\bpremier\b", said):
        return "day"
    if re.search(r"\bmois\b|\bdeuxieme\b|\bsecond\b", said):
        return "month"
    if re.search(r"\bannees?\b|\bans?\b|\btroisieme\b|\bdernier\b", said):
        return "year"
    return None


# --- phone numbers, read back in pairs --------------------------------------------------------------


def _national(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    if number.startswith("+33"):
        return "0" + digits[2:]
    return digits


def phone_fix(text: str, current: str) -> str | None:
    """The corrected national number (10 digits) from a "non ..." after the pairs were read back, or None
    when the answer does not say which digits change (then the whole number is asked, keypad first)."""
    national = _national(current)
    if len(national) != 10:
        return None
    said = _digits(text)
    said = re.sub(r"(?<=\d) (?=\d)", " ", said)
    whole = re.sub(r"\D", "", said)
    if len(whole) == 10 and whole.startswith("0"):
        return whole
    # "pas quarante-six, quarante-cinq", "quarante-six non, quarante-cinq", "46 -> 45"
    swap = re.search(r"\bpas\s+(\d+)\D+?(?:mais\s+)?(\d+)", said) or re.search(
        r"\b(\d+)\s*,?\s*non\W+(\d+)", said
    )
    if swap and len(swap.group(1)) == len(swap.group(2)):
        wrong, right = swap.group(1), swap.group(2)
        spots = [i for i in range(0, 10, 2) if national.startswith(wrong, i)]
        if len(spots) == 1:
            i = spots[0]
            return national[:i] + right + national[i + len(right) :]
        return None
    heard = re.sub(r"\D", "", said)
    if not heard or len(heard) >= 10 or len(heard) % 2:
        return None
    if re.search(r"\b(?:fin|termine|dernier|derniers|finit)\b", said):
        return national[: 10 - len(heard)] + heard
    if re.search(r"\b(?:debut|commence)\b", said):
        return heard + national[len(heard) :]
    # Pairs said again around the wrong one: the only pair-aligned place where some pairs agree and
    # some differ.
    places = []
    for i in range(0, 10 - len(heard) + 1, 2):
        pairs = [(national[i + k : i + k + 2], heard[k : k + 2]) for k in range(0, len(heard), 2)]
        same = sum(a == b for a, b in pairs)
        if same and same < len(pairs):
            places.append(i)
    if len(places) == 1:
        i = places[0]
        return national[:i] + heard + national[i + len(heard) :]
    return None


def parse_birth_date(text: str, today: dt.date) -> dt.date | None:
    """A birth date said whole: "cinq mars mille neuf cent cinquante-cinq", "le 5/3/55", "05 03 1955"."""
    said = _digits(text).replace("1er", "1").replace("premier", "1")
    match = re.search(r"\b(\d{1,2})\s+(" + "|".join(MONTHS) + r")\s+(\d{2,4})\b", said)
    if match:
        day, month, year = int(match.group(1)), MONTHS.index(match.group(2)) + 1, int(match.group(3))
    else:
        match = re.search(r"\b(\d{1,2})[\s/.-]+(\d{1,2})[\s/.-]+(\d{2,4})\b", said)
        if match is None:
            compact = re.sub(r"\D", "", said)
            if len(compact) != 8:
                return None
            day, month, year = int(compact[:2]), int(compact[2:4]), int(compact[4:])
        else:
            day, month, year = (int(g) for g in match.groups())
    if year < 100:  # "cinquante-cinq": the latest past year ending so
        year += 2000 if 2000 + year <= today.year else 1900
    return _valid(year, month, day, today)
