"""French public holidays (metropolitan France): one table for the agenda, reminders and date parsing."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (anonymous algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ll = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ll) // 451
    month, day = divmod(h + ll - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def french_holidays(year: int) -> dict[dt.date, str]:
    """The eleven French public holidays (métropole) of a year."""
    easter = easter_sunday(year)
    return {
        dt.date(year, 1, 1): "jour de l'an",
        easter + dt.timedelta(days=1): "lundi de Pâques",
        dt.date(year, 5, 1): "fête du travail",
        dt.date(year, 5, 8): "victoire 1945",
        easter + dt.timedelta(days=39): "Ascension",
        easter + dt.timedelta(days=50): "lundi de Pentecôte",
        dt.date(year, 7, 14): "fête nationale",
        dt.date(year, 8, 15): "Assomption",
        dt.date(year, 11, 1): "Toussaint",
        dt.date(year, 11, 11): "armistice",
        dt.date(year, 12, 25): "Noël",
    }


def holiday_name(day: dt.date) -> str | None:
    return french_holidays(day.year).get(day)
