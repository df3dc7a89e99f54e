"""Report block "Consistency across environments": the version beside its sources and promoted copies.

Differing properties are highlighted; a property a version does not record (an artifact hash the registry does not
keep) is a gap, listed at the front of the report like any missing evidence.
"""

from __future__ import annotations

from governance.compare import Consistency
from governance.document import Charts, Missing, MissingNote, Node, Table, para
from governance.reports.facts import ReportFacts


def _short(value: str | None) -> str:
    """A value that fits a table cell: hashes to 16 hex digits, long URIs with the middle elided."""
    if value is None:
        return "-"
    if value.startswith("sha256:") and len(value) > 30:
        return value[:23] + "..."
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:16] + "..."
    if len(value) > 48:
        return value[:14] + "..." + value[-30:]
    return value


def consistency(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``consistency``: the side-by-side table of the lineage, the verdict, and gaps for unrecorded artifact
    hashes."""
    result: Consistency | None = f.consistency
    if result is None:
        raise Missing(f"the lineage comparison of {f.version.version_id} (not collected)")
    if not result.comparable:
        return [para(f"{f.version.version_id} has no source version and no promoted copy: there is nothing to "
                     "compare across environments.")]
    out: list[Node] = []
    if result.consistent:
        out.append(para(f"The {len(result.sides)} versions of this lineage record the same artifact, container, "
                        "inference contract and data."))
    else:
        names = "; ".join(f"{d.group.lower()}: {d.name}" for d in result.critical_differences)
        out.append(para(f"Finding: the versions of this lineage differ in {names}. What was approved is not exactly "
                        "what runs in every environment."))
    header = ["Property", *(f"{s.environment} {s.account} v{s.version}" for s in result.sides), "Status"]
    n = len(result.sides)
    widths = (0.22, *([0.64 / n] * n), 0.14)
    rows, marked = [], []
    for i, facet in enumerate(result.facets, start=1):
        status = ("DIFFERS" if facet.critical else "differs (location)") if facet.differs else facet.status
        rows.append([f"{facet.group}: {facet.name}", *(_short(v) for v in facet.values), status])
        if facet.differs:
            marked.append((i - 1, "differs" if facet.critical else "location"))
    out.append(Table(tuple(header), tuple(tuple(r) for r in rows), marked=tuple(marked), widths=widths))
    out.append(para("Highlighted rows differ. The artifact location is expected to differ (each account stores its "
                    "own copy); data locations are compared without the account name and version number.", "small"))
    sha = next((x for x in result.facets if (x.group, x.name) == ("Artifact", "sha256")), None)
    unrecorded = [s.version_id for s, v in zip(result.sides, sha.values if sha else [None] * n, strict=True)
                  if v is None]
    if unrecorded:
        out.append(MissingNote(f"artifact sha256 of {', '.join(unrecorded)} (the registry does not record it): the "
                             "artifact identity across environments cannot be confirmed"))
    return out
