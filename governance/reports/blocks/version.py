"""Report blocks about the model and the version as the catalog records them: identity, provider, intended use,
model card, lineage, history, deployments, inventory, development, data, performance and the artifact's identity."""

from __future__ import annotations

from typing import Any

from core.wording import words
from governance.analytics.kinds.base import first
from governance.changes import change_source
from governance.document import Charts, Missing, Node, Spacer, fmt, kv, para, records, table
from governance.reports.blocks.common import load_list
from governance.reports.facts import ReportFacts
from governance.reports.lifecycle import inventory_pairs


def identity(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``identity``: what the version is and where it lives."""
    v = f.version
    return [kv([
        ("Model", v.model),
        ("Version id", v.version_id),
        ("Version number", v.version),
        ("Account / environment", f"{v.account} / {v.environment}"),
        ("Registry reference", v.source_ref),
        ("Approval status", words(v.approval_status)),
        ("Created", f"{fmt(v.created_at)} by {v.created_by or 'unknown'}"),
        ("Framework / image", f"{v.framework or '-'} / {v.image or '-'}"),
        ("Artifact", v.artifact_uri),
        ("Risk tier", f.tier),
    ])]


def provider(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``provider``: the organisation, the accountable owner and the developer."""
    owner = f.model.owner or f.model_config.get("owner")
    if not owner:
        raise Missing(f"accountable owner of model {f.model.name} (set [models.{f.model.name}] owner)")
    return [kv([("Provider / organisation", f.workspace_name), ("Accountable owner", owner),
                ("Developer of this version", f.version.created_by or "unknown")])]


def intended_use(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``intended_use``: the model's purpose (catalog, configuration or model card)."""
    content = (f.card or {}).get("content", {})
    use = f.model.intended_use or f.model_config.get("intended_use") or first(
        content, "intended_uses", "intended_use", "purpose"
    )
    if not use:
        raise Missing("intended use of the model (model card or [models] intended_use)")
    out = [para(use if isinstance(use, str) else fmt(use))]
    if f.model.description:
        out.append(para(f.model.description))
    return out


def model_card(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``model_card``: every field of the synced model card."""
    if not f.card or not f.card.get("content"):
        raise Missing(f"model card for {f.model.name}")
    content = f.card["content"]
    pairs = [(k.replace("_", " "), content[k]) for k in sorted(content)]
    return [kv(pairs), para(f"Card {f.card['card_id']} (status {f.card.get('status') or '-'}), "
                            f"updated {fmt(f.card.get('updated_at'))}.", "small")]


def lineage(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``lineage``: the version and the versions it was promoted from, with their artifact hashes."""
    rows = [(v.version_id, v.environment, words(v.approval_status), v.created_at, v.artifact_sha256) for v in f.lineage]
    out: list[Node] = [
        para("The version and the versions it was promoted from, newest first:"),
        table(("Version", "Environment", "Status", "Created", "Artifact sha256"), rows,
              (0.25, 0.1, 0.12, 0.16, 0.37), mono=(4,)),
    ]
    if f.descendants:
        out.append(para("Promoted onward to: " + ", ".join(f.descendants)))
    return out


def lineage_changes(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``lineage_changes``: the versions of the lineage and the promotion requests."""
    rows = [(v.version_id, v.created_at, v.modified_at, words(v.approval_status), v.approval_description) for v in f.peers]
    if len(rows) <= 1 and not f.requests:
        raise Missing("lifecycle history: no earlier or later version of this lineage and no promotion request")
    out: list[Node] = [table(("Version", "Created", "Modified", "Status", "Status note"), rows)]
    if f.requests:
        out.append(Spacer(4))
        out.append(records(f.requests, ("request_id", "version_id", "from_env", "to_env", "requester", "status",
                                        "created_at", "execution_state")))
    return out


def _labels_text(state: dict[str, Any]) -> str:
    serving = set(state.get("serving_labels") or ())
    return ", ".join(f"{x} (serving)" if x in serving else x for x in load_list(state.get("labels")))


def registry_history(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``registry_history``: each state of the version as the registry showed it, and what was not seen."""
    if not f.history:
        raise Missing(f"registry history: no sync has recorded a state of {f.version.version_id} since history "
                      "began (run countersign sync)")
    rows = [(h.get("valid_from"), h.get("valid_to") or "still", h.get("environment"), words(h.get("approval_status")),
             _labels_text(h), " ".join(x for x in (_seen_by(h), h.get("sync_id")) if x), h.get("ledger_seq"),
             h.get("request_id")) for h in f.history]
    out: list[Node] = [
        para("Each state of the version as the registry showed it, from when to when (UTC). 'Seen by' says what "
             "recorded the change and how sure its time is: 'sync (inferred)', the registry's own modification time "
             "read by a sync; 'sync (observed)', the start of the sync that saw it; 'event (exact)', a registry "
             "event's own time; 'cloudtrail (exact)' or 'lifecycle action (exact)', the registry's record of the "
             "call, read by a backfill (with who made it). A label marked '(serving)' is the one its account maps "
             "to the environment (an MLflow alias, a ZenML stage): holding it, the version was the one in use "
             "there."),
        # "seen by" and the sync that saw it share a column: nine columns could not hold the sync id whole
        table(("From", "To", "Environment", "Approval", "Labels", "Seen by (sync)", "Ledger", "Request"), rows),
    ]
    if f.history_deployments:
        out.append(Spacer(4))
        out.append(table(("Endpoint", "Variant", "Weight", "Status", "From", "To", "Seen by"),
                         [(d.get("endpoint"), d.get("variant"), d.get("weight"), words(d.get("status")), d.get("valid_from"),
                           d.get("valid_to") or "still", _seen_by(d)) for d in f.history_deployments]))
    if f.history_gaps:
        out.append(Spacer(4))
        out.append(para("Not observed (the registry's state in these periods is unknown):"))
        out.append(table(("Account", "From", "To", "Reason", "Detail"),
                         [(g.get("account"), g.get("gap_from"), g.get("gap_to") or "still", g.get("reason"),
                           g.get("detail")) for g in f.history_gaps]))
    return out


def _seen_by(row: dict[str, Any]) -> str:
    """A history row's source and confidence, and who made the change when the record says."""
    who = row.get("changed_by")
    return change_source(row) + (f", by {str(who).rsplit('/', 1)[-1]}" if isinstance(who, str) and who else "")


def _binding_verdict(d: dict[str, Any]) -> str:
    if d.get("reason"):
        return f"FLAGGED: {d['reason']}"
    if d.get("request_id") and d.get("approved_sha256"):
        return f"approved in Countersign ({d['request_id']}); artifact sha256 {d['approved_sha256'][:12]}… as approved"
    if d.get("request_id"):
        return f"approved in Countersign ({d['request_id']}); the approval bound no artifact digest"
    return "approved in the registry; Countersign's sign-off is required in the last environment only"


def deployments(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``deployments``: the endpoints serving the model, and the binding check of each version in use."""
    if not f.deployments and not f.in_use:
        return [para(f"No deployment of {f.model.name} is recorded in any synced account, on an endpoint or by a "
                     "registry label.")]
    out: list[Node] = []
    if f.deployments:
        rows = [(d.get("endpoint"), d.get("environment"), d.get("account"), d.get("version_id"), words(d.get("status")),
                 words(d.get("approval_status"))) for d in f.deployments]
        out.append(table(("Endpoint", "Environment", "Account", "Serves version", "Status", "Version approval"), rows))
    flagged = [d for d in f.in_use if d.get("reason")]
    out += [Spacer(4), para(
        "The binding check: every version in use (on an endpoint in service, or holding the registry label its "
        "account maps to its environment) must have been approved through Countersign into the last environment, "
        "and its artifact must still be the one the approval bound (sha256 frozen with the request, read from the "
        f"ledger). {len(flagged)} of {len(f.in_use)} version(s) in use fail it as of this report."
        if f.in_use else "No version of the model is in use as of this report.")]
    if f.in_use:
        out.append(table(("Version", "Environment", "In use", "Binding check"),
                         [(d["version_id"], d["environment"], d["how"], _binding_verdict(d)) for d in f.in_use],
                         (0.24, 0.1, 0.26, 0.4)))
    return out


def inventory(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``inventory``: the model's inventory entry and tags."""
    m = f.model
    pairs = [("Model", m.name), ("Owner", m.owner or f.model_config.get("owner")), ("Risk tier", f.tier),
             ("Description", m.description), ("Versions in this lineage", len(f.peers))]
    pairs += inventory_pairs(f)  # accountable senior manager, materiality, AI Act class, generative AI
    pairs += [(f"tag: {k}", m.tags[k]) for k in sorted(m.tags)]
    return [kv(pairs)]


def development(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``development``: the training run linked to the version, its parameters and metrics."""
    if not f.run:
        raise Missing(f"training run record for {f.version.version_id} (no run linked in the registry)")
    run = f.run
    out: list[Node] = [kv([("Run", run.get("run_id")), ("Kind", words(run.get("kind"))), ("Name", run.get("name")),
                           ("Status", words(run.get("status"))), ("Started", run.get("started_at")),
                           ("Ended", run.get("ended_at")), ("Experiment", run.get("experiment"))])]
    params = run.get("params") or {}
    if params:
        out += [para("Hyper-parameters", "h2"), table(("Parameter", "Value"), [(k, params[k]) for k in sorted(params)])]
    metrics = run.get("metrics") or {}
    if metrics:
        out += [para("Training metrics", "h2"), table(("Metric", "Value"), [(k, metrics[k]) for k in sorted(metrics)])]
    return out


def data(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``data``: the version's datasets, their sha256 and where each hash comes from."""
    if not f.version.data_uris:
        raise Missing(f"dataset locations of {f.version.version_id} (reference / validation / current)")
    rows = [(k, f.version.data_uris[k], f.datasets.get(k, "-"), f.dataset_sources.get(k, "-"))
            for k in sorted(f.version.data_uris)]
    out: list[Node] = [table(("Dataset", "Location", "sha256", "Hashed by"), rows, (0.12, 0.33, 0.37, 0.18),
                             mono=(2,))]
    cfg = f.model_config
    if cfg.get("label") or cfg.get("protected_attributes"):
        out.append(para(f"Label column: {cfg.get('label') or '-'} (positive value {cfg.get('positive_label') or '-'}); "
                        f"protected attributes: {', '.join(cfg.get('protected_attributes') or ()) or 'none declared'}."))
    return out


def performance(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``performance``: registered metrics across the lineage, against the tier's thresholds."""
    with_metrics = [v for v in f.peers if v.metrics] or ([f.version] if f.version.metrics else [])
    if not with_metrics:
        raise Missing(f"performance metrics of {f.version.version_id} (none registered)")
    names = sorted({k for v in with_metrics for k in v.metrics})
    rows = [[n, *(v.metrics.get(n) for v in with_metrics)] for n in names]
    header = ["Metric", *(f"{v.environment} v{v.version}" for v in with_metrics)]
    out: list[Node] = [para("Registered metrics of this version and of the same lineage in other environments:"),
                       table(header, rows)]
    mins, maxs = f.policy.get("min_metrics") or {}, f.policy.get("max_metrics") or {}
    if mins or maxs:
        lim = [(k, ">=", mins[k], f.version.metrics.get(k)) for k in sorted(mins)]
        lim += [(k, "<=", maxs[k], f.version.metrics.get(k)) for k in sorted(maxs)]
        out += [Spacer(4), table(("Metric", "Rule", "Threshold", "This version"), lim)]
    return out


def cybersecurity(f: ReportFacts, charts: Charts) -> list[Node]:
    """Block ``cybersecurity``: how the artifact is identified and loaded, and how the records are protected."""
    v = f.version
    if not v.artifact_sha256:
        raise Missing(f"sha256 of the model artifact of {v.version_id}")
    return [para(
        "The model artifact is identified by its sha256 and loaded only through a reviewed allow-list of types "
        "(skops) or native formats; pickle and joblib are refused because loading them runs code. Reports are "
        "signed (PAdES) and the ledger is hash-chained with signed checkpoints outside the database."
    ), kv([("Artifact", v.artifact_uri), ("Artifact sha256", v.artifact_sha256)], mono=True)]
