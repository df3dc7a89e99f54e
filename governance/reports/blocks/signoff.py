"""Report blocks about the sign-off: gate verdicts, the policy in force, approvals, risk acceptances, the test log and
the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core.wording import words
from governance.document import Charts, Missing, MissingNote, Node, Spacer, fmt, kv, para, records, scalar, table
from governance.reports.blocks.common import gate_records, payload, verdict
from governance.reports.facts import ReportFacts


def gates(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``gates``: the gate verdicts and where they come from."""
    rows, source = gate_records(f)
    if not rows and f.gates_evaluated:  # a policy choice, not missing evidence: say so
        return [para(f"No policy gate applies ({f.gates_note}): the tier sets none for this step.")]
    if not rows:
        raise Missing(f"policy gate results for {f.version.version_id} ({f.gates_note})")
    recs = [{**{k: v for k, v in x.items() if k not in ("status", "passed", "ok")}, "verdict": verdict(x),
             **({"gate": words(x["gate"])} if isinstance(x.get("gate"), str) else {})} for x in rows]
    return [records(recs, ("gate", "name", "verdict", "message", "threshold", "observed", "value")),
            para(f"Source: {source}.", "small")]


def policy(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``policy``: every threshold of the tier in force."""
    pairs = [(k, f.policy[k]) for k in sorted(f.policy) if f.policy[k] not in (None, {}, (), [])]
    return [para(f"Policy of risk tier '{f.tier}' in force when this report was built:"), kv(pairs)]


def policy_reference(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``policy_reference``: the approvals the tier requires, pointing at the appendix."""
    return [para(f"Risk tier {f.tier}: {f.policy.get('approvals_required', 1)} approval(s) required; "
                 f"thresholds as listed in the appendix (policy in force).")]


def _decision_rows(decisions: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(d.get("created_at"), d.get("actor"), words(d.get("kind")), d.get("request_id"),
             d.get("comment") or payload(d).get("justification"), d.get("ledger_hash")) for d in decisions]


def _request(f: ReportFacts, req: dict[str, Any]) -> list[Node]:
    """One request: who asked what, the skip it makes, the checklist its approvers saw and its newest decision."""
    detail = payload(req)
    out: list[Node] = [para(f"Request {req['request_id']}: {req.get('version_id')} {req.get('from_env')} -> "
                            f"{req.get('to_env')}, requested by {req.get('requester')} on {fmt(req.get('created_at'))}, "
                            f"status {req.get('status')}. Reason: {req.get('reason') or '-'}")]
    if detail.get("skip"):
        out.append(para(f"Skips environments: {detail.get('path') or detail['skip']}; the tier needs "
                        f"{detail.get('tier_approvals_required')}, this request "
                        f"{detail.get('approvals_required')} approvals.", "small"))
    checklist = detail.get("checklist")
    if isinstance(checklist, dict) and checklist.get("results"):
        out.append(para(f"Gate checklist the approvers saw (evaluated {fmt(checklist.get('evaluated_at'))}):", "small"))
        out.append(table(("Gate", "Status", "Message"),
                         [(words(g.get("gate")), verdict(g), g.get("message")) for g in checklist["results"]],
                         (0.18, 0.12, 0.7)))
    return out + _decided(f, req["request_id"])


def approvals(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``approvals``: each request with what its approvers saw, and every decision."""
    if not f.requests and not f.decisions:
        raise Missing(f"approval record: no promotion request or decision for {f.version.version_id}")
    out: list[Node] = []
    for req in f.requests:
        out += _request(f, req)
    if f.decisions:
        out.append(table(("When", "Who", "Decision", "Request", "Comment", "Ledger entry hash"),
                         _decision_rows(f.decisions), (0.13, 0.17, 0.1, 0.12, 0.2, 0.28), mono=(5,)))
    else:
        out.append(MissingNote("no approval or rejection decision recorded yet"))
    return out


def _decided(f: ReportFacts, request_id: str) -> list[Node]:
    """What the newest decision on the request saw (frozen), then, labelled apart, what changed since."""
    view = next((v for v in f.decided if v.request_id == request_id), None)
    if view is None:
        return []
    snap = view.snapshot
    out: list[Node] = [
        para(f"As decided: what {snap.actor} saw when the request was {snap.kind}d on {fmt(snap.decided_at)} "
             f"(policy version {snap.policy_version or 'not recorded'}):", "small"),
        table(("Gate", "Status", "Message", "Evidence"),
              [(g.gate, g.status.upper(), g.message, ", ".join(g.evidence_ids) or "-") for g in snap.gates],
              (0.14, 0.1, 0.5, 0.26), mono=(3,)),
    ]
    if snap.risk_acceptances:
        out.append(para("Risk acceptances in force then: " + "; ".join(
            f"{', '.join(a.gates)} by {a.actor} until {str(a.expires_at)[:10]}" for a in snap.risk_acceptances),
            "small"))
    out.append(para("Changed since the decision (as of this report): "
                    + ("; ".join(view.changes) if view.changes else "nothing"), "small"))
    return out


def risk_acceptances(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``risk_acceptances``: each failing gate accepted, by whom, why and until when."""
    if not f.requests:
        raise Missing(f"risk acceptance record: no promotion request for {f.version.version_id}")
    acc = [d for d in f.decisions if "accept" in str(d.get("kind", "")).lower() or "risk" in str(d.get("kind", ""))]
    if not acc:
        return [para("No risk acceptance was recorded: no failing gate was accepted for this version.")]
    out: list[Node] = []
    for d in acc:
        detail = payload(d)
        out.append(kv([
            ("Request", d.get("request_id")),
            ("Accepted by", d.get("actor")),
            ("When", d.get("created_at")),
            ("Gates accepted", ", ".join(map(str, detail.get("gates") or [])) or "-"),
            ("Justification", detail.get("justification") or d.get("comment")),
            ("Expires", d.get("expires_at") or detail.get("expires_at")),
            ("Follow-up due", detail.get("follow_up") or d.get("expires_at") or detail.get("expires_at")),
            ("Waits for evidence", ", ".join(f"{g}: {k}" for g, k in sorted((detail.get("awaits") or {}).items()))
             or "-"),
            ("Ledger entry hash", d.get("ledger_hash")),
        ]))
        out.append(Spacer(4))
    return out


def evidence_log(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``evidence_log``: every evidence row cited, dated and attributed."""
    if not f.evidence:
        raise Missing(f"test log: no evidence computed for {f.version.version_id}")
    rows = [(e.kind, e.evidence_id, e.computed_at, e.computed_by, e.input_hash) for _k, e in sorted(f.evidence.items())]
    return [para("Validation and test runs, dated and attributed to the person who ran them; this report's "
                 "signature covers the log."),
            table(("Test", "Evidence id", "Run at", "Run by", "Input hash"), rows, (0.1, 0.22, 0.16, 0.2, 0.32),
                  mono=(1, 4))]


def _bound_rows(f: ReportFacts) -> list[tuple[Any, ...]]:
    """Per request of the version: what its ledger entries alone say (state, approvals counted, the artifact digest
    bound) and whether the catalog's cached state agrees."""
    from governance.ledger import Entry
    from governance.ledger.requests import replay
    from governance.ledger.subjects import request_of

    entries: dict[str, list[Entry]] = {}
    for e in f.ledger:
        rid = request_of(e["subject"] or "")
        if rid is not None:
            body = e["payload"] if isinstance(e["payload"], dict) else json.loads(e["payload"])
            entries.setdefault(rid, []).append(Entry(e["seq"], e["recorded_at"], e["actor"], e["action"],
                                                     e["subject"], body, e["prev_hash"], e["hash"]))
    approvers: dict[str, set[str]] = {}
    for d in f.decisions:
        if d["kind"] == "approve":
            approvers.setdefault(d["request_id"], set()).add(str(d["actor"]).lower())
    rows = []
    for req in f.requests:
        truth = replay(req["request_id"], entries.get(req["request_id"], []))
        if truth is None:
            rows.append((req["request_id"], "not in the ledger", "", "", "no"))
            continue
        agrees = truth.status == req["status"] and approvers.get(req["request_id"], set()) == {
            a.lower() for a in truth.approvers}
        rows.append((req["request_id"], truth.status, f"{len(truth.approvals)} of {truth.approvals_required}: "
                     + (", ".join(truth.approvers) or "none"), truth.artifact_sha256 or "none bound",
                     "yes" if agrees else "NO"))
    return rows


def ledger(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``ledger``: what the ledger binds per request, its entries, and the newest signed checkpoint."""
    out: list[Node] = []
    bound = _bound_rows(f)
    if bound:
        out += [para("What the ledger binds: each request's state and approvals as its ledger entries record them "
                     "(approval and execution count these, not the catalog's status), the artifact sha256 the request "
                     "froze (every approval and the execution re-read the bytes against it), and whether the catalog "
                     "agrees."),
                table(("Request", "State in the ledger", "Approvals counted", "Artifact sha256 bound",
                       "Catalog agrees"), bound, (0.17, 0.12, 0.27, 0.34, 0.1), mono=(3,))]
    if f.ledger:
        out.append(table(("Seq", "Recorded", "Actor", "Action", "Subject", "Entry hash"),
                         [(e["seq"], e["recorded_at"], e["actor"], words(e["action"]), e["subject"], e["hash"]) for e in f.ledger],
                         (0.06, 0.14, 0.18, 0.13, 0.17, 0.32), mono=(5,)))
    else:
        out.append(MissingNote(f"ledger entries about {f.version.version_id} or its requests"))
    if f.checkpoint:
        cp = f.checkpoint
        pairs = [("File", cp.file), ("File sha256", cp.sha256)]
        pairs += [(k, cp.content[k]) for k in sorted(cp.content) if scalar(cp.content[k])]
        out += [para("Newest signed ledger checkpoint:", "h2"), kv(pairs, mono=True)]
    else:
        out.append(MissingNote("signed ledger checkpoint (run 'countersign ledger checkpoint')"))
    return out
