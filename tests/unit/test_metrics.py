from standardiste import metrics


def test_exposition_has_every_family():
    metrics.CALLS.labels(direction="inbound", outcome="answered").inc()
    metrics.TURN_LATENCY.observe(0.042)
    text = metrics.exposition().decode()
    for name in (
        "standardiste_calls_in_progress",
        "standardiste_calls_total",
        "standardiste_turn_latency_seconds",
        "standardiste_greeting_latency_seconds",
        "standardiste_recognizer_final_seconds",
        "standardiste_synthesis_seconds",
        "standardiste_reminders_total",
    ):
        assert name in text
    assert 'standardiste_calls_total{direction="inbound",outcome="answered"}' in text
