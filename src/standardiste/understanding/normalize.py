"""Text normalisation that keeps track of offsets into the caller's original text.

Every derived string (accents folded, fillers removed, numbers turned into digits) carries a map
from its characters back to the original, so entities always point into what was actually said.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass

from text_to_num import alpha2digit

# Hesitations and verbal tics a recogniser transcribes; they carry no meaning.
FILLERS = frozenset({"euh", "heu", "hum", "hmm", "bah", "ben", "beh", "euhm", "hein", "mmh", "bon ben"})
_APOSTROPHES = str.maketrans({"’": "'", "`": "'", "ʼ": "'", "´": "'"})
_SPECIAL_FOLD = {"œ": "oe", "æ": "ae", "ß": "ss"}


@dataclass(frozen=True, slots=True)
class Mapped:
    """A derived string and, for each of its characters, the index of its origin in the original text."""

    text: str
    origin: tuple[int, ...]
    original_length: int

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) for the derived [start, end)."""
        if not self.origin or start >= end:
            return (0, 0)
        start = max(0, min(start, len(self.origin) - 1))
        end = max(start + 1, min(end, len(self.origin)))
        return self.origin[start], self.origin[end - 1] + 1


def identity(text: str) -> Mapped:
    return Mapped(text, tuple(range(len(text))), len(text))


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _SPECIAL_FOLD:
        return _SPECIAL_FOLD[ch]
    if ch in "-_/.,;:!?()\"«»'":
        return " "
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class _FoldTable(dict[int, str]):
    """str.translate table: each character to its folded form, computed once per character."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(folded) != 1:
            _NOT_ONE.add(chr(code))
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()
_NOT_ONE: set[str] = set()  # characters that fold to zero or several characters


def lower(text: str) -> Mapped:
    """Lowercase with unified apostrophes; keeps one character per original character."""
    unified = text.translate(_APOSTROPHES)
    low = unified.lower()
    if len(low) == len(unified):  # lower() never drops a character: then each one gave exactly one
        return Mapped(low, tuple(range(len(text))), len(text))
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(unified):
        low = ch.lower()
        out.append(low)
        origin.extend([i] * len(low))
    return Mapped("".join(out), tuple(origin), len(text))


def fold(src: Mapped, drop_fillers: bool = True) -> Mapped:
    """Accents stripped, punctuation/apostrophes/hyphens to spaces, fillers removed, spaces collapsed."""
    text = src.text.translate(_FOLD_TABLE)  # C speed; fills the table with any new character
    if len(src.origin) == len(src.text) and _NOT_ONE.isdisjoint(src.text):
        origin: list[int] | tuple[int, ...] = src.origin  # one character for one: the same map
    else:
        chars: list[str] = []
        origin = []
        for i, ch in enumerate(src.text):
            for c in _fold_char(ch):
                chars.append(c)
                origin.append(src.origin[i] if i < len(src.origin) else src.original_length)
        text = "".join(chars)
    # Collapse whitespace and drop filler words, keeping the map.
    out: list[str] = []
    out_origin: list[int] = []
    for m in re.finditer(r"\S+", text):
        word = m.group()
        if drop_fillers and word in FILLERS:
            continue
        if out:
            out.append(" ")
            out_origin.append(origin[m.start()])
        out.append(word)
        out_origin.extend(origin[m.start() : m.end()])
    return Mapped("".join(out), tuple(out_origin), src.original_length)


def clean_for_classifier(text: str) -> str:
    """What the intent classifier sees: lowercase, accents kept, fillers and punctuation removed."""
    low = text.translate(_APOSTROPHES).lower()
    low = re.sub(r"[^\w'\s-]", " ", low)
    words = [w for w in low.split() if w not in FILLERS]
    return " ".join(words)


# text2num and the alignment below are run on pieces of at most a few words: the alignment is quadratic
# in its input's length, so a 2,000-character turn must not be one piece. A piece is cut between two words
# that are not both number words (a number is never cut), or anyway past _PIECE_HARD characters (a run of
# number words longer than any phone number or date).
_PIECE_SOFT = 60
_PIECE_HARD = 100
_ALIGN_EXACT = 24  # a changed block longer than this (digits) is aligned proportionally
_NUMBER_WORD = re.compile(
    r"^(?:z[eé]ro|une?|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|"
    r"seize|vingts?|trente|quarante|cinquante|soixante|cents?|mille|millions?|milliards?|et|[\d,.]+)$"
)


def _number_word(word: str) -> bool:
    return all(_NUMBER_WORD.match(part) for part in word.split("-") if part)


def digits(src: Mapped) -> Mapped:
    """Numbers spoken in words turned into digits (text2num), with offsets kept by alignment.

    Linear in the text's length: long texts are converted piece by piece (see _PIECE_SOFT)."""
    if len(src.text) <= _PIECE_SOFT:
        return _digits_piece(src)
    words = list(re.finditer(r"\S+", src.text))
    pieces: list[Mapped] = []
    begin = 0
    for prev, nxt in itertools.pairwise(words):
        length = prev.end() - begin
        if length >= _PIECE_HARD or (
            length >= _PIECE_SOFT and not (_number_word(prev.group()) and _number_word(nxt.group()))
        ):
            pieces.append(_slice(src, begin, prev.end()))
            begin = nxt.start()
    pieces.append(_slice(src, begin, len(src.text)))
    text: list[str] = []
    origin: list[int] = []
    for piece in pieces:
        converted = _digits_piece(piece)
        if text:
            text.append(" ")
            origin.append(converted.origin[0] if converted.origin else src.original_length)
        text.append(converted.text)
        origin.extend(converted.origin)
    return Mapped("".join(text), tuple(origin), src.original_length)


