"""Threads that outlive the work they run, shared by everything in the process that works side by side.

A sync used to build a dozen thread pools (accounts side by side, each connector's parallel calls, the prefetch)
and a timer, and every new thread costs a start: ``Thread.start`` waits until the thread has run, which on a busy
machine is a wait for the scheduler (measured: 11-45 ms per re-sync of three MLflow servers on two cores, most of
it on the sync's critical path). Here a task goes to an idle thread when there is one and to a new thread
otherwise; idle threads wait :data:`IDLE_SECONDS` for more work before they end. A long-running process (the
portal, a scheduler, a benchmark) therefore starts threads for its first sync only.

:func:`executor` gives an :class:`~concurrent.futures.Executor` that runs at most ``limit`` tasks at once on these
threads (the concurrency a connector allows a server), with the ``ThreadPoolExecutor`` API callers already use.
A task never waits for a thread, so tasks that wait for other tasks (an account's sync waiting for its connector's
calls) cannot starve each other, whatever the limits.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Executor

IDLE_SECONDS = 30.0
"""How long a thread with nothing to do waits for a task before it ends."""

Task = Callable[[], None]


class _Threads:
    """The process's shared threads: idle ones wait on their own inbox for the next task."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Task]] = []
        self._names = itertools.count(1)

    def run(self, task: Task) -> None:
        """Run ``task`` on an idle thread, or on a new one when none is idle."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is not None:
            inbox.put(task)
            return
        thread = threading.Thread(target=self._serve, args=(task,), name=f"countersign-{next(self._names)}",
                                  daemon=True)
        thread.start()

    def _serve(self, task: Task | None) -> None:
        inbox: queue.SimpleQueue[Task] = queue.SimpleQueue()
        while task is not None:
            try:
                task()
            except BaseException:  # a task reports through its future; this is a bug in the task runner itself
                import logging  # only here: a command that never fails a task does not load logging

                logging.getLogger(__name__).exception("a worker task failed")
            task = self._next(inbox)

    def _next(self, inbox: queue.SimpleQueue[Task]) -> Task | None:
        with self._lock:
            self._idle.append(inbox)
        try:
            return inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if inbox in self._idle:
                    self._idle.remove(inbox)
                    return None
            return inbox.get()  # taken off the idle list just as it timed out: its task is on the way

    def idle(self) -> int:
        """How many threads wait for work right now."""
        with self._lock:
            return len(self._idle)


THREADS = _Threads()


def executor(limit: int) -> Executor:
    """An executor running at most ``limit`` tasks at once on the process's shared threads.

    Use it as ``ThreadPoolExecutor(max_workers=limit)`` is used (``submit``, ``map``, ``shutdown``, ``with``).
    """
    from core.bounded import Bounded  # concurrent.futures (and logging) load when tasks first run side by side

    return Bounded(limit)


class Timer:
    """``fn`` called after ``delay`` seconds on a shared thread, unless cancelled first (``threading.Timer``
    without a thread of its own)."""

    def __init__(self, delay: float, fn: Callable[[], None]) -> None:
        self._cancelled = threading.Event()
        self._delay = delay
        self._fn = fn

    def start(self) -> None:
        THREADS.run(self._wait)

    def _wait(self) -> None:
        if not self._cancelled.wait(self._delay):
            self._fn()

    def cancel(self) -> None:
        self._cancelled.set()
