"""Gate ``identical_artifact``: the artifact sha256 equals that of every source up the lineage and of the copies in
the target environment (``require_identical_artifact``)."""

from __future__ import annotations

from governance.gates.base import Gate, GateContext, GateResult

NAME = "identical_artifact"


def check(ctx: GateContext) -> GateResult:
    """The artifact sha256 equals that of every source up the lineage and of the copies in the target."""
    from governance.compare import artifact_check

    if ctx.catalog is None:
        return GateResult(NAME, "missing", "no catalog to read the lineage from", True)
    found = artifact_check(ctx.catalog, ctx.version.version_id, ctx.to_env or None)
    return GateResult(NAME, found.status, found.message, True, found.observed)


GATE = Gate(NAME, lambda t: t.require_identical_artifact, check,
            "The artifact sha256 equals the approved source's (and the promoted copy's): require_identical_artifact.",
            clears="promote the approved source's artifact unchanged (its sha256 must match)")
