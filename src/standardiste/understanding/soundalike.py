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
        (r"[^a-zS]", ""),  # (S: "ch", set just before)
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


# Sounds a telephone line and Whisper confuse, merged for the loose comparison: voiced and voiceless
# pairs (b/p, d/t, g/k, v/f, z/s, j/ch), "o"/"ou", and the nasal consonants (m, n, gn).
_LOOSE = str.maketrans(
    {"b": "p", "d": "t", "G": "K", "g": "K", "v": "f", "z": "s", "j": "S", "U": "o", "m": "n"}
)


@functools.lru_cache(maxsize=4096)
def loose(phonetic: str) -> str:
    """A phonetic key with the sounds a telephone line confuses merged: "boitrine" and "poitrine",
    "émouragie" and "hémorragie", "me répond plus" and "ne répond plus" get the same loose key."""
    return phonetic.replace("ni", "n").translate(_LOOSE)


# Only terms with at least this many phonemes are compared loosely (shorter ones collide too often).
LOOSE_MIN = 6

# The cues a short term needs (the bleeding and breathing flags ask for as much).
_BLEEDING_CUES = frozenset(
    {"beaucoup", "enormement", "abondamment", "partout", "fort", "trop", "tellement", "sang", "flots",
     "mare", "arrete", "arreter", "boeuf"}
)  # fmt: skip
_BREATHING_CUES = frozenset(
    {"plus", "pas", "arrive", "arrives", "peut", "peux", "mal", "difficilement", "bleu", "bleue", "air"}
)  # fmt: skip
# How Whisper wrote "énormément" said by the test voices on the telephone (bench_spoken_safety): read as
# "énormément" in this layer only, where a word that sounds like a red flag also needs this cue.
_CUE_HEARD = {"normalement": "enormement", "mormement": "enormement", "immormement": "enormement",
              "normement": "enormement", "inormement": "enormement", "enormemant": "enormement"}  # fmt: skip

