"""Decisions frozen as seen: what an approver or rejecter looked at, and what has changed since.

An approval or a rejection stores, in its decision's payload (``snapshot``), the exact evidence ids, the gate
results, the risk acceptances in force and the policy version (:func:`governance.policy.policy_version`) it was
taken under. :func:`snapshot_of` reads it back (older decisions that stored only their checklist are read from
that); :func:`changes_since` compares it with the checklist of today, so a page, the CLI and the PDF show the
decision as taken and, apart and labelled, what changed after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from governance.catalog.signoff import Decision
from governance.policy import Checklist

DECIDING_KINDS = ("approve", "reject")


@dataclass(frozen=True)
class SeenGate:
    """One gate as the decision saw it."""

    gate: str
    status: str
    message: str
    evidence_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeenEvidence:
    """One piece of evidence as the decision saw it (its id names the stored row, which never changes)."""

    evidence_id: str
    kind: str
    computed_at: str | None = None


@dataclass(frozen=True)
class SeenAcceptance:
    """A risk acceptance in force when the decision was taken."""

    decision_id: str | None
    actor: str | None
    gates: tuple[str, ...]
    expires_at: str | None


@dataclass(frozen=True)
class DecisionSnapshot:
    """What one decision (approve or reject) saw."""

    decision_id: str
    actor: str
    kind: str
    decided_at: dt.datetime
    policy_version: str | None
    evaluated_at: str | None
    gates: tuple[SeenGate, ...]
    evidence: tuple[SeenEvidence, ...]
    risk_acceptances: tuple[SeenAcceptance, ...]

    @property
    def evidence_ids(self) -> tuple[str, ...]:
        return tuple(e.evidence_id for e in self.evidence)

    def gate(self, name: str) -> SeenGate | None:
        return next((g for g in self.gates if g.gate == name), None)

    def lines(self) -> list[str]:
        """The snapshot in words, one line each (CLI and PDF)."""
        out = [f"as {self.kind}d by {self.actor} on {self.decided_at:%Y-%m-%d %H:%M} UTC under policy "
               f"{self.policy_version or 'not recorded'}"]
        out += [f"gate {g.gate}: {g.status} — {g.message}" for g in self.gates]
        out += [f"evidence {e.kind} {e.evidence_id}" + (f" computed {str(e.computed_at)[:16]}" if e.computed_at else "")
                for e in self.evidence]
        out += [f"risk acceptance by {a.actor} for {', '.join(a.gates)} until {str(a.expires_at)[:10]}"
                for a in self.risk_acceptances]
        return out


def snapshot_payload(checklist: Checklist, acceptances: Iterable[Mapping[str, Any]], policy_version: str) -> dict[str, Any]:
    """The ``snapshot`` stored in a decision's payload: evidence ids, gate results, risk acceptances, policy version."""
    return {
        "policy_version": policy_version,
        "evaluated_at": checklist.evaluated_at,
        "evidence": [{"evidence_id": e.evidence_id, "kind": e.kind, "computed_at": e.computed_at}
                     for e in checklist.evidence],
        "gates": [{"gate": r.gate, "status": r.status, "message": r.message,
                   "evidence_ids": [e.evidence_id for e in r.evidence]} for r in checklist.results],
        "risk_acceptances": [dict(a) for a in acceptances],
    }


def acceptance_entry(decision_id: str | None, actor: str, gates: Sequence[str], expires_at: Any) -> dict[str, Any]:
    """How one risk acceptance is listed in a snapshot."""
    return {"decision_id": decision_id, "actor": actor, "gates": sorted(gates), "expires_at": expires_at}


