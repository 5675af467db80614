"""Quality floor on the development and held-out sets (figures themselves: bench/bench_understanding.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from standardiste.config import Config
from standardiste.understanding.engine import LocalUnderstander, load_understander
from standardiste.understanding.types import Urgency

DATA = Path(__file__).resolve().parents[1] / "data"


def items(name: str) -> tuple[dt.datetime, list[dict[str, Any]]]:
    doc = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return dt.datetime.fromisoformat(doc["now"]), doc["items"]


@pytest.fixture(scope="module")
def engine(demo_config: Config) -> LocalUnderstander:
    return load_understander(demo_config.practice)


def test_dev_set_is_big_and_separate_from_training() -> None:
    from standardiste.understanding.classifier import load_examples, packaged_nlu

    training = {t.lower() for t, _ in load_examples([packaged_nlu()])}
    for name in ("nlu_dev.yml", "nlu_heldout.yml"):
        _, rows = items(name)
        overlap = [r["text"] for r in rows if r["text"].lower() in training]
        assert not overlap, f"{name}: in training data: {overlap}"
    assert len(items("nlu_dev.yml")[1]) >= 300


@pytest.mark.parametrize("name", ["nlu_dev.yml", "nlu_heldout.yml"])
def test_every_urgent_item_is_caught_and_no_false_alarm(engine: LocalUnderstander, name: str) -> None:
    now, rows = items(name)
    for row in rows:
        result = engine.parse(row["text"], now)
        if row.get("urgency") == "urgent":
            assert result.urgency is Urgency.URGENT, row["text"]
        else:
            assert result.urgency is not Urgency.URGENT, row["text"]


@pytest.mark.parametrize(("name", "floor"), [("nlu_dev.yml", 0.9), ("nlu_heldout.yml", 0.85)])
def test_intent_accuracy_floor(engine: LocalUnderstander, name: str, floor: float) -> None:
    now, rows = items(name)
    right = sum(str(engine.parse(r["text"], now).intent) == r["intent"] for r in rows)
    assert right / len(rows) >= floor
