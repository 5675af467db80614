"""Adaptive end of turn (issue 14, item 3): a short silence ends the turn when what was said so far is
already a complete answer to the question; otherwise the long window. Pure: no I/O, no clock.

How a session uses it, per caller turn:
- once the caller has been silent `speculate_after_ms`, the audio so far is recognised speculatively (the
  open recogniser's pass over the turn, off the event loop; `next_step` says when, within a bounded number
  of passes per turn, only for short turns, and only when the process-wide `SpeculationBudget` has room);
- `is_complete_answer` reads that transcript against the question (a yes or a no, a full time, a date with
  its time, a whole sentence for an open question);
- a complete answer ends the turn at `short_ms` of silence; anything else, or speech that resumed since
  the pass, waits for the long window (`long_ms`, the turn detector's own end of turn).
The final recognition reuses the speculative pass when nothing voiced came after it, so the pass costs
nothing extra on the turns it ends early.
- a turn that has had no pass over its current silence by `late_pass_after_ms` (a phone number, a name, a
  long turn, a grammar hypothesis still incomplete) gets one then: the final transcript is ready about when
  the long window ends instead of a decode later.

Conservative on purpose: a time without its minutes ("neuf heures" may go on "... trente"), a day without
its part of day, names, birth dates and phone numbers (said with pauses) never end early.
"""

from __future__ import annotations

import enum
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from standardiste.dialogue.messages import Expect
from standardiste.speech import grammars
from standardiste.speech.snap import snap, spell_out


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    short_ms: int = 250  # silence that ends a turn holding a complete answer
    long_ms: int = 700  # silence that ends any other turn (the turn detector's window)
    # Silence before the speculative recognition of the turn so far (pauses between words are shorter).
    speculate_after_ms: int = 180
    max_speculative_speech_s: float = 6.0  # longer turns wait for the long window (bounded CPU)
    max_speculations_per_turn: int = 3  # speech that resumed after each: the long window for that turn
    # When the grammar recogniser's hypothesis is already a complete answer, the pass starts after this much
    # silence instead: the turn will end on the short window, and the final transcript reuses the pass, so
    # Whisper's decode overlaps the short window instead of following it (issue 14: recognition p50 523 ms
    # after the turn's end with the pass at 180 ms or none).
    early_pass_after_ms: int = 60
    # The late pass (issue 14, the slow turns at p95): a turn that cannot end early (a phone number, a name,
    # a turn longer than max_speculative_speech_s) or whose grammar hypothesis is not complete used to wait
    # the whole long window and only then start Whisper (700 ms + a decode: 1.1-1.4 s voice to voice). After
    # this much silence one pass runs over the turn so far: when the caller stays silent it is the final
    # transcript (no second decode), ready about when the long window ends; when it is a complete answer the
    # turn ends at once. 0: off. Bounded like any pass (per turn, process budget, turn length).
    late_pass_after_ms: int = 300
    max_late_pass_speech_s: float = 10.0  # one Whisper window: longer turns are decoded at the end
    # Each pass the caller's next words already made useless in this turn pushes the late pass this much
    # later (answers said in pieces: "zéro six | douze | trente-quatre"): measured without it, 1.81 Whisper
    # decodes per turn on answers with pauses against 1.0 with no late pass.
    late_pass_backoff_ms: int = 200


# Kinds whose answers are said with pauses (or checked digit by digit): always the long window.
NEVER_EARLY = frozenset({Expect.NAME, Expect.BIRTH_DATE, Expect.PHONE, Expect.DIGITS})

