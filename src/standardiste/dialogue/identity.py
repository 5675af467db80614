"""Who is calling: name, birth date, callback number (caller ID offered first)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from standardiste.agenda.model import RequestDraft, RequestKind
from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, Question, fold
from standardiste.dialogue.identity_check import IdentityCheck
from standardiste.dialogue.messages import Action, Expect, Expectation, OutcomeKind
from standardiste.outbound import is_allowed
from standardiste.understanding.types import EntityKind

# Typing 8 or 10 digits takes longer than answering: more silence before NoInput.
KEYPAD_ENTRY_TIMEOUT_S = 12.0

_NAME_NOISE = (
    "je m'appelle", "je m appelle", "mon nom est", "mon nom c'est", "mon nom c est", "c'est", "c est",
    "moi c'est", "je suis", "madame", "monsieur", "mademoiselle", "mme", "mr", "alors", "oui", "euh",
    "nom", "prenom", "de famille",
)  # fmt: skip


@dataclass(slots=True)
class Identity:
    last_name: str = ""
    first_name: str = ""
    birth_date: dt.date | None = None
    phone: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def normalise_phone(text: str) -> str | None:
    """French national or E.164 digits -> E.164; None when it is not a plausible number."""
    digits = re.sub(r"[^\d+]", "", text)
    if digits.startswith("+33") and len(digits) == 12:
        return digits
    if digits.startswith("0033") and len(digits) == 13:
        return "+33" + digits[4:]
    if len(digits) == 10 and digits.startswith("0") and digits[1] != "0":
        return "+33" + digits[1:]
    if digits.startswith("+") and 8 <= len(digits) <= 16:
        return digits
    return None


def birth_date_from_keys(keys: str, today: dt.date) -> dt.date | None:
    """'15031985' (JJMMAAAA) -> 1985-03-15; impossible or future dates -> None."""
    if not re.fullmatch(r"\d{8}", keys):
        return None
    try:
        day = dt.date(int(keys[4:]), int(keys[2:4]), int(keys[:2]))
    except ValueError:
        return None
    return day if dt.date(1900, 1, 1) <= day <= today else None


_MONTHS = (
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
)


def birth_date_from_words(text: str, today: dt.date) -> dt.date | None:
    """Fallback for "deux mai mille neuf cent soixante-dix", "le 2/5/1970", "02 05 70"."""
    from text_to_num import alpha2digit

    folded = fold(alpha2digit(text, "fr", threshold=0)).replace("1er", "1")
    match = re.search(r"\b(\d{1,2})\s+(" + "|".join(_MONTHS) + r")\s+(\d{2,4})\b", folded)
    if match:
        day, month, year = int(match.group(1)), _MONTHS.index(match.group(2)) + 1, int(match.group(3))
    else:
        match = re.search(r"\b(\d{1,2})[\s/.-]+(\d{1,2})[\s/.-]+(\d{2,4})\b", folded)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
    if year < 100:  # "soixante-dix": the most recent past year ending so
        year += 1900 if 1900 + year <= today.year - 0 and year > today.year % 100 else 2000
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return None
    return born if dt.date(1900, 1, 1) <= born <= today else None


# Questions whose answer's audio is kept (a name's), read again when Whisper's gate dropped it: checked
# as any answer there (a first name against the file's, a spelling read back).
REREAD_QUESTIONS = frozenset({"first_name", "first_name_check", "spell_name"})

# A single word shorter than this at the name question is not taken for a glued name ("quoi", "pardon").
GLUED_NAME_MIN_LETTERS = 5

_PARTICLES = frozenset({"du", "de", "le", "la", "des", "van", "von"})


def name_from_text(text: str) -> tuple[str, str] | None:
    """Fallback when no patient_name entity came: 'je m'appelle Marie Dupont' -> ('Dupont', 'Marie')."""
    folded = f" {fold(text)} "
    intro = any(w in folded for w in (" je m'appelle ", " je m appelle ", " moi c'est "))
    # Cut what follows the name ("Martin Claire, née le ..."), not a particle that starts it ("Du Pont").
    text = re.split(r"(?<=\S)\s+(?:n[ée]e?s?|le|du)\b|\d", text.lower().replace("’", "'"), maxsplit=1)[0]
    text = re.sub(r"\b(?:je m'? ?appelle|mon nom (?:c'est|est)|moi c'est|c'est)\b", " ", text)
    noise = {fold(n) for n in _NAME_NOISE}
    words: list[str] = []
    for word in re.findall(r"[^\W\d_][^\W\d_'-]*(?:[-'][^\W\d_]+)*", text):
        if fold(word) in noise or len(word) < 2:
            continue
        words.append(word)
    # Multi-word noise ("je m'appelle", "mon nom est") once the words are split.
    words = [w for w in words if fold(w) not in ("je", "m", "appelle", "mon", "est", "moi", "alors")]
    if len(words) >= 2 and fold(words[0]) in _PARTICLES:  # "Le Gall Anne", "Du Pont Marie"
        words = [f"{words[0]} {words[1]}", *words[2:]]
    if len(words) == 1 and "-" in words[0] and " " in words[0]:
        # Whisper joins a first name to a surname it heard in two parts: "Du pont-marie".
        last, first = words[0].rsplit("-", 1)
        words = [last, first]
    if intro and len(words) == 1 and words[0].count("-") == 1:
        # "Je m'appelle Jean-Muraux.": after an introduction Whisper hyphenates the first name to the last
        # one; taken as two words (said back, or looked up by sound in the file after the birth date).
        words = [w for w in words[0].split("-") if len(w) >= 2] if len(words[0]) >= 5 else words
    if not 2 <= len(words) <= 4:
        return None
    if intro:  # "je m'appelle Marie Dupont": first name first
        return " ".join(words[1:]).title(), words[0].title()
    return words[0].title(), " ".join(words[1:]).title()  # "Dupont Marie": as on a form


