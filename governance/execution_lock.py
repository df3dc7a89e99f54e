"""Who executes a request right now: a lock held for the whole execution, and a heartbeat other hosts can see.

A takeover must happen only once the first executor is provably gone. On one host that is the executor's ``flock``
on ``<workspace>/locks/execute-<request>.lock``: the kernel releases it the moment the process dies, so a takeover
that cannot take the lock is refused (the executor is alive), and one that can take it knows the executor is gone.
Executors on other hosts (portal replicas sharing a PostgreSQL catalog) are seen through the request's heartbeat:
the executing process refreshes the request's ``updated_at`` every :data:`HEARTBEAT` seconds, and a takeover from
another host waits until :data:`SILENCE` has passed without one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from core.clock import utcnow
from core.errors import CatalogBusy, ConflictError
from governance.config import Workspace, open_private, private_dir

HEARTBEAT = 20.0  # seconds between two heartbeats of a running execution
SILENCE = dt.timedelta(seconds=3 * HEARTBEAT)  # an executor on another host silent this long is gone


@dataclass(frozen=True)
class Executor:
    """Where an execution runs: the host and process, as recorded when it started."""

    host: str
    pid: int

    @classmethod
    def this(cls) -> Executor:
        return cls(socket.gethostname(), os.getpid())

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid}

    @classmethod
    def from_dict(cls, data: Any) -> Executor | None:
        if isinstance(data, dict) and data.get("host") and data.get("pid") is not None:
            return cls(str(data["host"]), int(data["pid"]))
        return None


def _path(workspace: Workspace, request_id: str) -> Path:
    return private_dir(workspace.root / "locks") / f"execute-{request_id}.lock"


@contextlib.contextmanager
def holding(workspace: Workspace, request_id: str) -> Iterator[Executor]:
    """Hold the executor lock of ``request_id`` for this process, or refuse when a live executor on this host has
    it (whatever ``takeover`` says: it is provably not gone)."""
    path = _path(workspace, request_id)
    fd = open_private(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            who = f" (process {holder.pid} on {holder.host})" if holder else ""
            raise ConflictError(f"request {request_id} is being executed right now by another process{who}: it is "
                                "alive, so it cannot be taken over; wait for it to finish") from None
        me = Executor.this()
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me.as_dict()).encode(), 0)
        yield me
    finally:
        os.close(fd)  # releases the flock


def _read(fd: int) -> Executor | None:
    try:
        return Executor.from_dict(json.loads(os.pread(fd, 256, 0).decode() or "null"))
    except (ValueError, OSError):
        return None


def gone_elsewhere(previous: Executor | None, last_beat: dt.datetime | None, now: dt.datetime) -> str | None:
    """Why an execution that another host started may not be taken over yet, or None when it may: its executor sent
    a heartbeat within :data:`SILENCE`. (On this host :func:`holding` already proved the executor gone.)"""
    if previous is None or previous.host == socket.gethostname():
        return None
    if last_beat is not None and now - last_beat < SILENCE:
        return (f"its executor, process {previous.pid} on host {previous.host}, sent a heartbeat "
                f"{int((now - last_beat).total_seconds())} s ago: it is alive; a takeover from this host waits until "
                f"it has been silent for {int(SILENCE.total_seconds())} s")
    return None


@contextlib.contextmanager
def heartbeat(beat: Callable[[dt.datetime], None], every: float = HEARTBEAT) -> Iterator[None]:
    """Call ``beat(now)`` every ``every`` seconds on a thread of its own while the block runs (an execution step can
    take minutes: a 2 GB copy); a failed beat is skipped, the next one tries again."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            with contextlib.suppress(CatalogBusy, duckdb.Error):  # a busy catalog: the next beat tries again
                beat(utcnow().replace(microsecond=0))

    thread = threading.Thread(target=run, name="execution-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
