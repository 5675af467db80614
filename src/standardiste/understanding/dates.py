"""Dates and times in caller speech, resolved against `now` in the practice's time zone.

Duckling (compiled in, via pyduckling-native-phihos) does the heavy lifting on text whose numbers were
turned into digits (text2num). Rules on top cover what it misses or gets wrong for a medical practice:
"le plus tôt possible", week ranges, past same-day times pushed forward, "neuf heures" meaning the
morning, impossible dates ("trente février"), and French public holidays.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from standardiste.holidays import easter_sunday, holiday_name
from standardiste.holidays import french_holidays as french_holidays
from standardiste.understanding.duckling_worker import DucklingWorker, shared_worker
from standardiste.understanding.normalize import Mapped, digits, fold, fold_word, lower, without_fillers

MONTHS = {
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
    "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
}  # fmt: skip
WEEKDAY_WORDS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# Bounds on the work per utterance (see DateResolver). Ordinary turns use ~1 ms of Duckling.
MAX_CHARS = 1000  # dates are read in the first thousand characters of a turn
# Duckling's cost explodes with the words it can combine: 8 x "lundi" 16 ms, 10 x 360 ms; six odd words can
# cost 0.5 s (then the budget cuts it). A longer expression is cut before "à", "vers"... and joined again.
MAX_WINDOW_WORDS = 6
MAX_WINDOWS = 8
MAX_FOUND = 8  # dates kept per utterance
DUCKLING_BUDGET_S = 0.015  # Duckling's CPU per utterance, all windows together (child process)


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A resolved date/time, with offsets into the ORIGINAL text."""

    start: int
    end: int
    value: dt.datetime
    grain: str  # minute, hour, day, week, month, part_of_day
    range_end: dt.datetime | None = None
    part_of_day: str | None = None  # agenda.model.PartOfDay values: morning, late_morning, noon, ...
    asap: bool = False
    holiday: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {"grain": self.grain}
        if self.part_of_day:
            out["part_of_day"] = self.part_of_day
        if self.range_end is not None:
            out["range_end"] = self.range_end.isoformat()
        if self.asap:
            out["asap"] = True
        if self.holiday:
            out["holiday"] = self.holiday
        return out | self.extra


easter = easter_sunday  # the name this module's rules and tests use


# Holiday names Duckling does not know in French: (pattern on folded text, resolver by year).
_HOLIDAY_RULES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"\blundi de paques\b"), lambda y: easter(y) + dt.timedelta(days=1)),
    (re.compile(r"\bpaques\b"), easter),
    (re.compile(r"\bascension\b"), lambda y: easter(y) + dt.timedelta(days=39)),
    (re.compile(r"\blundi de (?:la )?pentecote\b"), lambda y: easter(y) + dt.timedelta(days=50)),
    (re.compile(r"\btoussaint\b"), lambda y: dt.date(y, 11, 1)),
    (re.compile(r"\bassomption\b"), lambda y: dt.date(y, 8, 15)),
    (re.compile(r"\barmistice\b"), lambda y: dt.date(y, 11, 11)),
    (re.compile(r"\b(?:fete du travail|premier mai|1er mai)\b"), lambda y: dt.date(y, 5, 1)),
    (re.compile(r"\b(?:fete nationale)\b"), lambda y: dt.date(y, 7, 14)),
    (re.compile(r"\b(?:jour de l an|nouvel an)\b"), lambda y: dt.date(y, 1, 1)),
)

