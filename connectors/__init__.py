"""Connector kinds, registered in one table; adding a source is a new module and one line here."""

from __future__ import annotations

import importlib
from pathlib import Path

from connectors.base import Connector
from governance.config import AccountConfig
from governance.errors import ConfigError

# kind -> "module:Class"; imported lazily so a folder-only workspace never loads boto3
REGISTRY: dict[str, str] = {
    "folder": "connectors.folder:FolderConnector",
    "sagemaker": "connectors.sagemaker:SageMakerConnector",
    "mlflow": "connectors.mlflow:MlflowConnector",
}


def connector_class(kind: str) -> type:
    """The class registered for connector ``kind``."""
    try:
        target = REGISTRY[kind]
    except KeyError:
        raise ConfigError(f"unknown connector {kind!r} (known: {', '.join(REGISTRY)})") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def build_connector(account: AccountConfig, *, root: Path, cache_dir: Path) -> Connector:
    """A connector for ``account``; relative paths in the account resolve against the workspace ``root``."""
    cls = connector_class(account.connector)
    # a kind whose constructor takes its own settings model offers an adapter from today's AccountConfig
    make = getattr(cls, "from_account", cls)
    return make(account, root=root, cache_dir=cache_dir)
