"""Batch work without the garbage collector's full passes.

A sync holds tens of thousands of parsed answers and records alive at once. CPython's full collection (generation
2) traverses every live object, so while a sync runs each one costs more: on a full sync of three MLflow servers
(3,000 rows) every other sync ran a full collection of 75-165 ms, with every thread stopped, the HTTP threads
included. :func:`no_full_collections` keeps the young collections (they free short-lived cycles and cost
~10 ms per sync) and holds the full ones back until the work is done; by then the records are freed by reference
counting (they hold no cycles), so the next full collection traverses what the process keeps, not the sync.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] = ()
_NEVER = 1 << 30  # a generation-2 threshold no count of young collections reaches


@contextmanager
def no_full_collections() -> Iterator[None]:
    """No automatic full (generation 2) collection while any caller is inside; nested and concurrent callers are
    fine, and the thresholds are restored when the last one leaves. Young collections go on as usual."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(_saved[0], _saved[1] if len(_saved) > 1 else 10, _NEVER)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