_ASAP = re.compile(
    r"\b(?:le plus tot possible|au plus tot|au plus vite|des que possible|le plus vite possible|"
    r"aussi vite que "
    r"possible|(?:le |au )?premier (?:creneau|rendez vous|rdv|moment|horaire)(?: \w+)? (?:disponible|libre|"
    r"possible)|(?:la )?premiere (?:disponibilite|place (?:disponible|libre))|des que vous (?:pouvez|avez "
    r"(?:une|de la) place)|n importe quand|peu importe (?:le jour|quand)|quand vous (?:voulez|pouvez))\b"
)
_PART_OF_DAY = (
    # pattern, name, start hour/minute, end hour/minute
    (re.compile(r"\b(?:en |dans la |sur la )?fin de (?:la )?matinee\b"), "late_morning", (10, 30), (12, 30)),
    (
        re.compile(r"\b(?:en |au )?debut de (?:la )?matinee\b|\b(?:tot le matin|de bonne heure)\b"),
        "morning",
        (8, 0),
        (10, 0),
    ),
    (re.compile(r"\b(?:en |au )?debut d apres midi\b"), "afternoon", (14, 0), (16, 0)),
    (
        re.compile(r"\b(?:en |dans la |sur la )?fin d apres midi\b|\bfin de journee\b|\ben fin de journee\b"),
        "late_afternoon",
        (17, 0),
        (19, 0),
    ),
    (
        re.compile(
            r"\bentre midi et (?:deux|2|14 heures)\b|\b(?:a )?l heure du dejeuner\b|\b(?:vers|a) midi\b"
        ),
        "noon",
        (12, 0),
        (14, 0),
    ),
    (re.compile(r"\b(?:le |en |dans la |plutot |la )?(?:matin|matinee)\b"), "morning", (8, 0), (12, 30)),
    (
        re.compile(r"\b(?:l |en |dans l |plutot l |cet |cette )?apres midi\b|\baprem\b"),
        "afternoon",
        (14, 0),
        (19, 0),
    ),
    (
        re.compile(r"\b(?:le |en |ce )?soir(?:ee)?\b|\bapres le travail\b|\bapres (?:18|dix huit) heures\b"),
        "evening",
        (18, 0),
        (20, 0),
    ),
)
_INVALID_DAY_MONTH = re.compile(r"\b(\d{1,2}|premier|1er) (" + "|".join(MONTHS) + r")\b(?: (\d{4}))?")
# Duckling costs 0.3-4 ms: skip it when nothing in the sentence can be a date or a time.
_DATE_CUE = re.compile(
    r"\d|\b(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|janvier|fevrier|mars|avril|mai|juin|"
    r"juillet|aout|septembre|octobre|novembre|decembre|demain|aujourd|hier|semaine|mois|matin|matinee|midi|"
    r"minuit|soir|soiree|nuit|heures?|prochaine?|derniere?|fin|debut|noel|paques|jour|jours|an|annee|week|"
    r"huit|quinze|premier|tot|tard|apres|avant|veille|lendemain|ce|cette|dans|vers)\b"
)
# Words that can be part of a date or a time for Duckling: the cues above, numbers in words (text2num
# leaves "deux" as a word) and the words of "à partir de", "d'ici", "jusqu'à".
_NUMBER_WORD = re.compile(
    r"^(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|vingt|"
    r"vingts|trente|quarante|cinquante|soixante|cent|mille|h|demi|demie|quart|partir|ici|jusqu|jusque)$"
)
# A window is cut before one of these when it must be cut: they start a new expression ("le 2 mars").
_STARTER = frozenset({"le", "la", "les", "l", "a", "au", "du", "de", "des", "en", "vers", "entre", "ou"})
_WORD = re.compile(r"\S+")
_MAX_GAP_WORDS = 2  # non-date words inside one stretch ("lundi, si possible, à dix heures")


@functools.lru_cache(maxsize=8192)
def _fold_token(word: str) -> str:
    return fold_word(word)


