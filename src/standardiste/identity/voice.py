"""Two ears on a spoken name: Whisper's open transcript, matched by sound (identity/matching.py), and
PocketSphinx held to a grammar of the few candidates' names with a garbage path (speech/grammars.py
`patient_names`), run again on the name's kept audio once the candidates are known.

Measured on synthetic callers through G.711 (bench/bench_identity_voice.py, 80 known patients per voice,
candidates narrowed by caller ID and birth date): Whisper writes "Sais-y vous dire" for "Céline Nguyen";
names found by Whisper alone 84 % (Pico) / 75 % (MBROLA fr4), by the grammar alone 94 % / 98 %, by both
combined as below 95 % / 96 %, with no known caller said back a wrong name. The two are combined:

- both name the same patient: said back ("agree");
- only Whisper names a patient: that one ("open"); only the grammar: that one when Whisper's transcript
  sounds like them too or they share the caller's number ("grammar"), else nobody ("unsupported");
- they name different patients: the grammar's choice is said back only when Whisper's transcript sounds
  like it too (it is among the open match's candidates); otherwise nobody ("disagree"), the caller spells.

Whatever is said back, the caller confirms it; nothing is filed under a name the caller did not confirm,
and never under a patient born another day than the date the caller confirmed (dialogue/identity_check.py).
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Protocol

from standardiste.agenda.model import Patient
from standardiste.agenda.names import normalise_phone
from standardiste.identity.matching import Candidate, NameMatch

# The grammar decoder's text for a grammar of these patients' names: "" when it rejected the name.
GrammarEar = Callable[[Sequence[Patient]], str]


class NameListener(Protocol):
    """The call's kept spoken name, decoded again against a grammar of the candidates' names."""

    def __call__(self, patients: Sequence[Patient]) -> str: ...


@dataclass(frozen=True, slots=True)
class Heard:
    patient: Patient | None  # said back to the caller, or None (nobody found: spelling, or staff)
    how: str  # "agree", "grammar", "open", "disagree", "none"


def _words(text: str) -> list[str]:
    from standardiste.speech.grammars import _phrase

    return _phrase(text).split()


def _contains(words: list[str], part: list[str]) -> bool:
    n = len(part)
    return n > 0 and any(words[i : i + n] == part for i in range(len(words) - n + 1))


def from_grammar(text: str, patients: Sequence[Patient]) -> Patient | None:
    """The patient a grammar hypothesis names: the full name in either order, else a last name that only
    one of them has ("nguyen" for a household of two Nguyen: nobody)."""
    words = _words(text)
    if not words:
        return None
    full = [
        p
        for p in patients
        if _contains(words, _words(f"{p.last_name} {p.first_name}"))
        or _contains(words, _words(f"{p.first_name} {p.last_name}"))
    ]
    if full:
        return full[0] if len(full) == 1 else None  # namesakes: nobody, the birth date decides
    last = [p for p in patients if _contains(words, _words(p.last_name))]
    return last[0] if len(last) == 1 else None


def combine(
    open_match: NameMatch,
    grammar_text: str | None,
    patients: Sequence[Patient],
    caller_phone: str | None = None,
) -> Heard:
    """The patient to say back, from Whisper's match and the grammar decoder's hypothesis (None: the grammar
    decoder did not run). The grammar alone names a patient only when Whisper's transcript sounds like them
    too or they share the caller's number: a stranger born the same day as one patient, whose name Whisper
    lost, is otherwise forced onto that patient's name (5 of 30 such callers in a bench run)."""
    said: Candidate | None = open_match.say_back
    heard = said.patient if said is not None else None
    grammar = from_grammar(grammar_text, patients) if grammar_text else None
    if grammar is None:
        return Heard(heard, "open" if heard is not None else "none")
    if heard is not None and heard.id == grammar.id:
        return Heard(grammar, "agree")
    if any(c.patient.id == grammar.id for c in open_match.candidates):
        return Heard(grammar, "grammar")
    phone = normalise_phone(caller_phone)
    if heard is None and phone is not None and normalise_phone(grammar.phone) == phone:
        return Heard(grammar, "grammar")
    return Heard(None, "disagree" if heard is not None else "unsupported")


# Whisper's transcript this close in sound (0-1) to the file's name: enough for a yes or no.
STRONG_SOUND = 0.85


