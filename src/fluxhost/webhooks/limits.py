"""How many webhook deliveries may be in flight at once: in all, per target, per API key.

A target that accepts connections and never answers holds a delivery thread for a whole attempt
deadline. Without a per-target cap, a handful of deliveries to it fill every thread and every
other key's webhooks wait behind it. The per-key cap covers one key spreading its deliveries
over many silent targets (many ports of one host are many targets)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", str, int)


@dataclass(frozen=True)
class Slot:
    """One in-flight delivery's share of the limits; hand it back with `release`."""

    target: str
    key_id: int | None  # None: the task is gone (its delivery fails without a connection)


class InflightLimits:
    """Thread-safe counters of in-flight deliveries. `try_acquire` takes a slot only when the
    total, the target's and the key's counts are all under their limits."""

    def __init__(self, total: int, per_target: int, per_key: int) -> None:
        for name, value in (("total", total), ("per_target", per_target), ("per_key", per_key)):
            if value < 1:
                raise ValueError(f"in-flight limit {name} must be at least 1, not {value}")
        self.total = total
        self.per_target = per_target
        self.per_key = per_key
        self._lock = threading.Lock()
        self._in_flight = 0
        self._by_target: Counter[str] = Counter()
        self._by_key: Counter[int] = Counter()

    def try_acquire(self, target: str, key_id: int | None) -> Slot | None:
        with self._lock:
            if self._in_flight >= self.total or self._by_target[target] >= self.per_target:
                return None
            if key_id is not None and self._by_key[key_id] >= self.per_key:
                return None
            self._in_flight += 1
            self._by_target[target] += 1
            if key_id is not None:
                self._by_key[key_id] += 1
            return Slot(target, key_id)

    def release(self, slot: Slot) -> None:
        with self._lock:
            if self._by_target[slot.target] <= 0:
                raise ValueError(f"slot for {slot.target!r} released more often than acquired")
            self._in_flight -= 1
            _decrement(self._by_target, slot.target)
            if slot.key_id is not None:
                _decrement(self._by_key, slot.key_id)

    def free(self) -> int:
        """Deliveries that could start now if their target and key allowed it."""
        with self._lock:
            return self.total - self._in_flight

    def in_flight(self, target: str | None = None) -> int:
        with self._lock:
            return self._in_flight if target is None else self._by_target[target]


def _decrement(counter: Counter[K], key: K) -> None:
    # Drop zero entries: a long-running dispatcher sees an unbounded number of targets.
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
