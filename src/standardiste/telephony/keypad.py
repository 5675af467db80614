"""Keypad entry: one key per answer, or several digits ended by '#' or a count (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

HUMAN_KEY = "0"  # on a single-key question
HUMAN_KEY_MULTI = "*"  # during multi-digit entry, where 0 is a digit


@dataclass(slots=True)
class DigitCollector:
    """Collects keys for one question; `press` returns the complete entry once there is one."""

    digits: int = 1
    _keys: list[str] = field(default_factory=list)

    @property
    def pending(self) -> str:
        return "".join(self._keys)

    def press(self, key: str) -> str | None:
        if self.digits <= 1:
            return key
        if key == HUMAN_KEY_MULTI and not self._keys:
            return key
        if key == "#":
            entry = self.pending
            self._keys.clear()
            return entry if entry else None
        if key == HUMAN_KEY_MULTI:
            # '*' in the middle of an entry: the caller gives up typing and wants a human.
            self._keys.clear()
            return HUMAN_KEY_MULTI
        self._keys.append(key)
        if len(self._keys) >= self.digits:
            entry = self.pending
            self._keys.clear()
            return entry
        return None

    def timeout(self) -> str | None:
        """The inter-digit timeout ran out: what was typed so far, if anything."""
        entry = self.pending
        self._keys.clear()
        return entry or None
