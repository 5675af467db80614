"""Short menu answers as the open recogniser mishears them (dialogue.routing.menu_word_intent)."""

from __future__ import annotations

from standardiste.dialogue.routing import menu_word_intent
from standardiste.understanding.types import Intent


def test_a_misheard_cancel_verb_is_not_a_booking() -> None:
    """Pico's "annulez un rendez-vous" came back "Amulez un rendez-vous." through G.711 and Whisper base:
    "rendez-vous" alone made it a booking."""
    for heard in ("Amulez un rendez-vous.", "amuler un rendez-vous", "Annulez un rendez-vous"):
        assert menu_word_intent(heard) == Intent.CANCEL_APPOINTMENT, heard


def test_words_near_the_cancel_verb_stay_bookings() -> None:
    for heard in (
        "un rendez-vous",
        "prendre rendez-vous",
        "allumer rendez-vous",
        "animer un rendez-vous",
        "amener rendez-vous",
        "aller rendez-vous",
        "c'est nul rendez-vous",
        "Ponde rendez-vous.",
    ):
        assert menu_word_intent(heard) == Intent.BOOK_APPOINTMENT, heard
    assert menu_word_intent("les horaires") == Intent.ASK_HOURS