YES_WORDS = frozenset({"oui", "ouais", "ouai", "exactement", "d'accord", "parfait", "voilà", "absolument"})
NO_WORDS = frozenset({"non", "nan"})
YES_PHRASES = ("c'est ça", "tout à fait", "c'est bien ça", "bien sûr")
HOUR_WORDS = frozenset({"heure", "heures"})
WHOLE_HOURS = frozenset({"midi", "minuit"})
MINUTE_WORDS = frozenset(
    {
        "cinq", "dix", "quart", "demie", "demi", "vingt", "vingt-cinq", "trente", "quarante",
        "quarante-cinq", "cinquante", "cinquante-cinq", "pile", "quinze",
    }
)  # fmt: skip
PARTS_OF_DAY = frozenset({"matin", "après-midi", "soir", "midi"})
# A sentence that stops on one of these is not finished ("je voudrais un rendez-vous pour ...").
CONTINUATIONS = frozenset(
    {
        "et", "ou", "mais", "donc", "car", "que", "qui", "de", "du", "des", "le", "la", "les", "l'", "un",
        "une", "à", "au", "aux", "pour", "avec", "sans", "sur", "dans", "en", "par", "chez", "je", "j'",
        "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "me", "te", "se", "ma", "mon", "mes",
        "ton", "ta", "son", "sa", "ses", "notre", "votre", "leur", "ce", "cet", "cette", "c'est", "est",
        "euh", "heu", "bah", "ben", "parce", "comme", "si", "quand", "ne", "n'", "d'", "qu'", "voudrais",
        "veux", "souhaite", "aimerais", "appelle", "suis", "ai", "avoir", "faire", "prendre", "très",
        "plus", "moins", "alors", "enfin", "bon", "hum", "hmm", "après", "avant", "vers", "entre",
    }
)  # fmt: skip
MIN_SENTENCE_WORDS = 3
_TRAILING_OFF = re.compile(r"(\.\.\.|…|,|-)\s*$")
_SENTENCE_END = re.compile(r"[.!?]\s*$")


def _words(text: str) -> list[str]:
    return spell_out(text).split()


def _has_day(words: Sequence[str]) -> bool:
    if any(w in grammars.WEEKDAYS or w in grammars.RELATIVE_DAYS for w in words):
        return True
    return any(w in grammars.MONTHS for w in words[1:])  # "le douze mars"


def _full_time(words: Sequence[str]) -> bool:
    """An hour with its minutes ("quatorze heures trente", "neuf heures pile"), or midi / minuit."""
    for i, w in enumerate(words):
        if w in WHOLE_HOURS:
            return True
        if w in HOUR_WORDS and i > 0:
            rest = words[i + 1 :]
            if rest and (rest[0] in MINUTE_WORDS or "-" in rest[0] or rest[0] == "et"):
                return rest[0] != "et" or len(rest) > 1
    return False


def _yes_or_no(text: str, words: Sequence[str]) -> bool:
    if not words or len(words) > 5:
        return False
    spoken = " ".join(words)
    return words[0] in YES_WORDS | NO_WORDS or any(spoken.startswith(p) for p in YES_PHRASES)


def _whole_sentence(text: str, words: Sequence[str]) -> bool:
    if len(words) < MIN_SENTENCE_WORDS or _TRAILING_OFF.search(text):
        return False
    return bool(_SENTENCE_END.search(text)) and words[-1] not in CONTINUATIONS


def _flat_phrase(phrases: Sequence[str], text: str) -> bool:
    """A question's own phrases (choices, practitioners): one of them, and not the start of a longer one."""
    grammar = grammars.from_phrases(phrases)
    if grammar is None:
        return False
    snapped = snap(text, grammar)
    if not snapped.in_grammar:
        return False
    chosen = snapped.text.split()
    return not any(
        (other := p.lower().split()) != chosen and other[: len(chosen)] == chosen for p in grammar.phrases
    )


def is_complete_answer(kind: Expect, phrases: Sequence[str] | None, text: str) -> bool:
    """Does `text` (the open recogniser's transcript of the turn so far) already answer the question?

    False whenever in doubt: the turn then waits for the long window, which is today's behaviour.
    """
    text = text.strip()
    words = _words(text)
    if not words or kind in NEVER_EARLY or _TRAILING_OFF.search(text):
        return False
    if words[-1] in CONTINUATIONS:
        return False
    if kind is Expect.YES_NO:
        return _yes_or_no(text, words)
    if kind is Expect.TIME:
        return _full_time(words)
    if kind is Expect.DATE_TIME:
        return _has_day(words) and _full_time(words)
    if kind is Expect.DAY:
        return _has_day(words) and (words[-1] in PARTS_OF_DAY or words[-1] in grammars.MONTHS)
    if kind is Expect.SATISFACTION:
        return len(words) <= 3 and any(w in grammars.SATISFACTION or w == "satisfait" for w in words)
    if kind in (Expect.CHOICE, Expect.PRACTITIONER):
        return bool(phrases) and len(words) <= 6 and _flat_phrase(phrases or (), text)
    # Open questions: a whole sentence.
    return _whole_sentence(text, words)


