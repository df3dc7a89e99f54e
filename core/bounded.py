"""The executor of :func:`core.workers.executor`: at most ``limit`` tasks at once on the process's shared threads
(its own module: ``concurrent.futures`` loads ``logging``, which a command that runs nothing side by side never
needs)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from core.workers import THREADS


class Bounded(Executor):
    """At most ``limit`` tasks at once on the shared threads; the rest wait in order of submission."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an executor needs a limit of at least 1")
        self._limit = limit
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._waiting: collections.deque[tuple[Future[Any], Callable[..., Any], tuple, dict]] = collections.deque()
        self._running = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._waiting.append((future, fn, args, kwargs))
            ready = self._take()
        self._start(ready)
        return future

    def _start(self, ready: list[tuple[Future[Any], Callable[..., Any], tuple, dict]]) -> None:
        for item in ready:
            try:
                THREADS.run(lambda item=item: self._run(*item))
            except BaseException as exc:  # no thread could be started: the task fails and its slot is free again
                with self._lock:
                    self._running -= 1
                    self._settled.notify_all()
                if item[0].set_running_or_notify_cancel():
                    item[0].set_exception(exc)

    def _take(self) -> list[tuple[Future[Any], Callable[..., Any], tuple, dict]]:
        # under the lock: the tasks that may start now
        ready = []
        while self._running < self._limit and self._waiting:
            ready.append(self._waiting.popleft())
            self._running += 1
        return ready

    def _run(self, future: Future[Any], fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # handed on: whoever waits on the future gets it raised
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            with self._lock:
                self._running -= 1
                ready = self._take()
                self._settled.notify_all()
            self._start(ready)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                while self._waiting:
                    self._waiting.popleft()[0].cancel()
            if wait:
                while self._running or self._waiting:
                    self._settled.wait()
