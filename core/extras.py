"""Optional engines live in extras (``pip install countersign[spark]``): code that needs one imports it through
:func:`require_extra`, so a missing install is a clear configuration error naming the extra, not an ImportError
from deep inside a command."""

from __future__ import annotations

import importlib
from types import ModuleType

from core.errors import ConfigError

# extra name -> what it is for (the extras themselves are declared in pyproject.toml [project.optional-dependencies])
EXTRAS: dict[str, str] = {
    "spark": "the Spark engine",
    "postgres": "the PostgreSQL catalog",
    "xgboost": "native XGBoost model artifacts",
}


def require_extra(module: str, *, extra: str) -> ModuleType:
    """Import ``module``, or raise :class:`ConfigError` saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and module != exc.name and not module.startswith(f"{exc.name}."):
            raise  # the module is there but one of *its* imports broke: show that, not a hint to reinstall
        purpose = EXTRAS.get(extra, f"the {extra!r} option")
        raise ConfigError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed: "
            f'pip install "countersign[{extra}]"'
        ) from None
