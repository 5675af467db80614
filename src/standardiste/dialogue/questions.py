"""Practical questions (hours, address, parking, documents, price, tiers payant): only what the
practice's configuration says; a question it gave no answer for goes to a human or a message."""

from __future__ import annotations

from dataclasses import dataclass

from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, fold
from standardiste.dialogue.human import HumanOrMessageTask
from standardiste.dialogue.messages import Action, OutcomeKind
from standardiste.hours import opening_status
from standardiste.understanding.types import Intent

FAQ_INTENTS = frozenset({
    Intent.ASK_HOURS, Intent.ASK_ADDRESS_ACCESS, Intent.ASK_PARKING, Intent.ASK_DOCUMENTS_TO_BRING,
    Intent.ASK_PRICE_PAYMENT,
})  # fmt: skip

FAQ_WORDS = (
    (("stationn", "se garer", "me garer", "parking", "place pour la voiture"), Intent.ASK_PARKING),
    (("apporter", "documents", "papiers", "prendre avec moi"), Intent.ASK_DOCUMENTS_TO_BRING),
    (
        ("combien", "prix", "tarif", "coute", "payer", "paiement", "rembours", "frais", "tiers payant"),
        Intent.ASK_PRICE_PAYMENT,
    ),
    (("adresse", "se trouve", "situe", "acces", "pour venir"), Intent.ASK_ADDRESS_ACCESS),
)

# Words that put a question to the practice ("peut-on se faire vacciner sans rendez-vous ?"): a
# practical question, even when the classifier hears "rendez-vous" in it.
PRACTICE_QUESTION_WORDS = (
    "sans rendez", "peut-on se faire", "peut on se faire", "on peut se faire", "faites-vous",
    "faites vous", "vous faites", "pratiquez", "acceptez-vous", "acceptez vous", "vous acceptez",
    "prenez-vous", "prenez vous",
)  # fmt: skip
# "je suis en ALD, dois-je avancer les frais ?": the tiers payant answer, not the price.
TIERS_PAYANT_WORDS = (
    " ald ",
    "tiers payant",
    "avancer les frais",
    "affection longue",
    "cent pour cent",
    "100 %",
)


@dataclass(slots=True)
class QuestionState:
    topics: list[str]  # the topics answered in this call, in order


class PracticalQuestionTask:
    def __init__(self, core: CallContext, human: HumanOrMessageTask) -> None:
        self.core = core
        self.human = human
        self.current = QuestionState([])

    def names_a_topic(self, text: str) -> bool:
        folded = fold(text)
        return any(any(w in folded for w in words) for words, _ in FAQ_WORDS) or "horaire" in folded

    def answer(self, intent: Intent, answer: Answer) -> list[Action]:
        practice = self.core.practice
        faq = practice.faq
        folded = fold(answer.text) if answer.spoken else ""
        if intent != Intent.ASK_HOURS:
            # The practical question the caller's own words name wins over the classifier's neighbour.
            intent = next((i for words, i in FAQ_WORDS if any(w in folded for w in words)), intent)
        topic, text = str(intent), ""
        if intent == Intent.ASK_HOURS:
            topic, text = "hours", P.hours_answer(practice)
            status = opening_status(practice, answer.now)
            if not status.open_now and status.next_opening is not None:
                opening = P.datetime_fr(self.core.local(status.next_opening), answer.now)
                text = f"{text} {P.closed_now(opening)}"
        elif any(w in f" {folded} " for w in TIERS_PAYANT_WORDS) and faq.tiers_payant:
            topic, text = "tiers_payant", faq.tiers_payant
        elif "vitale" in folded:
            topic, text = "carte_vitale", faq.carte_vitale
        elif "tiers payant" in folded:
            topic, text = "tiers_payant", faq.tiers_payant
        elif intent == Intent.ASK_ADDRESS_ACCESS:
            topic = "address_access"
            text = faq.address_access or P.address_answer(practice)
        elif intent == Intent.ASK_PARKING:
            topic, text = "parking", faq.parking
        elif intent == Intent.ASK_DOCUMENTS_TO_BRING:
            topic, text = "documents_to_bring", faq.documents_to_bring
        elif intent == Intent.ASK_PRICE_PAYMENT:
            topic, text = "price_payment", faq.price_payment
            if (
                text
                and faq.carte_vitale
                and any(w in folded for w in ("rembours", "secu", "payer", "paiement"))
            ):
                text = f"{text} {faq.carte_vitale}"
        if not text:
            return self.human.no_information(topic)
        return self._answered(topic, text)

    def extra_answer(self, answer: Answer) -> list[Action] | None:
        """Practice-specific questions (faq.extra: keyword -> answer)."""
        folded = fold(answer.text)
        for key, text in self.core.practice.faq.extra.items():
            if key and fold(key) in folded and text:
                return self._answered(f"extra:{key}", text)
        return None

    def unknown(self, answer: Answer) -> list[Action]:
        """A question put to the practice: its own answer if it gave one, else none (a human or a message)."""
        extra = self.extra_answer(answer)
        if extra is not None:
            return extra
        self.core.state.path.append("practical_question")
        return self.human.no_information("unknown")

    def _answered(self, topic: str, text: str) -> list[Action]:
        self.current.topics.append(topic)
        self.core.achieve(OutcomeKind.ANSWERED, topic=topic)
        return self.core.what_else(text)
