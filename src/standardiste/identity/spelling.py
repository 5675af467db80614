"""A name spelled letter by letter: "T E X I E R", "D comme Denise", "V, double V, X", "deux S".

What a recogniser writes for spelled letters is rarely the letter: "thé", "haine", "aime", "i grec",
"double vé", "2 s". Each piece is mapped to a letter by its French name; "X comme Xavier" takes the first
letter of the word after "comme" (the example word settles a letter heard wrong); "deux S" / "double S"
doubles the next letter; "accent aigu/grave/circonflexe", "tréma", "cédille" mark the letter before;
"tiret", "apostrophe", "espace" separate parts of a compound name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Spoken names of letters as recognisers write them (accents folded, lower case).
_LETTER_NAMES: dict[str, str] = {
    "a": "a", "ah": "a", "ha": "a",
    "b": "b", "be": "b", "bay": "b",
    "c": "c", "ce": "c", "ces": "c", "ses": "c", "sait": "c", "sees": "c",
    "d": "d", "de": "d", "des": "d", "dee": "d",
    "e": "e", "eu": "e", "oeufs": "e",
    "f": "f", "ef": "f", "effe": "f", "eff": "f",
    "g": "g", "ge": "g", "jai": "g", "geai": "g", "gee": "g",
    "h": "h", "ache": "h", "hache": "h", "ash": "h", "hash": "h",
    "i": "i", "y": "y", "il": "i", "hi": "i", "ygrec": "y", "igrec": "y",
    "j": "j", "ji": "j", "gi": "j", "jy": "j", "gy": "j",
    "k": "k", "ka": "k", "ca": "k", "cas": "k", "kah": "k",
    "l": "l", "el": "l", "elle": "l", "elles": "l", "aile": "l", "ell": "l",
    "m": "m", "em": "m", "emme": "m", "aime": "m", "aiment": "m", "hem": "m",
    "n": "n", "enne": "n", "haine": "n", "aine": "n",
    "o": "o", "oh": "o", "au": "o", "eau": "o", "os": "o",
    "p": "p", "pe": "p", "paix": "p", "pet": "p",
    "q": "q", "qu": "q", "cu": "q", "cul": "q", "ku": "q",
    "r": "r", "er": "r", "erre": "r", "air": "r", "aire": "r", "ere": "r", "hair": "r",
    "s": "s", "es": "s", "esse": "s", "ess": "s",
    "t": "t", "te": "t", "the": "t", "tes": "t", "tee": "t",
    "u": "u", "hu": "u", "eut": "u",
    "v": "v", "ve": "v", "vee": "v",
    "w": "w", "doublev": "w", "doubleve": "w", "doublevee": "w",
    "x": "x", "ix": "x", "ixe": "x", "iks": "x",
    "z": "z", "zed": "z", "zede": "z", "zedd": "z",
}  # fmt: skip
_DOUBLERS = {"deux", "2", "double", "doubles"}
_ACCENTS = {
    "aigu": "\u0301", "grave": "\u0300", "circonflexe": "\u0302", "trema": "\u0308", "cedille": "\u0327",
}  # fmt: skip
_SEPARATORS = {"tiret": "-", "trait": "-", "apostrophe": "'", "espace": " "}
_FILLER = {"comme", "accent", "union", "d'union", "dunion", "et", "puis", "alors", "oui", "voila", "c'est",
           "ca", "s'ecrit", "secrit", "ecrit", "j'epelle", "jepelle", "le", "la", "un", "une", "avec",
           "majuscule", "minuscule", "lettre", "mon", "nom", "euh", "heu", "cest"}  # fmt: skip


_HYPHENATED = re.compile(r"(?<![\w-])(?:[^\W\d_]{1,2}-)+[^\W\d_]{1,2}(?![\w-])")


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class Spelled:
    text: str  # the letters as a name: "Texier", "Le Goff", "Lefèvre"
    letters: int  # how many letters were recognised
    unknown: tuple[str, ...]  # pieces that were neither a letter nor a spelling word

    @property
    def complete(self) -> bool:
        """Every piece understood and at least two letters: safe to read back and use."""
        return self.letters >= 2 and not self.unknown


def parse_spelling(text: str) -> Spelled:
    """Letters out of a spelled answer, whatever the recogniser wrote for each."""
    raw = text.replace("’", "'").replace(",", " ").replace(".", " ").replace(";", " ")
    # Whisper writes spelled letters joined by hyphens: "L-E-B-R-U-N", "Vé-vé-a-l" (not "Jean-Pierre").
    raw = _HYPHENATED.sub(lambda m: m.group(0).replace("-", " "), raw)
    # "double v" / "double vé" / "i grec" are one letter each; "d'union" belongs to "trait d'union".
    raw = re.sub(r"\bdouble[\s-]*v[ée]{0,2}\b", " doublev ", raw, flags=re.IGNORECASE)
    raw = re.sub(r"\bi[\s-]*grec\b", " ygrec ", raw, flags=re.IGNORECASE)
    tokens = raw.split()
    out: list[str] = []
    unknown: list[str] = []
    repeat = 1
    letters = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        word = _fold(token).strip("'-")
        nxt = _fold(tokens[i + 1]) if i + 1 < len(tokens) else ""
        i += 1
        if not word:
            continue
        if nxt == "comme" and i + 1 < len(tokens):
            # "D comme Denise": the example word decides the letter.
            example = _fold(tokens[i + 1])
            letter = example[0] if example and example[0].isalpha() else _LETTER_NAMES.get(word)
            i += 2
            if letter is None:
                unknown.append(token)
                continue
            out.append(letter * repeat)
            letters += repeat
            repeat = 1
            continue
        if word in _DOUBLERS:
            repeat = 2
            continue
        if word in _ACCENTS:
            if out and out[-1][-1:].isalpha():
                out[-1] = unicodedata.normalize("NFC", out[-1] + _ACCENTS[word])
            continue
        if word in _SEPARATORS:
            if word == "trait" and _fold(nxt) in ("d'union", "dunion", "union"):
                i += 1
            out.append(_SEPARATORS[word])
            continue
        letter = _LETTER_NAMES.get(word.replace("'", "").replace("-", ""))
        if letter is not None:
            out.append(letter * repeat)
            letters += repeat
            repeat = 1
            continue
        if word in _FILLER:
            continue
        # "DUPONT" written as one word by the recogniser: upper-case runs are letters already.
        if token.isupper() and token.isalpha() and len(token) > 1:
            out.append(token.lower())
            letters += len(token)
            continue
        unknown.append(token)
    return Spelled(_as_name("".join(out)), letters, tuple(unknown))


def _as_name(letters: str) -> str:
    parts = re.split(r"([ '-])", letters.strip())
    return "".join(p.capitalize() if p not in (" ", "'", "-") else p for p in parts)
