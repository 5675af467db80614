"""French for the ear: numbers, times, dates and phone numbers written out the way a secretary says them.

Two layers:
- word builders for the dialogue (`number_fr`, `time_fr`, `date_fr`, `birth_date_fr`, `phone_fr`), used by
  dialogue/prompts.py on structured values ("mardi vingt-quatre novembre", "quatorze heures trente",
  "zéro six, douze, trente-quatre, ...");
- `spoken_fr(text)`, applied by the synthesiser to every text, a safety net for what still holds digits
  (the practice's own texts: address, hours, prices; keypad instructions). Voices read digits badly:
  SVOX Pico spells "06 12 34 56 78" digit by digit, espeak-ng says "8h30" as "huit hache trente". So
  phone numbers become pairs, times and dd/mm/yyyy dates become words (dates with their weekday), and
  other whole numbers below 10,000 become words.
"""

from __future__ import annotations

import datetime as dt
import re

from standardiste.config import WEEKDAYS_FR

MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip

_UNITS = (
    "zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
    "onze", "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf",
)  # fmt: skip
_TENS = {20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante"}


def number_fr(n: int, feminine: bool = False) -> str:
    """0 <= n < 10000 in words (traditional spelling: "vingt et un", "quatre-vingts")."""
    if n < 0 or n >= 10000:
        return str(n)
    if n < 20:
        word = _UNITS[n]
        return "une" if feminine and n == 1 else word
    if n < 100:
        if n < 70:
            tens, unit = divmod(n, 10)
            base = _TENS[tens * 10]
            if unit == 0:
                return base
            if unit == 1:
                return f"{base} et {'une' if feminine else 'un'}"
            return f"{base}-{_UNITS[unit]}"
        if n < 80:
            rest = n - 60
            return "soixante et onze" if rest == 11 else f"soixante-{_UNITS[rest]}"
        rest = n - 80
        if rest == 0:
            return "quatre-vingts"
        return f"quatre-vingt-{number_fr(rest, feminine)}"
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else f"{_UNITS[hundreds]} cent"
        if rest == 0:
            return head + ("s" if hundreds > 1 else "")
        return f"{head} {number_fr(rest, feminine)}"
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else f"{number_fr(thousands)} mille"
    return head if rest == 0 else f"{head} {number_fr(rest, feminine)}"


def time_fr(t: dt.time | dt.datetime) -> str:
    """'neuf heures trente', 'quatorze heures', 'midi', 'une heure cinq' (never 'et quart': clearer)."""
    h, m = t.hour, t.minute
    if h == 12 and m == 0:
        return "midi"
    if h == 0 and m == 0:
        return "minuit"
    hours = "une heure" if h == 1 else f"{number_fr(h, feminine=True)} heures"
    return hours if m == 0 else f"{hours} {number_fr(m, feminine=True)}"


def day_of_month_fr(d: dt.date) -> str:
    return "premier" if d.day == 1 else number_fr(d.day)


def date_fr(d: dt.date, with_weekday: bool = True, with_year: bool = False) -> str:
    """'lundi quatorze décembre' (the weekday helps callers more than the year)."""
    text = f"{day_of_month_fr(d)} {MONTHS_FR[d.month - 1]}"
    if with_weekday:
        text = f"{WEEKDAYS_FR[d.weekday()]} {text}"
    if with_year:
        text = f"{text} {number_fr(d.year)}"
    return text


def birth_date_fr(d: dt.date) -> str:
    """'cinq mars mille neuf cent cinquante-cinq': day, month and year in full, to be checked by ear."""
    return f"{day_of_month_fr(d)} {MONTHS_FR[d.month - 1]} {number_fr(d.year)}"


def _pair_fr(pair: str) -> str:
    return f"zéro {_UNITS[int(pair[1])]}" if pair[0] == "0" else number_fr(int(pair))


def phone_fr(number: str) -> str:
    """'+33612345678' or '06 12 34 56 78' -> 'zéro six, douze, trente-quatre, cinquante-six,
    soixante-dix-huit' (pairs, as French numbers are said); other numbers digit by digit."""
    digits = number.strip()
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    digits = "".join(c for c in digits if c.isdigit())
    if len(digits) != 10 or digits[0] != "0":
        return ", ".join(_UNITS[int(c)] for c in digits)
    return ", ".join(_pair_fr(digits[i : i + 2]) for i in range(0, 10, 2))


# --- the safety net for free text ---

_WORDS = {
    "rdv": "rendez-vous",
    "n°": "numéro",
    "dre": "docteur",
    "dr": "docteur",
    "ald": "A L D",
    "cmu": "C M U",
    "ame": "A M E",
}
_WORD_RE = re.compile(r"(?<![\w°])(" + "|".join(re.escape(w) for w in _WORDS) + r")(?![\w°])", re.IGNORECASE)
_TITLE_DOT_RE = re.compile(r"(?<![\w°])(dre?)\.(?=\s+[A-ZÀ-Ý])", re.IGNORECASE)  # "Dr. Martin"
# 06 12 34 56 78, 06.12.34.56.78, 0612345678, +33 6 12 34 56 78, +33612345678
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+33\s?|0033\s?|0)[1-9](?:[ .\-]?\d{2}){4}(?!\d)")
_DATE_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
_TIME = r"([01]?\d|2[0-3])\s*(?:[hH]\s*([0-5]\d)?|:([0-5]\d))(?![\w:])"
_TIME_RANGE_RE = re.compile(rf"(?<![\d:]){_TIME}\s*[-–]\s*{_TIME}")
_TIME_RE = re.compile(rf"(?<![\d:]){_TIME}")
_ORDINAL_RE = re.compile(r"(?<!\w)1(er|re)(?!\w)")
_EURO_RE = re.compile(r"(\d)\s*€")
_NUMBER_RE = re.compile(r"(?<![\w.,])(\d{1,4})(?![\w]|[.,]\d)")
_ONE_HOUR_RE = re.compile(r"\b1 heure\b")
_HOURS_RE = re.compile(r"(?<![\w.,])(\d{1,2}) heures(?: (\d{1,2}))?(?![\w.,])")


