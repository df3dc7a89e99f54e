"""Evidence kinds, registered in one table; adding a kind is one module and one line here.

A kind module defines one :class:`~governance.analytics.kinds.base.EvidenceKind` (inputs, typed configuration,
calculation, typed result, summary, report blocks) named ``KIND``; its line maps the kind's name to
``"module:KIND"``, imported on first use. The review service computes every registered kind, the policy reads their
summaries, the reports offer their blocks to templates: nothing else names a kind. Tests (and plugins) add kinds
with :func:`register`.
"""

from __future__ import annotations

from core.errors import InputError
from core.registry import Registry
from governance.analytics.kinds.base import EvidenceKind

REGISTRY: Registry[EvidenceKind] = Registry("evidence kind", InputError)
REGISTRY.register("drift", "governance.analytics.kinds.drift:KIND")
REGISTRY.register("bias", "governance.analytics.kinds.bias:KIND")
REGISTRY.register("explain", "governance.analytics.kinds.explain:KIND")


def register(kind: EvidenceKind | str, name: str | None = None, *, replace: bool = False) -> None:
    """Register an evidence kind (the object, or ``"module:KIND"`` with its ``name``)."""
    if isinstance(kind, str):
        if name is None:
            raise InputError("register a kind given as 'module:KIND' with its name")
        REGISTRY.register(name, kind, replace=replace)
    else:
        REGISTRY.register(kind.name, kind, replace=replace)


def unregister(name: str) -> None:
    """Forget evidence kind ``name`` (a no-op when it is not registered)."""
    REGISTRY.unregister(name)


def names() -> tuple[str, ...]:
    """The registered evidence kinds, in registration order."""
    return REGISTRY.names()


def kind(name: str) -> EvidenceKind:
    """The registered evidence kind ``name`` (``InputError`` naming the known ones otherwise)."""
    return REGISTRY[name]


def inherited() -> tuple[str, ...]:
    """The kinds a copy promoted unchanged may show from its source (evidence about the artifact and its data)."""
    return tuple(n for n in REGISTRY if REGISTRY[n].inherits)


def compute_order(requested: tuple[str, ...]) -> list[tuple[int, str]]:
    """``requested`` with its positions, a kind another registered kind reads first (its evidence feeds that plan)."""
    read = {r for n in REGISTRY for r in REGISTRY[n].reads}
    return sorted(enumerate(requested), key=lambda x: (x[1] not in read, x[0]))
