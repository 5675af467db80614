"""The in-process understander: emergency rules first, then the intent classifier, then entities.

Semantics the dialogue relies on (see docs/understanding.md):
- `emergency_rule` set  -> intent EMERGENCY, urgency URGENT, confidence 1.0: transfer at once.
- intent EMERGENCY without `emergency_rule` -> the classifier alone thinks so: urgency SOON; ask ONE
  confirmation question (`Understanding.needs_emergency_confirmation`).
- intent OUT_OF_SCOPE with confidence < LOW_CONFIDENCE: the classifier was unsure: ask a clarifying
  question (`Understanding.low_confidence`); its best guesses are in `alternatives`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import logging
import os
import re
import time
import zoneinfo
from collections.abc import Callable, Sequence
from pathlib import Path

from standardiste import metrics
from standardiste.config import PracticeConfig
from standardiste.understanding import urgency as urgency_rules
from standardiste.understanding.classifier import IntentModel, obtain_model, packaged_nlu
from standardiste.understanding.dates import DateResolver
from standardiste.understanding.entities import (
    find_birth_date,
    find_patient_name,
    find_phone,
    find_practitioner,
    practitioner_keys,
)
from standardiste.understanding.normalize import Mapped, digits, fold, lower, without_fillers
from standardiste.understanding.types import (
    LOW_CONFIDENCE,
    Entity,
    EntityKind,
    Intent,
    Understanding,
    Urgency,
)

log = logging.getLogger(__name__)

# Utterances are short; a runaway transcript is cut (the rules and the classifier see the first part).
MAX_CHARS = 1000
# The classifier and the entity finders read the first UNDERSTAND_CHARS characters (about 20 s of speech):
# their cost grows with the length. The emergency rules (cheap) read up to MAX_CHARS.
UNDERSTAND_CHARS = 300
# A classifier-only emergency below this is too vague to act on: clarify instead (rules are not affected).
EMERGENCY_MIN_CONFIDENCE = 0.35
_LONGEST_WORD = 25  # "anticonstitutionnellement" is 25 letters
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Predicts ranked (intent, probability) for a text.
IntentSource = Callable[[str], list[tuple[Intent, float]]]

_AFFIRM = re.compile(
    r"^(?:oui|ouais|ouai|oui oui|oui merci|oui c est ca|oui c est bien ca|oui exactement|oui tout a fait|"
    r"c est ca|c est bien ca|exactement|tout a fait|d accord|ok|okay|parfait|absolument|bien sur|"
    r"voila|oui voila|ca marche|ca me va|ca me convient|entendu|volontiers|affirmatif|si)(?: merci)?$"
)
_DENY = re.compile(
    r"^(?:non|non merci|non non|pas du tout|non pas du tout|absolument pas|surtout pas|ca ne me va pas|"
    r"ca me va pas|non c est pas ca|non ce n est pas ca|negatif|pas vraiment|non plus|jamais)$"
)


@functools.lru_cache(maxsize=8)
def shared_date_resolver(timezone: str) -> DateResolver:
    """One resolver per time zone and process (loading the zone database costs ~0.2 s)."""
    return DateResolver(timezone)


class LocalUnderstander:
    """Understander for one practice. Thread-safe; parse() is pure given (text, now)."""

    def __init__(
        self,
        practice: PracticeConfig,
        intents: IntentSource,
        threshold: float = LOW_CONFIDENCE,
        dates: DateResolver | None = None,
        safety: urgency_rules.SafetyNet | None = None,
    ) -> None:
        self.practice = practice
        self.intents = intents
        self.threshold = threshold
        self.tz = zoneinfo.ZoneInfo(practice.timezone)
        self.dates = dates or shared_date_resolver(practice.timezone)
        self._keys = practitioner_keys(practice)
        # The red flags: packaged + the practice's files, validated here (a bad file stops the start).
        self.safety = safety or urgency_rules.net_for(practice.red_flags_extra)

    def parse(self, text: str, now: dt.datetime) -> Understanding:
        t0 = time.perf_counter()
        try:
            return self._parse(text, now)
        finally:
            metrics.UNDERSTANDING_SECONDS.observe(time.perf_counter() - t0)

    def _parse(self, text: str, now: dt.datetime) -> Understanding:
        text = text if isinstance(text, str) else ""
        now = now.astimezone(self.tz) if now.tzinfo else now.replace(tzinfo=self.tz)
        # Control characters (NUL breaks Duckling) become spaces: same length, offsets stay valid.
        safe = _CONTROL.sub(" ", text[:MAX_CHARS])
        low = lower(safe)
        plain = fold(low)
        folded_digits = fold(digits(without_fillers(low)))

        # 1. Emergency rules first; nothing below may lower their verdict.
        verdict = self.safety.assess(folded_digits.text)
        if verdict.urgency is not Urgency.URGENT and len(text) > MAX_CHARS:
            # A runaway turn: the safety net (cheap) also reads its tail, up to urgency.MAX_CHARS.
            tail = fold(lower(_CONTROL.sub(" ", text[MAX_CHARS - 80 : urgency_rules.MAX_CHARS])))
            tail_verdict = self.safety.assess(tail.text)
            if tail_verdict.urgency is Urgency.URGENT:
                verdict = tail_verdict
        if verdict.urgency is not Urgency.URGENT and not any(
            len(word) <= _LONGEST_WORD for word in plain.text.split()
        ):
            # Nothing that looks like a word (silence, noise, a stuck key): ask again.
            return Understanding(text, Intent.OUT_OF_SCOPE, 0.0, Urgency.NORMAL)

        # 2. Entities.
        entities = self._entities(safe, plain, folded_digits, now)

        # 3. Intent.
        if verdict.urgency is Urgency.URGENT:
            return Understanding(
                text,
                Intent.EMERGENCY,
                1.0,
                Urgency.URGENT,
                tuple(entities),
                emergency_rule=verdict.rule,
                alternatives=((Intent.EMERGENCY, 1.0),),
                safety_level=urgency_rules.VITAL,
                red_flag=verdict.rule,
                who=verdict.who,
            )
        ranked = self._classify(safe, plain.text)
        intent, confidence = ranked[0]
        urgency = verdict.urgency
        level, red_flag = verdict.level, verdict.red_flag
        if intent is Intent.EMERGENCY:
            # The classifier may raise urgency, never lower it: its guess alone means one check question.
            # The rules placed the red flag it reacts to in a long-past, negated or death clause ("un
            # infarctus il y a dix ans", "pas de douleur"): the classifier, keyword-driven, is not asked
            # about tense; since suppression is per clause, a live clause elsewhere still fires the rules.
            past_only = verdict.suppressed is not None and level is None and not verdict.distress
            if (verdict.said_not_urgent and not verdict.distress) or past_only:
                # "c'est pas urgent", or a red flag the rules placed in the past: take the next guess.
                ranked = [r for r in ranked if r[0] is not Intent.EMERGENCY] or [(Intent.OUT_OF_SCOPE, 0.0)]
                intent, confidence = ranked[0]
            elif confidence < EMERGENCY_MIN_CONFIDENCE and level is None:
                intent = Intent.OUT_OF_SCOPE  # a vague guess: clarify (the guess stays in alternatives)
            else:
                urgency = Urgency.SOON
                level = level or urgency_rules.CHECK
        if level == urgency_rules.CHECK and urgency is Urgency.NORMAL:
            urgency = Urgency.SOON
        if intent is not Intent.EMERGENCY and confidence < self.threshold:
            kinds = {e.entity for e in entities}
            if (
                kinds & {EntityKind.BIRTH_DATE, EntityKind.PHONE, EntityKind.PATIENT_NAME}
                and len(plain.text.split()) <= 14
            ):
                intent = Intent.GIVE_IDENTITY
            else:
                intent = Intent.OUT_OF_SCOPE
        alternatives = tuple((i, round(p, 4)) for i, p in ranked[:3])
        return Understanding(
            text,
            intent,
            confidence,
            urgency,
            tuple(entities),
            alternatives=alternatives,
            safety_level=level,
            red_flag=red_flag,
            who=verdict.who,
        )

    def _classify(self, text: str, folded: str) -> list[tuple[Intent, float]]:
        if _AFFIRM.match(folded):
            return [(Intent.AFFIRM, 0.99)]
        if _DENY.match(folded):
            return [(Intent.DENY, 0.99)]
        try:
            ranked = self.intents(text[:UNDERSTAND_CHARS])
        except Exception as err:  # a failing backend must give a clarifying question, not a crash
            log.warning("intent classifier failed: %s", err)
            ranked = []
        return ranked or [(Intent.OUT_OF_SCOPE, 0.0)]

    def _entities(self, text: str, plain: Mapped, folded_digits: Mapped, now: dt.datetime) -> list[Entity]:
        if len(text) > UNDERSTAND_CHARS:
            text = text[:UNDERSTAND_CHARS]
            plain, folded_digits = _head(plain, UNDERSTAND_CHARS), _head(folded_digits, UNDERSTAND_CHARS)
        out: list[Entity] = []
        taken: list[tuple[int, int]] = []
        phone = find_phone(folded_digits)
        if phone:
            out.append(Entity(EntityKind.PHONE, phone[2], phone[0], phone[1]))
            taken.append((phone[0], phone[1]))
        birth = find_birth_date(folded_digits, now.date())
        if birth and phone and birth.start < phone[1] and phone[0] < birth.end:
            birth = None  # digits of the phone number, not a date
        if birth:
            taken.append((birth.start, birth.end))
            if birth.value is not None:
                out.append(Entity(EntityKind.BIRTH_DATE, birth.value.isoformat(), birth.start, birth.end))
            else:
                out.append(Entity(EntityKind.BIRTH_DATE, "", birth.start, birth.end, {"invalid": True}))
        who = find_practitioner(plain, self._keys)
        if who:
            out.append(Entity(EntityKind.PRACTITIONER, who[2], who[0], who[1]))
        name = find_patient_name(plain, text)
        overlaps_who = bool(who and who[0] < name[1] and name[0] < who[1]) if name else False
        if name and not overlaps_who and not any(s < name[1] and name[0] < e for s, e in taken):
            out.append(Entity(EntityKind.PATIENT_NAME, name[2], name[0], name[1]))
            taken.append((name[0], name[1]))
        if who:
            taken.append((who[0], who[1]))
        for found in self.dates.find(text, now, skip=taken):
            out.append(
                Entity(
                    EntityKind.DATE_TIME, found.value.isoformat(), found.start, found.end, found.as_extra()
                )
            )
        out.sort(key=lambda e: e.start)
        return out


def _head(mapped: Mapped, chars: int) -> Mapped:
    """The part of a derived text that comes from the original's first `chars` characters."""
    cut = bisect.bisect_left(mapped.origin, chars)
    return Mapped(mapped.text[:cut], mapped.origin[:cut], min(mapped.original_length, chars))


