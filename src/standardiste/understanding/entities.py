"""Entities other than dates: phone numbers, birth dates, practitioners, patient names."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from standardiste.config import PracticeConfig
from standardiste.understanding.dates import parse_birth_date
from standardiste.understanding.normalize import Mapped, fold_word

# --- phone ---------------------------------------------------------------------------------------------

_DIGIT_RUN = re.compile(r"(?:\+|\bplus )?\d[\d ]*\d|\b\d\b")


def find_phone(folded_digits: Mapped) -> tuple[int, int, str] | None:
    """A French phone number spoken in words (already turned into digits), as E.164.

    Accepts 10 digits starting with 0 ("zéro six douze ..."), or +33 / "plus trente-trois" followed by
    9 digits. Mobile and geographic numbers both; validated by length and prefix.
    """
    text = folded_digits.text
    for m in _DIGIT_RUN.finditer(text):
        raw = m.group()
        international = raw.startswith("+") or raw.startswith("plus ")
        number = re.sub(r"\D", "", raw)
        if international and number.startswith("33"):
            rest = number[2:]
            if rest.startswith("0"):
                rest = rest[1:]
            if len(rest) == 9 and rest[0] in "123456789":
                s, e = folded_digits.span(m.start(), m.end())
                return s, e, "+33" + rest
            continue
        if len(number) == 10 and number[0] == "0" and number[1] in "123456789":
            s, e = folded_digits.span(m.start(), m.end())
            return s, e, "+33" + number[1:]
    return None


# --- birth date ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BirthDate:
    start: int
    end: int
    value: dt.date | None  # None: said but impossible (31 February, in the future)


def find_birth_date(folded_digits: Mapped, today: dt.date) -> BirthDate | None:
    found = parse_birth_date(folded_digits.text, today)
    if found is None:
        return None
    start, end, value = found
    # A date in the coming months is an appointment, not a birth date.
    if value is not None and value >= today - dt.timedelta(days=1):
        return None
    s, e = folded_digits.span(start, end)
    return BirthDate(s, e, value)


# --- practitioner --------------------------------------------------------------------------------------

_TITLES = {
    "docteur",
    "docteurs",
    "docteure",
    "dr",
    "doc",
    "madame",
    "monsieur",
    "mme",
    "avec",
    "chez",
    "le",
    "la",
}
# Everyday words that sound like a practitioner's name ("matin" ~ "martin"): never fuzzy-matched.
_COMMON = {
    "matin", "marin", "martine", "malin", "mardi", "mari", "merci", "medecin", "benefice", "le", "la",
    "vous", "rendez", "demain", "pardon", "maintenant", "febrile", "fievre",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _NameKey:
    practitioner_id: str
    words: tuple[str, ...]
    strong: bool  # the full last name or an alias: can match without a title before it


def practitioner_keys(practice: PracticeConfig) -> list[_NameKey]:
    keys: list[_NameKey] = []
    for p in practice.practitioners:
        name_words = fold_word(p.name).split()
        name_words = [w for w in name_words if w not in {"docteur", "dr", "docteure", "professeur"}]
        if name_words:
            keys.append(_NameKey(p.id, (name_words[-1],), True))
            keys.append(_NameKey(p.id, tuple(name_words), True))
        keys.append(_NameKey(p.id, tuple(fold_word(p.id).split()), True))
        for alias in p.aliases:
            words = fold_word(alias).split()
            if words:
                keys.append(_NameKey(p.id, tuple(words), True))
    return keys


def find_practitioner(folded: Mapped, keys: list[_NameKey]) -> tuple[int, int, str] | None:
    """The practitioner named in the text, tolerant of misrecognition ("docteur mare tin" -> martin)."""
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", folded.text)]
    best: tuple[float, int, int, str] | None = None
    for i in range(len(words)):
        titled = i > 0 and words[i - 1][2] in _TITLES
        for n in (1, 2, 3):
            if i + n > len(words):
                break
            chunk = [w[2] for w in words[i : i + n]]
            if n == 1 and chunk[0] in _TITLES:
                break
            joined, spaced = "".join(chunk), " ".join(chunk)
            for key in keys:
                target_spaced = " ".join(key.words)
                target_joined = "".join(key.words)
                if spaced == target_spaced:
                    score = 100.0
                elif titled and joined not in _COMMON and len(target_joined) >= 4:
                    score = max(fuzz.ratio(joined, target_joined), fuzz.ratio(spaced, target_spaced))
                    if score < 82:
                        continue
                    score -= 5  # fuzzy below exact
                else:
                    continue
                if best is None or score > best[0] or (score == best[0] and n > (best[2] - best[1])):
                    s, e = folded.span(words[i][0], words[i + n - 1][1])
                    best = (score, s, e, key.practitioner_id)
    if best is None:
        return None
    return best[1], best[2], best[3]


# --- patient name --------------------------------------------------------------------------------------

_NAME_TRIGGER = re.compile(
    r"\b(?:je m appelle|je me nomme|mon nom (?:c est|est)|mon nom de famille (?:c est|est)|nom de famille|"
    r"c est (?:de la part de |pour )?(?:madame|monsieur|mademoiselle)|"
    r"je suis (?:madame|monsieur|mademoiselle)|"
    r"moi c est|de la part de|au nom de|pour (?:madame|monsieur|mademoiselle)|c est (?:pour )?mon (?:fils|"
    r"fille|mari|epouse|femme|pere|mere) |il s appelle|elle s appelle|(?:ici|c est) (?:madame|monsieur)|"
    r"nom (?:c est )?|(?:madame|monsieur|mademoiselle))\s"
)
_NAME_STOP = {
    "et", "je", "j", "ne", "nee", "le", "la", "les", "mon", "ma", "mes", "de", "du", "des", "pour",
    "a", "au", "aux", "en", "sur", "avec", "qui", "que", "est", "c", "ce", "suis", "voudrais", "veux",
    "vouloir", "rendez", "vous", "docteur", "date", "naissance", "telephone", "numero", "oui", "non",
    "merci", "bonjour", "s", "il", "elle", "mais", "donc", "alors", "parce", "car", "prenom", "nom",
    "madame", "monsieur", "mademoiselle", "appelle", "appeler", "rappeler", "ai", "avais", "pas",
    "plus", "fils", "fille", "mari", "femme", "epouse", "pere", "mere", "un", "une", "par", "ou",
    "demain", "aujourd", "hui", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    "l", "d", "n", "m", "t", "y", "voila", "bien", "appel", "votre", "vos", "notre",
}  # fmt: skip
_PARTICLES = {"le", "la", "de", "du", "des", "d", "ben", "van", "von", "el"}
# Common French first names, to put the family name first ("Last First").
FIRST_NAMES = frozenset(
    [
        "jean",
        "pierre",
        "michel",
        "andre",
        "philippe",
        "alain",
        "jacques",
        "bernard",
        "rene",
        "louis",
        "daniel",
        "claude",
        "marcel",
        "paul",
        "roger",
        "christian",
        "patrick",
        "nicolas",
        "christophe",
        "francois",
        "henri",
        "robert",
        "georges",
        "julien",
        "thomas",
        "david",
        "eric",
        "laurent",
        "frederic",
        "stephane",
        "olivier",
        "sebastien",
        "vincent",
        "pascal",
        "thierry",
        "antoine",
        "gerard",
        "maxime",
        "alexandre",
        "mathieu",
        "romain",
        "guillaume",
        "hugo",
        "lucas",
        "leo",
        "gabriel",
        "arthur",
        "jules",
        "adam",
        "raphael",
        "louis",
        "nathan",
        "ethan",
        "theo",
        "tom",
        "noah",
        "mohamed",
        "karim",
        "ahmed",
        "ali",
        "yanis",
        "rayan",
        "mehdi",
        "sofiane",
        "samir",
        "marie",
        "jeanne",
        "francoise",
        "monique",
        "catherine",
        "nathalie",
        "isabelle",
        "sylvie",
        "anne",
        "martine",
        "christine",
        "nicole",
        "sophie",
        "valerie",
        "sandrine",
        "celine",
        "chantal",
        "jacqueline",
        "brigitte",
        "veronique",
        "claire",
        "julie",
        "aurelie",
        "camille",
        "laura",
        "sarah",
        "emma",
        "lea",
        "chloe",
        "manon",
        "ines",
        "jade",
        "louise",
        "alice",
        "lina",
        "rose",
        "anna",
        "mila",
        "zoe",
        "juliette",
        "lucie",
        "pauline",
        "marion",
        "elodie",
        "emilie",
        "caroline",
        "helene",
        "cecile",
        "agnes",
        "patricia",
        "dominique",
        "beatrice",
        "odile",
        "genevieve",
        "josiane",
        "danielle",
        "colette",
        "yvette",
        "fatima",
        "amina",
        "leila",
        "nadia",
        "samia",
        "myriam",
        "karine",
        "virginie",
        "audrey",
        "melanie",
        "stephanie",
        "vanessa",
        "laetitia",
        "delphine",
        "florence",
        "corinne",
        "pascale",
        "annie",
        "josette",
        "simone",
        "suzanne",
        "denise",
        "madeleine",
        "therese",
        "yvonne",
        "germaine",
        "odette",
        "paulette",
        "lucien",
        "emile",
        "maurice",
        "raymond",
        "fernand",
        "albert",
        "gaston",
        "joseph",
        "pierrick",
        "yann",
        "erwan",
        "loic",
        "gwenael",
        "kevin",
        "jeremy",
        "anthony",
        "dylan",
        "enzo",
        "mathis",
        "clement",
        "adrien",
        "benjamin",
        "quentin",
        "damien",
        "cedric",
        "ludovic",
        "fabrice",
        "gilles",
        "didier",
        "serge",
        "yves",
        "herve",
        "joel",
        "jerome",
        "arnaud",
        "benoit",
        "bruno",
        "franck",
    ]
)


def find_patient_name(folded: Mapped, original: str) -> tuple[int, int, str] | None:
    """A person's name after "je m'appelle", "c'est madame", "de la part de"... as "Last First"."""
    for m in _NAME_TRIGGER.finditer(folded.text + " "):
        rest = folded.text[m.end() :]
        words_after = [(m.end() + w.start(), m.end() + w.end(), w.group()) for w in re.finditer(r"\S+", rest)]
        tokens: list[tuple[int, int, str]] = []
        for i, (start, end, word) in enumerate(words_after):
            if len(tokens) >= 3 or any(ch.isdigit() for ch in word):
                break
            if word in _NAME_STOP:
                # "le goff", "de la fontaine": a particle inside a name, followed by a real name word.
                following = words_after[i + 1][2] if i + 1 < len(words_after) else ""
                if not (
                    word in _PARTICLES
                    and following
                    and (following not in _NAME_STOP or following in _PARTICLES)
                ):
                    break
            tokens.append((start, end, word))
        while tokens and tokens[-1][2] in _PARTICLES:
            tokens.pop()
        if not tokens:
            continue
        s, e = folded.span(tokens[0][0], tokens[-1][1])
        words = [original[slice(*folded.span(a, b))] for a, b, _ in tokens]
        plain = [t[2] for t in tokens]
        if len(words) >= 2 and plain[0] in FIRST_NAMES and plain[-1] not in FIRST_NAMES:
            words = words[1:] + words[:1]
        value = " ".join(w[:1].upper() + w[1:] for w in words)
        return s, e, value
    return None
