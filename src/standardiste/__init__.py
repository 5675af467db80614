"""Standardiste: an on-premise AI phone assistant for French medical practices."""

__version__ = "0.1.0"
