"""Small per-question grammars, by the kind of answer a question expects (dialogue.messages.Expect).

Each kind gives two things:
- `phrases`: a short list of phrases and words, the grammar hint for backends that take a phrase list
  (Vosk's runtime grammar); this is what goes into `Expectation.phrases` / `RecognitionStream.set_grammar`;
- `jsgf`: the same answers as a JSGF grammar, for backends that need a real grammar (PocketSphinx). A phrase
  list made here is remembered, so `from_phrases(phrases)` gives the JSGF grammar back from the phrases alone.

Recognised text stays French words ("lundi quatorze heures trente", "zéro six douze ..."): the
understanding layer's parsers read French number words. `to_text` only tidies a backend's output.

A grammar cannot reject: off-topic speech is forced into it. The dialogue confirms every recognised slot and
offers the keypad for numbers and dates; there is no grammar for open questions. Names get one built at call
time from the practice's patients (`patient_names`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from standardiste.dialogue.messages import Expect, Expectation

# --- Vocabulary ---

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
UNITS = ("un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
TEENS = (
    "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf",
)  # fmt: skip
TENS = ("vingt", "trente", "quarante", "cinquante")
RELATIVE_DAYS = ("aujourd'hui", "demain", "après-demain")
PARTS_OF_DAY = ("matin", "après-midi", "soir", "midi")
YES = ("oui", "ouais", "oui c'est ça", "c'est ça", "exactement", "tout à fait", "d'accord", "oui merci")
NO = ("non", "non merci", "pas du tout", "non c'est pas ça", "ce n'est pas ça")
# "As soon as possible" and "any time" at a day/time question: said by callers as often as a day. Without them
# the grammar recogniser forced "le plus vite possible" onto a date ("sept juillet", spoken calls 2026-12-07).
SOONEST = ("dès que possible", "le plus vite possible", "le plus tôt possible", "au plus vite", "au plus tôt",
           "peu importe", "n'importe quand")  # fmt: skip
ANY_PRACTITIONER = ("peu importe", "n'importe lequel", "le premier disponible", "ça m'est égal")
REASONS = (
    "prendre rendez-vous", "un rendez-vous", "annuler un rendez-vous", "annuler mon rendez-vous",
    "déplacer mon rendez-vous", "changer mon rendez-vous", "les horaires", "les horaires d'ouverture",
    "parler à quelqu'un", "parler à la secrétaire", "une urgence", "c'est urgent",
    "une ordonnance", "renouveler une ordonnance", "un résultat", "des résultats d'analyse",
    "l'adresse", "le prix de la consultation", "un certificat médical",
)  # fmt: skip
SATISFACTION = ("un", "deux", "trois", "quatre", "cinq", "très satisfait", "satisfait", "pas satisfait")


@dataclass(frozen=True, slots=True)
class Grammar:
    name: str
    jsgf: str
    phrases: tuple[str, ...]
    # Tried alone when the grammar finds no complete answer: noise after a short answer can leave a
    # structured grammar with no path ("lundi" + line noise -> nothing); a flat list still finds "lundi".
    fallback: tuple[str, ...] = ()

    @property
    def words(self) -> frozenset[str]:
        return frozenset(jsgf_words(self.jsgf))

    @property
    def fallback_jsgf(self) -> str | None:
        alternatives = [p for p in (_phrase(x) for x in self.fallback) if p]
        return _jsgf(f"{self.name}_flat", _alt(dict.fromkeys(alternatives)), "") if alternatives else None

    @property
    def all_words(self) -> frozenset[str]:
        fallback = self.fallback_jsgf
        return self.words | (frozenset(jsgf_words(fallback)) if fallback else frozenset())


_REGISTRY: dict[tuple[str, ...], Grammar] = {}


# --- JSGF building blocks ---


def _alt(items: Iterable[str]) -> str:
    return "( " + " | ".join(items) + " )"


_NUMBER_RULES = f"""
<units> = {_alt(UNITS)};
<units2> = {_alt(UNITS[1:])};
<teens> = {_alt(TEENS)};
<n1_69> = <units> | <teens> | {_alt((*TENS, "soixante"))} [ et un | <units2> ];
<n1_99> = <n1_69> | soixante [et] <teens> | quatre-vingt [ <units> | <teens> ] | quatre-vingts
    | soixante-dix | quatre-vingt-dix;
