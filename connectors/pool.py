"""Long-lived clients shared by every connector of a kind in this process, one per key.

A sync builds its connectors anew every time; the clients behind them (an httpx client per server, credentials and
TLS setting) outlive them, so a re-sync reuses its connections and does not pay again for a client (40-100 ms:
httpx loads the CA bundle for every client it builds).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Pool(Generic[T]):
    """At most ``size`` values by key, built on first use; the least recently used one is closed beyond that."""

    def __init__(self, close: Callable[[T], None], size: int = 32) -> None:
        self._close = close
        self._size = size
        self._values: collections.OrderedDict[Hashable, T] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value of ``key``, built by ``make`` when there is none."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            value = self._values[key] = make()
            while len(self._values) > self._size:
                self._close(self._values.popitem(last=False)[1])
            return value

    def clear(self) -> None:
        """Close every value (tests that restart servers; a process that wants fresh connections)."""
        with self._lock:
            for value in self._values.values():
                self._close(value)
            self._values.clear()
