"""One active scheduler among several controller processes: a Redis lease with expiry, renewal and a fence.

Acquiring the lease atomically increments a fence counter; the fence goes with every claim in the
database, which refuses claims from an older fence (a leader that paused, lost Redis, and woke up).
Synchronous (redis-py); the service calls it from a worker thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 0 then
  local fence = redis.call('incr', KEYS[2])
  redis.call('set', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
  return fence
end
return 0
"""

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

_RAISE_COUNTER = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Held:
    fence: int
    valid_until: float  # time.monotonic(); after it, act as if the lease were lost


class Lease:
    def __init__(self, client: redis.Redis, namespace: str, node: str, ttl_s: float = 3.0) -> None:
        self.client = client
        self.key = f"{namespace}:leader"
        self.fence_key = f"{namespace}:fence"
        self.node = node
        self.ttl_ms = int(ttl_s * 1000)
        # Margin for clock drift and the renewal round trip.
        self.safety_s = min(0.5, ttl_s / 4)
        self._held: Held | None = None
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._raise = client.register_script(_RAISE_COUNTER)

    @property
    def held(self) -> Held | None:
        held = self._held
        if held is not None and time.monotonic() >= held.valid_until:
            return None
        return held

    def _value(self, fence: int) -> str:
        return f"{self.node}|{fence}"

    def try_acquire(self) -> Held | None:
        started = time.monotonic()
        fence = int(self._acquire(keys=[self.key, self.fence_key], args=[self.node, self.ttl_ms]))
        if not fence:
            return None
        self._held = Held(fence, started + self.ttl_ms / 1000 - self.safety_s)
        return self._held

    def renew(self) -> bool:
        """True: still ours. False: lost for sure (someone else holds it, or it expired).
        Raises redis errors: the caller keeps the lease until its local expiry."""
        held = self._held
        if held is None:
            return False
        started = time.monotonic()
        if int(self._renew(keys=[self.key], args=[self._value(held.fence), self.ttl_ms])):
            self._held = Held(held.fence, started + self.ttl_ms / 1000 - self.safety_s)
            return True
        self._held = None
        return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._release(keys=[self.key], args=[self._value(held.fence)])

    def forget(self) -> None:
        self._held = None

    def raise_counter(self, at_least: int) -> None:
        """After Redis lost its data, keep new fences above those the database has seen."""
        self._raise(keys=[self.fence_key], args=[at_least])

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
