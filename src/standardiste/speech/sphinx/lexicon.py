"""Pronunciation dictionary for the French telephone model: the shipped 105k-word dictionary, our supplement,
pronunciations made up for missing words (by analogy with known parts, else a small rule set), and a
dictionary trimmed to one grammar's words (7.4 MB per decoder instead of 36.8 MB)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# Words the shipped dictionary lacks, or says in a way callers do not (phones: see phoneset.json).
# General French only: a practitioner's name comes from the practice configuration, and how it sounds
# from its aliases written as said ("docteur bénali"), read by the rules below.
SUPPLEMENT: dict[str, tuple[str, ...]] = {
    "appuyez": ("aa pp uy ii yy ei",),
    "composez": ("kk on pp au zz ei",),
    "veuillez": ("vv oe yy ei",),
    "dièse": ("dd yy ai zz",),
    "allo": ("aa ll au",),
    "allô": ("aa ll au",),
    "c'est": ("ss ai",),
    "un": ("in",),  # "un" and "in" have merged for most speakers
    "vingt": ("vv in",),
}

_ELIDED = {"qu": "kk", "c": "ss", "d": "dd", "j": "jj", "l": "ll", "m": "mm", "n": "nn", "s": "ss", "t": "tt"}
_CLEAN = re.compile(r"\(\d+\)$")

# Rule-based grapheme -> phone rules, longest grapheme first. Context handled in `_rules`.
_VOWELS = set("aeiouyéèêëàâîïôûùüœ")
_SIMPLE: list[tuple[str, str]] = [
    ("eaux", "au"),
    ("eau", "au"),
    ("aux", "au"),
    ("ain", "in"),
    ("ein", "in"),
    ("oin", "ww in"),
    ("ien", "yy in"),
    ("ill", "ii yy"),
    ("iè", "yy ai"),
    ("uy", "uy ii yy"),
    ("ch", "ch"),
    ("gn", "gn"),
    ("ph", "ff"),
    ("qu", "kk"),
    ("ou", "ou"),
    ("où", "ou"),
    ("oi", "ww aa"),
    ("ai", "ai"),
    ("ei", "ai"),
    ("au", "au"),
    ("eu", "eu"),
    ("œu", "eu"),
    ("ui", "uy ii"),
    ("an", "an"),
    ("am", "an"),
    ("en", "an"),
    ("em", "an"),
    ("in", "in"),
    ("im", "in"),
    ("on", "on"),
    ("om", "on"),
    ("un", "un"),
    ("ez", "ei"),
    ("er", "ei"),
    ("et", "ai"),
    ("th", "tt"),
    ("ss", "ss"),
    ("a", "aa"),
    ("à", "aa"),
    ("â", "aa"),
    ("é", "ei"),
    ("è", "ai"),
    ("ê", "ai"),
    ("ë", "ai"),
    ("i", "ii"),
    ("î", "ii"),
    ("ï", "ii"),
    ("o", "oo"),
    ("ô", "au"),
    ("u", "uu"),
    ("û", "uu"),
    ("ù", "uu"),
    ("y", "ii"),
    ("b", "bb"),
    ("d", "dd"),
    ("f", "ff"),
    ("j", "jj"),
    ("k", "kk"),
    ("l", "ll"),
    ("m", "mm"),
    ("n", "nn"),
    ("p", "pp"),
    ("r", "rr"),
    ("t", "tt"),
    ("v", "vv"),
    ("w", "ww"),
    ("x", "kk ss"),
    ("z", "zz"),
    ("ç", "ss"),
]
_FINAL_ONLY = {"ez", "er", "et"}
_DOUBLES = {"ll", "nn", "mm", "tt", "pp", "rr", "ff", "ss", "kk"}
_NASALS = {"an", "am", "en", "em", "in", "im", "on", "om", "un", "ain", "ein", "oin", "ien"}


def _match_multi(w: str, i: int) -> tuple[str, int] | None:
    for graph, phones in _SIMPLE:
        if len(graph) < 2 or not w.startswith(graph, i):
            continue
        j = i + len(graph)
        after = w[j] if j < len(w) else ""
        if graph in _NASALS and after and (after in _VOWELS or after in "nm"):
            continue  # "ami", "bonne": not nasal
        if graph in _FINAL_ONLY and after:
            continue  # "bernard": not "ei"
        return phones, len(graph)
    return None


def _rules(word: str) -> str:
    """A small French letter-to-sound rule set, good enough for names and rare words."""
    w = word.lower()
    w = re.sub(r"(?<=.)(e|es|s|t|d|x)$", "", w) if len(w) > 3 else w  # silent endings
    out: list[str] = []
    i = 0
    while i < len(w):
        ch = w[i]
        nxt = w[i + 1] if i + 1 < len(w) else ""
        prev = w[i - 1] if i else ""
        multi = _match_multi(w, i)
        if ch in "h'- ":
            i += 1
            continue
        if multi:
            out.append(multi[0])
            i += multi[1]
        elif ch == "c":
            out.append("ss" if nxt in "eiyéèê" else "kk")
            i += 1
        elif ch == "g":
            out.append("jj" if nxt in "eiyéèê" else "gg")
            i += 1
        elif ch == "s":
            out.append("zz" if prev in _VOWELS and nxt in _VOWELS else "ss")
            i += 1
        elif ch == "e":
            closed = nxt and nxt not in _VOWELS and (i + 2 >= len(w) or w[i + 2] not in _VOWELS)
            out.append("ai" if closed else "ee")
            i += 1
        else:
            single = dict((g, p) for g, p in _SIMPLE if len(g) == 1)
            if ch in single:
                out.append(single[ch])
            i += 1
        # Doubled consonants sound once.
        if len(out) >= 2 and out[-1] == out[-2] and out[-1] in _DOUBLES:
            out.pop()
    return " ".join(out)


class _SortedFile:
    """Word -> pronunciations from a file sorted by word, searched in place (mmap + bisection): a worker
    does not hold the 105k-word dictionary in Python objects (~30 MB)."""

    def __init__(self, path: Path) -> None:
        import mmap

        import numpy as np

        with path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        ends = np.flatnonzero(np.frombuffer(self._map, dtype=np.uint8) == 10)
        self._starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
        self._ends = ends.astype(np.int64)

    def _word(self, i: int) -> bytes:
        start = int(self._starts[i])
        return self._map[start : self._map.find(b"\t", start, int(self._ends[i]))]

    def get(self, word: str, default: list[str] | None = None) -> list[str] | None:
        key = word.encode()
        lo, hi = 0, len(self._starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._word(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        prons = []
        while lo < len(self._starts) and self._word(lo) == key:
            line = self._map[int(self._starts[lo]) : int(self._ends[lo])].decode()
            prons.append(line.split("\t", 1)[1])
            lo += 1
        return prons or default


class Lexicon:
    """Word -> pronunciations; one per worker process."""

    def __init__(self, entries: dict[str, list[str]], base: _SortedFile | None = None) -> None:
        self._entries = entries
        self._base = base

    @classmethod
    def open(cls, sorted_path: Path) -> Lexicon:
        """The prepared model's sorted dictionary, searched in place, plus our supplement."""
        base = _SortedFile(sorted_path)
        entries: dict[str, list[str]] = {}
        for word, prons in SUPPLEMENT.items():
            known = list(base.get(word) or [])
            known.extend(p for p in prons if p not in known)
            entries[word] = known
        return cls(entries, base)

    def _lookup(self, word: str) -> list[str] | None:
        found = self._entries.get(word)
        if found is None and self._base is not None:
            found = self._base.get(word)
        return found

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        entries: dict[str, list[str]] = {}
        with path.open(encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                entries.setdefault(_CLEAN.sub("", parts[0]), []).append(" ".join(parts[1:]))
        for word, prons in SUPPLEMENT.items():
            known = entries.setdefault(word, [])
            known.extend(p for p in prons if p not in known)
        return cls(entries)

    def __contains__(self, word: str) -> bool:
        return bool(self._lookup(word))

    def pronunciations(self, word: str) -> list[str]:
        return list(self._lookup(word) or ())

    def guess(self, word: str) -> str:
        """A pronunciation for an unknown word: from known parts ("rendez-vous", "l'agenda"), else rules."""
        elided = re.match(r"^(qu|[cdjlmnst])'(.+)$", word)
        if elided:  # "d'analyse", "l'adresse", "n'importe"
            return f"{_ELIDED[elided.group(1)]} {self.guess(elided.group(2))}"
        known = self._lookup(word)
        if known:
            return known[0]
        parts = [p for p in re.split(r"[- ]", word) if p]
        if len(parts) > 1:
            return " ".join(self.guess(p) for p in parts)
        return _rules(word)

    def trimmed(self, words: Iterable[str]) -> tuple[str, dict[str, str]]:
        """Dictionary text for just these words, and the made-up pronunciations it had to add."""
        lines: list[str] = []
        added: dict[str, str] = {}
        for word in sorted(set(words)):
            prons = self._lookup(word)
            if not prons:
                pron = self.guess(word)
                if not pron:
                    continue
                prons = [pron]
                added[word] = pron
            for n, pron in enumerate(prons, start=1):
                lines.append(f"{word} {pron}" if n == 1 else f"{word}({n}) {pron}")
        if added:
            log.info("prononciations ajoutées au dictionnaire: %s", added)
        return "\n".join(lines) + "\n", added
