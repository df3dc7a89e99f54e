"""Report blocks about oversight once a version is in use: human oversight, post-market monitoring, limitations and
foreseeable risks, periodic review."""

from __future__ import annotations

import datetime as dt

from governance.analytics.kinds.base import first
from governance.analytics.kinds.drift import NAME as DRIFT
from governance.analytics.kinds.drift import drift_findings, drift_records
from governance.document import Charts, MissingNote, Node, fmt, para, table
from governance.reports.blocks.common import gate_records, verdict
from governance.reports.facts import ReportFacts


def human_oversight(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``human_oversight``: the four-eyes rule and what the ledger records."""
    n = f.policy.get("approvals_required", 1)
    return [para(
        f"Promotion of a {f.tier}-tier version requires {n} approval(s) by distinct risk officers. Four eyes: an "
        f"approver is neither the requester nor the creator of the version. Failing policy gates block approval "
        f"unless a risk officer records a risk acceptance with a justification. Every request, decision and export "
        f"is a hash-chained ledger entry; approvals recorded for this version are listed under approvals."
    )]


def _monitoring_gates(f: ReportFacts) -> list[Node]:
    """The monitoring gates (those the policy registers as such) as the policy judges the newest evidence."""
    from governance.policy import monitoring_gates

    watched = set(monitoring_gates())
    rows = [g for g in f.gates if g.get("gate") in watched]
    if not rows:
        return []
    failing = [g for g in rows if verdict(g) == "FAIL"]
    text = "; ".join(f"{g['gate']} {verdict(g)}" for g in rows)
    out: list[Node] = [para(f"Monitoring gates of tier {f.tier} on the newest evidence: {text}.")]
    out += [para(f"{g['gate']} FAILS: {g.get('message')}") for g in failing]
    return out


def _triggered(f: ReportFacts) -> list[Node]:
    """The re-validations monitoring breaches or cumulative change started."""
    if not f.triggered:
        return []
    return [para("Triggered reviews (a re-validation due from the day a breach or cumulative change started it, "
                 "answered by the next periodic review):"),
            table(("Triggered", "Trigger", "Kind", "Reason", "Status"),
                  [(t["triggered_at"], t["trigger_id"], t.get("gate") or t["kind"], t["reason"],
                    "open: re-validation due" if t["open"] else "answered") for t in f.triggered],
                  (0.13, 0.17, 0.12, 0.43, 0.15))]


def monitoring(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``monitoring``: the monitoring data, the newest drift evidence, the monitoring gates and triggers."""
    current = f.version.data_uris.get("current")
    max_age = f.policy.get("evidence_max_age_days")
    out: list[Node] = [para(
        "Post-market monitoring compares the production input distribution (monitoring data capture) with the "
        "reference data per column, computes the dataset drift share, and re-runs the policy gates before any "
        f"further promotion. Evidence older than {max_age or 'the configured'} days is recomputed "
        "before a decision."
    )]
    if not current:
        out.append(MissingNote(f"monitoring data (a 'current' dataset) for {f.version.version_id}"))
    else:
        out.append(para(f"Monitoring data: {current}"))
    drift = f.evidence.get(DRIFT)
    if drift is not None:
        out.append(para(f"Latest drift evidence {drift.evidence_id} computed {fmt(drift.computed_at)}; "
                        f"drift share limit for tier {f.tier}: {fmt(f.policy.get('max_drift_share'))}; "
                        f"importance-weighted drift limit: {fmt(f.policy.get('max_weighted_drift'))}."))
        out += drift_findings(drift)
    return [*out, *_monitoring_gates(f), *_triggered(f)]


def limitations(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``limitations``: the model card's limitations and the risks the evidence shows."""
    content = (f.card or {}).get("content", {})
    lim = first(content, "limitations", "known_limitations", "caveats", "risks", "ethical_considerations")
    out: list[Node] = []
    if lim:
        out.append(para(lim if isinstance(lim, str) else fmt(lim)))
    else:
        out.append(MissingNote("documented limitations (model card field 'limitations')"))
    rows, _src = gate_records(f)
    findings = [f"gate {x.get('gate') or x.get('name')} failed" for x in rows if verdict(x) in ("FAIL", "FAILED")]
    drift = f.evidence.get(DRIFT)
    if drift is not None:
        drifted = [str(x.get("column")) for x in drift_records(drift) if first(x, "drifted", "drift_detected") is True]
        if drifted:
            findings.append("drift detected in " + ", ".join(drifted))
    if findings:
        out.append(para("Foreseeable risks shown by the evidence: " + "; ".join(findings) + "."))
    return out


def periodic_review(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``periodic_review``: the cadence, the reviews recorded and the next one due."""
    vid, every = f.version.version_id, f.policy.get("review_every_days")
    out: list[Node] = [para(
        "A deployed version is reviewed again on a cadence set by its risk tier: evidence refreshed on the newest "
        "monitoring data, the gates re-evaluated, and an outcome (continue, restrict, retire) recorded with the "
        f"reviewer's comment in the ledger. Tier {f.tier}: "
        + (f"every {every} days." if every else "no review cadence (review_every_days) is set."))]
    if f.reviews:
        out.append(table(("Reviewed", "Reviewer", "Outcome", "Comment", "Evidence cited", "Ledger entry hash"),
                         [(x["reviewed_at"], x["reviewer"], x["outcome"], x["comment"],
                           ", ".join(f"{k}: {v.get('evidence_id') or v.get('status')}"
                                     for k, v in sorted(x["evidence"].items())), x["ledger_hash"]) for x in f.reviews],
                         (0.12, 0.17, 0.09, 0.27, 0.15, 0.2), mono=(5,)))
        last = f.reviews[0]
        if last["outcome"] == "retire":
            out.append(para(f"The last review decided to retire {vid}; no further review is scheduled."))
        elif every:
            out.append(para(f"Next review due {fmt(last['reviewed_at'] + dt.timedelta(days=int(every)))}."))
    elif f.under_oversight:
        out.append(MissingNote(f"a periodic review of {vid}: it serves in {f.version.environment} and has never been "
                               "reviewed since (record one on the Oversight page or with 'countersign review-periodic')"))
    else:
        out.append(para(f"{vid} does not serve in an environment under oversight: no periodic review applies."))
    return out