# "je m'appelle Marie Dupont, je voudrais...", "c'est Marie Dupont née le ...": a name said before
# any question, taken only when an introduction or a birth date frames it.
_EARLY_NAME = re.compile(
    r"(?:je m'? ?appelle|mon nom (?:c'est|est)|moi c'est)\s+(?P<a>[^\W\d_][\w' -]*?)"
    r"(?=\s*(?:,|\.|\bn[ée]e?s?\b|\bje\b|\bj'|\bet\b|\bpour\b|$))"
    r"|(?:c'est|je suis)\s+(?P<b>[^\W\d_][\w' -]*?)\s*,?\s*n[ée]e?s?\b",
    re.IGNORECASE,
)


def early_name(text: str) -> tuple[str, str] | None:
    """(last, first) from a name introduced in a longer sentence; None when there is none."""
    match = _EARLY_NAME.search(text.replace("’", "'"))
    if match is None:
        return None
    words = (match.group("a") or match.group("b") or "").split()
    words = [w for w in words if fold(w) not in ("madame", "monsieur", "mademoiselle", "le", "la", "docteur")]
    if not 2 <= len(words) <= 3 or any(fold(w) in ("un", "une", "pour", "rendez-vous") for w in words):
        return None
    if match.group("a") or fold(match.group(0)).startswith("c'est"):  # first name first
        return " ".join(words[1:]).title(), words[0].title()
    return words[0].title(), " ".join(words[1:]).title()  # "je suis Dupont Marie": as on a form


# "non, c'est Vasseur avec deux s", "c'est Vasseur, V A deux S": a name said again at a later question.
_NAME_CORRECTION = re.compile(
    r"^(?:non|pardon|attendez)?[ ,.]*(?:non[ ,.]*)?(?:c'est|mon nom c'est|mon nom est|pas \w+[ ,]+)\s*"
    r"(?P<name>[^\W\d_][^\W\d_'-]+)(?:\s+avec\s+(?:deux|un|une|double)\s+\w{1,2})?[ .!]*$",
    re.IGNORECASE,
)


def corrected_name(text: str, last_name: str) -> str | None:
    """A corrected last name close to the one we have ("Vasser" -> "Vasseur"); None otherwise."""
    from standardiste.agenda.names import name_similarity

    match = _NAME_CORRECTION.match(text.strip().replace("’", "'"))
    if match is None or not last_name:
        return None
    name = match.group("name").title()
    if fold(name) == fold(last_name) or name_similarity(name, last_name) < 60:
        return None
    return name


