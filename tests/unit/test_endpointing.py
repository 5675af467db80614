"""Adaptive end of turn: what counts as a complete answer, and when a turn may end on the short window."""

from __future__ import annotations

import dataclasses

import pytest

from standardiste.dialogue.messages import Expect
from standardiste.telephony.endpointing import (
    EndpointSettings,
    SpeculationBudget,
    Step,
    TurnView,
    is_complete_answer,
    may_end_early,
    next_step,
)


@pytest.mark.parametrize(
    ("kind", "text", "complete"),
    [
        (Expect.YES_NO, "Oui.", True),
        (Expect.YES_NO, "Non merci.", True),
        (Expect.YES_NO, "Oui, c'est ça.", True),
        (Expect.YES_NO, "C'est ça.", True),
        (Expect.YES_NO, "Euh...", False),
        (Expect.YES_NO, "Oui mais...", False),
        (Expect.YES_NO, "Je ne sais pas trop, il faudrait que je regarde mon agenda.", False),
        (Expect.TIME, "14h30.", True),
        (Expect.TIME, "Quatorze heures trente.", True),
        (Expect.TIME, "Neuf heures et demie.", True),
        (Expect.TIME, "À midi.", True),
        (Expect.TIME, "14h.", False),  # may go on: "... trente"
        (Expect.TIME, "Neuf heures et", False),
        (Expect.DATE_TIME, "Mardi à 10h30.", True),
        (Expect.DATE_TIME, "Demain à midi.", True),
        (Expect.DATE_TIME, "Mardi.", False),
        (Expect.DATE_TIME, "Mardi à", False),
        (Expect.DAY, "Lundi matin.", True),
        (Expect.DAY, "Le 12 mars.", True),
        (Expect.DAY, "Lundi.", False),
        (Expect.OPEN, "Je voudrais prendre un rendez-vous.", True),
        (Expect.OPEN, "Je voudrais prendre un rendez-vous pour", False),
        (Expect.OPEN, "Je voudrais...", False),
        (Expect.OPEN, "Bonjour, je voudrais", False),
        (Expect.OPEN, "Oui.", False),  # too short to be a whole request
        (Expect.NAME, "Dupont.", False),
        (Expect.PHONE, "06 12 34 56 78.", False),
        (Expect.BIRTH_DATE, "Le 12 mars 1985.", False),
        (Expect.SATISFACTION, "Cinq.", True),
        (Expect.OPEN, "", False),
    ],
)
def test_complete_answers(kind: Expect, text: str, complete: bool) -> None:
    assert is_complete_answer(kind, None, text) is complete


def test_choice_phrase_that_starts_a_longer_one_is_not_complete() -> None:
    phrases = ("le matin", "le matin de bonne heure", "l'après-midi")
    assert is_complete_answer(Expect.CHOICE, phrases, "L'après-midi.")
    assert not is_complete_answer(Expect.CHOICE, phrases, "Le matin.")
    assert not is_complete_answer(Expect.CHOICE, phrases, "Je préfère parler à quelqu'un de l'accueil.")


def test_kinds_said_with_pauses_never_end_early() -> None:
    assert not may_end_early(Expect.PHONE)
    assert not may_end_early(Expect.NAME)
    assert may_end_early(Expect.YES_NO)


S = EndpointSettings(short_ms=250, long_ms=700, speculate_after_ms=120, max_speculations_per_turn=2)


def view(**kw: object) -> TurnView:
    base: dict[str, object] = dict(
        speech_s=1.0, silence_ms=0.0, speculations=0, speculating=False, complete=None, eligible=True
    )
    base.update(kw)
    return TurnView(**base)  # type: ignore[arg-type]


def test_speculates_after_a_short_silence_then_ends_on_a_complete_answer() -> None:
    assert next_step(S, view(silence_ms=100), True) is Step.WAIT
    assert next_step(S, view(silence_ms=140), True) is Step.SPECULATE
    assert next_step(S, view(silence_ms=200, speculating=True, speculations=1), True) is Step.WAIT
    # Verdict known before the short window: wait for it; then end.
    assert next_step(S, view(silence_ms=200, speculations=1, complete=True), True) is Step.WAIT
    assert next_step(S, view(silence_ms=260, speculations=1, complete=True), True) is Step.END