def snapshot_of(decision: Decision) -> DecisionSnapshot | None:
    """What ``decision`` saw, or None when it is no approval or rejection or recorded nothing."""
    if decision.kind not in DECIDING_KINDS:
        return None
    snap = decision.payload.get("snapshot")
    if not isinstance(snap, dict):  # decisions from before snapshots: the approval's checklist, if any
        checklist = decision.payload.get("checklist")
        if not isinstance(checklist, dict):
            return None
        snap = {"policy_version": None, "evaluated_at": checklist.get("evaluated_at"), "risk_acceptances": [],
                "gates": [{**r, "evidence_ids": [e.get("evidence_id") for e in r.get("evidence") or []]}
                          for r in checklist.get("results") or []],
                "evidence": [e for r in checklist.get("results") or [] for e in r.get("evidence") or []]}
    evidence = {str(e["evidence_id"]): SeenEvidence(str(e["evidence_id"]), str(e.get("kind")), _text(e.get("computed_at")))
                for e in snap.get("evidence") or [] if e.get("evidence_id")}
    return DecisionSnapshot(
        decision_id=decision.decision_id, actor=decision.actor, kind=decision.kind, decided_at=decision.created_at,
        policy_version=snap.get("policy_version"), evaluated_at=_text(snap.get("evaluated_at")),
        gates=tuple(SeenGate(str(g.get("gate")), str(g.get("status")), str(g.get("message") or ""),
                             tuple(str(i) for i in g.get("evidence_ids") or ())) for g in snap.get("gates") or []),
        evidence=tuple(evidence.values()),
        risk_acceptances=tuple(SeenAcceptance(a.get("decision_id"), a.get("actor"), tuple(a.get("gates") or ()),
                                              _text(a.get("expires_at"))) for a in snap.get("risk_acceptances") or []),
    )


def latest_snapshot(decisions: Iterable[Decision]) -> DecisionSnapshot | None:
    """The snapshot of the newest approval or rejection among ``decisions`` (None when there is none)."""
    found = [s for s in (snapshot_of(d) for d in decisions) if s is not None]
    return found[-1] if found else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class GateChange:
    """A gate whose status differs from what the decision saw (``then`` None: a gate that did not apply then)."""

    gate: str
    then: str | None
    now: str | None
    message: str


@dataclass(frozen=True)
class SnapshotChanges:
    """What changed since a decision: evidence the gates read now that the decision did not see, gates whose status
    moved, and whether the policy itself changed."""

    snapshot: DecisionSnapshot
    new_evidence: tuple[SeenEvidence, ...]
    gate_changes: tuple[GateChange, ...]
    policy_changed: bool
    policy_version_now: str

    @property
    def any(self) -> bool:
        return bool(self.new_evidence or self.gate_changes or self.policy_changed)

    def lines(self) -> list[str]:
        """The changes in words, one line each (empty when nothing changed)."""
        out = [f"new {e.kind} evidence {e.evidence_id}" + (f" computed {str(e.computed_at)[:16]}" if e.computed_at
                                                            else "") for e in self.new_evidence]
        out += [f"gate {c.gate}: {c.then or 'not applied'} then, {c.now or 'not applied'} now — {c.message}"
                for c in self.gate_changes]
        if self.policy_changed:
            out.append(f"policy changed: {self.snapshot.policy_version} then, {self.policy_version_now} now")
        return out


def changes_since(snapshot: DecisionSnapshot, checklist: Checklist, policy_version_now: str) -> SnapshotChanges:
    """Compare what ``snapshot`` saw with ``checklist`` evaluated now."""
    seen = set(snapshot.evidence_ids)
    new = tuple(SeenEvidence(e.evidence_id, e.kind, _text(e.computed_at)) for e in checklist.evidence
                if e.evidence_id not in seen)
    now = {r.gate: r for r in checklist.results}
    changes = [GateChange(g.gate, g.status, now[g.gate].status if g.gate in now else None,
                          now[g.gate].message if g.gate in now else "the gate no longer applies")
               for g in snapshot.gates if (now[g.gate].status if g.gate in now else None) != g.status]
    changes += [GateChange(r.gate, None, r.status, r.message) for r in checklist.results if snapshot.gate(r.gate) is None]
    changed_policy = snapshot.policy_version is not None and snapshot.policy_version != policy_version_now
    return SnapshotChanges(snapshot, new, tuple(changes), changed_policy, policy_version_now)
