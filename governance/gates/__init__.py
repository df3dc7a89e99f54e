"""Policy gates, registered in one table; adding a gate is one module and one line here.

A gate module defines a :class:`~governance.gates.base.Gate` (name, when it applies, the check, help, the evidence
kind it reads, whether monitoring can breach it); its line maps the gate's name to ``"module:ATTRIBUTE"``, imported
on first use. :func:`governance.policy.evaluate` runs the gates a tier turns on, the Requests page and the CLI show
them, scheduled monitoring watches the monitoring gates: nothing else names a gate. Tests (and plugins) add gates with
:func:`register`; the registration order is the checklist's order and part of every decision's policy version.
"""

from __future__ import annotations

from core.errors import InputError
from core.registry import Registry
from governance.gates.base import Gate

REGISTRY: Registry[Gate] = Registry("gate", InputError)
REGISTRY.register("metrics", "governance.gates.metrics:GATE")
REGISTRY.register("drift", "governance.gates.drift:DRIFT_GATE")
REGISTRY.register("weighted_drift", "governance.gates.drift:WEIGHTED_GATE")
REGISTRY.register("fairness", "governance.gates.fairness:GATE")
REGISTRY.register("explainability", "governance.gates.explainability:GATE")
REGISTRY.register("model_card", "governance.gates.model_card:GATE")
REGISTRY.register("identical_artifact", "governance.gates.identical_artifact:GATE")


def register(gate: Gate, *, replace: bool = False) -> None:
    """Register ``gate`` under its name (refused when the name is taken, unless ``replace``)."""
    REGISTRY.register(gate.name, gate, replace=replace)


def unregister(name: str) -> None:
    """Forget gate ``name`` (a no-op when it is not registered)."""
    REGISTRY.unregister(name)


def gate(name: str) -> Gate:
    """The registered gate called ``name`` (an ``InputError`` naming the known ones otherwise)."""
    return REGISTRY[name]


def gates() -> tuple[Gate, ...]:
    """Every registered gate, in registration order."""
    return tuple(REGISTRY[n] for n in REGISTRY)


def monitoring_gates() -> tuple[str, ...]:
    """The names of the gates scheduled monitoring can breach."""
    return tuple(g.name for g in gates() if g.monitoring)
