"""Red flags said by voice reach the emergency net, at the opening and in the middle of a booking.

A small fixed set of red-flag sentences (the one missed on a real SIP call among them) and hard negatives,
spoken by the test callers' voices (MBROLA fr4, SVOX Pico), through 8 kHz G.711 mu-law and the real Whisper
base model (the server's settings), then into the real dialogue (understanding engine, SQL agenda) as a
recogniser's turn at the date-time question of a booking. A red flag is caught when the dialogue transfers
with priority or asks "Est-ce une urgence ?". Floors sit under what bench/bench_spoken_safety.py measured
on the whole spoken set (bench/results/spoken_safety.md); no hard negative may be transferred.

Real parts only: a missing voice or Whisper model fails in CI (skips on a developer's machine).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from standardiste.dialogue.messages import Expect, Heard, OutcomeKind
from standardiste.speech import pico
from standardiste.speech.whisper_backend import WhisperEngine
from tests.fixtures.caller_voice import caller_say, mbrola_available
from tests.fixtures.parts import require_part
from tests.fixtures.voice_check import padded, telephone
from tests.fixtures.whisper import whisper_model_path
from tests.unit.test_dialogue_safety import Call

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# (voice, sentence): the main categories, each voice about half; the first is the red flag missed on a
# real SIP call (bench/results/spoken_calls.md).
RED_FLAGS = (
    ("mbrola", "En fait je saigne énormément, je n'arrive pas à arrêter le saignement."),
    ("pico", "En fait je saigne énormément, je n'arrive pas à arrêter le saignement."),
    ("mbrola", "J'ai une douleur dans la poitrine qui serre très fort."),
    ("pico", "Oui, mais là, mon mari a très mal à la poitrine."),
    ("mbrola", "Je n'arrive plus à respirer."),
    ("pico", "Attendez, mon mari vient de s'effondrer, il ne respire plus."),
    ("mbrola", "Mon père a perdu connaissance."),
    ("pico", "Jeudi matin, mais en fait ma mère a le visage qui tombe d'un côté."),
    ("mbrola", "J'ai envie d'en finir."),
    ("pico", "Mon bébé de deux mois a de la fièvre."),
    ("pico", "Ma mère s'est évanouie."),
    ("mbrola", "J'ai la gorge qui gonfle."),
    ("mbrola", "Je crois que je fais une crise cardiaque."),
    ("pico", "Ça n'arrête pas de saigner."),
)
NEGATIVES = (
    ("mbrola", "Je voudrais les résultats de ma prise de sang."),
    ("pico", "Je sors du cinéma, je voulais un rendez-vous pour demain."),
    ("mbrola", "Je saigne un peu du nez depuis hier, c'était pour un renouvellement."),
    ("pico", "Ma mère a fait un AVC il y a dix ans, c'est pour son renouvellement."),
)
# Measured on this set: 12 of 14 (MBROLA's "Nous t'a permis connaissons" and "J'ai envie de finir" are
# missed), 6 before the sounds-like terms heard on the telephone (bench/results/spoken_safety-before.md).
MIN_CAUGHT = 11


@pytest.fixture(scope="module")
def whisper() -> Iterator[WhisperEngine]:
    require_part(pico.available() is None, "SVOX Pico fr-FR", "scripts/setup.sh (libttspico0)")
    require_part(
        mbrola_available() is None, "MBROLA fr4 (Debian mbrola, mbrola-fr4)", "scripts/apt-packages.txt"
    )
    engine = WhisperEngine(whisper_model_path(), workers=1)
    engine.load()
    yield engine
    engine.close()


def heard(whisper: WhisperEngine, voice: str, sentence: str) -> str:
    return whisper.decode(telephone(padded(caller_say(sentence, voice)))).text


def at_date_time_question(call: Call) -> None:
    call.start()
    asked = call.say("je voudrais un rendez-vous avec le docteur martin")
    assert asked[-1].expect.kind == Expect.DATE_TIME, asked


def verdict(simulator, understander, transcript: str) -> str | None:  # type: ignore[no-untyped-def]
    """What the dialogue does with this recogniser turn in the middle of a booking."""
    call = Call(simulator, understander)
    at_date_time_question(call)
    call.now += dt.timedelta(seconds=5)
    call.manager.handle(Heard(transcript, call.now, 0.6, transcript, from_recognizer=True))
    outcome = call.manager.outcome
    if outcome is not None and outcome.kind == OutcomeKind.EMERGENCY_TRANSFERRED:
        return "vital"
    if any(p.startswith("same_day:") for p in call.manager.core.state.path):
        return "same_day"
    question = call.manager.question
    return "check" if question is not None and question.name == "emergency_confirm" else None


def test_red_flags_said_by_voice_mid_booking_reach_the_emergency_net(
    whisper: WhisperEngine,
    simulator,  # type: ignore[no-untyped-def]
    understander,  # type: ignore[no-untyped-def]
) -> None:
    results = []
    for voice, sentence in RED_FLAGS:
        transcript = heard(whisper, voice, sentence)
        results.append((voice, sentence, transcript, verdict(simulator, understander, transcript)))
    caught = [r for r in results if r[3] in ("vital", "check")]
    report = "\n".join(f"{v}: {s!r} -> {t!r}: {level}" for v, s, t, level in results)
    print(report)
    assert len(caught) >= MIN_CAUGHT, report


def test_hard_negatives_said_by_voice_are_not_transferred(
    whisper: WhisperEngine,
    simulator,  # type: ignore[no-untyped-def]
    understander,  # type: ignore[no-untyped-def]
) -> None:
    results = []
    for voice, sentence in NEGATIVES:
        transcript = heard(whisper, voice, sentence)
        results.append((voice, sentence, transcript, verdict(simulator, understander, transcript)))
    report = "\n".join(f"{v}: {s!r} -> {t!r}: {level}" for v, s, t, level in results)
    print(report)
    assert all(r[3] is None for r in results), report