def test_incomplete_answer_waits_for_the_long_window() -> None:
    assert next_step(S, view(silence_ms=400, speculations=1, complete=False), True) is Step.WAIT
    assert next_step(S, view(silence_ms=690, speculations=1, complete=False), True) is Step.WAIT


def test_speculation_is_bounded() -> None:
    assert next_step(S, view(silence_ms=150, speculations=2), True) is Step.WAIT  # per turn
    assert next_step(S, view(silence_ms=150, speech_s=8.0), True) is Step.WAIT  # long turn
    assert next_step(S, view(silence_ms=150), False) is Step.WAIT  # process budget used up
    assert next_step(S, view(silence_ms=150, eligible=False), True) is Step.WAIT  # e.g. a phone number
    assert next_step(S, view(silence_ms=650), True) is Step.SPECULATE
    assert next_step(S, view(silence_ms=700), True) is Step.WAIT  # the long window ends it anyway


def test_budget() -> None:
    budget = SpeculationBudget(limit=1)
    assert budget.try_acquire()
    assert not budget.free and not budget.try_acquire()
    assert budget.refused == 1
    budget.release()
    assert budget.try_acquire()


def test_budget_closes_when_the_recogniser_pool_is_busy() -> None:
    delay: list[float | None] = [None]
    budget = SpeculationBudget(limit=2, pressure=lambda: delay[0], max_pressure_s=0.2)
    assert budget.free  # no probe figure yet
    delay[0] = 0.5
    assert not budget.free and not budget.try_acquire()
    delay[0] = 0.01
    assert budget.try_acquire()


def test_grammar_hypothesis_ends_a_turn_while_whisper_still_decodes() -> None:
    from standardiste.telephony.endpointing import grammar_hypothesis_complete

    assert grammar_hypothesis_complete(Expect.TIME, "quatorze heures trente")
    assert not grammar_hypothesis_complete(Expect.TIME, "quatorze heures")
    assert not grammar_hypothesis_complete(Expect.OPEN, "un rendez-vous")  # open questions: Whisper only
    assert not grammar_hypothesis_complete(Expect.PHONE, "zéro six douze")
    pending = view(silence_ms=260, speculations=1, speculating=True, grammar_complete=True)
    assert next_step(S, pending, True) is Step.END
    assert next_step(S, view(silence_ms=200, grammar_complete=True), True) is Step.SPECULATE


def test_slow_passes_turn_speculation_off_with_a_retry_now_and_then() -> None:
    now = [100.0]
    budget = SpeculationBudget(limit=2, max_pass_s=0.45, retry_s=10.0, clock=lambda: now[0])
    assert budget.try_acquire()
    budget.release()
    budget.record_pass(1.2)  # a starved CPU: the pass ended after the long window would have
    assert not budget.free
    now[0] += 11.0  # a retry
    assert budget.try_acquire()
    budget.release()
    assert not budget.free
    for _ in range(8):
        budget.record_pass(0.25)  # fast again
    assert budget.free


def test_a_complete_grammar_hypothesis_starts_whisper_at_the_first_silence() -> None:
    # The pass becomes the final transcript: it starts after early_pass_after_ms, not speculate_after_ms.
    early = EndpointSettings(short_ms=250, long_ms=700, speculate_after_ms=180, early_pass_after_ms=60)
    assert next_step(early, view(silence_ms=40, grammar_complete=True), True) is Step.WAIT
    assert next_step(early, view(silence_ms=60, grammar_complete=True), True) is Step.SPECULATE
    assert next_step(early, view(silence_ms=60), True) is Step.WAIT  # no complete hypothesis: 180 ms
    busy = view(silence_ms=100, grammar_complete=True, speculating=True, speculations=1)
    assert next_step(early, busy, True) is Step.WAIT
    assert next_step(early, view(silence_ms=100, grammar_complete=True), False) is Step.WAIT  # no room


