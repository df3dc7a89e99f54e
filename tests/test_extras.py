"""Optional engines: a missing one is a configuration error naming the extra that installs it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.extras import EXTRAS, require_extra

ROOT = Path(__file__).resolve().parents[1]


def test_an_installed_module_is_returned() -> None:
    assert require_extra("json.decoder", extra="spark").__name__ == "json.decoder"


@pytest.mark.parametrize("module", ["countersign_test_absent", "countersign_test_absent.sub"])
def test_a_missing_module_names_the_extra(module: str) -> None:
    with pytest.raises(ConfigError) as err:
        require_extra(module, extra="spark")
    message = str(err.value)
    assert 'pip install "countersign[spark]"' in message and "'countersign_test_absent'" in message
    assert "Spark" in message


def test_a_module_whose_own_import_breaks_shows_that_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "countersign_test_broken.py").write_text("import countersign_test_dependency_gone\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="countersign_test_dependency_gone"):
        require_extra("countersign_test_broken", extra="postgres")


def test_every_named_extra_is_declared_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) == set(declared)
