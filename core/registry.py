"""One way to build an extension table: named entries, registered once each, resolved lazily.

The connector registry's rules, for every other table (evidence kinds, policy gates, report blocks): an entry is a
value or a ``"module:attribute"`` string imported on first use (a table can list heavy entries without loading
them), built-ins are registered exactly like a plugin's, registering a taken name is refused unless ``replace``
says so, and asking for an unknown name raises the table's own error naming the known ones::

    GATES = Registry("policy gate", InputError)
    GATES.register("metrics", "governance.gates.metrics:GATE")
    GATES["metrics"].check(ctx)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from core.errors import ConfigError, CountersignError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one kind, in registration order; a mapping from name to the (resolved) entry."""

    def __init__(self, what: str, error: type[CountersignError] = ConfigError) -> None:
        self.what = what
        self.error = error
        self._targets: dict[str, T | str] = {}
        self._resolved: dict[str, T] = {}

    def register(self, name: str, target: T | str, *, replace: bool = False) -> None:
        """Register ``target`` (the entry, or ``"module:attribute"``) as ``name``; refuse to shadow one silently."""
        if name in self._targets and not replace:
            raise ConfigError(f"{self.what} {name!r} is already registered (pass replace=True to replace it)")
        self._targets[name] = target
        self._resolved.pop(name, None)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a no-op when it is not registered)."""
        self._targets.pop(name, None)
        self._resolved.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._targets)

    def __getitem__(self, name: str) -> T:
        if name in self._resolved:
            return self._resolved[name]
        try:
            target = self._targets[name]
        except KeyError:
            known = ", ".join(self._targets) or "none"
            raise self.error(f"unknown {self.what} {name!r} (known: {known})") from None
        value = _resolve(self.what, name, target) if isinstance(target, str) else target
        self._resolved[name] = value
        return value

    def get(self, name: str, default: Any = None) -> Any:
        """The entry called ``name``, or ``default`` when none is registered."""
        return self[name] if name in self._targets else default

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._targets))

    def __len__(self) -> int:
        return len(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._targets)})"


def _resolve(what: str, name: str, target: str) -> Any:
    module, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{what} {name!r} cannot be loaded: {exc} (install what {module} needs)") from exc
    except AttributeError:
        raise ConfigError(f"{what} {name!r}: {module} has no {attribute} (check its registry line)") from None


def resolve(target: Any, *, what: str) -> Any:
    """``target`` itself, or the attribute a ``"module:attribute"`` string names (imported now): for an entry that
    points at code from inside a field (a CLI command's argument function); a bad string is a :class:`ConfigError`
    naming ``what`` it was for."""
    if not isinstance(target, str):
        return target
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ConfigError(f"{what}: {target!r} is not 'module:attribute'")
    return _resolve(what, target, target)