<n0_99> = zéro | <n1_99>;
<hour> = <units> | <teens> | vingt [ et un | deux | trois ];
<minute> = <n1_69> | et quart | et demie | moins le quart | moins <n1_69>;
<time> = [à] ( <hour> ( heure | heures ) [<minute>] | midi [ et demi | et quart | <n1_69> ] | minuit );
<monthday> = premier | <n1_69>;
<month> = {_alt(MONTHS)};
<weekday> = {_alt(WEEKDAYS)};
<part> = [le | en] {
    _alt(("matin", "après-midi", "soir", "fin de matinée", "début d'après-midi", "fin d'après-midi"))
};
<day> = [le] <weekday> [prochain] [[le] <monthday> <month>] | {_alt(RELATIVE_DAYS)}
    | [le] <monthday> <month> | la semaine prochaine;
"""


def _jsgf(name: str, body: str, rules: str = _NUMBER_RULES) -> str:
    return f"#JSGF V1.0;\ngrammar {name};\n{rules}\npublic <answer> = {body};\n"


def _register(grammar: Grammar) -> Grammar:
    _REGISTRY[grammar.phrases] = grammar
    return grammar


def _number_words() -> tuple[str, ...]:
    return (
        "zéro",
        *UNITS,
        *TEENS,
        *TENS,
        "soixante",
        "soixante-dix",
        "quatre-vingt",
        "quatre-vingt-dix",
        "et",
    )


def _build(kind: Expect) -> Grammar | None:
    if kind is Expect.YES_NO:
        return Grammar("yes_no", _jsgf("yes_no", _alt(YES + NO), ""), YES + NO)
    if kind is Expect.DAY:
        phrases = (
            *WEEKDAYS,
            *RELATIVE_DAYS,
            *PARTS_OF_DAY,
            *MONTHS,
            "lundi matin",
            "mardi après-midi",
            "le douze mars",
            "la semaine prochaine",
            "prochain",
            "le",
            "premier",
            *_number_words(),
        )
        return Grammar("day", _jsgf("day", "<day> [<part>] | <part>"), phrases, (*WEEKDAYS, *RELATIVE_DAYS))
    if kind is Expect.TIME:
        phrases = (
            "quatorze heures trente",
            "neuf heures",
            "midi",
            "minuit",
            "heures",
            "heure",
            "et quart",
            "et demie",
            "moins le quart",
            "le matin",
            "l'après-midi",
            *_number_words(),
        )
        return Grammar("time", _jsgf("time", "<time> | <part>"), phrases)
    if kind is Expect.DATE_TIME:
        phrases = (
            *WEEKDAYS,
            *RELATIVE_DAYS,
            *PARTS_OF_DAY,
            *MONTHS,
            "lundi quatorze heures trente",
            "mardi à neuf heures",
            "heures",
            "heure",
            "et quart",
            "et demie",
            "prochain",
            "premier",
            *SOONEST,
            *_number_words(),
        )
        body = f"<day> [<part>] [<time>] | <time> | <part> | {_alt(SOONEST)}"
        return Grammar("date_time", _jsgf("date_time", body), phrases, (*WEEKDAYS, *RELATIVE_DAYS))
    if kind is Expect.BIRTH_DATE:
        year = "<year> = mille neuf cent <n1_99> | dix-neuf cent <n1_99> | deux mille [<n1_99>];\n"
        rules = _NUMBER_RULES + year
        phrases = (
            *MONTHS,
            "le douze mars mille neuf cent quatre-vingt-cinq",
            "mille",
            "neuf",
            "cent",
            "deux mille",
            "premier",
            *_number_words(),
        )
        return Grammar("birth_date", _jsgf("birth_date", "[le] <monthday> <month> <year>", rules), phrases)
    if kind is Expect.PHONE:
        # Exactly a French number: five pairs ("zéro six, douze, ...") or ten digits. A looping grammar
        # let the decoder insert or drop groups (a trailing "un" on every other number).
        rules = _NUMBER_RULES + (
            "<digit> = zéro | <units>;\n"
            "<n10_99> = <teens> | ( vingt | trente | quarante | cinquante | soixante ) [ et un | <units2> ]"
            " | soixante [et] <teens> | quatre-vingt [ <units> | <teens> ] | quatre-vingts | soixante-dix"
            " | quatre-vingt-dix;\n"
            "<pair> = zéro <units> | <n10_99>;\n"
        )
        body = "zéro <units> <pair> <pair> <pair> <pair> | " + " ".join(["<digit>"] * 10)
        phrases = ("zéro six", "zéro sept", *_number_words())  # how French mobile numbers start
        return Grammar("phone", _jsgf("phone", body, rules), phrases)
    if kind is Expect.DIGITS:
        return Grammar("digits", _jsgf("digits", "<n0_99>+"), _number_words())
    if kind is Expect.SATISFACTION:
        return Grammar("satisfaction", _jsgf("satisfaction", _alt(SATISFACTION), ""), SATISFACTION)
    if kind is Expect.OPEN:
        # Only the main reasons for calling; the dialogue confirms them (a grammar cannot reject).
        return Grammar("reasons", _jsgf("reasons", _alt(REASONS), ""), REASONS)
    return None  # NAME, CHOICE (phrases come from the question), PRACTITIONER (needs the practice)


_BUILTIN: dict[Expect, Grammar | None] = {}


def for_kind(kind: Expect | str, practice: object | None = None) -> Grammar | None:
    """The grammar for a kind of answer (None: no grammar, e.g. names). `practice`: a PracticeConfig."""
    kind = Expect(kind)
    if kind is Expect.PRACTITIONER:
        return _register(practitioners(practice)) if practice is not None else None
    if kind not in _BUILTIN:
        built = _build(kind)
        _BUILTIN[kind] = _register(built) if built else None
    return _BUILTIN[kind]


def phrases_for(kind: Expect | str, practice: object | None = None) -> tuple[str, ...]:
    """The grammar hint (phrase list) for a kind of answer; () when there is none."""
    grammar = for_kind(kind, practice)
    return grammar.phrases if grammar else ()


def for_expectation(expect: Expectation, practice: object | None = None) -> Grammar | None:
    """The question's own phrases win (e.g. a CHOICE between named options); else the kind's grammar."""
    if expect.phrases:
        return from_phrases(expect.phrases)
    return for_kind(expect.kind, practice)


def hint(expect: Expectation | None, practice: object | None = None) -> list[str] | None:
    """What a session passes to `RecognitionStream.set_grammar` for a question: the question's own phrases,
    else its kind's phrase list (grammar-only recognisers need it: Expectation(Expect.DATE_TIME) has no
    phrases), else None (open question or a name: open vocabulary for Vosk, a no-match for grammar-only
    recognisers; the reasons-for-calling grammar is `for_kind(Expect.OPEN)`, for menus that want it)."""
    if expect is None or (expect.kind is Expect.OPEN and not expect.phrases):
        return None
    grammar = for_expectation(expect, practice)
    return list(grammar.phrases) if grammar is not None else None


def practitioners(practice: object) -> Grammar:
    """Practitioner names and aliases from the practice configuration."""
    names: list[str] = []
    for p in getattr(practice, "practitioners", ()):
        for text in (p.name, *p.aliases):
            norm = _phrase(text)
            if norm and norm not in names:
                names.append(norm)
            parts = norm.split()
            if parts and parts[-1] not in names:
                names.append(parts[-1])  # the surname alone
            if norm.startswith("docteur ") and f"le {norm}" not in names:
                # "le docteur Benali", as callers say it: without the article PocketSphinx rejected it or
                # forced it onto "pédiatre" (spoken calls, 2026-12-07).
                names.append(f"le {norm}")
    phrases = (*names, *ANY_PRACTITIONER)
    return Grammar("practitioner", _jsgf("practitioner", _alt(phrases), ""), phrases)


# How callers introduce a name ("oui, je m'appelle ...", "c'est ...") and close it ("..., bonjour").
NAME_INTROS = ("je m'appelle", "c'est", "moi c'est", "mon nom c'est", "je suis", "madame", "monsieur")


def patient_names(names: Iterable[tuple[str, str]]) -> Grammar:
    """The names of a few patients (last, first), built at call time from the practice's file (the
    patients sharing the caller's number or birth date): each in both orders and the last name alone,
    with the usual introductions around it. A flat grammar, so PocketSphinx adds its garbage path and a
    name that is none of these is rejected (identity/voice.py)."""
    phrases: list[str] = []
    for last, first in names:
        ln, fn = _phrase(last), _phrase(first)
        for phrase in (f"{ln} {fn}", f"{fn} {ln}", ln):
            if phrase.strip() and phrase.strip() not in phrases:
                phrases.append(phrase.strip())
    body = f"[ oui ] [ {_alt(NAME_INTROS)} ] {_alt(phrases)} [ bonjour ]" if phrases else "oui"
    return Grammar("patient_names", _jsgf("patient_names", body, ""), tuple(phrases))


def from_phrases(phrases: Sequence[str] | None) -> Grammar | None:
    """The grammar for a phrase list: one made here (with its JSGF), else a grammar of these phrases."""
    if not phrases:
        return None
    key = tuple(phrases)
    known = _REGISTRY.get(key)
    if known:
        return known
    if not _BUILTIN:
        for kind in Expect:
            for_kind(kind)
        known = _REGISTRY.get(key)
        if known:
            return known
    alternatives = [p for p in (_phrase(x) for x in phrases if not x.strip().startswith("[")) if p]
    if not alternatives:
        return None
    return Grammar("phrases", _jsgf("phrases", _alt(dict.fromkeys(alternatives)), ""), key)


# --- Text helpers ---

_LETTERS = "a-zàâäçéèêëîïôöùûüÿœæ"
# A word: letters, with inner hyphens/apostrophes ("rendez-vous", "aujourd'hui") or an elision ("l'").
_TOKEN = re.compile(rf"[{_LETTERS}]+(?:['\-][{_LETTERS}]+)*'?")


def _phrase(text: str) -> str:
    """Lower-case words a grammar can hold (no punctuation; apostrophes and hyphens kept)."""
    return " ".join(_TOKEN.findall(text.lower().replace("’", "'")))


def jsgf_words(jsgf: str) -> list[str]:
    """The words a JSGF grammar can produce (only rules reachable from the public rule)."""
    lines = [line for line in jsgf.splitlines() if not line.startswith(("#JSGF", "grammar "))]
    rules: dict[str, str] = {}
    start = ""
    for statement in "\n".join(lines).split(";"):
        head, sep, body = statement.partition("=")
        name = re.search(r"<([^>]+)>", head)
        if not sep or not name:
            continue
        rules[name.group(1)] = body
        if "public" in head and not start:
            start = name.group(1)
    words: dict[str, None] = {}
    seen: set[str] = set()
    todo = [start]
    while todo:
        rule = todo.pop()
        if rule in seen or rule not in rules:
            continue
        seen.add(rule)
        todo.extend(re.findall(r"<([^>]+)>", rules[rule]))
        words.update(dict.fromkeys(_TOKEN.findall(re.sub(r"<[^>]+>", " ", rules[rule]))))
    return list(words)


def to_text(hypothesis: str) -> str:
    """A backend's output as plain French words (no silence/filler markers, no pronunciation variants)."""
    words = [re.sub(r"\(\d+\)$", "", w) for w in hypothesis.split()]
    return " ".join(w for w in words if w and not w.startswith(("<", "[", "+")))
