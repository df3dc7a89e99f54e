"""Extension tables built one way: a named entry per extension, built-ins registered exactly like third-party ones.

A :class:`Registry` maps names to entries (a frozen dataclass per table: a CLI command, a portal page, …) in
registration order. Registering a name twice is refused unless ``replace=True`` says so, so a plugin cannot shadow a
built-in by accident; an unknown name is a :class:`~core.errors.ConfigError` that lists the known ones. An entry may
point at code as ``"module:attribute"``, imported only on first use by :func:`resolve`, so listing a table (``--help``,
the navigation) costs no import of what it lists. ``connectors.REGISTRY`` is the model this follows.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from core.errors import ConfigError

E = TypeVar("E")


class Registry(Generic[E]):
    """Name → entry, in registration order; ``what`` names the table in error messages ("command", "page")."""

    def __init__(self, what: str, entries: Iterable[tuple[str, E]] = ()) -> None:
        self.what = what
        self._entries: dict[str, E] = {}
        for name, entry in entries:
            self.register(name, entry)

    def register(self, name: str, entry: E, *, replace: bool = False) -> E:
        """Add ``entry`` under ``name``; refuse to shadow an entry silently (``replace=True`` to replace it)."""
        if name in self._entries and not replace:
            raise ConfigError(f"{self.what} {name!r} is already registered (pass replace=True to replace it)")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a no-op when it is not registered)."""
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.what} {name!r} (known: {', '.join(self._entries)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def entries(self) -> tuple[E, ...]:
        """The registered entries, in registration order."""
        return tuple(self._entries.values())

    def items(self) -> tuple[tuple[str, E], ...]:
        """(name, entry) pairs, in registration order."""
        return tuple(self._entries.items())


def resolve(target: Any, *, what: str) -> Any:
    """``target`` itself, or the attribute a ``"module:attribute"`` string names (imported now); a missing module or
    attribute is a :class:`ConfigError` naming ``what`` it was for."""
    if not isinstance(target, str):
        return target
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"{what}: {target!r} is not 'module:attribute'")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{what} cannot be loaded: {exc} (install what {module} needs)") from exc
    except AttributeError:
        raise ConfigError(f"{what}: {module} has no {name}") from None
