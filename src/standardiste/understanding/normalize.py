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


def lower(text: str) -> Mapped:
    """Lowercase with unified apostrophes; keeps one character per original character."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text.translate(_APOSTROPHES)):
        low = ch.lower()
        out.append(low)
        origin.extend([i] * len(low))
    return Mapped("".join(out), tuple(origin), len(text))


def fold(src: Mapped, drop_fillers: bool = True) -> Mapped:
    """Accents stripped, punctuation/apostrophes/hyphens to spaces, fillers removed, spaces collapsed."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(src.text):
        folded = _fold_char(ch)
        for c in folded:
            chars.append(c)
            origin.append(src.origin[i] if i < len(src.origin) else src.original_length)
    # Collapse whitespace and drop filler words, keeping the map.
    text = "".join(chars)
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
    origin: list[int] = [0] * len(converted)
    matcher = difflib.SequenceMatcher(None, src.text, converted, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(j2 - j1):
                origin[j1 + k] = src.origin[i1 + k]
        else:
            # A replaced block (words -> digits) maps spread over the original block.
            span = max(1, i2 - i1)
            for k in range(j2 - j1):
                idx = i1 + min(span - 1, (k * span) // max(1, j2 - j1))
                if idx < len(src.origin):
                    origin[j1 + k] = src.origin[idx]
                else:
                    origin[j1 + k] = src.original_length - 1 if src.original_length else 0
            if tag == "replace" and j2 > j1 and i2 > i1:
                # Make the last replaced character end where the original block ends.
                origin[j2 - 1] = src.origin[i2 - 1]
    return Mapped(converted, tuple(origin), src.original_length)


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
