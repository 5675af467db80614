"""Two recognisers per question: an open one (Whisper, Vosk) and, for closed questions, a grammar one.

Open questions (no grammar): the open transcript, as heard. Closed questions (yes/no, day, time, date,
birth date, phone, practitioner, choices): both run on the same audio. The open transcript is snapped to the
question's grammar by sound (speech.snap) and compared with the grammar recogniser's result:

- snapped inside the grammar and the grammar recogniser agrees: accepted (high confidence);
- snapped inside the grammar but the grammar recogniser disagrees: the grammar's words (the more precise on
  slots), with a low confidence: the dialogue reads the slot back; for yes/no a doubt is never an answer
  ("" = not understood: asked again, keypad offered);
- a sentence (4 words or more outside the grammar, or longer than any slot): passed on as heard, so the
  understanding layer reads it first (an emergency said at a yes/no question is heard as one); the question's
  handler does not find its answer in it and the caller hears "not understood", never the nearest phrase;
- nothing trustworthy from the open recogniser (its voice gate found no speech, or it dropped what it
  decoded: music, tones, noise): "" (not understood), whatever the grammar forced out of the sound.

An empty final transcript after a spoken turn is "not understood" (the dialogue says so); silence is reported
by the session as no input, never from here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from standardiste.speech import grammars
from standardiste.speech.snap import snap, spell_out
from standardiste.speech.types import SAMPLE_RATE, RecognitionStream, Transcript

log = logging.getLogger(__name__)

AGREED = 0.9
DOUBT = 0.45
OUTSIDE = 0.3
MAX_SLOT_WORDS = 14  # no slot answer is longer (a phone number spelled in pairs: 10 words at most)
LONG_WORDS = 4  # an open transcript outside the grammar with this many words is a sentence, not a slot
QUIET_TAIL_BYTES = SAMPLE_RATE * 2 // 4  # 250 ms of slin16
WEAK_OPEN = 0.5  # Whisper's mean token probability below this: it doubts its own transcript


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str
    confidence: float
    why: str  # "open", "agree", "disagree", "outside", "nothing", "doubt_yes_no"
    open_text: str = ""
    grammar_text: str = ""
    snapped: str = ""


def _same(a: str, b: str) -> bool:
    wa, wb = spell_out(a).replace("-", " ").split(), spell_out(b).replace("-", " ").split()
    wa = ["heures" if w == "heure" else w for w in wa]
    wb = ["heures" if w == "heure" else w for w in wb]
    return bool(wa) and wa == wb


def _yes_no_value(text: str) -> str | None:
    words = spell_out(text).split()
    if not words:
        return None
    yes = {w for p in grammars.YES for w in p.split()}
    if words[0] in ("non",) or "pas" in words:
        return "no"
    return "yes" if words[0] in yes or text in grammars.YES else None


def _literal_yes_no(text: str) -> str | None:
    """ "yes"/"no" when the open recogniser WROTE the word itself first ("Oui.", "Oui, oui !", "Non merci."),
    not a word that only sounds near it ("On...", "Un.", "Bonne..."): None otherwise."""
    words = spell_out(text).replace(",", " ").split()
    first = words[0].strip(".!?;:") if words else ""
    if first in ("oui", "ouais"):
        return None if "non" in words or "pas" in words else "yes"
    if first in ("non", "nan"):
        return "no"
    return None


def _share_a_word(open_text: str, grammar_text: str) -> bool:
    """Whether the two recognisers have a word of three letters or more in common (numbers spelled out)."""

    def words(text: str) -> set[str]:
        plain = unicodedata.normalize("NFKD", spell_out(text).lower())
        plain = "".join(c for c in plain if not unicodedata.combining(c))
        return {w for w in re.split(r"[\W_]+", plain) if len(w) >= 3}

    return bool(words(open_text) & words(grammar_text))


def _spoken_words(open_text: str) -> int:
    """Words the caller said as words: a group of digits the open recogniser wrote ("2,000,970") is one
    slot value, not a sentence."""
    return len(re.findall(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*", open_text))


def arbitrate(
    phrases: Sequence[str] | None,
    open_text: str,
    grammar_text: str | None,
    voice: bool = True,
    open_confidence: float = 1.0,
) -> Verdict:
    """Pure: the answer to give the dialogue for one turn.

    `voice`: the open recogniser's voice-activity gate found speech (False: noise, music, tones).
    `open_confidence`: the open recogniser's own confidence in its transcript (Whisper: the mean token
    probability); a short word it is unsure of does not outvote the grammar recogniser's answer.
    """
    open_text = open_text.strip()
    g = (grammar_text or "").strip()
    grammar = grammars.from_phrases(phrases) if phrases else None
    if grammar is None:
        return Verdict(open_text, AGREED if open_text else 0.0, "open", open_text, g)
    if not voice:
        return Verdict("", 0.0, "no_voice", open_text, g)
    if not open_text:
        # The open recogniser heard sound but nothing it trusts (music, tones, noise, a word it
        # cannot make out): whatever the grammar forced out of it is not an answer.
        return Verdict("", 0.0, "nothing", "", g)
    snapped = snap(open_text, grammar)
    inside = snapped.in_grammar
    words = len(snapped.spoken.split())
    said = _spoken_words(open_text)
    if words > MAX_SLOT_WORDS or (not inside and said >= LONG_WORDS):
        # A sentence, not a slot: the understanding layer reads it first (an emergency, a new request).
        return Verdict(open_text, OUTSIDE, "outside", open_text, g, snapped.text)
    yes_no = grammar.name == "yes_no"
    # One short word Whisper itself doubts (mean token probability < 0.5) is no evidence: a synthetic
    # "oui" came back "On..." (snapped to "non") while PocketSphinx also said "non" (spoken calls,
    # 2026-12-07). At a yes/no question that "agreement" is a doubt: asked again, keypad offered.
    weak_word = said <= 1 and open_confidence < WEAK_OPEN
    if yes_no and g and said <= 2 and open_confidence < WEAK_OPEN:
        # Whisper wrote "Oui." (or "Non.") itself, unsure of it, and the grammar recogniser, which can
        # reject, heard the same answer: two ears agree (spoken calls: every MBROLA "oui" came back "Oui."
        # at 0.3-0.45 with PocketSphinx "oui", and was asked again 6 times in 6). A word that only sounds
        # near it ("On...", "Un.") is still no answer (below).
        literal = _literal_yes_no(open_text)
        if literal is not None and literal == _yes_no_value(g):
            return Verdict(g, DOUBT, "weak_agree", open_text, g, snapped.text)
    if inside and g and not (yes_no and weak_word):
        same = _same(snapped.text, g) or (yes_no and _yes_no_value(snapped.text) == _yes_no_value(g))
        if same:
            return Verdict(g, AGREED, "agree", open_text, g, snapped.text)
    if yes_no:
        # A confirmation is never taken from a doubt: only both agreeing, or an exact open "oui"/"non"
        # the grammar recogniser does not contradict, Whisper sure of it. Never the grammar's yes/no
        # against one short word Whisper doubts ("Un.", "On..."): PocketSphinx said "non" for a synthetic
        # "oui" as often as "oui". Asked again, with the keypad offered.
        if inside and not g and snapped.cost == 0.0 and not weak_word:
            return Verdict(snapped.text, DOUBT, "open_only", open_text, g, snapped.text)
        if weak_word:
            return Verdict("", 0.0, "doubt_yes_no", open_text, g, snapped.text)
        heard_as = _yes_no_value(open_text)
        if (
            not inside
            and said <= 3
            and open_confidence < WEAK_OPEN
            and _yes_no_value(g) not in (None, heard_as)
        ):
            # A few words Whisper doubts, that the grammar recogniser hears as the other answer: "comment ?"
            # came back "C'est bon ?" (a yes to the dialogue) at 0.45-0.48 with PocketSphinx "non", 2 times
            # in 16 (synthetic voices through G.711). A doubt, asked again: never a yes nobody said.
            return Verdict("", 0.0, "doubt_yes_no", open_text, g, snapped.text)
        if not inside:
            return Verdict(open_text, OUTSIDE, "outside", open_text, g, snapped.text)
        return Verdict("", 0.0, "doubt_yes_no", open_text, g, snapped.text)
    if (
        g
        and open_confidence >= WEAK_OPEN
        and not _share_a_word(open_text, g)
        and not _share_a_word(snapped.text, g)
    ):
        # Whisper is sure of words that are no answer to this question and have nothing in common with
        # what the grammar forced out of them ("Le premier." -> "sept janvier", "Le plus impossible." ->
        # "sept juillet" at a day question, spoken calls 2026-12-07: the call searched July and went to a
        # human): the grammar's words are no answer either; passed on as heard (not understood: asked
        # again), never a date nobody said.
        return Verdict(open_text, OUTSIDE, "unrelated", open_text, g, snapped.text)
    if g:
        # The grammar's words, heard as speech by the open recogniser (or short and unclear to it): a
        # slot the dialogue reads back for confirmation.
        return Verdict(g, DOUBT, "disagree", open_text, g, snapped.text)
    if inside:
        return Verdict(snapped.text, DOUBT, "open_only", open_text, g, snapped.text)
    return Verdict(open_text, OUTSIDE, "outside", open_text, g, snapped.text)


def prepare_snapping() -> None:
    """The built-in grammars' phonemes, computed once at start (the first call must not pay for them)."""
    from standardiste.dialogue.messages import Expect

    for kind in Expect:
        grammar = grammars.for_kind(kind)
        if grammar is not None:
            snap("oui", grammar)


