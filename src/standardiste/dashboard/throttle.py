"""Login throttling, per account and per client address.

Each failed login counts against the account tried and against the address it came from, over a sliding
window. Past a few failures the next attempt must wait, the wait doubling with each further failure (up to
a cap): a password guesser gets a handful of tries per hour instead of thousands a second, and trying many
accounts from one address is slowed just the same. A success clears the account's count (not the address's:
one known password must not reset the guessing budget of everyone else from that address).

A locked account stays locked even with the right password until the wait is over (otherwise the lock
would tell the attacker when a guess was right). State is in memory: a restart gives the counts back,
which costs an attacker a restart of the service per handful of guesses.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window: dt.timedelta = dt.timedelta(minutes=15)
    free_per_account: int = 5  # failures in the window before each further try must wait
    free_per_address: int = 20
    first_wait: dt.timedelta = dt.timedelta(seconds=30)
    max_wait: dt.timedelta = dt.timedelta(minutes=15)


@dataclass
class _Track:
    failures: deque[dt.datetime] = field(default_factory=deque)
    blocked_until: dt.datetime | None = None


class LoginThrottle:
    def __init__(self, policy: ThrottlePolicy | None = None, max_keys: int = 10000) -> None:
        self.policy = policy or ThrottlePolicy()
        self._tracks: dict[str, _Track] = {}
        self._max_keys = max_keys

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.strip().lower()[:64]}", f"addr:{address}"

    def wait(self, username: str, address: str, now: dt.datetime) -> dt.timedelta | None:
        """How long before this attempt may be checked; None: now."""
        longest: dt.timedelta | None = None
        for key in self._keys(username, address):
            track = self._tracks.get(key)
            if track is not None and track.blocked_until is not None and track.blocked_until > now:
                left = track.blocked_until - now
                longest = left if longest is None or left > longest else longest
        return longest

    def failed(self, username: str, address: str, now: dt.datetime) -> None:
        user_key, addr_key = self._keys(username, address)
        for key, free in ((user_key, self.policy.free_per_account), (addr_key, self.policy.free_per_address)):
            track = self._track(key, now)
            track.failures.append(now)
            excess = len(track.failures) - free  # 0: the free tries are used up
            if excess >= 0:
                wait = min(self.policy.first_wait * (2 ** min(excess, 20)), self.policy.max_wait)
                track.blocked_until = now + wait

    def succeeded(self, username: str, now: dt.datetime) -> None:
        self._tracks.pop(self._keys(username, "")[0], None)

    def _track(self, key: str, now: dt.datetime) -> _Track:
        track = self._tracks.get(key)
        if track is None:
            if len(self._tracks) >= self._max_keys:
                self._forget_old(now)
            track = self._tracks[key] = _Track()
        while track.failures and track.failures[0] <= now - self.policy.window:
            track.failures.popleft()
        return track

    def _forget_old(self, now: dt.datetime) -> None:
        for key in [
            k
            for k, t in self._tracks.items()
            if (not t.failures or t.failures[-1] <= now - self.policy.window)
            and (t.blocked_until is None or t.blocked_until <= now)
        ]:
            del self._tracks[key]
