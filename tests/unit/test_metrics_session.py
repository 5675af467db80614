"""The Prometheus metrics are fed by a real CallSession (doubles from test_telephony_session), the real
espeak-ng synthesiser (cache misses only) and the real understanding engine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from standardiste import metrics
from standardiste.dialogue.messages import Heard, Outcome, OutcomeKind
from tests.unit.test_telephony_session import QUIET, VOICED, Harness, _wait_for_event


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_call_moves_the_call_and_latency_metrics() -> None:
    in_progress = ("standardiste_calls_in_progress", {"direction": "inbound"})
    ended = ("standardiste_calls_total", {"direction": "inbound", "outcome": "answered"})
    before = {
        "live": value(in_progress[0], **in_progress[1]),
        "ended": value(ended[0], **ended[1]),
        "greeting": value("standardiste_greeting_latency_seconds_count"),
        "turn": value("standardiste_turn_latency_seconds_count"),
        "recognizer": value("standardiste_recognizer_final_seconds_count", backend="fake"),
    }
    h = Harness()
    h.start()
    await h.until(lambda: len(h.leg.played) == 1)
    assert value(in_progress[0], **in_progress[1]) == before["live"] + 1
    assert value("standardiste_greeting_latency_seconds_count") == before["greeting"] + 1
    h.leg.send([VOICED] * 3 + [QUIET] * 4)  # the caller speaks: a turn, recognised, then answered
    await _wait_for_event(h, Heard)
    await h.until(lambda: len(h.leg.played) == 2)
    assert value("standardiste_recognizer_final_seconds_count", backend="fake") == before["recognizer"] + 1
    assert value("standardiste_turn_latency_seconds_count") == before["turn"] + 1
    h.session.digit("1")  # a keypad entry is a turn too
    await h.until(lambda: len(h.leg.played) == 3)
    assert value("standardiste_turn_latency_seconds_count") == before["turn"] + 2
    assert len(h.session.record.reply_latencies_ms) == 2
    h.conversation._outcome = Outcome(OutcomeKind.ANSWERED)
    h.session.hung_up()
    await h.finish()
    assert value(in_progress[0], **in_progress[1]) == before["live"]
    assert value(ended[0], **ended[1]) == before["ended"] + 1
    text = metrics.exposition().decode()
    assert 'standardiste_calls_total{direction="inbound",outcome="answered"}' in text


async def test_a_call_without_outcome_and_a_failing_session_still_balance_the_gauge() -> None:
    live = value("standardiste_calls_in_progress", direction="inbound")
    none = value("standardiste_calls_total", direction="inbound", outcome="none")

    def broken(event: object) -> list[object]:
        raise RuntimeError("conversation bug")

    h = Harness(react=broken)  # type: ignore[arg-type]
    h.start()
    await h.until(lambda: bool(h.leg.transfers))
    await h.finish()
    assert value("standardiste_calls_in_progress", direction="inbound") == live
    assert value("standardiste_calls_total", direction="inbound", outcome="none") == none + 1


async def test_synthesis_is_timed_on_cache_misses_only(tmp_path: Path) -> None:
    from standardiste.speech.tts import EspeakSynthesizer

    synth = EspeakSynthesizer(cache_dir=tmp_path)
    before = value("standardiste_synthesis_seconds_count")
    text = f"Test des métriques numéro {dt.datetime.now().microsecond}."
    await synth.synthesize(text, persist=True)  # a fixed prompt: kept on disk
    assert value("standardiste_synthesis_seconds_count") == before + 1
    await synth.synthesize(text)  # memory cache
    await EspeakSynthesizer(cache_dir=tmp_path).synthesize(text)  # disk cache
    assert value("standardiste_synthesis_seconds_count") == before + 1


def test_understanding_is_timed_per_utterance(understander) -> None:  # type: ignore[no-untyped-def]
    before = value("standardiste_understanding_seconds_count")
    understander.parse("je voudrais un rendez-vous", dt.datetime.now(dt.UTC))
    understander.parse("", dt.datetime.now(dt.UTC))
    assert value("standardiste_understanding_seconds_count") == before + 2
