"""Confirming who is calling before anything is filed under a patient (issue 19), for IdentityFlow.

- The birth date is read back in full ("le cinq mars mille neuf cent cinquante-cinq") unless it was typed;
  a "non" asks for the one wrong part (day, month or year), or takes it when it was said ("non, 1956").
- The name is matched by sound against the practice's patients sharing the caller's number or the birth
  date given (identity/matching.py); the file's name is said back ("Texier Monique, c'est bien vous ?").
  A caller not found hears the name as understood. A "non" leads to spelling, letter by letter
  ("D comme Denise"); the caller may also choose to spell at any of these questions.
- A spoken callback number is read back in pairs; a "non" takes only the pairs said again.
- After two failed tries at the name, the identity stays unconfirmed: IdentityFlow turns the task into
  a request for the staff, who hear the spoken name (kept with the call) on the dashboard.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from standardiste.agenda.model import Patient
from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, Question
from standardiste.dialogue.messages import Action, Expect, Expectation
from standardiste.identity.directory import directory_for
from standardiste.identity.first_names import snap_first_name
from standardiste.identity.matching import rank, say_back_name, spelled_match
from standardiste.identity.readback import DatePart, date_fix, part_value, phone_fix, replace_part, which_part
from standardiste.identity.spelling import parse_spelling
from standardiste.identity.voice import combine, wav_listener, yes_no_enough

if TYPE_CHECKING:
    from standardiste.dialogue.identity import IdentityFlow

log = logging.getLogger(__name__)

_FIRST_NAME_NOISE = frozenset({
    "je", "appelle", "mon", "prenom", "est", "moi", "oui", "non", "alors", "euh", "bonjour", "madame",
    "monsieur", "mademoiselle", "et", "nom", "le", "la", "de", "famille", "il", "elle", "cest", "ca",
})  # fmt: skip


def same_first_name(heard: str, on_file: str) -> bool:
    """Whether a first name heard sounds like the file's ("Sofie" / "Sophie", "Lea" / "Léa"): espeak-ng
    phonemes within a small edit distance, or the same French phonetic key when espeak-ng fails."""
    from standardiste.agenda.names import phonetic
    from standardiste.identity.matching import default_phonemizer, sound_similarity

    if not heard or not on_file:
        return False
    if phonetic(heard) == phonetic(on_file):  # "Lea" / "Léa", "Paule" / "Paul"
        return True
    try:
        return sound_similarity(default_phonemizer(heard), default_phonemizer(on_file)) >= SAME_FIRST_NAME
    except Exception:  # espeak-ng failing: the key alone
        return False


# Sound similarity (0-1) of a first name heard and the file's for the caller to be taken as that patient.
SAME_FIRST_NAME = 0.75


def first_name_in(text: str, last_name: str) -> str:
    """The first name in an answer to "et votre prénom ?": "Marie", "c'est Marie", or the whole name again
    ("Dupont Marie", "Marie Dupont": the words that are not the last name, a letter or two misheard
    allowed); "" when there is none (at most two words: "Jean Pierre", "Marie-Claire")."""
    from rapidfuzz.distance import Levenshtein

    from standardiste.agenda.names import fold

    last = fold(last_name)
    words = []
    for word in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text.replace("’", "'")):
        plain = fold(word)
        if len(plain) < 2 or plain in _FIRST_NAME_NOISE:
            continue
        if last and Levenshtein.distance(plain, last) <= max(1, len(last) // 4):
            continue
        words.append(word)
    return " ".join(words).title() if 1 <= len(words) <= 2 else ""


NAME_TRIES = 2  # said back or spelled, refused twice: the staff take over
DATE_TRIES = 3  # one-part corrections before the whole date is asked again
_SPELL_WORDS = re.compile(r"\b(?:[ée]pel|lettre)", re.IGNORECASE)


@dataclass(slots=True)
class CheckState:
    birth_confirmed: bool = False
    name_confirmed: bool = False
    unconfirmed: bool = False  # given up: the name could not be confirmed (NAME_TRIES)
    patient_id: str | None = None  # the file the caller confirmed
    name_tries: int = 0
    date_tries: int = 0
    rejected: set[str] = field(default_factory=set)  # patients the caller said were not them
    glued: bool = False  # the name was one word Whisper glued together: found in the file, or spelled
    first_name_tries: int = 0  # a last name spelled with no first name heard: the first name asked


class IdentityCheck:
    def __init__(self, flow: IdentityFlow) -> None:
        self.flow = flow
        self.state = CheckState()

    @property
    def core(self) -> CallContext:
        return self.flow.core

    def reset(self) -> None:
        self.state = CheckState()

    # --- the next question, or None once confirmed -------------------------------------------------

    def step(
        self, resume: Callable[[], list[Action]], name_required: bool, preamble: str = ""
    ) -> list[Action] | None:
        ident = self.flow.identity
        if ident.birth_date is not None and not self.state.birth_confirmed:
            return self.core.ask(self._date_readback(resume), preamble)
        named = ident.last_name or self.state.glued  # glued: a name kept as audio, maybe unread
        if name_required and named and not self.state.name_confirmed and not self.state.unconfirmed:
            return self._confirm_name(resume, preamble)
        if (
            name_required
            and ident.last_name
            and not ident.first_name
            and self.state.patient_id is None
            and not self.state.unconfirmed
        ):  # a spelled last name (a glued or dropped name): a file needs the first name too
            return self._ask_first_name(resume, preamble)
        return None

    def recognised(self, answer: Answer) -> bool:
        """Heard through a recogniser (which gives a confidence, and can mishear): read it back. Keys, and
        text typed on a text channel (simulation, chat), are taken as given."""
        return answer.keys is None and answer.confidence is not None

    def name_changed(self) -> None:
        self.state.name_confirmed = False
        self.state.patient_id = None
        self.state.glued = False

    # --- birth date ---------------------------------------------------------------------------------

    def _date_readback(self, resume: Callable[[], list[Action]]) -> Question:
        ident = self.flow.identity
        assert ident.birth_date is not None
        spoken = f"le {P.birth_date_fr(ident.birth_date)}"

        def on_answer(answer: Answer) -> list[Action] | None:
            today = answer.now.date()
            current = ident.birth_date
            assert current is not None
            typed = self._typed_date(answer)
            if typed is not None:
                ident.birth_date = typed
                self.state.birth_confirmed = True
                return resume()
            yes = answer.yes_no()
            if yes is True:
                self.state.birth_confirmed = True
                self.core.state.path.append("birth_date_confirmed")
                return resume()
            if yes is None and not answer.spoken:
                return None
            fix = date_fix(answer.text, current, today) if answer.spoken else None
            if fix is not None and fix.date is not None and fix.date != current:
                return self._date_fixed(fix.date, resume)
            if yes is False or (fix is not None and fix.part is not None):
                self.state.date_tries += 1
                if self.state.date_tries >= DATE_TRIES:
                    return self._date_again(resume)
                if fix is not None and fix.part is not None:
                    return self.core.ask(self._date_part(fix.part, resume))
                return self.core.ask(self._which_part(resume))
            return None

        return Question(
            "check_birth_date",
            P.understood(spoken),
            P.understood_simple(spoken),
            self.core.yes_no_expect(),
            on_answer,
            allow_switch=False,
        )

    def _typed_date(self, answer: Answer) -> dt.date | None:
        from standardiste.dialogue.identity import birth_date_from_keys

        if answer.keys is None or len(answer.keys) != 8:
            return None
        return birth_date_from_keys(answer.keys, answer.now.date())

    def _date_fixed(self, new: dt.date, resume: Callable[[], list[Action]]) -> list[Action]:
        self.flow.identity.birth_date = new
        self.state.birth_confirmed = False
        self.core.state.path.append("birth_date_part_fixed")
        return self.core.ask(self._date_readback(resume))

    def _date_again(self, resume: Callable[[], list[Action]]) -> list[Action]:
        """Corrections that do not converge: the whole date again (keypad offered)."""
        self.flow.identity.birth_date = None
        self.state.date_tries = 0
        return resume()

    def _which_part(self, resume: Callable[[], list[Action]]) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            current = self.flow.identity.birth_date
            assert current is not None
            typed = self._typed_date(answer)
            if typed is not None:
                return self._date_fixed(typed, resume)
            fix = date_fix(answer.text, current, answer.now.date()) if answer.spoken else None
            if fix is not None and fix.date is not None and fix.date != current:
                return self._date_fixed(fix.date, resume)
            part = which_part(answer.keys if answer.keys is not None else answer.text)
            if part is None:
                return None
            return self.core.ask(self._date_part(part, resume))

        return Question(
            "birth_date_which_part",
            P.WHICH_DATE_PART,
            P.WHICH_DATE_PART_SIMPLE,
            Expectation(Expect.CHOICE, ("le jour", "le mois", "l'année"), digits=1),
            on_answer,
            on_give_up=lambda: self._date_again(resume),
            allow_switch=False,
        )

    def _date_part(self, part: DatePart, resume: Callable[[], list[Action]]) -> Question:
        digits = {"day": 2, "month": 2, "year": 4}[part]

        def on_answer(answer: Answer) -> list[Action] | None:
            current = self.flow.identity.birth_date
            assert current is not None
            today = answer.now.date()
            said = answer.keys if answer.keys is not None else answer.text
            value = part_value(said, part, current, today)
            fixed = replace_part(current, part, value, today) if value is not None else None
            if fixed is None:
                return None
            return self._date_fixed(fixed, resume)

        ask = P.ASK_DATE_PART[part]
        return Question(
            f"birth_date_{part}",
            ask,
            f"{ask} Tapez-le en {digits} chiffres.",
            Expectation(Expect.BIRTH_DATE, digits=digits, timeout_s=8.0),
            on_answer,
            on_give_up=lambda: self._date_again(resume),
            allow_switch=False,
        )

    # --- name ---------------------------------------------------------------------------------------

    def _confirm_name(self, resume: Callable[[], list[Action]], preamble: str = "") -> list[Action]:
        ident = self.flow.identity
        heard = f"{ident.last_name} {ident.first_name}".strip()
        patient = None
        strong = False
        try:
            directory = directory_for(self.core.services.agenda)
            pool = directory.candidates(
                self.core.state.caller_id,
                ident.birth_date if self.state.birth_confirmed else None,
                (ident.last_name, ident.first_name),
            )
            pool = [p for p in pool if p.id not in self.state.rejected]
            match = rank(heard, pool, self.core.state.caller_id, ident.birth_date)
            heard_by = combine(match, self._grammar_hearing(pool), pool, self.core.state.caller_id)
            best = heard_by.patient
            self.core.state.path.append(f"name_heard_{heard_by.how}")
            # Never a patient born another day than the one the caller confirmed.
            if best is not None and (ident.birth_date is None or best.birth_date == ident.birth_date):
                patient = best
                caller = self.core.state.caller_id
                strong = yes_no_enough(heard_by, match, caller, self.state.birth_confirmed)
        except Exception:  # the agenda or espeak-ng failing: the name as heard, read back
            log.warning("patient name matching failed", exc_info=True)
        if patient is not None:
            return self._is_it_you(patient, resume, preamble, strong)

        if self.state.glued or not heard:  # "J'ai noté Routuma" would not help: the caller spells it
            self.core.state.path.append("glued_name_not_found")
            return self.core.ask(self._spell_question(resume), preamble)

        # Not in the file: a first name heard slightly wrong is set back on a common one ("Sofie").
        first = snap_first_name(ident.first_name)
        if first != ident.first_name:
            ident.first_name = first
            heard = f"{ident.last_name} {first}".strip()
            self.core.state.path.append("first_name_snapped")

        def accept_heard() -> list[Action]:
            self.state.name_confirmed = True
            return resume()

        refused_heard = lambda: self._name_refused(resume)  # noqa: E731
        noted = P.name_noted(heard, self.name_kept())
        question = self._yes_no("name_noted", noted, accept_heard, refused_heard, resume)
        return self.core.ask(question, preamble)

    def _is_it_you(
        self, found: Patient, resume: Callable[[], list[Action]], preamble: str = "", strong: bool = True
    ) -> list[Action]:
        """The name found in the file said back ("Madame Texier Monique, c'est bien vous ?") when both ears
        agree on it or the caller's number is on it. Otherwise (one ear only, another number) a careless
        "oui" must not file the call under someone else: only the last name is said and the caller gives
        the first name, which must sound like the file's ("J'ai trouvé un dossier au nom de Richard. Pour
        vérifier, quel est votre prénom ?")."""
        ident = self.flow.identity

        def accept_file() -> list[Action]:
            ident.last_name, ident.first_name = found.last_name, found.first_name
            self.state.patient_id = found.id
            self.state.name_confirmed = True
            self.core.state.path.append("name_found_in_file")
            return resume()

        def refused() -> list[Action]:
            self.state.rejected.add(found.id)
            return self._name_refused(resume)

        child = self.flow.for_child
        if not strong:
            self.core.state.path.append("first_name_challenge")
            return self.core.ask(self._first_name_check(found, accept_file, refused, resume), preamble)
        text = P.is_it_you(say_back_name(found, civility=not child), child=child)
        return self.core.ask(self._yes_no("name_found", text, accept_file, refused, resume), preamble)

    def _first_name_check(
        self,
        found: Patient,
        accept: Callable[[], list[Action]],
        refused: Callable[[], list[Action]],
        resume: Callable[[], list[Action]],
    ) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            if not answer.spoken:
                return None
            spelled = self._spelling(answer, resume)
            if spelled is not None:
                return spelled
            if answer.yes_no() is False and not first_name_in(answer.text, found.last_name):
                return refused()  # "non, ce n'est pas moi"
            first = first_name_in(answer.text, found.last_name)
            if not first:
                return None  # "oui": no first name, asked again
            if same_first_name(first, found.first_name):
                self.core.state.path.append("first_name_matched")
                return accept()
            self.core.state.path.append("first_name_mismatch")
            return refused()

        return Question(
            "first_name_check",
            P.first_name_check(found.last_name, self.flow.for_child),
            P.FIRST_NAME_CHECK_SIMPLE,
            Expectation(Expect.NAME),
            on_answer,
            on_give_up=lambda: self.core.ask(self._spell_question(resume)),
            allow_switch=False,
        )

    def _spelled_in_file(self, name: str) -> Patient | None:
        """The patient born on the confirmed birth date whose last name the spelling designates, one letter
        misheard allowed ("B-I-R-N-A-R-D" for Bernard); None without a confirmed date or a single match."""
        ident = self.flow.identity
        if ident.birth_date is None or not self.state.birth_confirmed:
            return None
        try:
            pool = directory_for(self.core.services.agenda).candidates(
                self.core.state.caller_id, ident.birth_date, (name, ident.first_name)
            )
        except Exception:
            log.warning("spelled name lookup failed", exc_info=True)
            return None
        born = [p for p in pool if p.birth_date == ident.birth_date and p.id not in self.state.rejected]
        return spelled_match(name, born)

    def name_kept(self) -> bool:
        """The caller's spoken name is kept with the call (sealed, purged with it) for the staff."""
        source = self.core.services.spoken_name
        try:
            return source is not None and bool(source())
        except Exception:
            return False

    def name_reading(self) -> str:
        """The kept spoken name read again by the open recogniser, keeping the text its confidence gate
        dropped ("" when there is no kept audio, no reader, or nothing in it). Never filed as heard: the
        name it gives is looked up in the file after the birth date, or spelled."""
        source, reader = self.core.services.spoken_name, self.core.services.name_reader
        if source is None or reader is None:
            return ""
        try:
            wav = source()
            return reader(wav).strip() if wav else ""
        except Exception:  # the recogniser failing: as if nothing was heard
            log.warning("name read again failed", exc_info=True)
            return ""

    def _grammar_hearing(self, pool: list[Patient]) -> str | None:
        """The kept spoken name decoded again against these candidates' names (PocketSphinx with a
        garbage path); None when there is no kept audio (keys, text channel) or no candidate."""
        source = self.core.services.spoken_name
        if source is None or not pool or "name_corrected" in self.core.state.path:
            return None  # a name corrected at a later question: the kept audio is the old one
        listen = wav_listener(source())
        if listen is None:
            return None
        try:
            return listen(pool)
        except Exception:  # the decoder failing: Whisper's transcript alone
            log.warning("name grammar decoding failed", exc_info=True)
            return None

    def _yes_no(
        self,
        name: str,
        text: str,
        yes: Callable[[], list[Action]],
        no: Callable[[], list[Action]],
        resume: Callable[[], list[Action]],
    ) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            spelled = self._spelling(answer, resume) if answer.spoken else None
            if spelled is not None:
                return spelled
            said = answer.yes_no()
            if said is True:
                return yes()
            if said is False:
                return no()
            return None

        return Question(
            name, text, f"{text} {P.YES_NO_KEYS}", self.core.yes_no_expect(), on_answer, allow_switch=False
        )

    def _spelling(self, answer: Answer, resume: Callable[[], list[Action]]) -> list[Action] | None:
        """The caller spells at a yes/no question ("non, T E X I E R") or asks to ("je vais épeler")."""
        spelled = parse_spelling(re.sub(r"^\W*(?:non|oui)\b", "", answer.text, flags=re.IGNORECASE))
        if spelled.complete and spelled.letters >= 3:
            return self._spelled(spelled.text, resume)
        if _SPELL_WORDS.search(answer.text):
            return self.core.ask(self._spell_question(resume))
        return None

    def _name_refused(self, resume: Callable[[], list[Action]]) -> list[Action]:
        self.state.name_tries += 1
        self.core.state.path.append("name_refused")
        if self.state.name_tries >= NAME_TRIES:
            return self._give_up(resume)
        return self.core.ask(self._spell_question(resume))

    def _give_up(self, resume: Callable[[], list[Action]]) -> list[Action]:
        self.state.unconfirmed = True
        self.core.state.path.append("identity_unconfirmed")
        return resume()

    def _spell_question(self, resume: Callable[[], list[Action]]) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            if not answer.spoken:
                return None
            spelled = parse_spelling(answer.text)
            if not spelled.complete:
                return None
            return self._spelled(spelled.text, resume)

        return Question(
            "spell_name",
            P.ASK_SPELLING,
            P.ASK_SPELLING_SIMPLE,
            Expectation(Expect.NAME),
            on_answer,
            on_give_up=lambda: self._give_up(resume),
            allow_switch=False,
        )

    def _spelled(self, name: str, resume: Callable[[], list[Action]]) -> list[Action]:
        ident = self.flow.identity
        found = self._spelled_in_file(name)
        if found is not None:  # the file's name said back, not the letters as heard
            self.core.state.path.append("spelled_name_in_file")
            return self._is_it_you(found, resume)

        def accept() -> list[Action]:
            ident.last_name = name
            self.state.name_confirmed = True  # confirmed letter by letter
            self.state.patient_id = None
            self.core.state.path.append("name_spelled")
            return resume()

        refused = lambda: self._name_refused(resume)  # noqa: E731
        return self.core.ask(
            self._yes_no(
                "check_spelled_name", P.spelled_back(name, ident.first_name), accept, refused, resume
            )
        )

    def _ask_first_name(self, resume: Callable[[], list[Action]], preamble: str = "") -> list[Action]:
        """The first name, when only the last name could be had (spelled): heard, then said back with the
        last name ("J'ai noté Dupont Marie, c'est bien ça ?"); refused or not heard twice, the identity
        stays unconfirmed and the staff call back (the spoken name is kept)."""
        ident = self.flow.identity
        if self.state.first_name_tries >= NAME_TRIES:
            return self._give_up(resume)
        self.state.first_name_tries += 1

        def on_answer(answer: Answer) -> list[Action] | None:
            if not answer.spoken:
                return None
            first = snap_first_name(first_name_in(answer.text, ident.last_name))
            if not first:
                return None

            def accept() -> list[Action]:
                ident.first_name = first
                self.state.name_confirmed = True
                self.core.state.path.append("first_name_confirmed")
                return resume()

            def refused() -> list[Action]:
                self.core.state.path.append("first_name_refused")
                return self._ask_first_name(resume)

            if not self.recognised(answer):  # typed: as given
                return accept()
            noted = P.name_noted(f"{ident.last_name} {first}", self.name_kept())
            return self.core.ask(self._yes_no("first_name_noted", noted, accept, refused, resume))

        child = self.flow.for_child
        question = Question(
            "first_name",
            P.ASK_FIRST_NAME_CHILD if child else P.ASK_FIRST_NAME,
            P.ASK_FIRST_NAME_SIMPLE,
            Expectation(Expect.NAME),
            on_answer,
            on_give_up=lambda: self._give_up(resume),
            allow_switch=False,
        )
        return self.core.ask(question, preamble)

    # --- phone --------------------------------------------------------------------------------------

    def phone(self, answer: Answer, number: str, accept: Callable[[str], list[Action]]) -> list[Action]:
        """A typed number is exact; a spoken one is read back in pairs, a "non" fixes the pairs said."""
        if answer.keys is not None or (self.core.open_speech and not self.recognised(answer)):
            return accept(number)
        return self.core.ask(self._phone_readback(number, accept, tries=0))

    def _phone_readback(self, number: str, accept: Callable[[str], list[Action]], tries: int) -> Question:
        from standardiste.dialogue.identity import normalise_phone

        spoken = f"le {P.phone_fr(number)}"

        def on_answer(answer: Answer) -> list[Action] | None:
            if answer.keys is not None and len(answer.keys) >= 8:
                typed = normalise_phone(answer.keys)
                return accept(typed) if typed is not None else None
            yes = answer.yes_no()
            if yes is True:
                return accept(number)
            fixed = phone_fix(answer.text, number) if answer.spoken else None
            new = normalise_phone(fixed) if fixed is not None else None
            if new is not None and new != number:
                return self.core.ask(self._phone_readback(new, accept, tries + 1))
            if yes is False:
                if tries >= 2:
                    return None  # reprompts, then the keypad-first simple form
                return self.core.ask(self._phone_which(number, accept, tries + 1))
            return None

        return Question(
            "check_phone",
            P.understood(spoken),
            P.understood_simple(spoken),
            self.core.yes_no_expect(),
            on_answer,
            allow_switch=False,
        )

    def _phone_which(self, number: str, accept: Callable[[str], list[Action]], tries: int) -> Question:
        from standardiste.dialogue.identity import normalise_phone

        def on_answer(answer: Answer) -> list[Action] | None:
            if answer.keys is not None:
                typed = normalise_phone(answer.keys)
                return accept(typed) if typed is not None else None
            fixed = phone_fix(answer.text, number)
            new = normalise_phone(fixed) if fixed is not None else None
            if new is None:
                return None
            return self.core.ask(self._phone_readback(new, accept, tries))

        return Question(
            "phone_which_digits",
            P.PHONE_WHICH_DIGITS,
            P.ASK_PHONE_SIMPLE,
            Expectation(Expect.PHONE, digits=10, timeout_s=12.0),
            on_answer,
            allow_switch=False,
        )
