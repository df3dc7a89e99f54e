"""ZenML's answers mapped to Countersign's records: models and model cards, versions, pipeline runs (no I/O)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from connectors import naming
from connectors.base import APPROVAL_STATUSES, ModelCardRecord, ModelRecord, RunRecord, VersionRecord
from connectors.zenml.settings import (
    META_APPROVAL,
    META_APPROVAL_DESCRIPTION,
    META_ARTIFACT,
    META_CREATED_BY,
    META_DATA,
    META_REPORTS,
    META_SOURCE_ACCOUNT,
    META_SOURCE_REF,
    ZenMLSettings,
)
from core.canonical import canonical_json


def parse(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def maybe_time(value: Any) -> dt.datetime | None:
    return parse(value) if value else None


def name_of(obj: Any) -> str | None:
    return obj.get("name") if isinstance(obj, dict) else None


def text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def tag_dict(items: Any) -> dict[str, str]:
    """ZenML tags are names; ``key:value`` / ``key=value`` names become key and value."""
    out: dict[str, str] = {}
    for t in items or []:
        name = t.get("name") if isinstance(t, dict) else str(t)
        if not name:
            continue
        sep = next((s for s in (":", "=") if s in name), None)
        key, value = name.split(sep, 1) if sep else (name, "")
        out[key.strip()] = value.strip()
    return out


def risk_tier(tags: list[Any]) -> str | None:
    """The risk tier a tag list names (``risk_tier:high`` or ``risk-tier=high``), else None; tags are names, or
    (key, value) pairs already split."""
    pairs = [t if isinstance(t, tuple) else next(iter(tag_dict([t]).items()), ("", "")) for t in tags if t]
    return next((value for key, value in pairs if key in ("risk_tier", "risk-tier") and value), None)


def model_records(m: dict[str, Any]) -> tuple[ModelRecord, ModelCardRecord]:
    """A ZenML model as Countersign's model record (tier from its tags, intended use from ``use_cases``) and its
    model card (every card field ZenML keeps)."""
    meta = m.get("metadata") or {}
    tags = tag_dict((m.get("resources") or {}).get("tags"))
    risk = risk_tier(list(tags.items()))
    content = {k: meta.get(k) for k in ("description", "license", "audience", "use_cases", "limitations",
                                        "trade_offs", "ethics")}
    content["tags"] = sorted(t.get("name") for t in (m.get("resources") or {}).get("tags") or [])
    owner = name_of((m.get("resources") or {}).get("user"))
    record = ModelRecord(name=m["name"], description=meta.get("description"), owner=owner,
                         risk_tier=risk or None, intended_use=meta.get("use_cases"), tags=tags)
    card = ModelCardRecord(card_ref=f"model/{m['id']}", model=m["name"], status=None, content=content,
                           updated_at=parse(m["body"]["updated"]))
    return record, card


def _framework(artifact: dict[str, Any] | None) -> str | None:
    """The package that made the model, as ZenML recorded its data type: ``scikit-learn 1.9.1``."""
    data_type = ((artifact or {}).get("body") or {}).get("data_type") or {}
    package = data_type.get("package_name") if isinstance(data_type, dict) else None
    return f"{package} {data_type.get('version') or ''}".strip() if package else None


def report_key(name: str) -> str | None:
    """The report an artifact name means: ``evidently_report`` (an Evidently report the pipeline produced) or
    ``shap_values`` (SHAP values it logged, in the layout of docs/analytics.md), else None."""
    word = name.lower()
    if "evidently" in word:
        return "evidently_report"
    if word.startswith("shap"):
        return "shap_values"
    return None


def _mapping(run_meta: dict[str, Any], key: str) -> dict[str, str]:
    """The run metadata ``key`` as a name → value mapping (ZenML keeps a dict, or a JSON string of one)."""
    value = run_meta.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return {str(k): str(v) for k, v in value.items() if v} if isinstance(value, dict) else {}


def artifact_roles(artifacts: list[dict[str, Any]], run_meta: dict[str, Any],
                   ) -> tuple[dict[str, Any] | None, dict[str, str], dict[str, str]]:
    """The model artifact of a version, its data (every data artifact by name, plus ``reference`` / ``validation``
    / ``current``) and its reports.

    A data key comes from the run metadata first — ``countersign.data`` = ``{"reference": "train_df", …}`` or
    ``countersign.data.reference`` = an artifact name or a URI — else from an artifact name that means it
    (:func:`connectors.naming.data_key`: ``train_df`` → reference), unless two artifacts mean the same key (then
    none is guessed). Reports likewise: ``countersign.reports`` = ``{"evidently_report": name}``, else by name."""
    model_artifact, by_name = None, {}
    for a in sorted(artifacts, key=lambda a: a["body"]["created"]):
        ab = a["body"]
        name = name_of(ab.get("artifact")) or a["id"]
        kind = ab.get("type") or ""
        if kind == "ModelArtifact" or (kind != "DataArtifact" and "model" in name.lower()):
            model_artifact = a
        elif ab.get("uri"):
            by_name[name] = str(ab["uri"])
    if model_artifact is None and artifacts and not by_name:
        model_artifact = artifacts[-1]
    reports = {k: by_name[n] for n in by_name if (k := report_key(n))}
    reports.update({k: by_name.get(n, n) for k, n in _mapping(run_meta, META_REPORTS).items()})
    data = {n: u for n, u in by_name.items() if not report_key(n)}
    guessed: dict[str, list[str]] = {}
    for name, uri in data.items():
        key = naming.data_key(name)
        if key and key not in data:
            guessed.setdefault(key, []).append(uri)
    data.update({k: uris[0] for k, uris in guessed.items() if len(uris) == 1})
    named = _mapping(run_meta, META_DATA.rstrip("."))
    named.update({k[len(META_DATA):]: str(u) for k, u in run_meta.items() if k.startswith(META_DATA) and u})
    data.update({k: by_name.get(n, n) for k, n in named.items()})
    return model_artifact, data, reports


def version_record(settings: ZenMLSettings, v: dict[str, Any], artifacts: list[dict[str, Any]],
                   runs: list[dict[str, Any]]) -> VersionRecord:
    """A model version as Countersign's version record: approval from its run metadata, its model artifact, data
    and reports by role (:func:`artifact_roles`), metrics from its numeric run metadata, the stage as its label."""
    body, meta = v["body"], v.get("metadata") or {}
    run_meta = dict(meta.get("run_metadata") or {})
    status = run_meta.get(META_APPROVAL, "PendingManualApproval")
    if status not in APPROVAL_STATUSES:
        raise ValueError(f"run metadata {META_APPROVAL} is {status!r}, not one of {', '.join(APPROVAL_STATUSES)}")
    stage = body.get("stage") or None
    stage = None if stage in ("none", "latest") else stage
    model_artifact, data, reports = artifact_roles(artifacts, run_meta)
    metrics = {k: n for k, val in run_meta.items() if not k.startswith("countersign.")
               and (n := number(val)) is not None}
    runs = sorted(runs, key=lambda r: r["body"]["created"])
    labels = (stage,) if stage else ()
    metadata = {k: text(val) for k, val in run_meta.items() if number(val) is None or k.startswith("countersign.")}
    metadata.update({"zenml.name": v.get("name") or str(body["number"]), "zenml.stage": stage or "",
                     "zenml.model_id": body["model"]["id"], "zenml.runs": ",".join(r["id"] for r in runs)})
    if meta.get("description"):
        metadata["zenml.description"] = meta["description"]
    user = (v.get("resources") or {}).get("user")
    raw = {
        "id": v["id"], "name": v.get("name"), "number": body["number"], "stage": stage,
        "model": {"id": body["model"]["id"], "name": body["model"]["name"]},
        "description": meta.get("description"), "run_metadata": run_meta,
        "tags": sorted(t.get("name") for t in (v.get("resources") or {}).get("tags") or []),
        "artifacts": [{"id": a["id"], "name": name_of(a["body"].get("artifact")), "version": a["body"].get("version"),
                       "uri": a["body"].get("uri"), "type": a["body"].get("type"),
                       "content_hash": a["body"].get("content_hash")} for a in artifacts],
        "runs": [{"id": r["id"], "name": r.get("name"), "status": r["body"].get("status")} for r in runs],
    }
    return VersionRecord(
        model=body["model"]["name"], version=int(body["number"]), source_ref=v["id"], approval_status=status,
        approval_description=run_meta.get(META_APPROVAL_DESCRIPTION),
        created_at=parse(body["created"]), created_by=run_meta.get(META_CREATED_BY) or name_of(user),
        modified_at=parse(body["updated"]),
        artifact_uri=(model_artifact["body"].get("uri") if model_artifact else None) or run_meta.get(META_ARTIFACT),
        framework=_framework(model_artifact),
        data_uris={k: u for k, u in data.items() if u}, report_uris=reports,
        metrics=metrics, metadata=metadata,
        run_ref=f"pipeline-run/{runs[-1]['id']}" if runs else None,
        source_version_ref=run_meta.get(META_SOURCE_REF), source_account=run_meta.get(META_SOURCE_ACCOUNT),
        model_card_ref=f"model/{body['model']['id']}",
        labels=labels, environment=settings.stage_environments.get(stage or ""),
        raw=json.loads(canonical_json(raw)),
    )


def run_record(r: dict[str, Any], steps: list[dict[str, Any]], stacks: dict[str, dict[str, Any]]) -> RunRecord:
    body, meta, res = r["body"], r.get("metadata") or {}, r.get("resources") or {}
    config = meta.get("config") or {}
    params = {str(k): text(val) for k, val in (config.get("parameters") or {}).items()}
    step_rows = []
    for s in sorted(steps, key=lambda s: (s["body"].get("start_time") or "", s.get("name") or "")):
        sb, sm = s["body"], s.get("metadata") or {}
        for k, val in ((sm.get("config") or {}).get("parameters") or {}).items():
            params[f"{s.get('name')}.{k}"] = text(val)
        step_rows.append({"name": s.get("name"), "status": sb.get("status"), "started_at": sb.get("start_time"),
                          "ended_at": sb.get("end_time")})
    run_meta = meta.get("run_metadata") or {}
    stack_ref = res.get("stack") or {}
    stack = stacks.get(stack_ref.get("id") or "", {"id": stack_ref.get("id"), "name": stack_ref.get("name")})
    raw = {
        "id": r["id"], "stack": stack, "steps": step_rows,
        "config": {k: config.get(k) for k in ("enable_cache", "settings", "extra", "model", "tags")},
        "orchestrator_run_id": meta.get("orchestrator_run_id"), "status_reason": body.get("status_reason"),
        "run_metadata": {k: val for k, val in run_meta.items() if number(val) is None},
    }
    return RunRecord(
        run_ref=f"pipeline-run/{r['id']}", kind="pipeline_run", name=r.get("name") or r["id"],
        status=body.get("status"), started_at=maybe_time(meta.get("start_time")),
        ended_at=maybe_time(meta.get("end_time")), params=params,
        metrics={k: n for k, val in run_meta.items() if (n := number(val)) is not None},
        inputs={}, experiment=name_of(res.get("pipeline")), raw=json.loads(canonical_json(raw)),
    )