class ArbitratedStream:
    """The session's one stream per call, feeding both recognisers and arbitrating each turn."""

    supports_provisional = True  # finish(provisional=...)

    def __init__(self, open_stream: RecognitionStream, grammar_stream: RecognitionStream | None) -> None:
        self._open = open_stream
        self._grammar = grammar_stream
        self._phrases: list[str] | None = None
        self.last: Verdict | None = None
        # The grammar recogniser's running hypothesis of the turn so far (the adaptive end of turn reads
        # it: a complete time or yes can end the turn before Whisper has decoded it).
        self.grammar_partial = ""
        self._quiet_tail = bytearray()  # the last audio fed (see pad_grammar_tail)

    async def pad_grammar_tail(self) -> None:
        """A turn ended early (telephony.endpointing): the grammar recogniser hears the last quarter second
        (quiet: the turn ended on it) once more, as if the usual longer silence had followed. PocketSphinx
        decides its last words on that silence (measured: "jeudi neuf heures trente" came out "jeudi à sept
        heures trente" with only the short silence after it)."""
        if self._grammar is not None and self._phrases is not None and self._quiet_tail:
            try:
                await self._grammar.accept(bytes(self._quiet_tail))
            except Exception as err:  # finish() says whether the grammar recogniser still answers
                log.warning("grammar recogniser tail not padded: %r", err)

    async def set_grammar(self, phrases: Sequence[str] | None) -> None:
        self._phrases = list(phrases) if phrases else None
        self.grammar_partial = ""
        if self._grammar is not None:
            await self._grammar.set_grammar(self._phrases)

    async def accept(self, pcm: bytes) -> Transcript | None:
        await self._open.accept(pcm)
        self._quiet_tail += pcm
        del self._quiet_tail[:-QUIET_TAIL_BYTES]
        if self._grammar is not None and self._phrases is not None:
            partial = await self._grammar.accept(pcm)
            if partial is not None and partial.text:
                self.grammar_partial = partial.text
        return None

    async def peek(self) -> Transcript | None:
        """The open recogniser's transcript of the turn so far (None: it cannot tell before the end)."""
        peek = getattr(self._open, "peek", None)
        if peek is None:
            return None
        result: Transcript | None = await peek()
        return result

    async def finish(self, provisional: Callable[[Transcript], None] | None = None) -> Transcript:
        """The turn's arbitrated transcript. `provisional`: called with the grammar recogniser's final words
        as soon as they are known, before the open recogniser's (the session's optimistic answer at slot
        questions, telephony.session); the arbitration of the returned transcript is unchanged."""
        self.grammar_partial = ""
        grammar_task: Any = None
        if self._grammar is not None and self._phrases is not None:
            grammar_task = asyncio.ensure_future(self._grammar.finish())
            if provisional is not None:
                grammar_task.add_done_callback(
                    lambda t: provisional(t.result()) if not t.cancelled() and t.exception() is None else None
                )
        opened = await self._open.finish()
        grammar_text: str | None = None
        if grammar_task is not None:
            try:
                grammar_text = (await grammar_task).text
            except Exception as err:  # the open recogniser alone still answers
                log.warning("grammar recogniser failed: %r", err)
        phrases = self._phrases
        decoded = getattr(self._open, "last", None)  # the Whisper stream says why it heard nothing
        voice = getattr(decoded, "rejected", "") != "no_voice"
        confidence = (1.0 if opened.confidence is None else opened.confidence) if opened.text else 0.0
        verdict = await asyncio.get_running_loop().run_in_executor(
            None, arbitrate, phrases, opened.text, grammar_text, voice, confidence
        )
        self.last = verdict
        log.info(
            "arbitrated",
            extra={"why": verdict.why, "confidence": verdict.confidence, "chars": len(verdict.text)},
        )
        return Transcript(verdict.text, True, verdict.confidence, verdict.open_text or None)

    async def close(self) -> None:
        try:
            await self._open.close()
        finally:
            if self._grammar is not None:
                await self._grammar.close()


