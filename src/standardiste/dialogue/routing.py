"""How the conversation reads a caller's words before any task: menu words and keys, the goals a
sentence names ("annuler mon rendez-vous et vos horaires du samedi"), a change of mind, "répétez".

Pure data and functions (no call state), so the conversation (manager.py) stays about routing."""

from __future__ import annotations

import re

from standardiste.dialogue.agenda import family
from standardiste.dialogue.core import fold
from standardiste.understanding.types import Intent

MENU_PHRASES = (
    "rendez-vous", "prendre rendez-vous", "annuler", "déplacer", "confirmer", "horaires", "adresse",
    "parking", "tarif", "ordonnance", "certificat", "arrêt de travail", "résultats", "secrétariat",
    "urgence", "oui", "non",
)  # fmt: skip

REPEAT_WORDS = ("repeter", "repetez", "redire", "pas entendu", "pas bien entendu")
REPEAT_ALONE = ("comment", "pardon", "hein", "quoi", "pardon comment")
WAIT_WORDS = ("attendez", "un instant", "une seconde", "deux secondes")

# Menu words, most specific first (a grammar-only recogniser returns exactly these).
MENU_WORDS = (
    ("prendre rendez", Intent.BOOK_APPOINTMENT), ("annul", Intent.CANCEL_APPOINTMENT),
    ("deplac", Intent.RESCHEDULE_APPOINTMENT), ("confirm", Intent.CONFIRM_APPOINTMENT),
    ("horaire", Intent.ASK_HOURS), ("adresse", Intent.ASK_ADDRESS_ACCESS), ("parking", Intent.ASK_PARKING),
    ("tarif", Intent.ASK_PRICE_PAYMENT), ("ordonnance", Intent.PRESCRIPTION_RENEWAL),
    ("certificat", Intent.MEDICAL_CERTIFICATE), ("arret de travail", Intent.SICK_LEAVE),
    ("resultat", Intent.TEST_RESULTS), ("secretariat", Intent.SPEAK_TO_HUMAN),
    ("rendez", Intent.BOOK_APPOINTMENT),
)  # fmt: skip


def menu_word_intent(text: str) -> Intent | None:
    folded = fold(text)
    if len(folded.split()) > 4:  # a sentence the classifier could not place: not a menu word
        return None
    found = next((intent for word, intent in MENU_WORDS if word in folded), None)
    if found == Intent.BOOK_APPOINTMENT and _sounds_like_cancel(folded):
        # "Amulez un rendez-vous." (Pico's "annulez un rendez-vous" through the phone and Whisper): the
        # verb misheard, "rendez-vous" heard; without this, the caller who wants to cancel was booking.
        return Intent.CANCEL_APPOINTMENT
    return found


# "annuler" as the open recogniser mishears it, by its French sound key (understanding.soundalike.key):
# "amulez", "amuler" are one sound away. Only a word of four sounds or more starting like it ("nul", "aller",
# "animer", "amener", "allumer" stay what they are: 1 to 3 sounds away, or too short).
_CANCEL_FORMS = ("annuler", "annulez", "annule")


def _sounds_like_cancel(folded: str) -> bool:
    from rapidfuzz.distance import Levenshtein

    from standardiste.understanding.soundalike import key

    targets = {key(w) for w in _CANCEL_FORMS}
    for word in folded.split():
        k = key(word)
        if len(k) >= 4 and k[0] == "a" and min(Levenshtein.distance(k, t) for t in targets) <= 1:
            return True
    return False


def goal_parts(text: str) -> list[tuple[Intent, str]]:
    """The goals a sentence names part by part ("annuler ... et vos horaires"), in order, one per
    family, each with its own words."""
    folded = f" {fold(text)} "
    # The caller's own spelling when folding kept the positions (it does for French letters).
    original = f" {text} " if len(folded) == len(text) + 2 else folded
    cuts = sorted({(m.start(), m.end()) for c in GOAL_CONNECTORS for m in re.finditer(re.escape(c), folded)})
    spans, start = [], 0
    for begin, end in cuts:
        if begin >= start:  # " et aussi " wins over the " et " inside it
            spans.append((start, begin))
            start = end
    spans.append((start, len(folded)))
    goals: list[tuple[Intent, str]] = []
    for begin, end in spans:
        part = folded[begin:end]
        intent = next((i for word, i in MENU_WORDS if word in part), None)
        if intent in TASK_INTENTS and all(family(intent) != family(g) for g, _ in goals):
            goals.append((intent, original[begin:end].strip(" ,.")))
    return goals


def goals_in_sentence(text: str) -> list[Intent]:
    return [intent for intent, _ in goal_parts(text)]


# Intents that start a task of their own (a caller may switch to one at almost any question).
TASK_INTENTS = frozenset({
    Intent.BOOK_APPOINTMENT, Intent.CANCEL_APPOINTMENT, Intent.RESCHEDULE_APPOINTMENT,
    Intent.CONFIRM_APPOINTMENT, Intent.ASK_HOURS, Intent.ASK_ADDRESS_ACCESS, Intent.ASK_PARKING,
    Intent.ASK_DOCUMENTS_TO_BRING, Intent.ASK_PRICE_PAYMENT, Intent.PRESCRIPTION_RENEWAL,
    Intent.MEDICAL_CERTIFICATE, Intent.SICK_LEAVE, Intent.TEST_RESULTS,
})  # fmt: skip


# Classifier-only emergency guesses worth a confirmation question (rules always act, whatever these say).
EMERGENCY_ASK_OPEN = 0.4
EMERGENCY_ASK_SLOT = 0.6
# A clarifying question between the classifier's two best guesses when both are at least this likely.
CLARIFY_MIN = 0.15
CLARIFY_SUM = 0.45
# Above this confidence, a task intent said in the middle of another task switches to it.
SWITCH_CONFIDENCE = 0.8
TASK_FAMILY = {
    Intent.CANCEL_APPOINTMENT: "existing",
    Intent.RESCHEDULE_APPOINTMENT: "existing",
    Intent.CONFIRM_APPOINTMENT: "existing",
}


# A change of mind: the current goal is dropped for the one named ("finalement je préfère...").
CHANGE_OF_MIND_WORDS = (
    "finalement", "plutot", "en fait", "je prefere", "laissez tomber", "oubliez", "non je voudrais",
    "non je veux", "changement",
)  # fmt: skip
# "annuler mon rendez-vous et vos horaires du samedi": what joins two goals in one sentence.
GOAL_CONNECTORS = (" et aussi ", " et puis ", " egalement ", " en plus ", " ainsi que ", " aussi ", " et ")

MENU_KEYS = {
    "1": Intent.ASK_HOURS,
    "2": Intent.BOOK_APPOINTMENT,
    "3": Intent.CANCEL_APPOINTMENT,
    "4": Intent.PRESCRIPTION_RENEWAL,
    "5": Intent.ASK_ADDRESS_ACCESS,
}
