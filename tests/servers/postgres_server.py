"""A real PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` package, started on a free port.

:class:`PostgresServer` runs ``initdb`` into a fresh folder and ``pg_ctl start`` on a free port of 127.0.0.1, with its
socket in that folder and trust authentication (a throw-away cluster that only this machine reaches). As root the
cluster belongs to the ``postgres`` OS user (PostgreSQL refuses to run as root). :meth:`PostgresServer.new_database`
gives each test an empty database of its own. ``make system-deps`` installs the package when it is missing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_counter = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    """Whether ``initdb`` and ``pg_ctl`` are installed (Debian's ``postgresql`` package)."""
    return shutil.which("initdb") is not None and shutil.which("pg_ctl") is not None


@dataclass
class PostgresServer:
    """One throw-away PostgreSQL cluster on 127.0.0.1; :meth:`stop` removes it."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="countersign-pg-")))
    port: int = field(default_factory=_free_port)
    user: str = "postgres"
    fsync: bool = False  # tests need no durability across a crash of the machine; benchmarks measure it

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:  # PostgreSQL refuses root: run its tools as the postgres OS user
            cmd = ["su", "postgres", "-c", subprocess.list2cmdline(cmd)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns self."""
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=100 -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "log"), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` on this server (no password: trust authentication)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


if __name__ == "__main__":  # a quick check: start, create a database, stop
    server = PostgresServer().start()
    try:
        print(server.new_database())
    finally:
        server.stop()
