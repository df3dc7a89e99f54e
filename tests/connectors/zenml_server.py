"""A real ZenML server for tests and benchmarks, from its own cached virtualenv.

ZenML's server (``zenml[server]==0.98.0``) pins versions that clash with the portal's (and weighs ~220 MB), so it
is never installed into the project's ``.venv``. :func:`ensure_venv` builds a virtualenv for it once, under
``$COUNTERSIGN_ZENML_VENV`` or ``~/.cache/countersign/zenml-0.98.0/`` (from the package registry, like
``make install``), and reuses it afterwards; a lock keeps two test processes from building it at once, and a marker
file written last tells a finished build from an interrupted one.

:func:`start_server` runs ``uvicorn zenml.zen_server.zen_server_api:app`` from that virtualenv on a free port of
127.0.0.1 with a sqlite store in a folder of its own, waits for ``/health``, activates the server (an admin user),
creates a service account and an API key through the server's own REST API, and returns a :class:`ZenMLServer`.
Nothing here imports zenml: the tests talk to the server over HTTP only, as the connector does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ZENML_VERSION = "0.98.0"
ZENML_REQUIREMENT = f"zenml[server]=={ZENML_VERSION}"
# what a team's training pipeline imports beside zenml: its default pandas and scikit-learn materializers write
# Parquet and pickle, the Evidently step needs evidently 0.7 (which does not import with pandas 3), SHAP its values
PIPELINE_REQUIREMENTS = (f"zenml=={ZENML_VERSION}", "pandas>=2.2,<3", "pyarrow", "scikit-learn==1.9.1",
                         "evidently==0.7.23", "shap==0.51.0")
_MARKER = ".countersign-complete"


def venv_dir() -> Path:
    """Where the ZenML server's virtualenv lives (built once, then reused)."""
    override = os.environ.get("COUNTERSIGN_ZENML_VENV")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "countersign" / f"zenml-{ZENML_VERSION}"


def pipeline_venv_dir() -> Path:
    """Where the virtualenv that runs the test pipelines lives (the client with a team's data science packages)."""
    return venv_dir().with_name(f"zenml-{ZENML_VERSION}-pipelines")


def ensure_pipeline_venv(log: Path | None = None) -> tuple[Path, float]:
    """The python that runs test pipelines (``zenml`` client, pandas, scikit-learn, Evidently, SHAP), built once.

    A virtualenv of its own: Evidently brings its own web stack, which has no business in the server's."""
    return ensure_venv(log, target=pipeline_venv_dir(), requirements=PIPELINE_REQUIREMENTS)


def ensure_venv(log: Path | None = None, *, target: Path | None = None,
                requirements: tuple[str, ...] = (ZENML_REQUIREMENT,)) -> tuple[Path, float]:
    """The python of the ZenML virtualenv, building it when missing; and the seconds the build took (0: cached)."""
    target = target or venv_dir()
    python = target / "bin" / "python"
    if (target / _MARKER).exists():
        return python, 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait, then use its result
        if (target / _MARKER).exists():
            return python, 0.0
        started = time.monotonic()
        building = target.with_name(target.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
        try:
            subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, stdout=out, stderr=out)
            subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", *requirements], check=True, stdout=out, stderr=out)
        finally:
            if log:
                out.close()
        shutil.rmtree(target, ignore_errors=True)
        # a virtualenv's python finds its site-packages relative to itself: moving the folder keeps it working
        os.rename(building, target)
        (target / _MARKER).write_text(" ".join(requirements) + "\n")
        return python, time.monotonic() - started


@dataclass
class ZenMLServer:
    """A running ZenML server with an admin and one service account's API key."""

    url: str
    api_key: str
    service_account_id: str
    api_key_id: str
    admin_token: str
    project_id: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def admin(self) -> httpx.Client:
        """An HTTP client logged in as the server's admin (for seeding and for revoking keys)."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.url + "/api/v1", timeout=30,
                                        headers={"Authorization": f"Bearer {self.admin_token}"})
        return self._client

    def new_api_key(self, name: str | None = None) -> tuple[str, str]:
        """A further API key of the service account: (key, key id)."""
        return _api_key(self.admin, self.service_account_id, name or f"key-{secrets.token_hex(3)}")

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _api_key(admin: httpx.Client, account_id: str, name: str) -> tuple[str, str]:
    r = admin.post(f"/service_accounts/{account_id}/api_keys", json={"name": name, "description": "countersign tests"})
    r.raise_for_status()
    body = r.json()
    return body["body"]["key"], body["id"]


def start_server(data_dir: Path, *, python: Path | None = None, log: Path | None = None,
                 timeout: float = 120.0) -> ZenMLServer:
    """Start a fresh ZenML server (sqlite in ``data_dir``) on a free loopback port; activate it; make an API key."""
    python = python or ensure_venv()[0]
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # the listening socket is made here and handed to uvicorn (--fd): no window for another process to take the port
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir),
        "ZENML_STORE_URL": f"sqlite:///{data_dir / 'zenml.db'}",
        "ZENML_SERVER_AUTH_SCHEME": "OAUTH2_PASSWORD_BEARER",
        "ZENML_SERVER_JWT_SECRET_KEY": secrets.token_hex(32),
        "ZENML_CONFIG_PATH": str(data_dir / "cfg"),
        "ZENML_LOCAL_STORES_PATH": str(data_dir / "stores"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_ENABLE_REPO_INIT_WARNINGS": "false",
        "ZENML_LOGGING_VERBOSITY": "WARN",
        "AUTO_OPEN_DASHBOARD": "false",
    }
    out = open(log or data_dir / "server.log", "wb")  # noqa: SIM115 - owned by the process for its life
    process = subprocess.Popen(
        [str(python), "-m", "uvicorn", "zenml.zen_server.zen_server_api:app", "--fd", str(sock.fileno()),
         "--log-level", "warning", "--workers", "1"],
        env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=(sock.fileno(),), cwd=data_dir,
    )
    sock.close()
    out.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ZenML server exited ({process.returncode}); see {log or data_dir / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get("/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"ZenML server not healthy after {timeout:.0f} s")
            time.sleep(0.2)
        password = secrets.token_urlsafe(16) + "A1!"
        http.put("/api/v1/activate", json={"admin_username": "admin", "admin_password": password}).raise_for_status()
        r = http.post("/api/v1/login", data={"username": "admin", "password": password})
        r.raise_for_status()
        token = r.json()["access_token"]
    server = ZenMLServer(url=url, api_key="", service_account_id="", api_key_id="", admin_token=token,
                         project_id="", data_dir=data_dir, process=process)
    admin = server.admin
    server.project_id = admin.get("/projects").json()["items"][0]["id"]
    r = admin.post("/service_accounts", json={"name": "countersign", "description": "Countersign sync and promotion",
                                              "active": True})
    r.raise_for_status()
    server.service_account_id = r.json()["id"]
    server.api_key, server.api_key_id = _api_key(admin, server.service_account_id, "countersign")
    server.start_seconds = time.monotonic() - started
    return server


@contextlib.contextmanager
def running_server(data_dir: Path, **kw: object) -> Iterator[ZenMLServer]:
    """:func:`start_server` as a context manager that stops the server on exit."""
    server = start_server(data_dir, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
