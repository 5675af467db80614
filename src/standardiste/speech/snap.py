"""Snap an open transcript onto a question's grammar by sound: espeak-ng IPA + edit distance.

Whisper writes "Je dis 19h15" for "jeudi dix-neuf heures quinze" and "Mercredit" for "mercredi": wrong
letters, right sounds. The transcript is spelled out in words (digits read in French), turned into
phonemes, and covered by the grammar's words (structured grammars: days, times, dates, numbers) or matched
whole against its phrases (flat grammars: yes/no, practitioners, choices). The cost per phoneme says how
well it fits; above `MAX_COST` the speech is outside the grammar: it is reported as such, never replaced
by the nearest phrase.
"""

from __future__ import annotations

import functools
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from standardiste.speech.grammars import Grammar

# Edit operations per phoneme above which the speech is outside the grammar. Structured grammars are
# stricter: their short words ("à", "la", "et") can cover almost any sound.
MAX_COST = 0.34
MAX_COST_STRUCTURED = 0.22
FUNCTION_WORDS = frozenset({"à", "la", "le", "et", "de", "en", "l'", "un", "moins"})
SKIP_COST = 1.0  # a transcript phoneme no grammar word explains

_UNITS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
          "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf")  # fmt: skip
_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def number_words(n: int) -> str:
    """French words for 0..9999 ("quatre-vingt-dix-sept", "mille neuf cent quatre-vingt-six")."""
    if n < 20:
        return _UNITS[n]
    if n < 70:
        tens, unit = divmod(n, 10)
        if unit == 0:
            return _TENS[tens]
        return f"{_TENS[tens]} et un" if unit == 1 else f"{_TENS[tens]}-{_UNITS[unit]}"
    if n < 80:
        return "soixante et onze" if n == 71 else f"soixante-{_UNITS[n - 60]}"
    if n < 100:
        return "quatre-vingts" if n == 80 else f"quatre-vingt-{_UNITS[n - 80]}"
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else f"{_UNITS[hundreds]} cent"
        return f"{head} {number_words(rest)}" if rest else head
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else f"{number_words(thousands)} mille"
    return f"{head} {number_words(rest)}" if rest else head


def _digits(match: re.Match[str]) -> str:
    text = match.group(0)
    if len(text) > 1 and text.startswith("0"):  # "06" in a phone number: "zéro six"
        return (
            f"zéro {number_words(int(text[1:]))}"
            if len(text) == 2
            else " ".join(_UNITS[int(c)] for c in text)
        )
    return number_words(int(text)) if len(text) <= 4 else " ".join(_UNITS[int(c)] for c in text)


def spell_out(text: str) -> str:
    """Lower-case French words only: "14h45" -> "quatorze heures quarante-cinq", "0,7,37" -> numbers."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"(\d+)\s*h\s*(\d+)?", lambda m: f"{m.group(1)} heures {m.group(2) or ''}", text)
    text = re.sub(r"\d+", lambda m: f" {_digits(m)} ", text)
    words = re.findall(r"[a-zàâäçéèêëîïôöùûüÿœæ]+(?:['\-][a-zàâäçéèêëîïôöùûüÿœæ]+)*'?", text)
    return " ".join(words)


_ESPEAK_LOCK = threading.Lock()


def ipa_words(words: Sequence[str]) -> list[str]:
    """Each word's phonemes (espeak-ng French, stress and length marks removed), one espeak-ng call."""
    if not words:
        return []
    with _ESPEAK_LOCK:
        out = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", "fr"], input="\n".join(words) + "\n",
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout  # fmt: skip
    lines = [re.sub(r"[ˈˌː\s_\-]", "", line) for line in out.splitlines() if line.strip()]
    if len(lines) != len(words):  # espeak merged or split lines: fall back to one call per word
        return [_ipa_one(w) for w in words]
    return lines


def _ipa_one(word: str) -> str:
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "fr", word], capture_output=True, text=True,
                         check=True, timeout=10).stdout  # fmt: skip
    return re.sub(r"[ˈˌː\s_\-]", "", out)


def ipa(text: str) -> str:
    words = text.split()
    missing = [w for w in dict.fromkeys(words) if w not in _known]
    if missing:
        for w, p in zip(missing, ipa_words(missing), strict=True):
            _known[w] = p
    return "".join(_known[w] for w in words)


_known: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Snapped:
    text: str  # the grammar's words ("" when nothing fits)
    cost: float  # edit operations per phoneme (0: same sounds)
    spoken: str  # the transcript spelled out in words
    structured: bool = False

    @property
    def in_grammar(self) -> bool:
        if not self.text:
            return False
        if self.structured:
            content = [w for w in self.text.split() if w not in FUNCTION_WORDS]
            return bool(content) and self.cost <= MAX_COST_STRUCTURED
        return self.cost <= MAX_COST


def is_flat(grammar: Grammar) -> bool:
    """A list of whole phrases (no rule references in the public rule)."""
    public = grammar.jsgf.split("public <answer> =", 1)[-1]
    return "<" not in public


@functools.lru_cache(maxsize=256)
def _vocabulary(words: frozenset[str]) -> tuple[tuple[str, str], ...]:
    ordered = sorted(words)
    forms = [spell_out(w) for w in ordered]
    return tuple((w, ipa(f)) for w, f in zip(ordered, forms, strict=True) if f)


def snap(transcript: str, grammar: Grammar) -> Snapped:
    spoken = spell_out(transcript)
    if not spoken:
        return Snapped("", 1.0, "")
    sounds = ipa(spoken)
    if not sounds:
        return Snapped("", 1.0, spoken)
    if is_flat(grammar):
        best, cost = "", 1.0
        for phrase in grammar.phrases:
            p = ipa(spell_out(phrase))
            c = Levenshtein.distance(sounds, p) / max(len(sounds), len(p), 1)
            if c < cost:
                best, cost = phrase, c
        return Snapped(best, cost, spoken)
    return _cover(sounds, _vocabulary(grammar.all_words), spoken)


def _cover(sounds: str, vocab: Sequence[tuple[str, str]], spoken: str) -> Snapped:
    """Cheapest sequence of grammar words whose sounds make up the transcript's (skips allowed)."""
    n = len(sounds)
    inf = float("inf")
    best: list[float] = [0.0] + [inf] * n
    back: list[tuple[int, str | None]] = [(0, None)] * (n + 1)
    for i in range(1, n + 1):
        origin: tuple[int, str | None] = (i - 1, None)
        cost = best[i - 1] + SKIP_COST
        for word, p in vocab:
            size = len(p)
            for j in range(max(0, i - size - 2), min(i, i - size + 2) + 1):
                if best[j] == inf:
                    continue
                c = best[j] + Levenshtein.distance(sounds[j:i], p)
                if c < cost:
                    cost, origin = c, (j, word)
        best[i], back[i] = cost, origin
    words: list[str] = []
    i = n
    while i > 0:
        j, found = back[i]
        if found is not None:
            words.append(found)
        i = j
    text = re.sub(r"(?<!\bune )(?<!\bun )\bheure\b", "heures", " ".join(reversed(words)))
    return Snapped(text, best[n] / n, spoken, structured=True)