def duckling_windows(text: str) -> list[tuple[int, int]]:
    """The (start, end) character spans of `text` worth giving Duckling, in order: stretches holding date
    words, each cut into windows of at most MAX_WINDOW_WORDS words (before a starter word when one is
    near), at most MAX_WINDOWS of them. Linear in the length of `text`."""
    words = [(m.start(), m.end(), _fold_token(m.group())) for m in _WORD.finditer(text)]
    cue = [bool(w and (_NUMBER_WORD.match(w) or _DATE_CUE.search(w))) for _, _, w in words]
    windows: list[tuple[int, int]] = []
    i, n = 0, len(words)
    while i < n and len(windows) < MAX_WINDOWS:
        if not cue[i]:
            i += 1
            continue
        # A stretch: from the first cue (with its article or preposition) to the last cue followed by no
        # more than _MAX_GAP_WORDS other words.
        start = i - 1 if i > 0 and words[i - 1][2] in _STARTER else i
        end = i
        j = i + 1
        while j < n and j - end <= _MAX_GAP_WORDS + 1:
            if cue[j]:
                end = j
            j += 1
        k = start
        while k <= end and len(windows) < MAX_WINDOWS:
            stop = min(end, k + MAX_WINDOW_WORDS - 1)
            if stop < end:
                # Cut before the last starter word in the window's second half, if any.
                for c in range(stop, k + MAX_WINDOW_WORDS // 2, -1):
                    if words[c][2] in _STARTER:
                        stop = c - 1
                        break
            windows.append((words[k][0], words[stop][1]))
            k = stop + 1
        i = end + 1
    return windows


_ORDINAL_ONLY = re.compile(r"^(?:le |la )?(?:premier|premiere|1er|1ere|deuxieme|second|seconde|dernier)$")
_BIRTH_CONTEXT = re.compile(r"\b(?:ne|nee|naissance|naissances|nes|nees)\b(?: \w+){0,3} ?$")
_EXPLICIT_PM = re.compile(r"\b(?:soir|apres midi|1[3-9]|2[0-3]) ?(?:h|heures?)?\b")


class DateResolver:
    """Finds date/time expressions. Thread-safe; bounded in time whatever the input.

    Duckling is exponential on some inputs (repeated or piled-up date words), so it runs in a child
    process with a CPU budget per utterance (duckling_worker.py), on small windows of the text: the
    stretches holding date words, cut into at most MAX_WINDOW_WORDS words, identical windows parsed
    once, at most MAX_WINDOWS per utterance. Over budget, the rest of the utterance's Duckling work is
    dropped (its dates are not understood); the rules below still run.
    """

    def __init__(self, timezone: str = "Europe/Paris", worker: DucklingWorker | None = None) -> None:
        self.timezone = timezone
        self.tz = zoneinfo.ZoneInfo(timezone)
        self._worker = worker or shared_worker()
        self._budget = threading.local()
        self.over_budget = 0  # utterances whose Duckling work was cut by the budget

    def _duckling_parse(self, text: str, now: dt.datetime) -> list[dict[str, Any]]:
        """Duckling's results on `text` (offsets into `text`), window by window, within the budget of the
        utterance being read (find() sets it; DUCKLING_BUDGET_S for a call on its own)."""
        left = getattr(self._budget, "left", None)
        budget = DUCKLING_BUDGET_S if left is None else left
        spans = duckling_windows(text)
        texts: list[str] = []
        first: dict[str, int] = {}
        for a, b in spans:
            first.setdefault(text[a:b], a)
        texts = list(first)
        parsed = self._worker.parse(texts, self.timezone, int(now.timestamp()), budget)
        if left is not None:
            self._budget.left = 0.0 if parsed.over else max(0.0, left - parsed.cpu_s)
        self._budget.cpu = getattr(self._budget, "cpu", 0.0) + parsed.cpu_s
        if parsed.over:
            self.over_budget += 1
        out: list[dict[str, Any]] = []
        for window, results in zip(texts, parsed.results, strict=True):
            offset = first[window]
            for r in results or ():
                out.append(r | {"start": r["start"] + offset, "end": r["end"] + offset})
        return out

    def find(self, text: str, now: dt.datetime, skip: list[tuple[int, int]] | None = None) -> list[FoundDate]:
        """Dates in `text` (original). `skip`: original spans already taken (phone, birth date)."""
        self._budget.left = DUCKLING_BUDGET_S
        self._budget.cpu = 0.0
        try:
            return self._find(text, now, skip)
        finally:
            self._budget.left = None

    def _find(self, text: str, now: dt.datetime, skip: list[tuple[int, int]] | None) -> list[FoundDate]:
        now = now.astimezone(self.tz) if now.tzinfo else now.replace(tzinfo=self.tz)
        text = re.sub(r"[\x00-\x1f\x7f]", " ", text[:MAX_CHARS])  # NUL makes Duckling panic; same length
        low = without_fillers(lower(text))
        dig = digits(low)
        folded = fold(dig, drop_fillers=False)
        taken = list(skip or [])
        found: list[FoundDate] = []

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e in taken)

        def add(item: FoundDate) -> None:
            if len(found) < MAX_FOUND:  # a turn naming more dates than this is read no further
                found.append(item)
                taken.append((item.start, item.end))

        # 1. As soon as possible.
        for m in _ASAP.finditer(folded.text):
            s, e = folded.span(m.start(), m.end())
            if free(s, e):
                add(FoundDate(s, e, now.replace(second=0, microsecond=0), "minute", asap=True))
        # 2. Impossible calendar dates: dropped, remembered so that Duckling's pieces are dropped too.
        for m in _INVALID_DAY_MONTH.finditer(folded.text):
            day = 1 if m.group(1) in ("premier", "1er") else int(m.group(1))
            try:
                dt.date(int(m.group(3) or 2000), MONTHS[m.group(2)], day)
            except ValueError:
                taken.append(folded.span(m.start(), m.end()))
        # 3. Holidays Duckling does not know.
        for pattern, resolve in _HOLIDAY_RULES:
            for m in pattern.finditer(folded.text):
                s, e = folded.span(m.start(), m.end())
                if not free(s, e):
                    continue
                day = resolve(now.year)
                if day < now.date():
                    day = resolve(now.year + 1)
                value = dt.datetime.combine(day, dt.time(0, 0), self.tz)
                add(FoundDate(s, e, value, "day", holiday=holiday_name(day)))
        # 4. Duckling.
        try:
            results = self._duckling_parse(dig.text, now) if _DATE_CUE.search(folded.text) else []
        except Exception:  # a Duckling failure must not lose the rest of the understanding
            results = []
        for r in results:
            s, e = dig.span(r["start"], r["end"])
            if not free(s, e):
                continue
            # "le premier" alone is a choice among proposed slots far more often than the 1st of a month.
            if _ORDINAL_ONLY.match(fold(lower(text[s:e])).text):
                continue
            before = fold(lower(text[max(0, s - 80) : s])).text  # the few words before are enough
            if _BIRTH_CONTEXT.search(before):
                continue
            item = self._resolve(r, s, e, now, folded_span=fold(lower(text[s:e]), drop_fillers=False).text)
            if item is not None and _bare_weekday_today(item, dig.text[r["start"] : r["end"]], now):
                item = self._next_week(item, r, dig.text, now)
            if item is not None:
                add(item)
        # 4b. A day and a time cut apart by the windows ("mardi 3 mars 2026 | à 14 h 30"): one moment.
        self._join_day_and_time(found, text)
        # 5. A part of the day said apart from the day ("jeudi plutôt en fin de matinée"): merge or add.
        parts_seen: list[tuple[int, int]] = []
        for pattern, name, (h1, m1), (h2, m2) in _PART_OF_DAY:
            for m in pattern.finditer(folded.text):
                if any(ps <= m.start() < pe for ps, pe in parts_seen):
                    continue  # "fin de matinée" already read; do not read its "matinée" again
                parts_seen.append((m.start(), m.end()))
                s, e = folded.span(m.start(), m.end())
                if not free(s, e):
                    # Inside a Duckling span: refine that one's part of day.
                    for i, f in enumerate(found):
                        if (
                            f.start <= s
                            and e <= f.end
                            and f.part_of_day is not None
                            and f.part_of_day != name
                        ):
                            found[i] = self._with_part(f, name, (h1, m1), (h2, m2), now)
                    continue
                days = [f for f in found if f.grain == "day" and not f.asap]
                if days:
                    target = days[0]
                    idx = found.index(target)
                    merged = self._with_part(target, name, (h1, m1), (h2, m2), now)
                    found[idx] = FoundDate(
                        min(target.start, s),
                        max(target.end, e),
                        merged.value,
                        merged.grain,
                        merged.range_end,
                        merged.part_of_day,
                        holiday=merged.holiday,
                    )
                    taken.append((s, e))
                else:
                    base = FoundDate(s, e, now, "day")
                    add(self._with_part(base, name, (h1, m1), (h2, m2), now, roll=True))
        found.sort(key=lambda f: f.start)
        return found

    def last_duckling_cpu(self) -> float:
        """The Duckling child's CPU time spent on this thread's last find() (it runs in another process)."""
        return float(getattr(self._budget, "cpu", 0.0))

    def _join_day_and_time(self, found: list[FoundDate], text: str) -> None:
        """In place: a day directly followed by a time of day ("à", "vers" between) becomes that day at
        that time. Duckling does this itself inside one window; this joins across windows."""
        found.sort(key=lambda f: f.start)
        i = 0
        while i + 1 < len(found):
            day, time_ = found[i], found[i + 1]
            gap = fold(lower(text[day.end : time_.start])).text
            if (
                day.grain == "day"
                and not day.asap
                and time_.grain in ("hour", "minute")
                and gap in ("", "a", "vers", "pour", "de", "des")
            ):
                moment = dt.datetime.combine(day.value.date(), time_.value.timetz())
                found[i : i + 2] = [
                    FoundDate(day.start, time_.end, moment, time_.grain, holiday=holiday_name(moment.date()))
                ]
                continue
            i += 1

    def _next_week(self, item: FoundDate, r: dict[str, Any], text: str, now: dt.datetime) -> FoundDate:
        """`item` (today) moved to the same weekday next week: Duckling again, from tomorrow 00:00, so
        that a part of the day keeps its full range ("lundi matin" said on Monday at 10:00)."""
        tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0), self.tz)
        target = now.date() + dt.timedelta(days=7)
        try:
            results = self._duckling_parse(text, tomorrow)
        except Exception:
            results = []
        for alt in results:
            if (alt["start"], alt["end"]) != (r["start"], r["end"]):
                continue
            folded_span = fold(lower(text[alt["start"] : alt["end"]]), drop_fillers=False).text
            moved = self._resolve(alt, item.start, item.end, tomorrow, folded_span)
            if moved is not None and moved.value.date() == target:
                return moved
        week = dt.timedelta(days=7)
        end = item.range_end + week if item.range_end is not None else None
        value = item.value + week
        return FoundDate(
            item.start, item.end, value, item.grain, end, item.part_of_day, holiday=holiday_name(value.date())
        )

    def _with_part(
        self,
        f: FoundDate,
        name: str,
        start: tuple[int, int],
        end: tuple[int, int],
        now: dt.datetime,
        roll: bool = False,
    ) -> FoundDate:
        day = f.value.date()
        begin = dt.datetime.combine(day, dt.time(*start), self.tz)
        finish = dt.datetime.combine(day, dt.time(*end), self.tz)
        if finish <= now:
            if not roll and f.grain != "day":
                return f
            shift = dt.timedelta(days=1)
            begin, finish = begin + shift, finish + shift
        begin = max(begin, now.replace(second=0, microsecond=0))
        return FoundDate(
            f.start, f.end, begin, "part_of_day", finish, name, holiday=holiday_name(begin.date())
        )

    def _resolve(
        self, r: dict[str, Any], s: int, e: int, now: dt.datetime, folded_span: str
    ) -> FoundDate | None:
        v = r["value"]
        if v.get("type") == "interval":
            start = v.get("from", {}).get("value")
            stop = v.get("to", {}).get("value")
            if start is None and stop is None:
                return None
            begin = dt.datetime.fromisoformat(start) if start else now
            finish = dt.datetime.fromisoformat(stop) if stop else None
            begin = begin.astimezone(self.tz)
            finish = finish.astimezone(self.tz) if finish else None
            part = _part_name(begin, finish)
            if part == "morning" and begin.hour < 8:
                begin = begin.replace(hour=8)
            if finish is not None and finish <= now:
                alternatives = [a for a in v.get("values", []) if a.get("to", {}).get("value")]
                for alt in alternatives:
                    alt_end = dt.datetime.fromisoformat(alt["to"]["value"]).astimezone(self.tz)
                    if alt_end > now:
                        begin = dt.datetime.fromisoformat(alt["from"]["value"]).astimezone(self.tz)
                        finish = alt_end
                        break
                else:
                    return None
            if part == "morning" and begin.hour < 8:
                begin = begin.replace(hour=8)
            begin = max(begin, now.replace(second=0, microsecond=0))
            grain = "part_of_day" if part else "day"
            return FoundDate(s, e, begin, grain, finish, part, holiday=holiday_name(begin.date()))
        value = v.get("value")
        if value is None:
            return None
        grain = v.get("grain", "day")
        moment = dt.datetime.fromisoformat(value).astimezone(self.tz)
        if grain in ("hour", "minute"):
            # "dans quinze jours": a relative day, not a time of day.
            if re.search(r"\bdans \w+(?: \w+)? (?:jours?|semaines?|mois)\b", folded_span) and not re.search(
                r"\bheures?\b|\bh\b", folded_span
            ):
                # French idiom: "dans huit jours" is a week, "dans quinze jours" two weeks.
                if re.search(r"\bdans (?:huit|8|quinze|15) jours\b", folded_span):
                    moment -= dt.timedelta(days=1)
                return FoundDate(
                    s,
                    e,
                    moment.replace(hour=0, minute=0, second=0, microsecond=0),
                    "day",
                    holiday=holiday_name(moment.date()),
                )
            # "à neuf heures" said in the afternoon means tomorrow morning, not 21:00.
            if (
                moment.hour >= 20
                and not _EXPLICIT_PM.search(folded_span)
                and not re.search(r"\b(?:20|21|22|23)\b", folded_span)
            ):
                moment = moment - dt.timedelta(hours=12)
                while moment <= now:
                    moment += dt.timedelta(days=1)
            # Same-day time already past ("mardi à dix heures" said on Tuesday afternoon): next occurrence.
            if moment <= now:
                later = [
                    dt.datetime.fromisoformat(a["value"]).astimezone(self.tz)
                    for a in v.get("values", [])
                    if a.get("value")
                ]
                later = [m for m in later if m > now and 7 <= m.hour < 20]
                if later:
                    moment = min(later)
                else:
                    step = (
                        dt.timedelta(days=7)
                        if any(w in folded_span for w in WEEKDAY_WORDS)
                        else (dt.timedelta(days=1))
                    )
                    while moment <= now:
                        moment += step
            return FoundDate(s, e, moment, grain, holiday=holiday_name(moment.date()))
        if grain == "day":
            if moment.date() < now.date():
                return None
            return FoundDate(s, e, moment, "day", holiday=holiday_name(moment.date()))
        if grain in ("week", "month", "quarter", "year"):
            length = {"week": dt.timedelta(days=7)}.get(grain)
            if length is not None:
                finish = moment + length
            elif grain == "month":
                finish = (moment.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            else:
                finish = moment.replace(year=moment.year + 1)
            if finish <= now:
                return None  # "il y a dix ans": the past is no appointment time
            if grain == "week" and "dans la semaine" in folded_span and (finish - now) < dt.timedelta(days=2):
                moment, finish = finish, finish + dt.timedelta(days=7)
            begin = max(moment, now.replace(second=0, microsecond=0))
            return FoundDate(s, e, begin, grain, finish)
        return None


# Said with a weekday, these still mean today ("lundi, aujourd'hui", "mardi ce matin").
_TODAY_CUE = re.compile(
    r"\b(?:aujourd hui|ce jour|ce matin|cet apres midi|ce midi|ce soir|cette nuit|tout a l heure|"
    r"ce (?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche))\b"
)
_WEEKDAY_WITH_DATE = re.compile(
    r"\b(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) (?:le )?(?:\d{1,2}|premier|1er)\b"
    r"(?! ?(?:h\b|heures?\b|:))"
)


def _bare_weekday_today(item: FoundDate, said_digits: str, now: dt.datetime) -> bool:
    """A weekday said on that same weekday, with no date and nothing meaning "today": the product
    means next week's ("lundi" said on a Monday is Monday next week, confirmed with its date)."""
    if item.value.date() != now.date() or item.asap:
        return False
    folded = fold(lower(said_digits), drop_fillers=False).text
    if WEEKDAY_WORDS[now.weekday()] not in folded.split():
        return False
    dated = _WEEKDAY_WITH_DATE.search(folded) or any(m in folded for m in MONTHS)
    return not (dated or _TODAY_CUE.search(folded))


def _part_name(begin: dt.datetime, finish: dt.datetime | None) -> str | None:
    if finish is None:
        return None
    span_h = (finish - begin).total_seconds() / 3600
    if span_h >= 24:
        return None
    h1, h2 = begin.hour, finish.hour if finish.date() == begin.date() else 24
    if h2 <= 13 and h1 >= 10:
        return "late_morning"
    if h2 <= 13:
        return "morning"
    if h1 >= 18:
        return "evening"
    if h1 >= 16:
        return "late_afternoon"
    if h1 == 12 and h2 <= 15:
        return "noon"
    if h1 >= 12:
        return "afternoon"
    return None


def parse_birth_date(folded_digits: str, today: dt.date) -> tuple[int, int, dt.date | None] | None:
    """Find a birth date in folded text with digits. Returns (start, end, date or None if impossible).

    Accepts "12 mars 1985", "12 03 1985", "12 03 85", "premier mars 1985". None for no candidate.
    """
    for m in re.finditer(
        r"\b(\d{1,2}|premier|1er) (?:(" + "|".join(MONTHS) + r")|(\d{1,2})) (\d{4}|\d{2})\b", folded_digits
    ):
        day = 1 if m.group(1) in ("premier", "1er") else int(m.group(1))
        month = MONTHS[m.group(2)] if m.group(2) else int(m.group(3))
        year = int(m.group(4))
        if year < 100:
            year += 2000 if year <= today.year % 100 else 1900
        try:
            born = dt.date(year, month, day)
        except ValueError:
            return m.start(), m.end(), None
        if born > today or born.year < today.year - 120:
            return m.start(), m.end(), None
        return m.start(), m.end(), born
    return None


def to_digits_folded(text: str) -> Mapped:
    return fold(digits(lower(text)))