def test_a_pass_that_will_be_final_is_not_refused_for_its_speed_only_for_the_pool_queue() -> None:
    delay: list[float | None] = [None]
    budget = SpeculationBudget(limit=1, pressure=lambda: delay[0], max_pressure_s=0.2, max_pass_s=0.45)
    assert budget.try_acquire()
    budget.release()
    budget.record_pass(0.6)  # slower than the long window allows: extra passes stop
    assert not budget.free and budget.free_for_final
    assert budget.try_acquire(final=True)
    assert not budget.free_for_final and not budget.try_acquire(final=True)  # the limit still holds
    budget.release()
    delay[0] = 0.5  # the recognisers' queue is long: no pass at all
    assert not budget.free_for_final and not budget.try_acquire(final=True)


def test_where_the_grammar_decides_whisper_runs_only_once_the_answer_is_complete() -> None:
    early = EndpointSettings(short_ms=250, long_ms=700, speculate_after_ms=180, early_pass_after_ms=60)
    assert next_step(early, view(silence_ms=300, grammar_decides=True), True) is Step.WAIT
    assert (
        next_step(early, view(silence_ms=60, grammar_decides=True, grammar_complete=True), True)
        is Step.SPECULATE
    )
    assert next_step(early, view(silence_ms=300), True) is Step.SPECULATE  # open question: a guessing pass


def test_the_late_pass_runs_inside_the_long_window_for_any_kind() -> None:
    late = EndpointSettings(short_ms=250, long_ms=700, speculate_after_ms=180, late_pass_after_ms=300)
    phone = view(eligible=False, can_peek=True)  # a phone number: never ends early
    assert next_step(late, view(eligible=False, can_peek=True, silence_ms=250), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(phone, silence_ms=300), True) is Step.LATE_PASS
    assert next_step(late, dataclasses.replace(phone, silence_ms=700), True) is Step.WAIT  # window over
    assert next_step(late, dataclasses.replace(phone, silence_ms=300), False) is Step.WAIT  # no budget
    assert next_step(late, dataclasses.replace(phone, silence_ms=300, can_peek=False), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(phone, silence_ms=400, speculating=True), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(phone, silence_ms=300, speech_s=12.0), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(phone, silence_ms=300, speculations=3), True) is Step.WAIT
    # A pass wasted on a pause inside the answer pushes the next late pass later (200 ms per pass).
    assert next_step(late, dataclasses.replace(phone, silence_ms=400, speculations=1), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(phone, silence_ms=500, speculations=1), True) is Step.LATE_PASS
    assert next_step(late, dataclasses.replace(phone, silence_ms=690, speculations=2), True) is Step.WAIT
    # Its verdict never ends a kind said with pauses (is_complete_answer says no for them).
    assert next_step(late, dataclasses.replace(phone, silence_ms=400, complete=False), True) is Step.WAIT
    # An incomplete grammar hypothesis: no guessing pass at 180 ms, the late one at 300 ms.
    waiting = view(grammar_decides=True, can_peek=True)
    assert next_step(late, dataclasses.replace(waiting, silence_ms=200), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(waiting, silence_ms=300), True) is Step.LATE_PASS
    # A long turn that may end early: past max_speculative_speech_s only the late pass.
    long_turn = view(speech_s=8.0, can_peek=True)
    assert next_step(late, dataclasses.replace(long_turn, silence_ms=200), True) is Step.WAIT
    assert next_step(late, dataclasses.replace(long_turn, silence_ms=320), True) is Step.LATE_PASS
    # Slow passes stop guessing passes, not the late one (it is the final decode, started earlier); a
    # queued recogniser pool stops both.
    assert next_step(late, dataclasses.replace(long_turn, silence_ms=320), False, True) is Step.LATE_PASS
    assert next_step(late, dataclasses.replace(long_turn, silence_ms=320), True, False) is Step.WAIT
    off = dataclasses.replace(late, late_pass_after_ms=0)
    assert next_step(off, dataclasses.replace(phone, silence_ms=300), True) is Step.WAIT
