"""What every account of every kind has (:class:`AccountInfo`) and the base of a kind's settings
(:class:`ConnectorSettings`): light, so that reading ``countersign.toml`` imports neither a connector nor the
records of :mod:`connectors.base` (which re-exports both)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.credentials import credential_problem
from core.structs import FieldError, Record, field_names


@dataclass(frozen=True)
class AccountInfo:
    """What every account has, whatever its kind: its name and the environment it serves (dev, staging, prod).

    ``secrets`` holds the values of the environment variables the kind's settings name in
    :meth:`ConnectorSettings.secret_env` (API keys, tokens), read once at the edge and passed down: a connector
    never reads the process environment itself.
    """

    name: str
    environment: str
    secrets: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def _texts(value: Any) -> Iterable[str]:
    """Every string inside a setting's value (a string, or one nested in a mapping or sequence)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _texts(v)


class ConnectorSettings(Record):
    """Base of a connector kind's settings: the keys of its ``[[accounts]]`` tables beyond name, environment and
    connector. Strict (an unknown key is an error naming it) and frozen; a kind's own rules go in its
    ``__post_init__``, which calls this one's first."""

    def __post_init__(self) -> None:
        """One rule for every kind (core.credentials): no setting holds a URL that carries a credential."""
        hint = self.credential_hint()
        for name in field_names(type(self)):
            for text in _texts(getattr(self, name)):
                problem = credential_problem(text, hint)
                if problem is not None:
                    raise FieldError(name, problem)

    @classmethod
    def credential_hint(cls) -> str:
        """Where this kind's credentials belong instead: the environment variables its ``*_env`` keys name."""
        keys = [name for name in field_names(cls) if name.endswith("_env")]
        if not keys:
            return "give them to the source's own client (its environment or profile), never in a URL"
        named = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + f" or {keys[-1]}"
        return f"put them in the environment variable named by {named}"

    def location(self) -> str | None:
        """Where the source is, in one short string shown in the accounts list (a folder, a region, a server URL)."""
        return None

    def environments(self) -> tuple[str, ...]:
        """Environments this account holds besides its own, when registry labels mean environments (an MLflow
        alias, a ZenML stage); a version's :attr:`VersionRecord.environment` then says which one it is in."""
        return ()

    def secret_env(self) -> tuple[str, ...]:
        """Names of the environment variables whose values the connector needs (passed in ``AccountInfo.secrets``)."""
        return ()

    def label_environment(self, label: str) -> str | None:
        """The environment a registry label means (an MLflow alias, a ZenML stage), or None: a version holding such
        a label is the one in use there, the way serving loads it (``models:/credit-risk@champion``)."""
        return None

    def data_hint(self, key: str) -> str | None:
        """How a version of this kind of account names its dataset ``key`` (``reference``, ``validation``,
        ``current``), in one sentence for the person whose review waits for it; None when the kind has no way."""
        return None
