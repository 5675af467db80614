"""Words that SOUND like a red flag in a recogniser's transcript: one check question, never more.

Open recognition mishears exactly the words the safety net reads: Whisper wrote "je sais ni
énormément" for "je saigne énormément", "in conscient" for "inconscient", "poids trine" for "poitrine".
The rules of urgency.py need the right spelling; this layer compares how the transcript SOUNDS with a
short list of distinctive red-flag words, through a spelling-based French phonetic key.

Conservative by design (docs/safety.md, « Ce qui ressemble à un signe de gravité »):
- only for text that came from a recogniser (the dialogue's Heard.from_recognizer), never typed text;
- only when the rules found nothing: a hit raises the level to "check" (ONE yes/no question), never to
  vital or same day, and never lowers anything;
- words split in two are glued back first when the whole is a word of the rules or their qualifiers
  ("n arri ve plus a respir er", "jam ais"), and the rules read the turn again;
- a window of one to three words whose spelling IS a form of the term is left to the rules (they read
  it with its qualifiers); only a different spelling that sounds the same counts, and the turn with the
  word repaired must then be a red flag for the rules (live, not negated, not long past);
- short terms ("saigne", "étouffe", "respire") also need a cue in the turn (an intensifier, "plus",
  "arrive pas"...), long ones need a close key (edit distance 0, or 1 from eight phonemes on);
- a negation right before ("pas de", "sans") or a known benign homophone silences the window.
Cost: a few dozen dictionary look-ups and edit distances per turn, no subprocess.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from standardiste.understanding.urgency import SafetyNet, default_net, rules_vocabulary

# At most this many words are read (a turn is short; the rules already bound the text).
MAX_WORDS = 120
MAX_WINDOW = 3

_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"[^a-z]", ""),
        (r"h", ""),  # silent (ph, ch, gn handled first by their own rules below)
        (r"(.)\1+", r"\1"),
        (r"eaux?$|aux?$", "o"),
        (r"(?<=[a-z]{2})(?:ent|e|s|t|d|x|z|p){1,3}$", ""),  # silent endings ("saignent", "poids")
        (r"er$|ez$|et$|ai$|ait$|ais$", "E"),
        (r"gn", "ni"),
        (r"qu|q|k|c(?=[aouklrt]|$)|ck", "K"),
        (r"c", "s"),
        (r"g(?=[eiy])", "j"),
        (r"gu(?=[eiy])", "G"),
        (r"g", "G"),
        (r"(?<=[aeiouy])s(?=[aeiouy])", "z"),
        (r"oi", "wa"),
        (r"(?:ai|ei|e(?=[a-z]{2})|è|ê|é)", "E"),
        (r"(?:eau|au|o)", "o"),
        (r"ou", "U"),
        (r"(?:an|am|en|em)(?![aeiouyn])", "A"),
        (r"(?:on|om)(?![aeiouyn])", "O"),
        (r"(?:ain|ein|in|im|un|um|yn)(?![aeiouyn])", "I"),
        (r"y", "i"),
        (r"x", "Ks"),
        (r"w", "v"),
        (r"e", ""),  # a lone e is mostly mute in fast speech
    )
)


def _raw_key(word: str) -> str:
    # Before dropping "h": "ph" is f, "ch" is S (two letters that sound as one).
    key = word.replace("ph", "f").replace("ch", "S").replace("ç", "s").replace("sc", "s")
    for pattern, replacement in _RULES:
        key = pattern.sub(replacement, key)
    return key


# Short words whose spelling the rules above would mangle.
_SMALL = {
    "est": "E", "et": "E", "es": "E", "les": "lE", "des": "dE", "ces": "sE", "ses": "sE", "mes": "mE",
    "tes": "tE", "c": "s", "s": "s", "l": "l", "d": "d", "j": "j", "n": "n", "qu": "K", "m": "m",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def key(word: str) -> str:
    """French phonetic key of one folded word (no accents, lowercase): "saigne" -> "sEni"."""
    return _SMALL.get(word) or _raw_key(word)


# The cues a short term needs (the bleeding and breathing flags ask for as much).
_BLEEDING_CUES = frozenset(
    {"beaucoup", "enormement", "abondamment", "partout", "fort", "trop", "tellement", "sang", "flots",
     "mare", "arrete", "arreter", "boeuf"}
)  # fmt: skip
_BREATHING_CUES = frozenset(
    {"plus", "pas", "arrive", "arrives", "peut", "peux", "mal", "difficilement", "bleu", "bleue", "air"}
)  # fmt: skip
_ALL_CUES = _BLEEDING_CUES | _BREATHING_CUES


@dataclass(frozen=True, slots=True)
class Term:
    flag: str  # the red flag it points to (reported as "sounds_like:<flag>")
    forms: tuple[str, ...]  # the spellings the rules read (a window spelled so is left to them)
    # Short and common sounding: one of these words must also be in the turn (an intensifier, "plus").
    cues: frozenset[str] = frozenset()


# Distinctive words of the red flags (data/red_flags.yml), folded. Not "sang" (cent, sans, sent),
# not "coma" (comme ça), not "bleu": too many ordinary homophones.
TERMS: tuple[Term, ...] = (
    Term("bleeding", ("saigne", "saignent", "saigner", "saignait"), cues=_BLEEDING_CUES),
    Term("bleeding", ("saignement", "saignements")),
    Term("bleeding", ("hemorragie", "hemorragies")),
    Term("breathing", ("respire", "respirer", "respirent"), cues=_BREATHING_CUES),
    Term("breathing", ("etouffe", "etouffer", "etouffent"), cues=_BREATHING_CUES),
    Term("breathing", ("suffoque", "suffoquer", "suffocation")),
    Term("breathing", ("asphyxie",)),
    Term("chest_pain", ("poitrine",)),
    Term("chest_pain", ("infarctus",)),
    Term("chest_pain", ("thoracique", "thoraciques")),
    Term("unconscious", ("inconscient", "inconsciente", "inconscients")),
    Term("unconscious", ("evanoui", "evanouie", "evanouir", "evanouit", "evanouis")),
    Term("unconscious", ("effondre", "effondree")),
    Term("seizure", ("convulse", "convulsions", "convulsion", "convulser", "convulsait")),
    Term("stroke", ("paralyse", "paralysee", "paralysie", "paralyses")),
    Term("stroke", ("hemiplegie",)),
    Term("allergic_reaction", ("anaphylactique", "anaphylaxie")),
    Term("poisoning", ("intoxique", "intoxiquee", "intoxication")),
    Term("suicidal", ("suicide", "suicider", "suicidaire")),
)

# Real words that sound like a term and are ordinary in a practice's calls.
_BENIGN = frozenset({"c est ni", "c est nie", "s est ni", "ses ni", "respect", "respecte", "respecter"})
_NEGATION = frozenset({"pas", "sans", "aucun", "aucune", "jamais", "ni"})


@dataclass(frozen=True, slots=True)
class SoundsLike:
    flag: str
    term: str  # the red-flag word it sounds like
    heard: str  # the words of the transcript
    distance: int


@functools.lru_cache(maxsize=1)
def _index() -> tuple[tuple[str, Term, str], ...]:
    """(key, term, form) of every spelling of every term."""
    out: list[tuple[str, Term, str]] = []
    for term in TERMS:
        for form in term.forms:
            out.append((key(form), term, form))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _spellings() -> frozenset[str]:
    return frozenset(form for term in TERMS for form in term.forms)


@functools.lru_cache(maxsize=128)
def _near_length(length: int, said: frozenset[str]) -> tuple[tuple[str, Term, str], ...]:
    """The forms whose key is within one phoneme of this length (the others cannot be close)."""
    return tuple(e for e in _index() if abs(len(e[0]) - length) <= 1 and (not e[1].cues or e[1].cues & said))


def _allowed(term_key: str) -> int:
    """Edit distance allowed on the phonetic key: none for short keys, one from eight phonemes on."""
    return 1 if len(term_key) >= 8 else 0


def sounds_like_red_flag(folded: str, net: SafetyNet | None = None) -> SoundsLike | None:
    """The first window of one to three words that sounds like a distinctive red-flag word (see above),
    and whose repaired turn (the window replaced by the word) the safety net's rules read as a red flag
    (live, not negated, not long past: the rules' own qualifiers decide). Words split in two are glued
    back first ("jam ais", "respir er") when the whole is a word the rules are written with.

    `folded`: lowercase, no accents, apostrophes as spaces (normalize.fold), as the rules read it.
    `net`: the practice's safety net (default: the packaged red flags)."""
    net = net or default_net()
    words, glued = _reglued(re.findall(r"[a-z0-9]+", folded[:2000])[:MAX_WORDS])
    if not words:
        return None
    if glued:
        verdict = net.assess(" ".join(words))
        if verdict.level is not None:
            heard = glued[0]
            flag = verdict.red_flag or verdict.rule or "distress"
            return SoundsLike(flag, heard.replace(" ", ""), heard, 0)
    said = frozenset(w for w in words if w in _ALL_CUES)  # the cues of the turn
    spellings = _spellings()
    missed: set[str] = set()  # keys already compared in this turn, close to no term
    keys = [key(w) for w in words]
    for size in range(1, MAX_WINDOW + 1):
        for i in range(len(words) - size + 1):
            window = words[i : i + size]
            surface = " ".join(window)
            if any(w in spellings for w in window) or surface in _BENIGN:
                continue  # the rules read the right spelling, with its qualifiers
            before = words[max(0, i - 2) : i]
            negated = bool(before) and before[-1] in _NEGATION
            if negated or (len(before) == 2 and before[0] in _NEGATION and before[1] in ("de", "d", "du")):
                continue  # "pas de", "sans": the caller says it is absent
            # The words' keys end to end ("sais" + "ni"), and the key of the words glued back
            # together ("res pirer" -> "respirer"): a split word keeps its sound either way.
            candidates = {"".join(keys[i : i + size])}
            if size > 1:
                candidates.add(key("".join(window)))
            for joined in candidates - missed:
                close = [
                    (term, form, distance)
                    for term_key, term, form in _near_length(len(joined), said)
                    if len(joined) >= 4
                    and (distance := Levenshtein.distance(joined, term_key)) <= _allowed(term_key)
                ]
                if not close:
                    missed.add(joined)
                for term, form, distance in close:
                    repaired = " ".join([*words[:i], form, *words[i + size :]])
                    if net.assess(repaired).level is not None:
                        return SoundsLike(term.flag, form, surface, distance)
    return None


def _reglued(words: list[str]) -> tuple[list[str], list[str]]:
    """Words split in two glued back when the whole is a word the rules are written with ("n arri ve
    plus a respir er" -> "arrive", "respirer"), and the pairs glued."""
    vocabulary = rules_vocabulary()
    out: list[str] = []
    glued: list[str] = []
    i = 0
    while i < len(words):
        pair = words[i] + words[i + 1] if i + 1 < len(words) else ""
        if (
            len(pair) >= 5
            and pair in vocabulary
            and not (words[i] in vocabulary and words[i + 1] in vocabulary)
        ):
            out.append(pair)
            glued.append(f"{words[i]} {words[i + 1]}")
            i += 2
            continue
        out.append(words[i])
        i += 1
    return out, glued
