"""PocketSphinx backend: French recognition with one small grammar per question (see docs/recognition.md)."""

from standardiste.speech.sphinx.recognizer import SphinxRecognizer, SphinxStream, SphinxWorkerError

__all__ = ["SphinxRecognizer", "SphinxStream", "SphinxWorkerError"]