class ArbitratedRecognizer:
    """An open recogniser, and a grammar recogniser for closed questions (optional)."""

    open_vocabulary = True
    understands_french = True

    def __init__(self, open_recognizer: Any, grammar_recognizer: Any | None = None) -> None:
        self.open = open_recognizer
        self.grammar = grammar_recognizer
        self.name = open_recognizer.name + (f"+{grammar_recognizer.name}" if grammar_recognizer else "")

    def describe(self) -> str:
        text = self.open.describe()
        if self.grammar is not None:
            text += (
                " Pour les questions fermées (oui/non, jour, heure, date, numéro, praticien), la réponse est "
                "vérifiée par une seconde reconnaissance à grammaire (PocketSphinx) : en cas de désaccord, "
                "la question est reposée ou confirmée."
            )
        return text

    async def load(self) -> None:
        for part in (self.open, self.grammar):
            load = getattr(part, "load", None)
            if load is not None:
                result = load()
                if asyncio.iscoroutine(result):
                    await result
        await asyncio.get_running_loop().run_in_executor(None, prepare_snapping)

    async def warm_up(self, pcm: bytes, count: int = 1) -> None:
        warm = getattr(self.open, "warm_up", None)
        if warm is not None:
            await warm(pcm, count)

    async def stream(self, sample_rate: int = SAMPLE_RATE) -> ArbitratedStream:
        open_stream = await self.open.stream(sample_rate)
        grammar_stream = None
        if self.grammar is not None:
            try:
                grammar_stream = await self.grammar.stream(sample_rate)
            except Exception as err:  # the open recogniser alone still serves the call
                log.warning("grammar recogniser unavailable for this call: %r", err)
        return ArbitratedStream(open_stream, grammar_stream)

    def close(self) -> None:
        for part in (self.open, self.grammar):
            close = getattr(part, "close", None)
            if callable(close):
                close()