def _slice(src: Mapped, start: int, end: int) -> Mapped:
    return Mapped(src.text[start:end], src.origin[start:end], src.original_length)


def _digits_piece(src: Mapped) -> Mapped:
    try:
        converted = alpha2digit(src.text, "fr")
    except Exception:  # text2num can fail on odd inputs; numbers in words then stay words
        return src
    if converted == src.text:
        return src
    # Aligned word by word (cheap), then character by character inside each changed block (small).
    a = list(re.finditer(r"\S+", src.text))
    b = list(re.finditer(r"\S+", converted))
    origin: list[int | None] = [None] * len(converted)
    matcher = difflib.SequenceMatcher(None, [m.group() for m in a], [m.group() for m in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                sa, sb = a[i1 + k], b[j1 + k]
                for c in range(sb.end() - sb.start()):
                    origin[sb.start() + c] = src.origin[sa.start() + c]
        elif j2 > j1:
            s1 = a[i1].start() if i2 > i1 else (a[i1 - 1].end() - 1 if i1 > 0 else 0)
            s2 = a[i2 - 1].end() if i2 > i1 else s1 + 1
            d1, d2 = b[j1].start(), b[j2 - 1].end()
            block = _align_chars(src.text[s1:s2], converted[d1:d2], exact=d2 - d1 <= _ALIGN_EXACT)
            for k, idx in enumerate(block):
                pos = min(s1 + idx, len(src.origin) - 1)
                origin[d1 + k] = src.origin[pos] if pos >= 0 else 0
    # Spaces between words: the origin of the next character (the last one's + 1 at the end).
    nxt = src.original_length - 1 if src.original_length else 0
    for k in range(len(origin) - 1, -1, -1):
        known = origin[k]
        if known is None:
            origin[k] = nxt
        else:
            nxt = known
    return Mapped(converted, tuple(o or 0 for o in origin), src.original_length)


def _align_chars(old: str, new: str, exact: bool = True) -> list[int]:
    """For each character of `new`, an index into `old` (a changed block: words -> digits). Not `exact`:
    spread evenly (a long run of numbers, where the character alignment would cost too much)."""
    out = [0] * len(new)
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes() if exact else []
    if not exact:
        ops = [("replace", 0, len(old), 0, len(new))]
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            for k in range(j2 - j1):
                out[j1 + k] = i1 + k
        else:
            span = max(1, i2 - i1)
            for k in range(j2 - j1):
                out[j1 + k] = min(len(old) - 1, i1 + min(span - 1, (k * span) // max(1, j2 - j1)))
            if tag == "replace" and j2 > j1 and i2 > i1:
                out[j2 - 1] = i2 - 1  # the last replaced character ends where the original block ends
    return out


def fold_word(text: str) -> str:
    """Folded text as a plain string (for comparing names and keywords)."""
    return fold(lower(text)).text


def without_fillers(src: Mapped) -> Mapped:
    """Filler words removed, accents and punctuation kept, spaces collapsed."""
    out: list[str] = []
    origin: list[int] = []
    for m in re.finditer(r"\S+", src.text):
        word = m.group()
        if word.strip(",.;:!?") in FILLERS:
            continue
        if out:
            out.append(" ")
            origin.append(src.origin[m.start()])
        out.append(word)
        origin.extend(src.origin[m.start() : m.end()])
    return Mapped("".join(out), tuple(origin), src.original_length)
