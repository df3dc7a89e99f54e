"""Blocks ``regimes``, ``fallback`` and ``incidents``: the lifecycle registers of the version (facts read by
:mod:`governance.reports.lifecycle`). ``fallback`` raises ``Missing`` for what an examiner would flag: a version in use
in an overseen environment with no approved fallback."""

from __future__ import annotations

from typing import Any

from governance.document import Charts, Missing, MissingNote, Node, fmt, para, table
from governance.reports.facts import ReportFacts
from governance.reports.lifecycle import LifecycleFacts


def _facts(f: ReportFacts) -> LifecycleFacts:
    if f.lifecycle is None:
        raise Missing("the lifecycle registers (not collected for this report)")
    return f.lifecycle


def regimes(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``regimes``: the regimes in force on the report's date, and the next phase of each."""
    lf = _facts(f)
    out: list[Node] = [para(f"Regimes in force on {lf.on:%Y-%m-%d} (the report's records date); {lf.policy_status}.")]
    rows = []
    for s in lf.regimes:
        now = "; ".join(f"{p['title']} (since {p['from']})" for p in s["in_force"]) or "not yet in force"
        if s["superseded"]:
            now = f"superseded by {s['superseded']['by']} since {s['superseded']['since']}"
        nxt = f"{s['next']['title']} from {s['next']['from']}" if s["next"] else "-"
        rows.append((s["name"], now, nxt))
    out.append(table(("Regime", "In force", "Next"), rows, (0.16, 0.47, 0.37)))
    return out


def _plan_line(plan: dict[str, Any]) -> str:
    approvers = ", ".join(plan["approvers"]) or "-"
    return (f"Plan {plan['plan_id']} for {plan['environment']}: {plan['describe']}. Reason: {plan['reason']}. "
            f"Approved by {approvers} on {plan['approved_at']:%Y-%m-%d}.")


def _rehearsal_line(x: dict[str, Any]) -> str:
    last = x["rehearsals"][-1] if x["rehearsals"] else None
    if not last:
        return "Never rehearsed."
    return (f"Last rehearsal: {fmt(last['at'])} by {last['actor']}, rehearsal "
            f"{'passed' if last['passed'] else 'FAILED'} ("
            + "; ".join(f"{c['name']}: {c['detail']}" for c in last["checks"]) + ").")


def fallback(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``fallback``: each environment's approved fallback or kill switch, its last rehearsal and emergency
    executions."""
    lf = _facts(f)
    rows = [x for x in lf.fallbacks if x["environment"] in lf.in_use_envs or x["active"]]
    missing = [e for e in lf.in_use_envs if not any(x["active"] for x in rows if x["environment"] == e)]
    out: list[Node] = []
    for x in rows:
        if x["active"] is None:
            continue
        out += [para(_plan_line(x["active"])), para(_rehearsal_line(x), "small")]
        if x["executions"]:
            out.append(table(("Executed", "By", "Outcome", "Reason", "Review"), [
                (e["executed_at"], e["actor"], e["outcome"] + (" (emergency)" if e["emergency"] else ""), e["reason"],
                 f"{e['review_status']} (due {fmt(e['review_due'])})") for e in x["executions"]],
                (0.15, 0.2, 0.15, 0.28, 0.22)))
    if missing:
        gap = (f"{f.version.version_id} is in use in {', '.join(missing)} with no approved fallback or kill switch "
               "(propose one with 'countersign fallback plan')")
        if not out:
            raise Missing(gap)
        out.append(MissingNote(gap))
    if not out:
        out.append(para(f"{f.version.version_id} is not in use in an environment under oversight: no fallback "
                        "is required."))
    return out


def _deadline_text(d: dict[str, Any]) -> str:
    status = {"overdue": "OVERDUE", "met": f"met {d['met_at']:%Y-%m-%d}" if d.get("met_at") else "met",
              "due": "due", "not_applicable": "not applicable"}[d["status"]]
    return f"{d['rule']}: {d['due_at']:%Y-%m-%d %H:%M} UTC, {status}" + (f" ({d['note']})" if d.get("note") else "")


def incidents(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``incidents``: the incidents recorded against the version and its copies: severity, deadlines per rule,
    actions, closure."""
    lf = _facts(f)
    if not lf.incidents:
        return [para(f"No incident recorded against {f.version.version_id} or its copies up to {lf.on:%Y-%m-%d}.")]
    rows = [(i["incident_id"], f"{i['title']}. Impact: {i['impact']}", i["severity"]
             + (f", serious ({i['serious_kind']})" if i["serious"] else ""), f"{i['aware_at']:%Y-%m-%d}",
             "; ".join(_deadline_text(d) for d in i["deadlines"]), i["status"]) for i in lf.incidents]
    out: list[Node] = [table(("Incident", "What", "Severity", "Aware", "Reporting deadlines", "Status"), rows,
                             (0.17, 0.27, 0.12, 0.1, 0.26, 0.08), mono=(0,))]
    for i in lf.incidents:
        for e in i["events"]:
            out.append(para(f"{i['incident_id']} {e['kind']} {e['at']:%Y-%m-%d} by {e['actor']}: {e['text']}",
                            "small"))
    return out