# Kinds whose grammar recogniser's running hypothesis is read for completeness (word rules only, no
# snapping: cheap enough to check at every frame of a pause).
GRAMMAR_CHECKED = frozenset({Expect.YES_NO, Expect.TIME, Expect.DATE_TIME, Expect.DAY, Expect.SATISFACTION})


def grammar_hypothesis_complete(kind: Expect, hypothesis: str) -> bool:
    """The grammar recogniser's hypothesis of the turn so far already answers the question.

    A grammar forces any sound into its phrases, so this only ends a turn early (the final answer is still
    the arbitrated one, Whisper included); the word rules are those of `is_complete_answer`.
    """
    return kind in GRAMMAR_CHECKED and bool(hypothesis) and is_complete_answer(kind, None, hypothesis)


def may_end_early(kind: Expect) -> bool:
    """Whether answers of this kind can ever end on the short window (else: only the late pass)."""
    return kind not in NEVER_EARLY


class Step(enum.Enum):
    WAIT = "wait"  # keep listening
    SPECULATE = "speculate"  # recognise the turn so far now
    END = "end"  # end the turn now (a complete answer and the short silence)
    LATE_PASS = "late_pass"  # recognise the turn so far now: most likely its final transcript


@dataclass(frozen=True, slots=True)
class TurnView:
    """What the session knows about the turn in progress."""

    speech_s: float  # from the first voiced frame to now
    silence_ms: float  # since the last voiced frame ended
    speculations: int  # passes already started this turn
    speculating: bool  # a pass over the current silence is in flight
    complete: bool | None  # its verdict (None: no pass over the current silence yet)
    eligible: bool  # the question's kind may end early and the recogniser can speculate
    grammar_complete: bool = False  # the grammar recogniser's running hypothesis is a complete answer
    # A grammar recogniser follows this question (GRAMMAR_CHECKED kinds) and has heard words: its hypothesis
    # says when the answer is complete, so Whisper runs only once it is (that pass is the final one); no
    # guessing passes, wasted whenever the caller went on (measured: 15 passes for 8 turns, 5 complete).
    grammar_decides: bool = False
    # The recogniser can decode the turn so far (the late pass: any kind of question, `eligible` or not).
    can_peek: bool = False


def late_after_ms(settings: EndpointSettings, passes: int) -> int:
    """Silence before the late pass, after `passes` passes already started in this turn (each one wasted:
    the caller spoke again after it, or it would be the one reused)."""
    return settings.late_pass_after_ms + settings.late_pass_backoff_ms * passes


def _late_pass(settings: EndpointSettings, view: TurnView, budget_free: bool) -> Step:
    """One pass over the turn so far, late in the long window: most likely the turn's final transcript."""
    late = (
        settings.late_pass_after_ms > 0
        and view.can_peek
        and view.complete is None
        and not view.speculating
        and late_after_ms(settings, view.speculations) <= view.silence_ms < settings.long_ms
        and view.speech_s <= settings.max_late_pass_speech_s
        and view.speculations < settings.max_speculations_per_turn
        and budget_free
    )
    return Step.LATE_PASS if late else Step.WAIT


def next_step(
    settings: EndpointSettings, view: TurnView, budget_free: bool, late_free: bool | None = None
) -> Step:
    """Pure decision for one instant of a turn (the long window itself is the turn detector's).

    `late_free`: room for a late pass (the session passes the budget's room for a final pass: a late pass
    is no extra decode when the caller stays silent, so a slow CPU does not stop it, a queue does);
    None: `budget_free`."""
    late_ok = budget_free if late_free is None else late_free
    if not view.eligible:
        return _late_pass(settings, view, late_ok)
    if (view.complete or view.grammar_complete) and view.silence_ms >= settings.short_ms:
        return Step.END
    if view.grammar_decides and not view.grammar_complete:
        return _late_pass(settings, view, late_ok)
    after_ms = settings.early_pass_after_ms if view.grammar_complete else settings.speculate_after_ms
    if (
        view.complete is None
        and not view.speculating
        and view.silence_ms >= after_ms
        and view.silence_ms < settings.long_ms
        and view.speech_s <= settings.max_speculative_speech_s
        and view.speculations < settings.max_speculations_per_turn
        and budget_free
    ):
        return Step.SPECULATE
    return _late_pass(settings, view, late_ok)


