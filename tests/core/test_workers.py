"""The shared threads a sync runs its accounts, calls and timers on.

What callers rely on: an executor never runs more than its limit at once (the concurrency a connector allows a
server), results and errors come back through the futures as from ``ThreadPoolExecutor``, tasks that wait for other
tasks never starve (an account's sync waits for its connector's calls, on the same threads), ``shutdown`` waits or
cancels what has not started, a timer can be cancelled, and a second burst of work starts no new threads.
"""

from __future__ import annotations

import threading
import time

import pytest

from core import workers


def test_an_executor_runs_at_most_its_limit_at_once_and_returns_results_in_order() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def task(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i * i

    with workers.executor(3) as pool:
        assert list(pool.map(task, range(12))) == [i * i for i in range(12)]
    assert peak[0] == 3


def test_errors_come_back_through_the_future() -> None:
    def boom() -> None:
        raise KeyError("missing")

    with workers.executor(2) as pool:
        future = pool.submit(boom)
        with pytest.raises(KeyError, match="missing"):
            future.result(timeout=5)
        assert pool.submit(lambda: 7).result(timeout=5) == 7  # the thread that raised serves the next task


def test_tasks_that_wait_for_other_tasks_do_not_starve() -> None:
    # as a sync does: each account (an outer task) waits for its connector's calls (inner tasks, limit 1 each),
    # more accounts than any fixed pool of threads would hold at once
    def account(i: int) -> int:
        with workers.executor(1) as calls:
            return sum(calls.map(lambda j: i + j, range(3)))

    with workers.executor(16) as accounts:
        futures = [accounts.submit(account, i) for i in range(16)]
        assert [f.result(timeout=20) for f in futures] == [3 * i + 3 for i in range(16)]


def test_shutdown_with_cancel_drops_what_has_not_started_and_waits_for_the_rest() -> None:
    gate = threading.Event()
    pool = workers.executor(1)
    first = pool.submit(gate.wait, 5)
    queued = [pool.submit(lambda: "never") for _ in range(3)]
    threading.Timer(0.05, gate.set).start()
    pool.shutdown(wait=True, cancel_futures=True)
    assert first.done() and first.result() is True
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None)


def test_a_timer_fires_once_unless_cancelled() -> None:
    fired = threading.Event()
    workers.Timer(0.01, fired.set).start()
    assert fired.wait(5)

    late = threading.Event()
    timer = workers.Timer(0.2, late.set)
    timer.start()
    timer.cancel()
    assert not late.wait(0.4)


def test_a_second_burst_reuses_the_threads_of_the_first() -> None:
    def burst() -> None:
        with workers.executor(4) as pool:
            list(pool.map(time.sleep, [0.02] * 4))

    burst()
    deadline = time.monotonic() + 5
    while workers.THREADS.idle() < 4 and time.monotonic() < deadline:
        time.sleep(0.005)  # the threads of the burst go back to waiting once their tasks are done
    before = threading.active_count()
    burst()
    assert threading.active_count() <= before  # no thread started (an idle one may have ended meanwhile)


def test_a_task_whose_thread_cannot_start_fails_and_frees_its_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    # the process is out of threads (RuntimeError "can't start new thread"): the caller sees why, nothing hangs.
    # Simulated at the one call that starts threads: running out for real would take the test runner down too.
    with workers.executor(1) as pool:
        def refuse(task) -> None:
            raise RuntimeError("can't start new thread")

        monkeypatch.setattr(workers.THREADS, "run", refuse)
        doomed = pool.submit(lambda: "never")
        with pytest.raises(RuntimeError, match="can't start new thread"):
            doomed.result(timeout=5)
        monkeypatch.undo()
        assert pool.submit(lambda: "next").result(timeout=5) == "next"