class IdentityFlow:
    """A sub-flow that tasks use: collects an Identity (what is missing only), then calls `then(identity)`.

    It holds who is calling for the whole call (a second task does not ask again) and asks through
    the call's core (`CallContext.ask`)."""

    def __init__(self, core: CallContext) -> None:
        self.core = core
        self.identity = Identity()
        # The appointment is for a child (the caller is a parent): questions say "l'enfant".
        self.for_child = False
        self._name_required = True
        self._name_skipped = False
        self._caller_id_refused = False
        self._asking_name: tuple[Callable[[Identity], list[Action]], bool] | None = None
        # Read-backs, the name found in the file, spelling (issue 19): nothing filed unconfirmed.
        self.check = IdentityCheck(self)

    def collect(
        self,
        then: Callable[[Identity], list[Action]],
        phone: bool = True,
        preamble: str = "",
        name_required: bool = True,
    ) -> list[Action]:
        """Asks what is missing. `name_required=False` (staff requests): a name that cannot be had
        (grammar-only recogniser, or not understood twice) is left for the staff's call back."""
        ident = self.identity
        self._name_required = name_required
        skip_name = not name_required and (not self.core.open_speech or self._name_skipped)
        if not ident.last_name and not self.check.state.glued and not skip_name:
            return self.core.ask(self._name_question(then, phone), preamble)
        if ident.birth_date is None:
            return self.core.ask(self._birth_question(then, phone), preamble)
        confirm = self.check.step(
            lambda: self.collect(then, phone, name_required=name_required), name_required, preamble
        )
        if confirm is not None:
            return confirm
        if name_required and self.check.state.unconfirmed:
            return self._to_staff()
        if phone and ident.phone is None:
            return self._ask_phone(then, preamble)
        return then(ident)

    @property
    def confirmed(self) -> bool:
        """Name and birth date confirmed by the caller (said back, spelled, or typed)."""
        s = self.check.state
        return s.name_confirmed and s.birth_confirmed and not s.unconfirmed

    def _to_staff(self) -> list[Action]:
        """The caller's identity could not be confirmed twice: no booking, cancel or move under it; a
        request for the staff instead (the spoken name is kept with the call and played on the dashboard)."""
        ident = self.identity
        heard = f"{ident.last_name} {ident.first_name}".strip()
        draft = RequestDraft(
            kind=RequestKind.CALLBACK,
            caller_name=f"{heard} {P.NAME_NOT_CONFIRMED}".strip(),
            birth_date=ident.birth_date if self.check.state.birth_confirmed else None,
            callback_number=ident.phone or normalise_phone(self.core.state.caller_id or ""),
            details="Identité non confirmée au téléphone : écouter le nom enregistré et rappeler.",
            call_id=self.core.state.call_id or None,
        )
        try:
            request_id = self.core.services.inbox.file(draft, self.core.now())
        except Exception:  # the store is down: a human
            return self.core.action_failed(P.REQUEST_FAILED, reason="request_failed", message=False)
        self.core.achieve(
            OutcomeKind.REQUEST_FILED, request_type=str(RequestKind.CALLBACK), request_id=request_id
        )
        kept = self.check.name_kept()
        return self.core.after_task(P.IDENTITY_TO_STAFF_NAME_KEPT if kept else P.IDENTITY_TO_STAFF)

    def forget(self) -> None:
        """Name and birth date asked again (a file not found, "ce n'est pas le bon nom"); the phone kept."""
        self.identity = Identity(phone=self.identity.phone)
        self.check.reset()

    def take_hints(self, answer: Answer) -> None:
        """A caller who says name or birth date early ("c'est pour Marie Dupont") is not asked again."""
        u = answer.understanding
        if u is None:
            return
        name = u.first(EntityKind.PATIENT_NAME)
        # Only a full name counts ("c'est monsieur Lefort" alone: we still ask for name and first name).
        typed = not self.check.recognised(answer)  # a text channel: nothing to read back
        if name is not None and not self.identity.last_name and len(name.value.split()) >= 2:
            self.set_name(name.value)
            self.check.state.name_confirmed = typed
        elif not self.identity.last_name and answer.spoken:
            said = early_name(answer.text)
            if said is not None:
                self.identity.last_name, self.identity.first_name = said
                self.check.name_changed()
                self.check.state.name_confirmed = typed
        birth = u.first(EntityKind.BIRTH_DATE)
        if birth is not None and self.identity.birth_date is None:
            with contextlib.suppress(ValueError):
                self.identity.birth_date = dt.date.fromisoformat(birth.value[:10])
                self.check.state.birth_confirmed = typed

    def correct_name(self, answer: Answer) -> list[Action] | None:
        """At a later question, "non, c'est Vasseur avec deux s" corrects the name; the question again."""
        ident = self.identity
        question = self.core.question
        if not ident.last_name or question is None or not answer.spoken or question.name == "name":
            return None
        name = corrected_name(answer.text, ident.last_name)
        if name is None:
            return None
        ident.last_name = name
        self.check.name_changed()
        self.check.state.name_confirmed = not self.check.recognised(answer)
        self.core.state.path.append("name_corrected")
        return self.core.ask(question, P.name_corrected(ident.full_name))

    def set_name(self, value: str) -> None:
        """ "Dupont Marie" (as the understanding gives it): last name first."""
        parts = value.split()
        self.identity.last_name = parts[0].title() if parts else ""
        self.identity.first_name = " ".join(parts[1:]).title()
        self.check.name_changed()

    # --- Name ------------------------------------------------------------------------------------

    def _name_question(self, then: Callable[[Identity], list[Action]], phone: bool) -> Question:
        self._asking_name = (then, phone)

        def on_answer(answer: Answer) -> list[Action] | None:
            if answer.keys is not None:
                return None
            u = answer.understanding
            entity = u.first(EntityKind.PATIENT_NAME) if u is not None else None
            glued = False
            if entity is not None and len(entity.value.split()) >= 2:
                parts = entity.value.split()
                last, first = parts[0].title(), " ".join(parts[1:]).title()
            else:  # no name, or only one word of it: our own reading, else ask again
                guess = name_from_text(answer.text)
                glued = guess is None
                guess = guess or self._glued_name(answer)
                if guess is None:
                    return None
                last, first = guess
            self.take_hints(answer)
            return self._take_name(answer, last, first, glued, then, phone)

        return Question(
            "name",
            P.ASK_NAME_CHILD if self.for_child else P.ASK_NAME,
            P.ASK_NAME_SIMPLE,
            Expectation(Expect.NAME),
            on_answer,
            on_give_up=None if self._name_required else lambda: self._skip_name(then, phone),
            allow_switch=True,
        )

    def _take_name(
        self,
        answer: Answer,
        last: str,
        first: str,
        glued: bool,
        then: Callable[[Identity], list[Action]],
        phone: bool,
    ) -> list[Action]:
        def accept() -> list[Action]:
            self.identity.last_name, self.identity.first_name = last, first
            self.check.name_changed()
            self.check.state.glued = glued
            # Read back by `checked` (grammar-only recogniser), or typed as text (no recogniser to
            # mishear it): confirmed. Heard by a recogniser: said back by the check first.
            if not self.core.open_speech or not self.check.recognised(answer):
                self.check.state.name_confirmed = True
            return self.collect(then, phone, name_required=self._name_required)

        return self.core.checked(answer, f"{first} {last}".strip(), accept, "name")

    def unheard_reading(self) -> str | None:
        """At the name question, a turn that came back empty with its audio kept: the kept audio read again
        (what Whisper's gate dropped, "" when nothing); None when there is no kept audio to go on (keys, a
        text channel, a grammar-only recogniser): then the question is asked again."""
        question, asking = self.core.question, self._asking_name
        if question is None or question.name != "name" or asking is None:
            return None
        if not self.core.open_speech:
            return None
        if not self.check.name_kept():
            self.core.state.path.append("name_audio_missing")
            return None
        return self.check.name_reading()

    def reread(self) -> str:
        """The kept audio of a first name or a spelling (REREAD_QUESTIONS) read again, keeping what
        Whisper's gate dropped; "" when there is none."""
        if not self.core.open_speech or not self.check.name_kept():
            return ""
        reading = self.check.name_reading()
        if reading:
            self.core.state.path.append("answer_read_again")
        return reading

    def unheard_name(self, now: dt.datetime, reading: str) -> list[Action]:
        """The name turn came back empty (Whisper's gate dropped it: MBROLA and Pico names over SIP, 27 of
        28 MBROLA names in a spoken-call bench) but its audio is kept. Rather than the same question again,
        the kept audio is read again keeping what the gate dropped, and that reading (or nothing) is taken
        for now, like a glued name: after the birth date both ears look the caller up in the narrowed file
        and the name found is said back; nobody found, the caller spells. Nothing is filed before the
        caller confirms (`reading`: from `unheard_reading`, the safety net already run on it)."""
        assert self._asking_name is not None
        guess = name_from_text(reading) if reading else None
        if guess is not None and len(guess[1].split()) > 1:  # "Dès pour mariner": no first name from it
            guess = (guess[0], "")
        if guess is None:
            words = [w for w in re.findall(r"[^\W\d_][^\W\d_'-]*", reading) if len(w) >= 3]
            guess = (words[0].title(), "") if len(words) == 1 else ("", "")
        self.core.state.path.append("name_unheard_kept" if not reading else "name_read_again")
        if reading:
            self.core.heard(f"[nom relu : {reading}]")
        answer = Answer(now=now, text=reading, confidence=0.0)
        then, phone = self._asking_name
        return self._take_name(answer, guess[0], guess[1], True, then, phone)

    def _glued_name(self, answer: Answer) -> tuple[str, str] | None:
        """Whisper often glues a two-word name into one ("Routuma." for "Roux Thomas"). With the spoken
        name's audio kept, that word is taken for now: after the birth date the check looks the patient
        up by sound and by the kept audio, and says the name found back; a word that finds nobody is
        spelled. Nothing is filed before the caller confirms."""
        if not self.core.open_speech or not self.check.recognised(answer) or not self.check.name_kept():
            return None
        noise = {fold(n) for n in _NAME_NOISE}
        # One word, its parts joined by hyphens or an apostrophe as Whisper writes them: "Camille-le-voi."
        # for "Camille Leroy", "L'envercleau." for "Lambert Chloé" (they were two and three words here).
        words = [w for w in re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", answer.text) if fold(w) not in noise]
        if len(words) != 1 or len(re.sub(r"\W", "", words[0])) < GLUED_NAME_MIN_LETTERS:
            return None
        return words[0].title(), ""

    def _skip_name(self, then: Callable[[Identity], list[Action]], phone: bool) -> list[Action]:
        self._name_skipped = True
        self.core.lead = P.NAME_LATER
        return self.collect(then, phone, name_required=False)

    # --- Birth date ------------------------------------------------------------------------------

    def _birth_question(self, then: Callable[[Identity], list[Action]], phone: bool) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            today = answer.now.date()
            if answer.keys is not None:
                day = birth_date_from_keys(answer.keys, today)
            else:
                day = None
                u = answer.understanding
                for kind in (EntityKind.BIRTH_DATE, EntityKind.DATE_TIME):
                    entity = u.first(kind) if u is not None else None
                    if entity is None:
                        continue
                    try:
                        candidate = dt.date.fromisoformat(entity.value[:10])
                    except ValueError:
                        continue
                    if candidate < today and (kind == EntityKind.BIRTH_DATE or candidate.year < today.year):
                        day = candidate
                        break
                digits = re.sub(r"\D", "", answer.text)
                if day is None and len(digits) == 8:
                    day = birth_date_from_keys(digits, today)
                if day is None:
                    day = birth_date_from_words(answer.text, today)
            if day is None:
                return None

            def accept() -> list[Action]:
                self.identity.birth_date = day
                # Typed: exact. Said: read back in full by the check, one part corrected on "non".
                self.check.state.birth_confirmed = not self.check.recognised(answer)
                return self.collect(then, phone, name_required=self._name_required)

            return accept()

        return Question(
            "birth_date",
            P.ASK_BIRTH_DATE_CHILD if self.for_child else P.ASK_BIRTH_DATE,
            P.ASK_BIRTH_DATE_SIMPLE,
            Expectation(Expect.BIRTH_DATE, digits=8, timeout_s=KEYPAD_ENTRY_TIMEOUT_S),
            on_answer,
        )

    # --- Phone -----------------------------------------------------------------------------------

    def _callable(self, number: str | None) -> str | None:
        """A callback number only within the practice's allowed ranges (no 08 9x, no abroad)."""
        return number if is_allowed(number, getattr(self.core.practice, "outbound", None)) else None

    def _ask_phone(self, then: Callable[[Identity], list[Action]], preamble: str = "") -> list[Action]:
        caller = self._callable(normalise_phone(self.core.state.caller_id or ""))
        if caller is not None and not self._caller_id_refused:

            def on_confirm(answer: Answer) -> list[Action] | None:
                yes = answer.yes_no()
                if yes is True:
                    self.identity.phone = caller
                    return then(self.identity)
                if yes is False:
                    self._caller_id_refused = True
                    return self.core.ask(self._phone_question(then))
                number = self._phone_in(answer)
                if number is not None:
                    self.identity.phone = number
                    return then(self.identity)
                return None

            question = Question(
                "phone_confirm",
                P.confirm_caller_id(caller),
                P.confirm_caller_id_simple(caller),
                self.core.yes_no_expect(),
                on_confirm,
            )
            return self.core.ask(question, preamble)
        return self.core.ask(self._phone_question(then), preamble)

    def _phone_in(self, answer: Answer) -> str | None:
        if answer.keys is not None:
            return self._callable(normalise_phone(answer.keys))
        u = answer.understanding
        entity = u.first(EntityKind.PHONE) if u is not None else None
        if entity is not None:
            return self._callable(normalise_phone(entity.value))
        return self._callable(normalise_phone(answer.text))

    def _phone_question(self, then: Callable[[Identity], list[Action]]) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            number = self._phone_in(answer)
            if number is None:
                return None

            def accept(confirmed: str) -> list[Action]:
                self.identity.phone = confirmed
                return then(self.identity)

            return self.check.phone(answer, number, accept)

        return Question(
            "phone",
            P.ASK_PHONE,
            P.ASK_PHONE_SIMPLE,
            Expectation(Expect.PHONE, digits=10, timeout_s=KEYPAD_ENTRY_TIMEOUT_S),
            on_answer,
        )
