"""No full garbage collection while a sync holds its records alive, and the collector as it was afterwards."""

from __future__ import annotations

import gc
import threading

from core.pauses import no_full_collections


def _allocate_long_lived(n: int) -> list[dict[str, list[int]]]:
    return [{"k": [i]} for i in range(n)]  # containers that survive the young collections


def test_young_collections_go_on_and_no_full_one_runs_inside() -> None:
    seen: list[int] = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()
    gc.callbacks.append(callback)
    try:
        with no_full_collections():
            kept = _allocate_long_lived(600_000)  # by default enough for at least one full collection
        assert 0 in seen and 2 not in seen
        seen.clear()
        more = _allocate_long_lived(600_000)  # outside: the collector decides as usual again
        assert 2 in seen
    finally:
        gc.callbacks.remove(callback)
    assert len(kept) == len(more)


def test_thresholds_come_back_after_nested_and_concurrent_callers() -> None:
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other_sync() -> None:
        with no_full_collections():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_sync)
    with no_full_collections():
        thread.start()
        assert inside.wait(10)
        with no_full_collections():
            assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 10**6
    assert gc.get_threshold()[2] > 10**6  # the other caller is still inside
    release.set()
    thread.join()
    assert gc.get_threshold() == before