def yes_no_enough(heard: Heard, match: NameMatch, caller_phone: str | None, birth_confirmed: bool) -> bool:
    """Whether the patient heard may be said back for a plain yes or no ("Madame Texier Monique, c'est bien
    vous ?"): both ears agree, or Whisper's transcript sounds very like the file's name (STRONG_SOUND), or
    the caller's number is on the file and the birth date was confirmed. Otherwise a careless "oui" could
    file the call under someone else: the caller must give the first name (dialogue/identity_check.py)."""
    patient = heard.patient
    if patient is None:
        return False
    if heard.how == "agree":
        return True
    said = match.say_back
    if said is not None and said.patient.id == patient.id and said.sound >= STRONG_SOUND:
        return True
    phone = normalise_phone(caller_phone)
    return birth_confirmed and phone is not None and normalise_phone(patient.phone) == phone


# --- the grammar decoder on a kept name -------------------------------------------------------------


class SphinxNameEar:
    """PocketSphinx in this process (one decoder, under a lock): a name's audio against the candidates'
    names. About 0.05-0.1 s of CPU per name (the grammar holds a handful of names)."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()
        self._sid = 0

    def _ready(self) -> Any:
        if self._engine is None:
            from standardiste.speech.sphinx.model import prepared_model_dir, source_model_dir
            from standardiste.speech.sphinx.worker import Engine

            self._engine = Engine(prepared_model_dir(), source_model_dir() / "dict.txt")
        return self._engine

    def hear(self, pcm: bytes, sample_rate: int, patients: Sequence[Patient]) -> str:
        """slin16 mono at `sample_rate` -> the grammar's words, "" when rejected or nothing heard."""
        from standardiste.speech.grammars import patient_names

        if not patients or not pcm:
            return ""
        grammar = patient_names((p.last_name, p.first_name) for p in patients)
        with self._lock:
            engine = self._ready()
            self._sid += 1
            sid = self._sid
            engine.handle("open", sid, sample_rate)
            try:
                engine.handle("grammar", sid, grammar.jsgf, sorted(grammar.all_words), None)
                engine.handle("audio", sid, pcm)
                _, text = engine.handle("finish", sid, b"")
            finally:
                engine.handle("close", sid)
        return str(text)


_EAR = SphinxNameEar()


def wav_listener(wav: bytes | None, ear: SphinxNameEar | None = None) -> NameListener | None:
    """A listener on a kept name (WAV bytes, as the session keeps it); None when there is none."""
    if not wav:
        return None
    try:
        with wave.open(BytesIO(wav)) as w:
            rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        return None
    use = ear or _EAR

    def listen(patients: Sequence[Patient]) -> str:
        return use.hear(pcm, rate, patients)

    return listen


# --- the open recogniser, again, on a kept name it dropped -------------------------------------------

# The kept spoken name (WAV bytes) -> what the open recogniser makes of it, "" when nothing.
NameReader = Callable[[bytes], str]

# Why Whisper's live gate may drop a name whose text is still worth a second look: a low average token
# probability (MBROLA and Pico names: "Gébon Marie !" at -1.16 for "Dupont Marie"), with or without a high
# no-speech probability. Not "loop" (repetition) nor "no_voice" (nothing decoded).
LENIENT_REJECTIONS = frozenset({"low_logprob", "no_speech"})


def _pcm16k(wav: bytes) -> bytes | None:
    from standardiste.speech.audio import resample
    from standardiste.speech.types import SAMPLE_RATE

    try:
        with wave.open(BytesIO(wav)) as w:
            rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        return None
    return resample(pcm, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else pcm


def open_reader(engine: Any) -> NameReader | None:
    """A second reading of the kept name by the open recogniser's engine (Whisper: `decode(pcm)` ->
    text, `rejected`, `dropped`), keeping the text its confidence gate dropped. Only at the name question:
    what it gives is never filed as heard; it is looked up in the practice's file by sound (and by the
    grammar ear) after the birth date, and said back, or the caller spells (dialogue/identity_check.py)."""
    decode = getattr(engine, "decode", None)
    if not callable(decode):
        return None

    def read(wav: bytes) -> str:
        pcm = _pcm16k(wav)
        if not pcm:
            return ""
        decoded = decode(pcm)
        text = str(getattr(decoded, "text", "") or "")
        if text:
            return text
        if getattr(decoded, "rejected", "") in LENIENT_REJECTIONS:
            return str(getattr(decoded, "dropped", "") or "")
        return ""

    return read