class SpeculationBudget:
    """Speculative passes in flight in this process, at most `limit` (thread-safe).

    Speculation is an optimisation: under load it is skipped (the long window applies) so that it never
    takes recogniser time from final results. `pressure`: the recogniser pool's queue delay in seconds
    (admission.QueueDelayProbe); at `max_pressure_s` or more, no new pass starts.
    """

    def __init__(
        self,
        limit: int = 2,
        pressure: Callable[[], float | None] | None = None,
        max_pressure_s: float = 0.2,
        max_pass_s: float = 0.45,
        retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.pressure = pressure
        self.max_pressure_s = max_pressure_s
        # Passes slower than this (recent average) cannot end a turn before the long window: a starved
        # CPU. No passes then (the grammar hypothesis still ends turns early), but one every retry_s to
        # see whether they got fast again.
        self.max_pass_s = max_pass_s
        self.retry_s = retry_s
        self._clock = clock
        self.pass_s: float | None = None  # recent average duration of a pass
        self._last_start = -1e9
        self._used = 0
        self._lock = threading.Lock()
        self.refused = 0

    def record_pass(self, seconds: float) -> None:
        """A pass took this long (from its start to its verdict)."""
        with self._lock:
            self.pass_s = seconds if self.pass_s is None else 0.7 * self.pass_s + 0.3 * seconds

    def _loaded(self) -> bool:
        if self._pressed():
            return True
        slow = self.pass_s is not None and self.pass_s > self.max_pass_s
        return slow and self._clock() - self._last_start < self.retry_s

    @property
    def free(self) -> bool:
        return self._used < self.limit and not self._loaded()

    @property
    def free_for_final(self) -> bool:
        """Room for a pass that will be the turn's final transcript (the grammar hypothesis is complete:
        the turn ends on the short window). Its speed does not matter (it is no extra decode): only the pool's
        queue and the limit do."""
        return self._used < self.limit and not self._pressed()

    def _pressed(self) -> bool:
        delay = self.pressure() if self.pressure is not None else None
        return delay is not None and delay >= self.max_pressure_s

    def try_acquire(self, final: bool = False) -> bool:
        """`final`: a pass that will be the turn's final transcript (see `free_for_final`)."""
        with self._lock:
            if self._used >= self.limit or (self._pressed() if final else self._loaded()):
                self.refused += 1
                return False
            self._used += 1
            self._last_start = self._clock()
            return True

    def release(self) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)


# --- the optimistic answer (Whisper off the critical path) -------------------------------------------------
# At these questions the arbitrated answer is PocketSphinx's words whenever Whisper heard a slot (agreeing or
# not: speech.arbitrate), and the dialogue does not read their confidence. So once PocketSphinx's final words
# are a complete answer on a turn that ended early, the dialogue gets them at once and the reply starts while
# Whisper still decodes. Whisper's transcript still reaches the safety net: when it raises urgency, the reply
# is interrupted and that transcript answers the question then asked (the net runs first on every turn).
# Not yes/no (a confirmation needs both recognisers), nor names, dates of birth, numbers.
OPTIMISTIC = frozenset({Expect.TIME, Expect.DATE_TIME, Expect.DAY})


def may_answer_optimistically(kind: Expect, grammar_text: str) -> bool:
    """PocketSphinx's final words at this question can answer before Whisper's."""
    return kind in OPTIMISTIC and is_complete_answer(kind, None, grammar_text)


def same_answer(a: str, b: str) -> bool:
    """Two transcripts give the same answer (spelled-out words compared; "heure" = "heures")."""

    def words(text: str) -> list[str]:
        return ["heures" if w == "heure" else w for w in spell_out(text).replace("-", " ").split()]

    return bool(words(a)) and words(a) == words(b)


def raises_urgency(text: str, net: Any = None) -> bool:
    """The safety net reads an emergency (any level, the check question included) in `text`, or the words
    only sound like a red flag (understanding.soundalike). `net`: the practice's SafetyNet (default: the
    packaged red flags)."""
    from standardiste.understanding.normalize import digits, fold, lower, without_fillers
    from standardiste.understanding.soundalike import sounds_like_red_flag
    from standardiste.understanding.urgency import SafetyNet, default_net

    if not text.strip():
        return False
    safety = net if isinstance(net, SafetyNet) else default_net()
    low = lower(text[:2000])
    if safety.assess(fold(digits(without_fillers(low))).text).level is not None:  # as the understanding reads
        return True
    return sounds_like_red_flag(fold(low).text, safety) is not None
