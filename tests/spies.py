"""Counting spies for the use-case tests: they call the real function and count the calls (no behaviour changed).

``gate_evaluations`` counts gate checklists (:func:`governance.policy.evaluate`), wherever a module bound it;
``connector_calls`` counts connectors built through ``governance.sources`` (the one place governance builds them) and
the files they fetch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest


def _spy_everywhere(monkeypatch: pytest.MonkeyPatch, module: Any, name: str,
                    wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``module.name`` by ``wrap(real)`` in ``module`` and in every loaded module that imported it by name."""
    real = getattr(module, name)
    spy = wrap(real)
    for mod in list(sys.modules.values()):
        if mod is not None and getattr(mod, name, None) is real:
            monkeypatch.setattr(mod, name, spy)


def count_gate_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A list that grows by (version, environment) at each gate checklist evaluated from now on."""
    from governance import policy

    calls: list[tuple[str, str]] = []

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def evaluate(catalog, settings, version_id, to_env, **kw):
            calls.append((version_id, to_env))
            return real(catalog, settings, version_id, to_env, **kw)
        return evaluate

    _spy_everywhere(monkeypatch, policy, "evaluate", wrap)
    return calls


@dataclass
class ConnectorCalls:
    """Connectors built (their accounts) and files fetched (their URIs) since the spy was set."""

    built: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)


def count_connector_calls(monkeypatch: pytest.MonkeyPatch) -> ConnectorCalls:
    """Count the connectors governance builds from now on, and every fetch through them."""
    from governance import sources

    calls = ConnectorCalls()

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def build_connector(kind, settings, account, **kw):
            connector = real(kind, settings, account, **kw)
            calls.built.append(account.name)
            fetch = connector.fetch

            def counted_fetch(uri: str, *a: Any, **k: Any):
                calls.fetched.append(uri)
                return fetch(uri, *a, **k)

            connector.fetch = counted_fetch
            return connector
        return build_connector

    _spy_everywhere(monkeypatch, sources, "build_connector", wrap)
    return calls


def record_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[Any, ...]]:
    """A list that grows by the positional arguments of each call of ``module.name`` from now on."""
    calls: list[tuple[Any, ...]] = []

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return real(*args, **kwargs)
        return spy

    _spy_everywhere(monkeypatch, module, name, wrap)
    return calls
