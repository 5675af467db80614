"""Prometheus metrics: one registry per process, exposed at /metrics by the dashboard server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)

CALLS_IN_PROGRESS = Gauge(
    "standardiste_calls_in_progress", "Calls being handled now", ["direction"], registry=REGISTRY
)
CALLS = Counter(
    "standardiste_calls_total", "Calls ended, by outcome", ["direction", "outcome"], registry=REGISTRY
)
GREETING_LATENCY = Histogram(
    "standardiste_greeting_latency_seconds",
    "From answer to the first greeting frame",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
TURN_LATENCY = Histogram(
    "standardiste_turn_latency_seconds",
    "From the caller's end of turn to our first reply frame",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
RECOGNIZER_SECONDS = Histogram(
    "standardiste_recognizer_final_seconds",
    "End of audio to final transcript",
    ["backend"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SYNTHESIS_SECONDS = Histogram(
    "standardiste_synthesis_seconds",
    "Text to audio (cache misses)",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
UNDERSTANDING_SECONDS = Histogram(
    "standardiste_understanding_seconds", "Per utterance", buckets=_LATENCY_BUCKETS, registry=REGISTRY
)
REMINDERS = Counter(
    "standardiste_reminders_total",
    "Reminder and follow-up calls, by outcome",
    ["purpose", "outcome"],
    registry=REGISTRY,
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
