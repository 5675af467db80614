"""The safety net: runs first on every utterance, and nothing downstream may lower its verdict.

It works on folded text (lowercase, no accents, apostrophes and hyphens as spaces, fillers removed,
numbers as digits), the way a recogniser writes speech: no punctuation, no elisions, stutters.

1. The turn is cut into clauses ("mais", "et", "là", "parce que", "en fait", "sinon", a new subject...).
2. Each clause gets its own qualifiers: long-past history ("il y a dix ans", "suivi de mon"), a death,
   a negation right before a symptom ("pas de douleur"), a hypothesis or a question ("si", "en cas de",
   "quel numéro"), a recent past ("hier"), and who it is about. A qualifier never leaves its clause,
   except a clause that is nothing but a time or a hypothesis ("il y a dix ans | mon père a fait...").
3. The red flags (data: data/red_flags.yml, plus the practice's files) are matched on the live clauses.
   One live vital flag makes the turn an emergency, whatever else it asks for.

Levels: vital (dial 15 / a human at once), same_day (seen today), check (one yes/no question: a flag
only in a hypothesis, or a distress cue such as "c'est grave", "vite", "au secours", repeated words).
Doubt stays an alarm: a false alarm costs a transfer, a miss can cost a life. Qualifiers that lower a
flag are narrow; a recent past or a "c'est passé" lowers vital to same_day, never to nothing.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from standardiste.understanding.types import Urgency

VITAL = "vital"
SAME_DAY = "same_day"
CHECK = "check"
LEVELS = (VITAL, SAME_DAY)

# A turn longer than this is cut: bounded time whatever the recogniser returns.
MAX_CHARS = 2000
MAX_CLAUSES = 40

_N = (
    r"(?:\d+|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|quelques|plusieurs)"
)

# --- Clause qualifiers ---------------------------------------------------------------------------

# Negation right before a symptom: the caller says the symptom is absent.
_NEGATION_BEFORE = re.compile(
    r"(?:\bpas(?: de| d| du| des| eu de| eu d| eu)?|\baucune?|\bsans|\bplus(?: de| d)"
    r"|\bjamais(?: eu)?(?: de| d)?|\bni|\bno|\bnot|\bnever|\bdon t have|\bdoesn t have)(?: \w+){0,2} ?$"
)
# Long-past history: the event is over, long ago.
_HISTORY_TIME = re.compile(
    r"\bil y a (?:" + _N + r" |un peu plus d un |plus d un |presque |environ |bien )?(?:ans?|annees?|mois)\b"
    r"|\bdepuis (?:des|plusieurs|quelques) (?:ans|annees|mois)\b"
    r"|\ben (?:19|20)\d\d\b|\b(?:l an|l annee) (?:dernier|derniere|passe|passee)\b"
    r"|\bautrefois\b|\bdans le passe\b|\bquand (?:j etais|il etait|elle etait) (?:petit|petite|jeune"
    r"|enfant|bebe)\b|\b(?:years|months) ago\b|\blast year\b"
)
_HISTORY_OTHER = re.compile(
    r"\bantecedents?\b|\bdeja eu\b|\bdeja fait\b|\bdans (?:la|ma|sa) famille\b|\bhereditaire\b"
    r"|\b(?:suivi|controle|bilan|reeducation|convalescence|renouvellement|renouveler|ordonnance|certificat"
    r"|traitement) (?:de|d|du|pour|apres) (?:mon|ma|mes|son|sa|ses|l|un|une|le|la|notre)\b"
    r"|\bapres (?:mon|ma|son|sa|l|un|une) (?:infarctus|avc|operation|crise|hospitalisation|accident)\b"
    r"|\bhistory of\b|\bfollow up (?:of|for)\b"
)
# A death: what is said about the dead person is over (never overridden by "ce matin").
_DEATH = re.compile(
    r"\b(?:decede|decedee|decedes|deces|mort|morte|morts|obseques|enterrement|disparu|disparue|died"
    r"|passed away)\b(?! aux rats)"
)
# A hypothesis or a question about what to do: worth one check question, not a transfer.
_HYPOTHESIS = re.compile(
    r"(?:^| )(?:si|s il|s ils|et si)\b(?! vous plait| te plait)"
    r"|\bau cas ou\b|\ben cas (?:de|d)\b|\b(?:signes?|symptomes?) (?:d|de|du|des)\b"
    r"|\bnumero\b|\b(?:faut il|dois je|doit on|faut il|peut on) appeler\b|\bcomment (?:reconnaitre|savoir)\b"
    r"|\bpeu(?:t|vent) (?:provoquer|donner|causer|entrainer)\b|\brisques? (?:de|d)\b"
    r"|\bpour (?:eviter|prevenir)\b|\bwhat if\b|\bin case of\b"
)
_KNOWS_NOT_IF = re.compile(r"\bsai[st] (?:pas|plus) (?:si|s il)\b")
# Recent past: over, but recent enough to be seen today.
_RECENT_PAST = re.compile(
    r"\b(?:hier|avant hier|la nuit derniere|ce week end|le week end dernier|la semaine derniere|l autre jour"
    r"|(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) dernier|il y a "
    + _N
    + r" (?:jours?|semaines?)"
    r"|avait|avais|etait|etais|yesterday|last week)\b"
)
# Signs that the situation is happening now, which beat history and recent past.
_NOW = re.compile(
    r"\b(?:la maintenant|juste la|maintenant|en ce moment|actuellement|tout de suite|ce matin"
    r"|ce soir|cette nuit|depuis (?:ce matin|hier|une heure|tout a l heure|" + _N + r" (?:minutes?|heures?))"
    r"|il y a " + _N + r" (?:minutes?|heures?)|tout a coup|d un coup|soudain|soudainement|a nouveau|encore"
    r"|recommence|toujours|right now|now)\b"
)
# "C'est passé": what came before in this turn is over (lowered to same day, never silenced).
_RESOLVED = re.compile(
    r"^(?:(?:mais |et )?(?:maintenant |la )?(?:c est|ca s est|ca est) (?:passe|fini|calme|arrete)"
    r"|(?:mais |et )?(?:maintenant |la )?(?:ca|il|elle) va (?:mieux|bien)"
    r"|(?:il|elle) a repris connaissance|(?:il|elle) s est reveillee?|tout va bien"
    r"|(?:il|elle) respire (?:normalement|bien))(?: maintenant| depuis| la)?(?: \w+){0,3}$"
)
_NOT_URGENT = re.compile(
    r"\b(?:(?:c est |ce n est |c )?pas (?:du tout )?(?:urgent|presse|une urgence|d urgence|pressant)"
    r"|rien d urgent|aucune urgence|sans urgence|quand vous (?:pouvez|voulez)|rien de grave|pas grave"
    r"|ca peut attendre|on a le temps|j ai le temps|pas de (?:souci|probleme) pour attendre|not urgent)\b"
)
# Distress cues: not a red flag by themselves, but one short question before anything else.
_DISTRESS = re.compile(
    r"\b(?:c est (?:tres |vraiment |super |hyper )?grave|(?:venez|faites|vite) vite|venez vite|vite vite"
    r"|vite s il vous plait|au secours|aidez moi|aidez nous|a l aide|il faut (?:quelqu un|que quelqu un)"
    r"|envoyez (?:moi )?quelqu un|besoin d aide|c est une urgence|urgence urgence|je panique|help"
    r"|emergency|please hurry)\b"
)
_NOT_GRAVE = re.compile(
    r"\b(?:pas|rien de|ni) (?:tres |si |du tout )?(?:grave|urgent|presse)\b|\bpas (?:une|d) urgence\b"
)
_DENIABLE = frozenset({"urgent", "urgence", "grave", "presse", "pas", "c", "est"})
_DISTRESS_WORDS = frozenset(
    {"vite", "aide", "aidez", "venez", "secours", "urgence", "urgent", "docteur", "grave", "help", "please"}
)
# Repetitions that are ordinary speech, not distress.
_BENIGN_REPEAT = frozenset(
    {"oui", "non", "nous", "vous", "si", "tres", "allo", "bonjour", "merci", "bon", "ben", "la", "voila",
     "ok", "d", "accord", "le", "de", "a", "et", "ca", "il", "elle", "je", "j"}
)  # fmt: skip

# Who a clause is about.
_WHO = re.compile(
    r"\b(?:(?:mon|ma|notre|le|la|son|sa) (?P<noun>bebe|nourrisson|fils|fille|enfant|petit|petite|mari"
    r"|femme|compagnon|compagne|pere|mere|papa|maman|grand pere|grand mere|voisin|voisine|frere|soeur"
    r"|ami|amie|collegue|patient|patiente)|(?P<self>je|j|moi|me|m|i|my)"
    r"|(?P<other>il|elle|he|she|quelqu un))\b"
)

# --- Clause splitting ----------------------------------------------------------------------------

_CONNECTORS = frozenset(
    {"mais", "et", "puis", "ensuite", "alors", "sinon", "car", "donc", "pourtant", "cependant", "bref",
     "enfin", "but", "and", "because", "so", "then", "now", "also", "aussi"}
)  # fmt: skip
_CONNECTORS_2 = frozenset(
    {("parce", "que"), ("parce", "qu"), ("en", "fait"), ("du", "coup"), ("par", "contre"), ("sauf", "que"),
     ("a", "part"), ("de", "plus"), ("en", "plus")}
)  # fmt: skip
_SUBJECTS = frozenset({"je", "j", "il", "elle", "on", "ils", "elles", "he", "she", "i", "we", "they"})
_LA_NEXT = frozenset(
    {"je", "j", "il", "elle", "on", "ils", "elles", "maintenant", "ca", "c", "tout", "mon", "ma", "mes",
     "son", "sa", "depuis", "ce", "cette", "vraiment", "d", "soudain", "le", "y", "en"}
)  # fmt: skip
_NO_SPLIT_AFTER = frozenset(
    {"qu", "que", "si", "s", "quand", "lorsqu", "lorsque", "comme", "ou", "dont", "ce", "est", "moi",
     "lui", "et", "mais", "la", "ne", "n", "y", "puis", "car", "donc", "alors", "sinon", "toi", "parce",
     "fait", "pour", "de", "d", "a", "avec", "chez", "par", "sur", "vers", "entre", "sans", "aussi",
     "that", "if", "when", "and", "but", "because", "what", "so", "then"}
)  # fmt: skip
_POSSESSIVES = frozenset({"mon", "ma", "notre", "le", "my", "our"})
_PERSON_NOUNS = frozenset(
    {"bebe", "nourrisson", "fils", "fille", "enfant", "petit", "petite", "mari", "femme", "compagnon",
     "compagne", "pere", "mere", "papa", "maman", "grand", "voisin", "voisine", "frere", "soeur",
     "husband", "wife", "son", "daughter", "baby", "father", "mother", "dad", "mum", "mom", "neighbour"}
)  # fmt: skip
_IMPERSONAL_NEXT = frozenset({"y", "faut", "fallait", "me", "semble", "parait"})
# Words that say nothing about what happened (a clause of a time and these passes the time on).
_EMPTY_WORDS = frozenset(
    {"allo", "oui", "bonjour", "madame", "monsieur", "alors", "ben", "bon", "excusez", "moi", "voila",
     "donc", "docteur", "bonsoir", "ecoutez", "enfin", "en", "fait", "et", "mais", "la"}
)  # fmt: skip
_NOT_BEFORE_PERSON = frozenset({"c", "est", "appelle", "pour", "voir", "emmener", "amener", "of", "for"})


@dataclass(frozen=True, slots=True)
class Clause:
    text: str
    start: int  # offset in the analysed text
    weak: bool  # split from the previous clause by a new subject only (no connector)


def _tokens(text: str) -> list[tuple[str, int]]:
    return [(m.group(), m.start()) for m in re.finditer(r"\S+", text)]


def split_clauses(text: str) -> list[Clause]:
    """Clauses of an unpunctuated transcript, with their offsets."""
    toks = _tokens(text)
    cuts: list[tuple[int, bool]] = []  # (token index where a clause starts, weak)
    for i in range(1, len(toks)):
        word, prev = toks[i][0], toks[i - 1][0]
        nxt = toks[i + 1][0] if i + 1 < len(toks) else ""
        if (prev, word) in _CONNECTORS_2:
            continue
        connector = (word, nxt) in _CONNECTORS_2 or word in _CONNECTORS
        now_la = word == "la" and nxt in _LA_NEXT and prev not in ("de", "a", "par", "pour", "sur")
        if connector or now_la:
            cuts.append((i, False))
            continue
        subject = word in _SUBJECTS and prev not in _NO_SPLIT_AFTER and nxt not in _IMPERSONAL_NEXT
        possessive = word in _POSSESSIVES and nxt in _PERSON_NOUNS and prev not in _NO_SPLIT_AFTER
        if subject or (possessive and prev not in _NOT_BEFORE_PERSON):
            cuts.append((i, True))
    # "mais là", "et puis": one cut, not a clause of a single connector.
    kept: list[tuple[int, bool]] = []
    for cut in cuts:
        if kept and cut[0] == kept[-1][0] + 1 and not kept[-1][1]:
            continue
        kept.append(cut)
    clauses: list[Clause] = []
    bounds = [(0, False), *kept]
    for n, (first, weak) in enumerate(bounds):
        last = bounds[n + 1][0] if n + 1 < len(bounds) else len(toks)
        if first >= last:
            continue
        start = toks[first][1]
        end = toks[last - 1][1] + len(toks[last - 1][0])
        clauses.append(Clause(text[start:end], start, weak))
    if len(clauses) > MAX_CLAUSES:  # a runaway transcript: the tail as one clause
        tail = clauses[MAX_CLAUSES - 1]
        clauses = [*clauses[: MAX_CLAUSES - 1], Clause(text[tail.start :], tail.start, tail.weak)]
    return clauses


# Elisions a recogniser glued ("jai", "narrive", "setouffe", "lannee"): split back.
_FUSED = {
    "jai": "j ai", "cest": "c est", "sest": "s est", "nest": "n est", "na": "n a", "nai": "n ai",
    "sil": "s il", "sils": "s ils", "quil": "qu il", "quelle": "quelle", "quest": "qu est", "quon": "qu on",
    "jen": "j en", "ny": "n y", "cetait": "c etait", "jetais": "j etais", "letait": "l etait",
    "setait": "s etait", "netait": "n etait", "navait": "n avait", "jy": "j y", "lai": "l ai",
    "dun": "d un", "dune": "d une", "den": "d en", "cant": "can t", "wont": "won t", "isnt": "isn t",
    "couldnt": "couldn t", "dont": "don t", "doesnt": "doesn t", "hes": "he s", "shes": "she s",
    "1": "un", "lhopital": "l hopital", "quelquun": "quelqu un",
}  # fmt: skip
_ELIDED_HEADS = frozenset("jnldsmtc")
_VOWELS = frozenset("aeiouyh")


@functools.lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    """Words of four letters or more that the rules and qualifiers are written with."""
    sources = [p.pattern for p in (_HISTORY_TIME, _HISTORY_OTHER, _RECENT_PAST, _NOW, _DISTRESS, _HYPOTHESIS)]
    for flag in default_net().flags:
        if flag.patterns is not None:
            sources.append(flag.patterns.pattern)
        sources.extend(p.pattern for p in flag.all_of)
    words = set(_pattern_words(sources))
    words.update({"asthme", "ordonnance", "annee", "enfant", "oreille", "estomac", "urgence", "epilepsie"})
    return frozenset(words)


def _pattern_words(patterns: list[str]) -> frozenset[str]:
    """Words of four letters or more in regex sources, escapes out first: "\\bantecedents?" gives
    "antecedents", not "bantecedents"."""
    return frozenset(
        w for source in patterns for w in re.findall(r"[a-z]{4,}", re.sub(r"\\[a-zA-Z]", " ", source))
    )


@functools.lru_cache(maxsize=1)
def rules_vocabulary() -> frozenset[str]:
    """Words of four letters or more the red flags and every qualifier are written with (soundalike.py)."""
    patterns = [
        p.pattern
        for p in (_HISTORY_TIME, _HISTORY_OTHER, _RECENT_PAST, _NOW, _DISTRESS, _HYPOTHESIS, _NEGATION_BEFORE,
                  _NEGATION_INSIDE, _NOT_URGENT, _NOT_GRAVE, _DEATH, _RESOLVED, _KNOWS_NOT_IF)
    ]  # fmt: skip
    for flag in default_net().flags:
        patterns += [p.pattern for p in (flag.patterns, *flag.all_of, flag.downgrade_if) if p is not None]
    return _pattern_words(patterns)


def _unfuse(word: str) -> str:
    if word in _FUSED:
        return _FUSED[word]
    if len(word) >= 5 and word[0] in _ELIDED_HEADS and word[1] in _VOWELS:
        vocab = _vocabulary()
        if word not in vocab and word[1:] in vocab:
            return f"{word[0]} {word[1:]}"
    return word


def _asr_clean(text: str) -> tuple[str, str | None]:
    """Stuttered repetitions collapsed ("il il ne ne respire"); distress when the caller repeats words."""
    toks = text[:MAX_CHARS].split()
    out: list[str] = []
    distress: str | None = None
    i = 0
    while i < len(toks):
        repeated = False
        for size in (3, 2, 1):
            if i + 2 * size <= len(toks) and toks[i : i + size] == toks[i + size : i + 2 * size]:
                chunk = toks[i : i + size]
                times = 2
                while toks[i + times * size : i + (times + 1) * size] == chunk:
                    times += 1
                words = set(chunk)
                content = [w for w in chunk if w not in _BENIGN_REPEAT and len(w) >= 4]
                # A stutter ("c est c est") is noise; "vite vite", a word said three times, is distress.
                if distress is None and (
                    words & _DISTRESS_WORDS or (times >= 3 and content) or (size == 3 and len(content) >= 2)
                ):
                    distress = " ".join(chunk)
                i += (times - 1) * size  # keep the last copy
                repeated = True
                break
        if repeated:
            continue
        word = _unfuse(toks[i])
        if word == "pu" and (not out or out[-1] not in ("a", "ai", "as", "avons", "avez", "ont", "j", "n")):
            word = "plus"  # "il respire pu"
        out.append(word)
        i += 1
    return " ".join(out), distress


# --- Red flags as data ---------------------------------------------------------------------------


class SafetyDataError(ValueError):
    """A red-flag file is invalid (the service refuses to start)."""


@dataclass(frozen=True, slots=True)
class RedFlag:
    id: str
    level: str
    category: str
    source: str
    patterns: re.Pattern[str] | None  # one alternation of the flag's patterns
    all_of: tuple[re.Pattern[str], ...] = ()
    origin: str = ""
    # Said anywhere in the live turn, these lower a vital flag to same day (never to nothing):
    # "mon bébé a de la fièvre, il a un an".
    downgrade_if: re.Pattern[str] | None = None


_PART = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


def _expand(pattern: str, parts: dict[str, str], where: str) -> str:
    for _ in range(6):
        if not _PART.search(pattern):
            # "une" is also written "un" (a recogniser's "1" turned back into "un").
            return re.sub(r"(?<![a-z])une ", "une? ", pattern)

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in parts:
                raise SafetyDataError(f"{where}: partie inconnue / unknown part {{{name}}}")
            return parts[name]

        pattern = _PART.sub(sub, pattern)
    raise SafetyDataError(f"{where}: parties imbriquées trop profondément / parts nested too deep")


def _check_no_nested_repeat(pattern: str, where: str) -> None:
    """Refuse "(a+)+"-like patterns: an unbounded repeat inside an unbounded repeat backtracks forever."""
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found]
        from re._constants import MAXREPEAT  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - older Pythons
        return
    repeats = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}

    def walk(items: Any, inside_unbounded: bool) -> None:
        for op, av in items:
            name = str(op)
            if name in repeats:
                _lo, hi, sub = av
                unbounded = hi == MAXREPEAT
                if unbounded and inside_unbounded and _can_repeat_text(sub):
                    raise SafetyDataError(
                        f"{where}: répétition imbriquée non bornée / nested unbounded repeat: {pattern!r}"
                    )
                walk(sub, inside_unbounded or unbounded)
            elif name == "SUBPATTERN":
                walk(av[-1], inside_unbounded)
            elif name == "BRANCH":
                for branch in av[1]:
                    walk(branch, inside_unbounded)
            elif name in ("ASSERT", "ASSERT_NOT"):
                walk(av[1], inside_unbounded)

    def _can_repeat_text(sub: Any) -> bool:
        return bool(list(sub))

    walk(sre_parse.parse(pattern), False)


def _compile(patterns: Sequence[str], parts: dict[str, str], where: str) -> re.Pattern[str]:
    expanded = []
    for n, raw in enumerate(patterns):
        if not isinstance(raw, str) or not raw.strip():
            raise SafetyDataError(f"{where}[{n}]: motif vide / empty pattern")
        text = _expand(raw, parts, f"{where}[{n}]")
        try:
            re.compile(text)
        except re.error as err:
            raise SafetyDataError(f"{where}[{n}]: expression invalide / invalid regex: {err}") from err
        _check_no_nested_repeat(text, f"{where}[{n}]")
        expanded.append(f"(?:{text})")
    return re.compile("|".join(expanded))


def parse_red_flags(doc: Any, origin: str, base_parts: dict[str, str] | None = None) -> list[RedFlag]:
    """Validated flags of one red-flag document (see data/red_flags.yml)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("flags"), list):
        raise SafetyDataError(f"{origin}: il faut une liste 'flags' / a 'flags' list is required")
    parts = dict(base_parts or {})
    raw_parts = doc.get("parts") or {}
    if not isinstance(raw_parts, dict):
        raise SafetyDataError(f"{origin}: 'parts' doit être un dictionnaire / must be a mapping")
    for name, value in raw_parts.items():
        if (
            not isinstance(name, str)
            or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name)
            or not isinstance(value, str)
        ):
            raise SafetyDataError(f"{origin}: partie invalide / invalid part {name!r}")
        parts[name] = value
    flags: list[RedFlag] = []
    for n, item in enumerate(doc["flags"]):
        where = f"{origin}: flags[{n}]"
        if not isinstance(item, dict):
            raise SafetyDataError(f"{where}: doit être un dictionnaire / must be a mapping")
        unknown = set(item) - {"id", "level", "category", "source", "patterns", "all_of", "downgrade_if"}
        if unknown:
            raise SafetyDataError(f"{where}: clés inconnues / unknown keys {sorted(unknown)}")
        flag_id = item.get("id")
        if not isinstance(flag_id, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", flag_id):
            raise SafetyDataError(f"{where}: 'id' manquant ou invalide / missing or invalid id")
        where = f"{origin}: {flag_id}"
        level = item.get("level")
        if level not in LEVELS:
            raise SafetyDataError(f"{where}: 'level' doit être / must be one of {LEVELS}, pas {level!r}")
        source = item.get("source")
        if not isinstance(source, str) or len(source.strip()) < 5:
            raise SafetyDataError(
                f"{where}: 'source' (la source de santé publique) est obligatoire / required"
            )
        patterns = item.get("patterns") or []
        all_of = item.get("all_of") or []
        if not isinstance(patterns, list) or not isinstance(all_of, list) or not (patterns or all_of):
            raise SafetyDataError(f"{where}: 'patterns' ou 'all_of' requis / required")
        downgrade = item.get("downgrade_if") or []
        if not isinstance(downgrade, list):
            raise SafetyDataError(f"{where}: 'downgrade_if' doit être une liste / must be a list")
        if all_of and (len(all_of) < 2 or not all(isinstance(g, list) and g for g in all_of)):
            raise SafetyDataError(f"{where}: 'all_of' = au moins deux listes de motifs / two lists at least")
        flags.append(
            RedFlag(
                flag_id,
                level,
                str(item.get("category") or flag_id),
                source.strip(),
                _compile(patterns, parts, f"{where}.patterns") if patterns else None,
                tuple(_compile(g, parts, f"{where}.all_of[{k}]") for k, g in enumerate(all_of)),
                origin,
                _compile(downgrade, parts, f"{where}.downgrade_if") if downgrade else None,
            )
        )
    return flags


def packaged_red_flags() -> Path:
    return Path(str(resources.files("standardiste.understanding") / "data" / "red_flags.yml"))


def load_red_flags(extra: Iterable[Path] = ()) -> tuple[RedFlag, ...]:
    """The packaged red flags, then each practice file; an extra flag with a packaged id replaces it."""
    base_path = packaged_red_flags()
    base_doc = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    flags = parse_red_flags(base_doc, base_path.name)
    base_parts = {k: v for k, v in (base_doc.get("parts") or {}).items()}
    for path in extra:
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise SafetyDataError(f"{path}: illisible / unreadable: {err}") from err
        except yaml.YAMLError as err:
            raise SafetyDataError(f"{path}: YAML invalide / invalid YAML: {err}") from err
        for flag in parse_red_flags(doc, str(path), base_parts):
            flags = [f for f in flags if f.id != flag.id]
            flags.append(flag)
    ids = [f.id for f in flags]
    if len(set(ids)) != len(ids):
        raise SafetyDataError(f"identifiants en double / duplicate flag ids: {sorted(ids)}")
    return tuple(flags)


# --- The soon rules (wording, not red flags): earliest slots, no transfer --------------------------

SOON_RULES: dict[str, tuple[str, ...]] = {
    "persistent_fever": (
        r"\bfievre\b(?: \w+){0,4} depuis (?:" + _N + r" |plusieurs |quelques )?(?:jours|semaine)",
        r"\bfievre (?:a|de) (?:39|40|41)\b|\b(?:39|40|41)(?: degres?| 5)? de fievre\b",
        r"\bforte fievre\b|\bfievre (?:qui )?(?:ne )?(?:baisse|descend|tombe) pas\b",
    ),
    "worsening": (
        r"\b(?:s aggrave|empire|de pire en pire|de plus en plus (?:mal|fort|forte|douloureux|douloureuse))\b",
        r"\b(?:douleur|mal)\b(?: \w+){0,3} (?:insupportable|atroce|intense|terrible|tres forte)\b",
        r"\b(?:tres|vraiment|super) mal\b",
        r"\bvomi(?:t|s)? (?:sans arret|depuis|tout le temps|tout ce)\b",
        r"\bne (?:mange|boit) plus\b|\bdeshydrate",
        r"\bsaigne\b|\bsaignement\b|\bsang\b",
        r"\bmalaise\b|\bsyncope\b|\bvertiges? (?:forts?|violents?)\b",
        r"\binfect(?:e|ee|ion)\b(?: \w+){0,4} (?:gonfle|rouge|pus|fievre)",
        r"\bbrule(?:e|s|ure)?\b",
        r"\bfracture\b|\bentorse\b|\bcasse (?:le|la|la cheville|le bras|le poignet)\b",
    ),
    "caller_says_pressing": (
        r"\b(?:c est|c etait|c est assez|c est un peu|c est tres|assez|un peu|plutot|vraiment) "
        r"(?:presse|pressant|urgent)\b",
        r"\ben urgence\b|\burgent\b|\burgence\b|\bau plus vite\b|\bau plus tot\b|\bdes que possible\b"
        r"|\ble plus vite possible\b|\brapidement\b|\baujourd hui meme\b|\bca peut pas attendre\b"
        r"|\bpeut pas attendre\b|\bne peut pas attendre\b",
    ),
}
_SOON_COMPILED = {name: tuple(re.compile(p) for p in pats) for name, pats in SOON_RULES.items()}


# --- The verdict ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UrgencyResult:
    urgency: Urgency
    rule: str | None = None  # the red flag behind the level (or the soon rule)
    start: int = 0
    end: int = 0
    said_not_urgent: bool = False
    suppressed: str | None = None  # a vital flag heard only in the past, negated or hypothetical
    level: str | None = None  # "vital", "same_day", "check" or None
    red_flag: str | None = None  # the flag behind level vital / same_day (or a downgraded vital one)
    category: str | None = None
    source: str | None = None
    who: str | None = None  # who the live red-flag clause is about ("self", "bebe", "mari", "other")
    distress: str | None = None  # the distress cue heard
    clauses: tuple[str, ...] = field(default=())


@dataclass(slots=True)
class _ClauseState:
    clause: Clause
    history: bool = False  # long past, a death, a negation-free follow-up: no flag
    hypothesis: bool = False
    recent: bool = False
    resolved: bool = False
    residual: int = 0  # words besides the qualifier (a clause that is only a time passes it on)


def _who(text: str) -> str | None:
    found: str | None = None
    for m in _WHO.finditer(text):
        if m.group("noun"):
            return m.group("noun")
        if m.group("self") and found is None:
            found = "self"
        elif m.group("other") and found is None:
            found = "other"
    return found


def _qualifier_rank(states: Sequence[_ClauseState]) -> int:
    """0: live now; 1: recent past or resolved; 2: hypothetical."""
    if any(s.hypothesis for s in states):
        return 2
    if any(s.recent or s.resolved for s in states):
        return 1
    return 0


_NEGATION_INSIDE = re.compile(
    r"\b(?:n (?:a|ont|avait|y a) pas (?:de|d)|aucune?|jamais (?:de|d)|sans (?:fievre|douleur))\b"
)


def _negated(text: str, start: int, end: int | None = None) -> bool:
    """A negation right before the match, or inside a pattern with a gap ("bébé n'a pas de fièvre")."""
    before = text[max(0, start - 30) : start]
    if _NEGATION_BEFORE.search(before):
        return True
    return end is not None and bool(_NEGATION_INSIDE.search(text, start, end))


class SafetyNet:
    """The red-flag rules of one practice (packaged + its own files). Thread-safe, pure."""

    def __init__(self, flags: Sequence[RedFlag]) -> None:
        self.flags = tuple(flags)

    def _qualify(self, clauses: list[Clause]) -> list[_ClauseState]:
        states: list[_ClauseState] = []
        carry_history = carry_hypothesis = False
        for clause in clauses:
            text = clause.text
            now = bool(_NOW.search(text))
            st = _ClauseState(clause)
            time_m = _HISTORY_TIME.search(text)
            st.history = bool((time_m or _HISTORY_OTHER.search(text)) and not now) or bool(
                _DEATH.search(text)
            )
            hypo_m = _HYPOTHESIS.search(text)
            st.hypothesis = bool(hypo_m) and not _KNOWS_NOT_IF.search(text)
            st.recent = bool(_RECENT_PAST.search(text)) and not now
            if clause.weak:
                st.history = st.history or (carry_history and not now)
                st.hypothesis = st.hypothesis or carry_hypothesis
            marker = time_m or hypo_m
            words = [w for w in text.split() if w not in _EMPTY_WORDS]
            residual = len(words) - (len(marker.group().split()) if marker else 0)
            carry_history = bool(time_m) and not now and residual <= 2
            carry_hypothesis = bool(hypo_m) and residual <= 2
            if _RESOLVED.search(text):
                for earlier in states:
                    earlier.resolved = True
            states.append(st)
        return states

    def assess(self, folded: str) -> UrgencyResult:
        """The verdict on one utterance, from its folded text (see normalize.fold, with digits)."""
        text, repeated = _asr_clean(folded if isinstance(folded, str) else "")
        if not text:
            return UrgencyResult(Urgency.NORMAL)
        clauses = split_clauses(text)
        states = self._qualify(clauses)
        distress_m = _DISTRESS.search(text)
        distress = repeated or (distress_m.group() if distress_m else None)
        if distress and _NOT_GRAVE.search(text):
            # "ce n'est pas grave", "pas urgent urgent": what was denied is no distress.
            distress = repeated if repeated and not set(repeated.split()) <= _DENIABLE else None

        live = [s for s in states if not s.history]
        # Units: each clause, and each pair of neighbouring clauses (a flag said across a "et").
        units: list[tuple[str, int, list[_ClauseState]]] = [
            (s.clause.text, s.clause.start, [s]) for s in live
        ]
        for a, b in itertools.pairwise(states):
            if not a.history and not b.history:
                joined = f"{a.clause.text} {b.clause.text}"
                units.append((joined, a.clause.start, [a, b]))

        best: tuple[int, RedFlag, int, int, _ClauseState] | None = None  # rank 0 vital .. 3
        suppressed: str | None = None
        for flag in self.flags:
            hit = self._match(flag, units, live)
            if hit is None:
                if flag.level == VITAL and suppressed is None and self._match_any(flag, states):
                    suppressed = flag.id
                continue
            start, end, st, unit_states = hit
            rank = _qualifier_rank(unit_states)  # 0 vital, 1 same day, 2 check
            if (
                rank == 0
                and flag.downgrade_if is not None
                and any(flag.downgrade_if.search(s.clause.text) for s in live)
            ):
                rank = 1
            if flag.level == SAME_DAY:
                if rank:  # a same-day sign in the past or in a hypothesis: nothing to do today
                    continue
                rank = 1
            if best is None or rank < best[0]:
                best = (rank, flag, start, end, st)
                if rank == 0:
                    break

        not_urgent = bool(_NOT_URGENT.search(text))
        all_clauses = tuple(c.text for c in clauses)
        who = self._who_of(best[4], states) if best is not None else None
        if best is not None and best[0] == 0:
            _, flag, start, end, st = best
            return UrgencyResult(
                Urgency.URGENT, flag.id, start, end, not_urgent, None, VITAL, flag.id, flag.category,
                flag.source, who, distress, all_clauses,
            )  # fmt: skip
        if best is not None and best[0] == 1:
            _, flag, start, end, st = best
            return UrgencyResult(
                Urgency.SOON, flag.id, start, end, not_urgent, suppressed, SAME_DAY, flag.id, flag.category,
                flag.source, who, distress, all_clauses,
            )  # fmt: skip
        check_flag = best[1] if best is not None else None
        level = CHECK if (check_flag is not None or distress) else None
        soon = None if not_urgent else self._soon(live)
        urgency = Urgency.SOON if soon else Urgency.NORMAL
        return UrgencyResult(
            urgency,
            soon[0] if soon else None,
            soon[1] if soon else 0,
            soon[2] if soon else 0,
            not_urgent,
            suppressed or (check_flag.id if check_flag else None),
            level,
            check_flag.id if check_flag else ("distress" if distress else None),
            check_flag.category if check_flag else ("distress" if distress else None),
            check_flag.source if check_flag else None,
            None,
            distress,
            all_clauses,
        )

    @staticmethod
    def _search_live(
        pattern: re.Pattern[str], units: list[tuple[str, int, list[_ClauseState]]]
    ) -> tuple[int, int, _ClauseState, list[_ClauseState]] | None:
        """The least qualified hit (a plain live clause beats a hypothesis or a recent past)."""
        best: tuple[int, tuple[int, int, _ClauseState, list[_ClauseState]]] | None = None
        for text, offset, unit_states in units:
            rank = _qualifier_rank(unit_states)
            if best is not None and rank >= best[0]:
                continue
            for m in pattern.finditer(text):
                if _negated(text, m.start(), m.end()):
                    continue
                where = unit_states[0]
                if len(unit_states) > 1 and m.end() > len(unit_states[0].clause.text):
                    where = unit_states[1]  # the clause the red flag ends in names the person
                best = (rank, (offset + m.start(), offset + m.end(), where, unit_states))
                break
            if best is not None and best[0] == 0:
                break
        return best[1] if best is not None else None

    def _match(
        self,
        flag: RedFlag,
        units: list[tuple[str, int, list[_ClauseState]]],
        live: list[_ClauseState],
    ) -> tuple[int, int, _ClauseState, list[_ClauseState]] | None:
        hit = self._search_live(flag.patterns, units) if flag.patterns is not None else None
        if hit is not None and _qualifier_rank(hit[3]) == 0:
            return hit
        if flag.all_of:
            single = [(s.clause.text, s.clause.start, [s]) for s in live]
            hits = [self._search_live(group, single) for group in flag.all_of]
            if all(h is not None for h in hits):
                first = hits[0]
                assert first is not None
                involved = [h[2] for h in hits if h is not None]
                combined = (first[0], first[1], first[2], involved)
                if hit is None or _qualifier_rank(involved) < _qualifier_rank(hit[3]):
                    return combined
        return hit

    @staticmethod
    def _match_any(flag: RedFlag, states: list[_ClauseState]) -> bool:
        if flag.patterns is None:
            return False
        return any(flag.patterns.search(s.clause.text) for s in states)

    @staticmethod
    def _who_of(st: _ClauseState, states: list[_ClauseState]) -> str | None:
        """Who the red-flag clause is about; "elle" after "ma fille" is the daughter."""
        who = _who(st.clause.text)
        index = states.index(st)
        if who is None and index > 0:  # a red flag said across two clauses: the first names the person
            who = _who(states[index - 1].clause.text)
        if who in (None, "other"):
            for earlier in reversed(states[: states.index(st)]):
                named = _who(earlier.clause.text)
                if named not in (None, "self", "other"):
                    return named
        return who

    @staticmethod
    def _soon(live: list[_ClauseState]) -> tuple[str, int, int] | None:
        for name, patterns in _SOON_COMPILED.items():
            for st in live:
                if name == "worsening" and st.recent:
                    continue
                text = st.clause.text
                for pattern in patterns:
                    m = pattern.search(text)
                    if m and not _negated(text, m.start()):
                        return name, st.clause.start + m.start(), st.clause.start + m.end()
        return None


@functools.lru_cache(maxsize=1)
def default_net() -> SafetyNet:
    return SafetyNet(load_red_flags())


def net_for(extra: Sequence[Path] = ()) -> SafetyNet:
    """The safety net with a practice's own red-flag files (validated now: raises SafetyDataError)."""
    return SafetyNet(load_red_flags(extra)) if extra else default_net()


def assess(folded: str) -> UrgencyResult:
    """Urgency of one utterance with the packaged red flags (see SafetyNet.assess)."""
    return default_net().assess(folded)
