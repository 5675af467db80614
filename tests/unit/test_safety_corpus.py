"""The generated adversarial set (understanding/safety_corpus.py): recall 1.00 on every vital red flag,
precision >= 0.95, through the same normalisation as the engine. Figures: bench/bench_safety.py."""

from __future__ import annotations

import collections

import pytest

from standardiste.understanding.normalize import digits, fold, lower, without_fillers
from standardiste.understanding.safety_corpus import (
    SEED,
    Item,
    SpokenItem,
    generate,
    spoken_holdout,
    spoken_items,
)
from standardiste.understanding.urgency import VITAL, assess


def verdict(text: str) -> str | None:
    return assess(fold(digits(without_fillers(lower(text)))).text).level


@pytest.fixture(scope="module")
def corpus() -> list[Item]:
    return generate()


def test_the_set_is_big_varied_and_deterministic(corpus: list[Item]) -> None:
    positives = [i for i in corpus if i.vital]
    negatives = [i for i in corpus if not i.vital]
    assert len(positives) >= 2000 and len(negatives) >= 1000
    assert [i.text for i in corpus[:50]] == [i.text for i in generate(SEED)[:50]]
    kinds = {i.category for i in negatives}
    assert {"past", "negation", "emergency_number", "death", "chronic", "not_urgent"} <= kinds
    categories = {i.category for i in positives}
    for needed in (
        "breathing", "chest_pain", "stroke", "unconscious", "fall_head_injury", "seizure", "bleeding",
        "anaphylaxis", "poisoning", "burn", "infant", "hypoglycaemia", "headache", "suicide", "english",
    ):  # fmt: skip
        assert needed in categories


def test_recall_is_total_and_precision_high(corpus: list[Item]) -> None:
    missed: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    true_alarms = false_alarms = 0
    for item in corpus:
        vital = verdict(item.text) == VITAL
        if item.vital and not vital:
            missed[item.category] += 1
            examples.append(item.text)
        elif item.vital:
            true_alarms += 1
        elif vital:
            false_alarms += 1
    assert not missed, f"missed {dict(missed)}: {examples[:10]}"
    assert true_alarms / (true_alarms + false_alarms) >= 0.95


def test_another_seed_is_caught_too() -> None:
    """Other noise on the same templates: still every emergency."""
    missed = [i.text for i in generate(seed=7) if i.vital and verdict(i.text) != VITAL]
    assert not missed, missed[:10]


@pytest.mark.parametrize("item", [*spoken_items(), *spoken_holdout()], ids=lambda i: i.text[:60])
def test_spoken_sets_as_typed_text_are_what_the_rules_say(item: SpokenItem) -> None:
    """The spoken safety sets (bench/bench_spoken_safety.py) spelled right: every red flag is vital for
    the rules, no hard negative is (a question about an emergency may get the check question). What the
    voices and Whisper lose on the way is the bench's business, not a gap in the rules."""
    level = verdict(item.text)
    if item.vital:
        assert level == VITAL, item
    else:
        assert level != VITAL and (level is None or item.check_ok), (item, level)


def test_spoken_sets_are_stable_and_cover_the_red_flags() -> None:
    items = spoken_items()
    assert [i.text for i in items] == [i.text for i in spoken_items()]
    assert {i.context for i in items if i.vital} == {"alone", "opening", "mid_booking", "after_routine"}
    assert len([i for i in items if i.vital]) >= 150 and len([i for i in items if not i.vital]) >= 40
    assert not {i.text for i in items} & {i.text for i in spoken_holdout()}