# A bleeding context, for a heard word far in sound from "saignement" ("cinéma"): the turn speaks of
# stopping something, of blood, of a lot.
_BLEEDING_CONTEXT = _BLEEDING_CUES | frozenset(
    {"arreter", "arrive", "saigne", "saigner", "sain", "hemorragie"}
)
_STOP_CUES = frozenset({"arrete", "arretent", "arreter", "cesse"})  # "ça n'arrête pas de saigner"
_FACE_CUES = frozenset({"bouche", "visage", "levre", "levres"})
_PRODUCT_CUES = frozenset(
    {"javel", "javelle", "produit", "pile", "medicaments", "cachets", "comprimes", "lessive"}
)
_MUCH_CUES = frozenset({"enormement", "beaucoup", "tres", "vraiment", "tellement"})
_SWELLING_CUES = frozenset({"gorge", "langue", "levres", "visage", "bouche", "figure"})
_SCALD_CUES = frozenset(
    {"casserole", "bouilloire", "eau", "huile", "soupe", "the", "cafe", "brule", "brulure"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Term:
    flag: str  # the red flag it points to (reported as "sounds_like:<flag>")
    forms: tuple[str, ...]  # the spellings the rules read (a window spelled so is left to them)
    # Short and common sounding: one of these words must also be in the turn (an intensifier, "plus").
    cues: frozenset[str] = frozenset()
    # How Whisper mishears the term where the key is too far from the term's own: words it wrote for it
    # on the telephone (bench/bench_spoken_safety.py), matched by their key (distance 0, so "sein",
    # "saint" count like "sain"), and only with one of `heard_cues` in the turn: "saignement" heard
    # "cinéma" is read so only beside "arrêter", "énormément", "sang"... The first form is put back.
    heard: tuple[str, ...] = ()
    heard_cues: frozenset[str] = frozenset()
    # The word right before a heard form must be one of these (none: any): "perd beaucoup de son".
    heard_after: frozenset[str] = frozenset()
    # Only the heard forms count: the term's own sound is too common ("sang", "bu", "fièvre" in
    # "Lefèvre"); its spellings are still left to the rules.
    heard_only: bool = False


# Distinctive words of the red flags (data/red_flags.yml), folded. Not "coma" (comme ça), not "bleu": too
# many ordinary homophones; "sang" (cent, sans, sent) only as its mishearing "son" beside "perd".
TERMS: tuple[Term, ...] = (
    Term(
        "bleeding",
        ("saigne", "saignent", "saigner", "saignait"),
        cues=_BLEEDING_CUES,
        heard=("sain", "saine", "s aime", "s amie"),
        heard_cues=_BLEEDING_CUES,
    ),
    Term(
        "bleeding",
        ("saignement", "saignements"),
        heard=("cinema", "cinemas", "sentiment", "sentiments"),
        heard_cues=_BLEEDING_CONTEXT,
    ),
    Term("bleeding", ("hemorragie", "hemorragies")),
    Term(
        "bleeding",
        ("sang",),
        heard=("son", "sons", "fond", "fonds"),
        heard_cues=frozenset({"perd", "perdu", "perds"}),
        heard_after=frozenset({"de", "du"}),
        heard_only=True,
    ),
    Term("bleeding", ("saigner",), heard=("signer", "se nier"), heard_cues=_STOP_CUES, heard_only=True),
    Term("breathing", ("respire", "respirer", "respirent"), cues=_BREATHING_CUES),
    Term("breathing", ("etouffe", "etouffer", "etouffent"), cues=_BREATHING_CUES),
    Term("breathing", ("respirer",), heard=("retirer",), heard_cues=_MUCH_CUES, heard_only=True),
    Term(
        "breathing",
        ("bleues",),
        heard=("deux",),
        heard_cues=frozenset({"levres"}),
        heard_after=frozenset({"toutes"}),
        heard_only=True,
    ),
    Term("breathing", ("suffoque", "suffoquer", "suffocation")),
    Term("breathing", ("asphyxie",)),
    Term("chest_pain", ("poitrine",)),
    Term("chest_pain", ("infarctus",)),
    Term("chest_pain", ("thoracique", "thoraciques")),
    Term("chest_pain", ("cardiaque",), heard=("cardioque", "cardiac")),
    Term("unconscious", ("inconscient", "inconsciente", "inconscients")),
    Term(
        "unconscious",
        ("evanoui", "evanouie", "evanouir", "evanouit", "evanouis"),
        heard=("vanouille", "vanuille", "vanouie", "vanoui"),
    ),
    Term(
        "unconscious",
        ("effondre", "effondree"),
        heard=("fondree", "etait fondree", "etait fondre", "etait fondee"),
    ),
    Term("unconscious", ("ne repond plus", "ne repond pas")),
    Term(
        "unconscious", ("perdu",), heard=("perd du",), heard_cues=frozenset({"connaissance"}), heard_only=True
    ),
    Term("seizure", ("convulse", "convulsions", "convulsion", "convulser", "convulsait")),
    Term("seizure", ("epilepsie",)),
    Term("stroke", ("paralyse", "paralysee", "paralysie", "paralyses")),
    Term("stroke", ("hemiplegie",)),
    Term(
        "stroke",
        ("travers",),
        heard=("trasere", "traverse", "traverser"),
        heard_cues=_FACE_CUES,
        heard_only=True,
    ),
    Term(
        "stroke",
        ("avc",),
        heard=("avesse", "avaise", "avece"),
        heard_cues=frozenset({"fait", "fais", "faire"}),
        heard_after=frozenset({"un"}),
        heard_only=True,
    ),
    Term("allergic_reaction", ("anaphylactique", "anaphylaxie")),
    Term(
        "allergic_reaction",
        ("gonfle", "gonflent", "enfle"),
        cues=_SWELLING_CUES,
        heard=("gonfe", "bonse", "gonse", "bombe"),
        heard_cues=_SWELLING_CUES,
    ),
    Term("burn", ("ebouillante", "ebouillantee"), cues=_SCALD_CUES, heard=("etait bouillante",)),
    Term("poisoning", ("intoxique", "intoxiquee", "intoxication")),
    Term(
        "poisoning",
        ("avale", "avalee"),
        heard=("ravallee", "ravalee", "ravale", "valer", "avaler"),
        heard_cues=_PRODUCT_CUES,
    ),
    Term(
        "poisoning",
        ("bu",),
        heard=("vu", "du"),
        heard_cues=_PRODUCT_CUES,
        heard_after=frozenset({"a", "as"}),
        heard_only=True,
    ),
    Term(
        "poisoning",
        ("javel",),
        heard=("jacelle", "jazelle", "jovelle"),
        heard_cues=frozenset({"avale", "avalee", "bu", "bue", "pris"}),
        heard_only=True,
    ),
    Term(
        "infant",
        ("fievre",),
        heard=("chevre",),
        heard_cues=frozenset({"bebe", "nourrisson", "mois", "semaines"}),
        heard_only=True,
    ),
    Term("suicidal", ("suicide", "suicider", "suicidaire")),
)

# Real words that sound like a term and are ordinary in a practice's calls.
_BENIGN = frozenset({"c est ni", "c est nie", "s est ni", "ses ni", "respect", "respecte", "respecter"})
_NEGATION = frozenset({"pas", "sans", "aucun", "aucune", "jamais", "ni"})
_ELIDED = frozenset({"d", "l", "j", "n", "m", "s", "t"})
_DETERMINERS = frozenset(
    {"des", "le", "la", "les", "un", "une", "mon", "ma", "mes", "son", "sa", "ses", "ce", "cette", "ces", "l",
     "votre", "vos", "notre", "nos", "leur", "leurs"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SoundsLike:
    flag: str
    term: str  # the red-flag word it sounds like
    heard: str  # the words of the transcript
    distance: int


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    term: Term
    form: str  # the spelling put back in the turn for the rules to read
    cues: frozenset[str]  # one of these must be in the turn (none: no condition)
    heard: bool  # a mishearing of the term (distance 0 only), not one of its spellings


@functools.lru_cache(maxsize=1)
def _index() -> tuple[_Entry, ...]:
    """Every spelling of every term, and every mishearing of one, with its key."""
    out: list[_Entry] = []
    for term in TERMS:
        for form in () if term.heard_only else term.forms:
            out.append(_Entry(key(form), term, form, term.cues, False))
        for heard in term.heard:
            heard_key = "".join(key(w) for w in heard.split())
            out.append(_Entry(heard_key, term, term.forms[0], term.heard_cues or term.cues, True))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _all_cues() -> frozenset[str]:
    return frozenset(w for term in TERMS for w in term.cues | term.heard_cues)


@functools.lru_cache(maxsize=1)
def _spellings() -> frozenset[str]:
    return frozenset(form for term in TERMS for form in term.forms)


@functools.lru_cache(maxsize=128)
def _near_length(length: int, said: frozenset[str]) -> tuple[_Entry, ...]:
    """The entries whose key is within one phoneme of this length (the others cannot be close), and
    whose cues the turn has."""
    return tuple(e for e in _index() if abs(len(e.key) - length) <= 2 and (not e.cues or e.cues & said))


def _allowed(entry: _Entry) -> int:
    """Edit distance allowed on the phonetic key: none for short keys and mishearings, one from eight
    phonemes on, two from ten ("anacylaptique" for "anaphylactique")."""
    if entry.heard:
        return 0
    return 2 if len(entry.key) >= 10 else 1 if len(entry.key) >= 8 else 0


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
    words = [_CUE_HEARD.get(w, w) for w in words]  # "je sais ni normalement": the cue heard again
    said = frozenset(w for w in words if w in _all_cues())  # the cues of the turn
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
            stopping = before[-1:] in (["de"], ["d"]) and i >= 3 and words[i - 3] in _STOP_CUES
            if not stopping and (
                negated or (len(before) == 2 and before[0] in _NEGATION and before[1] in ("de", "d", "du"))
            ):
                continue  # "pas de", "sans": the caller says it is absent ("n'arrête pas de" is not)
            # The words' keys end to end ("sais" + "ni"), and the key of the words glued back
            # together ("res pirer" -> "respirer"): a split word keeps its sound either way. A lone
            # elided letter after the word is a sound Whisper heard in the join ("je sain d'énormément"
            # for "je saigne énormément"): the word's key without it counts too.
            candidates = {"".join(keys[i : i + size])}
            if size > 1:
                candidates.add(key("".join(window)))
                if window[-1] in _ELIDED:
                    candidates.add("".join(keys[i : i + size - 1]))
            for joined in candidates - missed:
                close = [
                    (entry, distance)
                    for entry in _near_length(len(joined), said)
                    if len(joined) >= (2 if entry.heard and entry.cues else 3 if entry.heard else 4)
                    and (
                        (distance := Levenshtein.distance(joined, entry.key)) <= _allowed(entry)
                        or (len(entry.key) >= LOOSE_MIN and loose(joined) == loose(entry.key))
                    )
                    and not (entry.heard and entry.cues and not entry.cues & (said - set(window)))
                ]
                if not close:
                    missed.add(joined)
                for entry, distance in close:
                    if entry.heard and _DETERMINERS.intersection(
                        [*window[1:], *words[i + size : i + size + 1]]
                    ):
                        continue  # "signer des papiers": a verb with its object, not "saigner"
                    after = entry.term.heard_after
                    if entry.heard and after and (i == 0 or words[i - 1] not in after):
                        continue  # "perdu le son de la télé": not "perd beaucoup de sang"
                    repaired = " ".join([*words[:i], entry.form, *words[i + size :]])
                    if net.assess(repaired).level is not None:
                        return SoundsLike(entry.term.flag, entry.form, surface, distance)
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
