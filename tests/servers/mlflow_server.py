"""Real ``mlflow server`` processes for tests and benchmarks, run from their own cached virtualenv.

MLflow 3.17.2 pins packages the portal pins differently, so it is a test dependency only and never enters the
project's ``.venv``: :func:`ensure_venv` builds ``~/.cache/countersign/mlflow-3.17.2/`` (``$COUNTERSIGN_CACHE`` or
``$XDG_CACHE_HOME/countersign`` when set) once with ``pip install mlflow[auth]==3.17.2`` from the package registry and
reuses it afterwards; a half-built folder (a killed build) is never used, the next call builds it again.
``python -m tests.servers.mlflow_server`` builds it ahead of time (``make test-servers``).

:class:`MlflowServer` starts ``mlflow server`` on a free port of 127.0.0.1 with a sqlite backend and artifacts on disk
under its own folder (optionally behind MLflow's own basic-auth app) and stops its whole process group.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MLFLOW_VERSION = "3.17.2"
_MARKER = ".countersign-complete"


def cache_root() -> Path:
    """Where test tooling is cached: ``$COUNTERSIGN_CACHE``, else ``$XDG_CACHE_HOME/countersign``, else ``~/.cache``."""
    if os.environ.get("COUNTERSIGN_CACHE"):
        return Path(os.environ["COUNTERSIGN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "countersign"


def venv_dir() -> Path:
    """The cached virtualenv holding ``mlflow[auth]`` at the pinned version."""
    return cache_root() / f"mlflow-{MLFLOW_VERSION}"


def ensure_venv(*, quiet: bool = True) -> Path:
    """The path of the ``mlflow`` executable, building the cached virtualenv first when it is missing."""
    target = venv_dir()
    exe = target / "bin" / "mlflow"
    if (target / _MARKER).exists() and exe.exists():
        return exe
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".mlflow-{MLFLOW_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions at once build it once
        if (target / _MARKER).exists() and exe.exists():
            return exe
        # built in place (a venv's scripts name their interpreter by absolute path); the marker file written last
        # is what makes it usable, so a build killed half-way is thrown away by the next call
        shutil.rmtree(target, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(target)], check=True)
        pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        if quiet:
            pip.append("--quiet")
        subprocess.run([*pip, f"mlflow[auth]=={MLFLOW_VERSION}"], check=True)
        (target / _MARKER).write_text(MLFLOW_VERSION + "\n")
    return exe


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MlflowServer:
    """One ``mlflow server`` process (sqlite backend, proxied artifacts) under ``root``."""

    root: Path
    basic_auth_password: str | None = None  # run MLflow's basic-auth app with admin / this password
    workspaces: bool = False  # --enable-workspaces (MLflow 3.10+: several teams' workspaces on one server)
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        """Launch the server (returns at once; :meth:`wait` until it answers)."""
        exe = ensure_venv()
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        # no background job workers (seven extra processes per server) and no telemetry
        env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true",
                   DO_NOT_TRACK="true")
        # webhooks may reach a listener on loopback over plain HTTP (MLflow allows only public https by default), and
        # a webhook registered during a test is seen within a second (MLflow caches the list for 60 s)
        env.update(MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true", MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
                   MLFLOW_WEBHOOK_CACHE_TTL="1")
        cmd = [str(exe), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
               "--artifacts-destination", str(self.root / "artifacts")]
        if self.workspaces:
            cmd.append("--enable-workspaces")
        if self.basic_auth_password:
            (self.root / "basic_auth.ini").write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{self.root / 'basic_auth.db'}\nadmin_username = admin\n"
                f"admin_password = {self.basic_auth_password}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            )
            env.update(MLFLOW_AUTH_CONFIG_PATH=str(self.root / "basic_auth.ini"),
                       MLFLOW_FLASK_SERVER_SECRET_KEY="countersign-tests")
            cmd[2:2] = ["--app-name", "basic-auth"]
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        return self

    def wait(self, timeout: float = 180.0) -> MlflowServer:
        """Block until ``/health`` answers; raise with the server's log when it dies or takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "server.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"mlflow server under {self.root} did not start:\n{tail}")
            time.sleep(0.25)

    def stop(self) -> None:
        """Stop the server and every process it started (its own process group)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.process = None


def start_servers(roots: list[Path], *, timeout: float = 180.0) -> list[MlflowServer]:
    """Start one server per folder side by side (each takes seconds to come up) and wait for all of them."""
    servers = [MlflowServer(r).start() for r in roots]
    try:
        for s in servers:
            s.wait(timeout)
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


if __name__ == "__main__":
    print(ensure_venv(quiet=False))
