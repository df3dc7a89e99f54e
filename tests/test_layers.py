"""The layer rule, checked: the import-linter contracts in pyproject.toml hold, and they do catch a violation.

core <- connectors <- governance <- app_pages / portal / countersign_cli; streamlit only at the edge (app_pages,
portal, app.py); inside governance, use cases <- services <- catalog / ledger / analytics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("core", "connectors", "governance", "portal", "app_pages", "countersign_cli")

# one import that breaks each contract, as (file, line to append): every contract must have one
VIOLATIONS = {
    "core-is-neutral": ("core/progress.py", "import governance.config"),
    "connectors-import-core-only": ("connectors/base.py", "from governance.config import Settings"),
    "governance-never-imports-a-concrete-connector": ("governance/sync.py", "from connectors.folder import FolderConnector"),
    "pages-and-portal-never-import-connectors": ("portal/widgets.py", "from connectors.base import Snapshot"),
    "streamlit-only-at-the-edge": ("governance/policy.py", "import streamlit"),
    "report-templates-never-import-the-builder": ("governance/reports/templates.py",
                                                  "from governance.reports.build import BLOCKS"),
    "analytics-computes-from-what-it-is-given": ("governance/analytics/bias.py",
                                                 "from governance.sources import version_file"),
    "analytics-never-imports-connectors": ("governance/analytics/io.py", "import connectors"),
    "document-and-blocks-are-neutral": ("governance/reports/blocks/version.py", "import reportlab.platypus"),
    "policy-never-imports-the-reports": ("governance/gates/metrics.py",
                                         "from governance.reports.templates import template_dirs"),
    "portal-never-imports-the-demo-builder": ("portal/auth.py", "from governance.demo import build_demo"),
    "governance-rooms": ("governance/catalog/queries.py", "from governance.promotion import get_request"),
}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: nothing written into the repository; cwd first on the path, so a temporary copy is what is read
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def contracts() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c["name"] for c in config["contracts"]}


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, f"import-linter found a layer violation:\n{result.stdout}\n{result.stderr}"
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout, result.stdout


def test_every_contract_catches_its_violation(tmp_path: Path) -> None:
    assert set(VIOLATIONS) == set(contracts()), "add a violation for every contract (and a contract for every rule)"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for file, line in VIOLATIONS.values():
        with (tmp_path / file).open("a", encoding="utf-8") as f:
            f.write(f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    out = " ".join(result.stdout.split())  # rich wraps long contract names
    for contract_id, name in contracts().items():
        assert f"{name} BROKEN" in out, f"{contract_id} did not catch {VIOLATIONS[contract_id]}:\n{result.stdout}"
    assert f"Contracts: 0 kept, {len(VIOLATIONS)} broken." in out, result.stdout
