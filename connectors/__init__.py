"""Connector kinds, registered in one table; adding a source is a new module, one line here and its docs.

Each kind names its connector class and its settings model as ``"module:Class"`` strings, imported only when
first needed: validating a ``countersign.toml`` imports the settings models, never a kind's client library, and a
folder-only workspace never loads boto3. A kind whose connector module is heavy keeps its settings model in a
light module of its own. Tests (and plugins) add kinds at run time with :func:`register`.

The one way to build a connector, for every caller::

    settings = structs.convert({"path": "registry/lab"}, settings_model("folder"))
    conn = build_connector("folder", settings, AccountInfo("lab", "dev"), root=workspace_root, cache_dir=cache)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.settings import AccountInfo, ConnectorSettings
from core import structs
from core.errors import ConfigError
from core.structs import Row

if TYPE_CHECKING:
    from connectors.base import Connector


class Kind(Row):
    """One connector kind: its connector class (or a factory called the same way) and its settings model, each a
    class or ``"module:Class"``."""

    connector: str | type
    settings: str | type[ConnectorSettings]


# kind -> Kind(connector, settings); "module:Class" strings are imported lazily
REGISTRY: dict[str, Kind] = {
    "folder": Kind("connectors.folder:FolderConnector", "connectors.folder_settings:FolderSettings"),
    "sagemaker": Kind("connectors.sagemaker.connector:SageMakerConnector",
                      "connectors.sagemaker.settings:SageMakerSettings"),
    "zenml": Kind("connectors.zenml.connector:ZenMLConnector", "connectors.zenml.settings:ZenMLSettings"),
    "mlflow": Kind("connectors.mlflow.workspaces:mlflow_connector", "connectors.mlflow.settings:MlflowSettings"),
}


# kind -> how its registry's events are read (``countersign listen``), "module:Class", imported lazily: a class with
# static functions (MLflow: ``verify``/``parse`` of a webhook delivery; SageMaker: ``envelope_of``/``owner``/``parse``
# of an EventBridge event). A kind without events is polled only (ZenML OSS has no webhooks).
EVENTS: dict[str, str | type] = {
    "mlflow": "connectors.mlflow_events:MlflowWebhooks",
    "sagemaker": "connectors.sagemaker.events:EventBridgeEvents",
}


def events_of(kind: str) -> Any | None:
    """How ``kind``'s registry events are read (see :data:`EVENTS`), or None when it sends none."""
    target = EVENTS.get(kind)
    return None if target is None else _resolve(kind, target)


def register(kind: str, connector: str | type, settings: str | type[ConnectorSettings], *, replace: bool = False) -> Kind:
    """Register connector kind ``kind`` (a class or ``"module:Class"`` for each); refuse to shadow one silently."""
    if kind in REGISTRY and not replace:
        raise ConfigError(f"connector kind {kind!r} is already registered (pass replace=True to replace it)")
    REGISTRY[kind] = entry = Kind(connector, settings)
    return entry


def unregister(kind: str) -> None:
    """Forget connector kind ``kind`` (a no-op when it is not registered)."""
    REGISTRY.pop(kind, None)


def kinds() -> tuple[str, ...]:
    """The registered connector kinds, in registration order."""
    return tuple(REGISTRY)


def _entry(kind: str) -> Kind:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ConfigError(f"unknown connector {kind!r} (known: {', '.join(REGISTRY)})") from None


def _resolve(kind: str, target: str | type) -> Any:
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        # a kind's client library is an optional dependency: say which one is missing instead of a traceback
        raise ConfigError(f"connector {kind!r} cannot be loaded: {exc} (install what {module} needs)") from exc
    except AttributeError:
        raise ConfigError(f"connector {kind!r}: {module} has no {name} (check connectors.REGISTRY)") from None


def settings_model(kind: str) -> type[ConnectorSettings]:
    """The settings record (a :class:`ConnectorSettings`) validating the settings of a ``kind`` account (imports no client library)."""
    return _resolve(kind, _entry(kind).settings)


def connector_class(kind: str) -> type:
    """The class registered for connector ``kind``."""
    return _resolve(kind, _entry(kind).connector)


def build_connector(
    kind: str, settings: ConnectorSettings | Mapping[str, Any], account: AccountInfo, *, root: Path, cache_dir: Path
) -> Connector:
    """A ``kind`` connector for ``account``; ``settings`` is its settings record (or a mapping validated with it).

    Relative paths in the settings resolve against the workspace ``root``; fetched files go into ``cache_dir``.
    """
    model = settings_model(kind)
    if not isinstance(settings, model):
        data = dict(settings) if isinstance(settings, Mapping) else structs.to_builtins(settings)
        try:
            settings = structs.convert(data, model)
        except structs.Invalid as exc:
            raise ConfigError(f"account {account.name!r}: {exc.key or 'settings'}: {exc.problem}") from None
    return connector_class(kind)(settings, account, root=Path(root), cache_dir=Path(cache_dir))
