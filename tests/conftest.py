"""Shared test set-up. Fixtures that start real services live in tests/fixtures/, one module per service."""

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.clock",
    "tests.fixtures.practice",
    "tests.fixtures.dialogue",
    "tests.fixtures.pbx",
    "tests.fixtures.postgres",
    "tests.fixtures.radicale",
    "tests.fixtures.redis",
    "tests.fixtures.scheduling",
    "tests.fixtures.speech",
    "tests.fixtures.speech_corpus",
    "tests.fixtures.voice",
    "tests.fixtures.whisper",
]
