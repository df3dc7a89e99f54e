"""The wheel as a user gets it: built from the checkout, installed with ``requirements.txt`` alone into a fresh
virtualenv, and run from a directory that is not the checkout: ``countersign demo``, then ``countersign serve``
answering ``/_stcore/health``, every page of the page table rendering from the installed files, and none of the test
tooling importable. Slow (about two minutes, most of it ``pip install``) but part of ``make test``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from governance import __version__
from portal.pages import pages

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "connectors", "governance", "portal", "app_pages", "countersign_cli")
# never part of a build: history, environments, workspaces, leftovers of earlier builds, tests
_NOT_SOURCE = {".git", ".venv", "build", "dist", "tests", "benchmarks", "workspace", "demo-workspace", "test-output",
               ".pytest_cache", ".ruff_cache"}

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1200)]


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    return {n for n in names if n == "__pycache__" or n.endswith(".egg-info") or (top and n in _NOT_SOURCE)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel`` of a copy of the checkout (an in-place build would reuse whatever an earlier one left in build/)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--wheel-dir", str(base / "dist"), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (built,) = (base / "dist").glob("countersign-*.whl")
    return built


def _checkout_files() -> list[str]:
    out = ["app.py"]
    for package in PACKAGES:
        for p in sorted((ROOT / package).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".toml", ".yaml"):
                out.append(p.relative_to(ROOT).as_posix())
    return out


def test_every_page_of_the_page_table_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert wheel.name == f"countersign-{__version__}-py3-none-any.whl"
    # app.py routes over the table and silently skips a page whose file is missing: the wheel must carry each one,
    # beside app.py, where Streamlit looks for it
    missing = [p.path for p in pages() if p.path not in names]
    assert not missing, f"pages of portal/pages.py missing from the wheel: {missing}"
    assert "app.py" in names
    assert sorted(set(_checkout_files()) - names) == [], "files of the checkout's packages missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/"))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RENDER_EVERY_PAGE = """
from streamlit.testing.v1 import AppTest

from countersign_cli.commands.serve import portal_script
from portal.pages import pages

at = AppTest.from_file(str(portal_script()), default_timeout=180)
at.session_state["cs.persona"] = "risk.officer@demo.countersign.dev"
at.run()
assert not at.exception, at.exception
metrics = {m.label: m.value for m in at.metric}
assert metrics["Models"] == "3" and metrics["Unapproved deployments"] == "1", metrics
for page in pages():
    at.switch_page(page.path).run()
    assert not at.exception, (page.path, at.exception)
print("rendered", len(pages()), "pages from", portal_script())
"""


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """A fresh virtualenv holding requirements.txt and the wheel, and an unrelated working directory."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    # --no-compile: byte-compiling 1.5 GB of packages is most of an install; the imports compile what they use
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    for step in ([*pip, "-r", str(ROOT / "requirements.txt")], [*pip, "--no-deps", str(wheel)],
                 [py, "-m", "pip", "check", "--disable-pip-version-check"]):  # the pins satisfy the wheel's needs
        proc = subprocess.run(step, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "COUNTERSIGN_WORKSPACE", "COUNTERSIGN_ACTOR")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return venv, env, elsewhere


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_wheel_runs_the_demo_and_serves_the_portal_from_another_directory(installed) -> None:
    venv, env, elsewhere = installed
    bin_ = venv / "bin"

    done = _run([str(bin_ / "python"), "-c", "import governance, portal; print(governance.__file__, portal.__file__)"],
                env, elsewhere)
    assert done.returncode == 0, done.stderr
    site = (venv / "lib").resolve()
    assert all(Path(f).resolve().is_relative_to(site) for f in done.stdout.split()), done.stdout  # not the checkout

    done = _run([str(bin_ / "countersign"), "--version"], env, elsewhere)
    assert done.returncode == 0 and done.stdout.strip() == f"countersign {__version__}", done.stdout + done.stderr

    done = _run([str(bin_ / "countersign"), "demo", "--workspace", "ws"], env, elsewhere, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workspace = elsewhere / "ws"
    assert (workspace / "countersign.toml").is_file()

    port = _free_port()
    log = (elsewhere / "serve.log").open("w")
    server = subprocess.Popen([str(bin_ / "countersign"), "serve", "--workspace", "ws", "--port", str(port)],
                              cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    status = (resp.status, resp.read().decode())
                    break
            except OSError:
                time.sleep(0.3)
        assert status == (200, "ok"), (elsewhere / "serve.log").read_text()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.status == 200 and "<html" in resp.read().decode().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert f"Countersign {__version__}: portal on http://localhost:{port}" in (elsewhere / "serve.log").read_text()

    # the page script itself, from the installed files: every page of the table renders on the demo workspace
    done = _run([str(bin_ / "python"), "-c", RENDER_EVERY_PAGE], {**env, "COUNTERSIGN_WORKSPACE": str(workspace)},
                elsewhere, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("rendered "))
    count, app = line.removeprefix("rendered ").split(" pages from ")
    assert int(count) == len(pages()) and Path(app).resolve().is_relative_to(site), line


@pytest.mark.parametrize("module", ["moto", "pytest", "playwright"])
def test_test_tooling_is_not_installed_with_the_runtime_pins(installed, module: str) -> None:
    venv, env, elsewhere = installed
    done = _run([str(venv / "bin" / "python"), "-c", f"import {module}"], env, elsewhere)
    assert done.returncode != 0 and f"No module named '{module}'" in done.stderr, done.stderr