def load_understander(
    practice: PracticeConfig,
    extra_nlu: Sequence[Path] = (),
    cache_dir: Path | None = None,
    rasa_url: str | None = None,
) -> LocalUnderstander:
    """The understander for a practice: packaged nlu.yml + practice.nlu_extra + extra_nlu.

    `rasa_url` (or env STANDARDISTE_RASA_URL): take intents from a Rasa server's /model/parse instead of
    the in-process classifier (rules and entities stay local; the local model is the fallback).
    """
    started = time.perf_counter()
    files = [packaged_nlu(), *practice.nlu_extra, *extra_nlu]
    model, where = obtain_model(files, cache_dir)
    intents: IntentSource = model.predict
    rasa_url = rasa_url or os.environ.get("STANDARDISTE_RASA_URL") or None
    if rasa_url:
        from standardiste.understanding.rasa_http import RasaHttpIntents

        intents = RasaHttpIntents(rasa_url, fallback=model.predict)
    understander = LocalUnderstander(practice, intents)
    understander.parse("bonjour", dt.datetime.now(understander.tz))  # warm every part once
    log.info("understanding ready in %.2f s (model %s, %s)", time.perf_counter() - started, where, model.key)
    return understander


def model_for(practice: PracticeConfig, extra_nlu: Sequence[Path] = ()) -> IntentModel:
    return obtain_model([packaged_nlu(), *practice.nlu_extra, *extra_nlu])[0]