def _time_words(hour: str, minute: str | None) -> str:
    return time_fr(dt.time(int(hour), int(minute or 0)))


def _time_match(m: re.Match[str], offset: int = 0) -> str:
    return _time_words(m.group(1 + offset), m.group(2 + offset) or m.group(3 + offset))


def _hours_words(m: re.Match[str]) -> str:
    """'8 heures 30' -> 'huit heures trente'; '48 heures' (a duration) is left to the number rule."""
    return _time_words(m.group(1), m.group(2)) if int(m.group(1)) < 24 else m.group(0)


def _date_words(m: re.Match[str]) -> str:
    day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if year < 100:
        year += 2000
    try:
        d = dt.date(year, month, day)
    except ValueError:
        return m.group(0).replace("/", " ")
    return f"{date_fr(d)} {number_fr(d.year)}"


def _phone_words(m: re.Match[str]) -> str:
    return phone_fr(m.group(0))


def spoken_fr(text: str) -> str:
    """Rewrite digits and abbreviations for the ear; idempotent on text already in words."""
    text = _TITLE_DOT_RE.sub(r"\1", text)
    text = _WORD_RE.sub(lambda m: _WORDS[m.group(1).lower()], text)
    text = _PHONE_RE.sub(_phone_words, text)
    text = _DATE_RE.sub(_date_words, text)
    text = _TIME_RANGE_RE.sub(lambda m: f"{_time_match(m)} à {_time_match(m, 3)}", text)
    text = _TIME_RE.sub(_time_match, text)
    text = _HOURS_RE.sub(_hours_words, text)
    text = _ONE_HOUR_RE.sub("une heure", text)
    text = _ORDINAL_RE.sub(lambda m: "premier" if m.group(1) == "er" else "première", text)
    text = _EURO_RE.sub(r"\1 euros", text)
    text = _NUMBER_RE.sub(lambda m: number_fr(int(m.group(1))), text)
    return " ".join(text.split())
