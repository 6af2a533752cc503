"""The simulator's one kind of cache: a thread-safe LRU bounded by total weight.

Renders run in a thread pool, and everything cached (backdrops, lit layers, grain, face
geometry, whole replies) is a pure function of its key, so a hit changes no answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class BoundedCache(Generic[_T]):
    """Keeps the most recently used values while their weights add up to at most `max_weight`.

    `weigh` gives a value's weight (bytes, say); by default every value weighs 1, which bounds
    the number of entries.
    """

    def __init__(self, max_weight: int, weigh: Callable[[_T], int] = lambda _: 1):
        self.max_weight = max_weight
        self._weigh = weigh
        self._items: OrderedDict[Hashable, tuple[_T, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> _T | None:
        """The value kept under `key` (now the most recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: _T) -> None:
        """Keep `value` under `key` (made elsewhere: another process, say)."""
        self.get(key, lambda: value)

    def get(self, key: Hashable, make: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: two threads may build the same item, never corrupt it
        weight = self._weigh(value)
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, weight)
                self._weight += weight
            while self._weight > self.max_weight and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped
        return value
