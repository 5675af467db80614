"""Match a heard name against the practice's patients, by sound rather than by spelling.

A recogniser writes "Tessier Monique", "Texié mon nique" or "Monique Texier" for a caller called Texier
Monique: wrong letters, right sounds. The heard text (introductions removed) and each candidate's name are
turned into phonemes (espeak-ng French IPA, as speech/snap.py does for grammars) and compared by edit
distance, word boundaries ignored (recognisers split and glue names), in both orders (last-first and
first-last), and by last name alone (a caller who says only "Texier"). A French phonetic key of the
spelling (agenda/names.py) is a second opinion when the phonemiser is absent or disagrees.

The candidates are few: the patients sharing the caller's number and/or the birth date given (identities
are sealed; only those rows are decrypted, see identity/directory.py). Both narrowings add to the score;
the result is a ranked list with scores, never a decision: the dialogue says the best name back and lets
the caller confirm it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from standardiste.agenda.model import Patient
from standardiste.agenda.names import identity_score, normalise_phone

# text (French words) -> phonemes; injectable so the ranking stays pure and testable without espeak-ng.
Phonemizer = Callable[[str], str]

# A heard name this close to a candidate (0-1, after the narrowing bonuses) is said back to the caller.
SAY_BACK = 0.62
# ... or this close when the caller's number AND the confirmed birth date are both on that patient's file
# (0.42 of sound similarity plus both narrowing bonuses).
SAY_BACK_BOTH = 0.54
EXTRA_WORDS_PENALTY = 0.08  # the name found inside a longer transcript ("Merci, Hugo" for "Mercier Hugo")
# Below this the heard name is not a patient's (at best an unknown caller): nothing is said back.
FLOOR = 0.45
# The best candidate must lead the next one by this much to be said back alone.
MARGIN = 0.08
BONUS_PHONE = 0.06  # the caller's number is on the patient's file
BONUS_BIRTH = 0.06  # the birth date given is the patient's
LAST_ONLY_PENALTY = 0.12  # only the last name matched: a relative with the same name is likely

_NOISE = (
    "je m'appelle", "je m appelle", "j'm'appelle", "mon nom c'est", "mon nom est", "mon nom", "moi c'est",
    "c'est", "c est", "je suis", "bonjour", "madame", "monsieur", "mademoiselle", "mme", "mr", "mlle",
    "alors", "oui", "euh", "heu", "ben", "voila", "voilà", "nom de famille", "prénom", "prenom",
    "le docteur", "docteur", "de la part de", "s'il vous plaît", "s'il vous plait",
)  # fmt: skip
_NOISE_RE = re.compile(
    r"(?<![\w'])(?:" + "|".join(re.escape(n) for n in sorted(_NOISE, key=len, reverse=True)) + r")(?![\w'])",
    re.IGNORECASE,
)
# What follows a name in a longer answer ("..., née le 5 mars", "..., j'ai rendez-vous").
_TAIL_RE = re.compile(r"\b(?:n[ée]e?s?\s+le|né|née|le\s+\d|j'ai|je\s+voudrais|j'appelle)\b|\d", re.IGNORECASE)


def heard_name(text: str) -> str:
    """The name part of an answer: "je m'appelle Monique Texier, née le..." -> "Monique Texier"."""
    text = text.replace("’", "'")
    text = _TAIL_RE.split(text, maxsplit=1)[0]
    text = _NOISE_RE.sub(" ", text)
    words = re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", text)
    return " ".join(words)


def default_phonemizer(text: str) -> str:
    """espeak-ng French IPA of a name (cached per word by speech/snap.py)."""
    from standardiste.speech.snap import ipa, spell_out

    # A lone "y" is the word "y" in a name heard in pieces ("Tex y est"), not the letter "i grec".
    spoken = re.sub(r"\by\b", "i", spell_out(text))
    out: list[str] = []
    for word in spoken.split():
        sounds = ipa(word)
        if "(" in sounds:  # espeak-ng read it as English ("Mathilde", "Rémy", "Joly"): French spelling
            sounds = ipa(_frenchified(word))
        out.append(_SWITCH.sub("", sounds))
    return "".join(out)


def _prefetch(texts: Sequence[str]) -> None:
    from standardiste.speech.snap import ipa, spell_out

    with contextlib.suppress(OSError, ValueError, RuntimeError, subprocess.SubprocessError):
        ipa(spell_out(" ".join(texts)))


_SWITCH = re.compile(r"\([a-z-]+\)")  # espeak-ng's language switch marks: "(en)...(fr)"
_RESPELL = [(re.compile(p), r) for p, r in ((r"th", "t"), (r"y$", "i"), (r"oy", "oi"), (r"ll$", "l"),
                                           (r"(?<=[^aeiouy])h", ""), (r"ey$", "é"), (r"y", "i"))]  # fmt: skip


def _frenchified(word: str) -> str:
    for pattern, replacement in _RESPELL:
        word = pattern.sub(replacement, word)
    return word


def key_phonemizer(text: str) -> str:
    """No espeak-ng: the French phonetic key of the spelling (coarser, still sound-based)."""
    from standardiste.agenda.names import phonetic

    return "".join(phonetic(w) for w in text.split())


def sound_similarity(a: str, b: str) -> float:
    """0-1 from the edit distance of two phoneme strings (1: same sounds)."""
    if not a or not b:
        return 0.0
    return 1.0 - Levenshtein.distance(a, b) / max(len(a), len(b))


@dataclass(frozen=True, slots=True)
class Candidate:
    patient: Patient
    score: float  # what the ranking used: 0-1 similarity (sound or spelling) + narrowing bonuses
    sound: float  # 0-1, sound similarity alone
    same_phone: bool
    same_birth_date: bool
    how: str  # "full" (last and first names), "last" (last name alone), "spelling"


@dataclass(frozen=True, slots=True)
class NameMatch:
    heard: str  # the name part of what was heard
    candidates: tuple[Candidate, ...]  # best first, those above FLOOR

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def say_back(self) -> Candidate | None:
        """The candidate to say back ("Texier Monique, c'est bien vous ?"), or None: nobody close enough,
        or two candidates too close to choose between (then ask for the birth date or the spelling)."""
        best = self.best
        needed = SAY_BACK_BOTH if best is not None and best.same_phone and best.same_birth_date else SAY_BACK
        if best is None or best.score < needed:
            return None
        if len(self.candidates) > 1 and best.score - self.candidates[1].score < MARGIN:
            return None
        return best


class _Sounds:
    def __init__(self, phonemize: Phonemizer) -> None:
        self._phonemize = phonemize
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        key = text.lower()
        if key not in self._cache:
            try:
                self._cache[key] = self._phonemize(text)
            except (OSError, ValueError, RuntimeError, subprocess.SubprocessError):  # espeak-ng: the key
                self._cache[key] = key_phonemizer(text)
        return self._cache[key]


def rank(
    heard: str,
    patients: Sequence[Patient],
    caller_phone: str | None = None,
    birth_date: dt.date | None = None,
    phonemize: Phonemizer | None = None,
) -> NameMatch:
    """Candidates for a heard name among `patients` (narrowed by phone and/or birth date), best first."""
    name = heard_name(heard)
    if phonemize is None:  # one espeak-ng run for every word, not one per word (~1 s cold -> ~0.1 s)
        _prefetch([name, *(f"{p.last_name} {p.first_name}" for p in patients)])
    sounds = _Sounds(phonemize or default_phonemizer)
    phone = normalise_phone(caller_phone)
    out: list[Candidate] = []
    said = sounds(name) if name else ""
    words = name.split()
    seen: set[str] = set()
    for patient in patients:
        if patient.id in seen:
            continue
        seen.add(patient.id)
        same_phone = phone is not None and normalise_phone(patient.phone) == phone
        same_birth = birth_date is not None and patient.birth_date == birth_date
        last, first = sounds(patient.last_name), sounds(patient.first_name)
        full = max(sound_similarity(said, last + first), sound_similarity(said, first + last))
        if len(said) > len(last + first) + 2:  # extra words around the name
            inside = max(partial(said, last + first), partial(said, first + last)) - EXTRA_WORDS_PENALTY
            full = max(full, inside)
        alone = sound_similarity(said, last) - LAST_ONLY_PENALTY
        spelled = 0.0
        if len(words) >= 2:
            spelled = (
                identity_score(words[0], " ".join(words[1:]), patient.last_name, patient.first_name) / 100
            )
        best, how = max((full, "full"), (alone, "last"), (spelled * 0.97, "spelling"))
        sound = max(full, alone + LAST_ONLY_PENALTY)
        score = best + (BONUS_PHONE if same_phone else 0.0) + (BONUS_BIRTH if same_birth else 0.0)
        if score >= FLOOR:
            out.append(Candidate(patient, round(score, 4), round(sound, 4), same_phone, same_birth, how))
    out.sort(key=lambda c: (-c.score, -c.sound, c.patient.last_name, c.patient.first_name, c.patient.id))
    return NameMatch(name, tuple(out))


# A spelled last name this many letters from a patient's (born on the confirmed date) is that patient's,
# when no other candidate is as close: 1 letter up to 6 letters ("Birnard" for Bernard), 2 beyond.
SPELLED_MAX_EDITS = (6, 1, 2)


def _letters(name: str) -> str:
    from standardiste.agenda.names import fold

    return re.sub(r"[^a-z]", "", fold(name))


def spelled_match(spelled: str, patients: Sequence[Patient]) -> Patient | None:
    """The patient a name spelled letter by letter designates among `patients` (already narrowed to the
    confirmed birth date): the only one whose last name is within a letter or two of the spelling
    (recognisers mishear one letter in a spelled name: "B-I-R-N-A-R-D" for Bernard). None when nobody is
    that close, or two are (namesakes born the same day: the caller's spelling cannot tell them apart)."""
    letters = _letters(spelled)
    if len(letters) < 3:
        return None
    short, few, many = SPELLED_MAX_EDITS
    allowed = few if len(letters) <= short else many
    scored = sorted(
        ((Levenshtein.distance(letters, _letters(p.last_name)), p) for p in patients if p.last_name),
        key=lambda dp: dp[0],
    )
    if not scored or scored[0][0] > allowed:
        return None
    best, found = scored[0]
    # Nobody else as close, nor one letter farther when the best is itself a letter off ("Martin" spelled:
    # Marin 1, Martel 2: either could be the misheard one).
    margin = 1 if best == 0 else 2
    if any(d - best < margin for d, p in scored[1:] if p.id != found.id):
        return None
    return found


def partial(heard: str, name: str) -> float:
    """0-1: how well `name`'s phonemes fit somewhere inside the longer `heard`."""
    if not heard or not name:
        return 0.0
    return fuzz.partial_ratio(name, heard) / 100


def say_back_name(patient: Patient, civility: bool = True) -> str:
    """How the found name is said back: the civility when the file has it, then last name and first name,
    as on the file ("Madame Texier Monique"; "Texier Monique" when the file says neither)."""
    name = f"{patient.last_name} {patient.first_name}".strip()
    return f"{patient.civility} {name}" if civility and patient.civility else name
