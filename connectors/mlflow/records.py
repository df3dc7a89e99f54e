"""MLflow's answers mapped to Countersign's records: models, runs and versions (pure functions, no I/O)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from connectors.base import APPROVAL_STATUSES, META_TWIN_REF, ModelRecord, RunRecord, VersionRecord
from connectors.mlflow import datasets as datasets_mod
from connectors.mlflow.settings import (
    SAFE_MODEL_FILES,
    TAG_APPROVAL,
    TAG_APPROVAL_DESCRIPTION,
    TAG_FRAMEWORK,
    TAG_REPORT,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_REF,
    MlflowSettings,
)
from core.canonical import canonical_json
from core.errors import InputError


def ms(value: Any) -> dt.datetime | None:
    """MLflow's milliseconds since the epoch → a naive UTC datetime."""
    if value in (None, "", 0, "0"):
        return None
    return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC).replace(tzinfo=None)


def tag_dict(items: Any) -> dict[str, str]:
    """MLflow's ``[{key, value}]`` tag list as a dict."""
    return {str(t["key"]): str(t.get("value", "")) for t in items or [] if isinstance(t, dict) and "key" in t}


def short(*parts: Any) -> str:
    """A 12-hex hash of ``parts`` (the watermark remembers model fields by it)."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:12]


def version_ref(model: str, version: int | str) -> str:
    """The ``source_ref`` of a model version: MLflow's own URI of it."""
    return f"models:/{model}/{version}"


def split_version_ref(ref: str) -> tuple[str, str]:
    """``models:/NAME/VERSION`` → (NAME, VERSION); anything else is an :class:`InputError`."""
    if not ref.startswith("models:/") or "/" not in ref[8:]:
        raise InputError(f"{ref!r} is not an MLflow model version (expected models:/NAME/VERSION)")
    name, _, number = ref[8:].rpartition("/")
    return name, number


def model_id_of(v: dict[str, Any]) -> str | None:
    """The MLflow 3 logged model a version was registered from: its ``model_id``, or the ``models:/m-…`` source
    (the server's version answer names it only there)."""
    if v.get("model_id"):
        return str(v["model_id"])
    source = str(v.get("source") or "")
    body = source[len("models:/"):].strip("/") if source.startswith("models:/") else ""
    return body if body.startswith("m-") and "/" not in body else None


def run_id_of(v: dict[str, Any], logged: dict[str, dict[str, Any]]) -> str | None:
    """The run behind a version: its ``run_id``, else the run its logged model came from."""
    if v.get("run_id"):
        return str(v["run_id"])
    model = logged.get(model_id_of(v) or "") or {}
    return (model.get("info") or {}).get("source_run_id") or None


def framework_from_mlmodel(text: str) -> str | None:
    """The flavor of an ``MLmodel`` file other than ``python_function``, with its version: ``sklearn 1.9.1``."""
    flavor, version, inside = None, "", False
    for line in text.splitlines():
        if line.startswith("flavors:"):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break
        m = re.match(r"^  (\w+):\s*$", line) if inside else None
        if m and flavor is None and m.group(1) != "python_function":
            flavor = m.group(1)
            continue
        if m and flavor is not None:
            break
        v = re.match(r"^    \w+_version:\s*['\"]?([\w.\-+]+)", line) if flavor else None
        if v and not version:
            version = v.group(1)
    return f"{flavor} {version}".strip() if flavor else None


def quote_filter(value: str) -> str:
    """A string literal of MLflow's search filter language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def is_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def framework_of(run: RunRecord) -> str | None:
    """The flavors of an MLflow 2 ``mlflow.log-model.history`` run tag, e.g. ``sklearn 1.5.2``."""
    history = run.raw.get("tags", {}).get("mlflow.log-model.history")
    if not history:
        return None
    try:
        entries = json.loads(history)
        flavors = entries[-1].get("flavors") or {}
    except (ValueError, AttributeError, IndexError, TypeError):
        return None
    for name, spec in flavors.items():
        if name != "python_function" and isinstance(spec, dict):
            version = next((val for k, val in spec.items() if k.endswith("_version") and isinstance(val, str)), "")
            return f"{name} {version}".strip()
    return None


def model_file(files: list[tuple[str, int | None]], mlmodel: str) -> str:
    """The file of an MLflow model directory that holds the model: a safe format first, else the flavor's file."""
    names = [f for f, _ in files if f != "MLmodel"]
    for suffix in SAFE_MODEL_FILES:
        for f in names:
            if f.endswith(suffix) and not f.startswith(("code/", "artifacts/")) and f not in (
                    "conda.yaml", "python_env.yaml", "input_example.json", "serving_input_example.json",
                    "registered_model_meta"):
                return f
    # MLmodel is YAML; the flavor's file sits under a key such as pickled_model / data / model_path
    for key in ("pickled_model", "data", "model_path", "python_model"):
        for line in mlmodel.splitlines():
            m = re.match(rf"^\s+{key}:\s*(\S+)\s*$", line)
            if m and m.group(1) in names:
                return m.group(1)
    for f in names:
        if f.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle")):
            return f
    raise InputError(f"no model file found among {', '.join(names) or 'no files'}")


def model_record(m: dict[str, Any]) -> ModelRecord:
    """A registered model as Countersign's model record (owner, tier and intended use from its tags)."""
    tags = tag_dict(m.get("tags"))
    return ModelRecord(
        name=m["name"], description=m.get("description") or None,
        owner=tags.get("countersign.owner") or tags.get("owner"),
        risk_tier=tags.get("countersign.risk_tier"), intended_use=tags.get("countersign.intended_use"),
        tags=tags,
    )


def run_record(r: dict[str, Any], experiment_names: dict[str, str]) -> RunRecord:
    """A run as Countersign's run record: params, latest metrics, tags and its dataset inputs."""
    info, data = r.get("info") or {}, r.get("data") or {}
    tags = tag_dict(data.get("tags"))
    inputs: dict[str, str] = {}
    datasets = [datasets_mod.parse_input(d) for d in (r.get("inputs") or {}).get("dataset_inputs") or []]
    for ds in datasets:
        inputs[ds.context if ds.context not in inputs else f"{ds.context}:{ds.name}"] = ds.uri or ds.name or ""
    return RunRecord(
        run_ref=f"run/{info['run_id']}", kind="run", name=info.get("run_name") or tags.get("mlflow.runName")
        or info["run_id"], status=info.get("status"), started_at=ms(info.get("start_time")),
        ended_at=ms(info.get("end_time")), params={p["key"]: str(p.get("value", "")) for p in data.get("params") or []},
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics") or [] if is_number(m.get("value"))},
        inputs=inputs, experiment=experiment_names.get(str(info.get("experiment_id")), str(info.get("experiment_id"))),
        raw={"run_id": info["run_id"], "experiment_id": info.get("experiment_id"),
             "artifact_uri": info.get("artifact_uri"), "user": info.get("user_id") or tags.get("mlflow.user"),
             "lifecycle_stage": info.get("lifecycle_stage"), "tags": tags,
             "datasets": [ds.as_dict() for ds in datasets]},
    )


def version_record(settings: MlflowSettings, v: dict[str, Any], run: RunRecord | None, logged: dict[str, Any] | None,
                   aliases: list[str]) -> VersionRecord:
    """A model version as Countersign's version record (approval from its tags, data from tags and run inputs)."""
    tags = tag_dict(v.get("tags"))
    status = tags.get(TAG_APPROVAL, "PendingManualApproval")
    if status not in APPROVAL_STATUSES:
        raise ValueError(f"tag {TAG_APPROVAL}={status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
    created = ms(v.get("creation_timestamp"))
    if created is None:
        raise ValueError("the version has no creation_timestamp")
    metrics = dict(run.metrics) if run else {}
    if logged:
        data = logged.get("data") or {}
        metrics.update({m["key"]: float(m["value"]) for m in data.get("metrics") or [] if is_number(m.get("value"))})
    inputs = [datasets_mod.DatasetInput.from_dict(d) for d in (run.raw.get("datasets") if run else None) or []]
    data_uris = datasets_mod.data_uris(tags, inputs)
    environment = next((settings.alias_environments[a] for a in settings.alias_environments
                        if a in aliases), None)
    source = v.get("source") or None
    model_id = model_id_of(v)
    if model_id and (not source or source.startswith("models:/")):
        source = f"models:/{model_id}"
    raw = {k: val for k, val in v.items() if k not in ("tags", "run_link")}
    raw.update(tags=tags, aliases=aliases)
    if logged:
        info = logged.get("info") or {}
        raw["logged_model"] = {"model_id": info.get("model_id"), "name": info.get("name"),
                               "artifact_uri": info.get("artifact_uri"), "source_run_id": info.get("source_run_id"),
                               "params": {p["key"]: p.get("value") for p in (logged.get("data") or {}).get("params") or []}}
    return VersionRecord(
        model=v["name"], version=int(v["version"]), source_ref=version_ref(v["name"], v["version"]),
        approval_status=status, approval_description=tags.get(TAG_APPROVAL_DESCRIPTION),
        created_at=created, modified_at=ms(v.get("last_updated_timestamp")),
        created_by=v.get("user_id") or (run.raw.get("user") if run else None) or None,
        artifact_uri=source, framework=tags.get(TAG_FRAMEWORK) or (framework_of(run) if run else None),
        data_uris=data_uris, report_uris=report_uris(tags, run), metrics=metrics,
        metadata=_with_twin(settings, v, tags),
        run_ref=run.run_ref if run else None,
        source_version_ref=tags.get(TAG_SOURCE_REF), source_account=tags.get(TAG_SOURCE_ACCOUNT),
        labels=tuple(aliases), environment=environment, raw=raw,
    )


def _with_twin(settings: MlflowSettings, v: dict[str, Any], tags: dict[str, str]) -> dict[str, str]:
    """The version's tags, with the model package SageMaker registered for it when the server is SageMaker-managed."""
    twin = settings.sagemaker_twin(v["name"], v["version"])
    return {**tags, META_TWIN_REF: twin} if twin else tags


def report_uris(tags: dict[str, str], run: RunRecord | None) -> dict[str, str]:
    """Evidence the pipeline logged (``shap_values``, ``evidently_report``): ``countersign.report.<kind>`` tags of
    the run, then of the version (which win); a value without a scheme is a file of the run's artifacts."""
    run_tags = (run.raw.get("tags") or {}) if run else {}
    out: dict[str, str] = {}
    for source in (run_tags, tags):
        out.update({k[len(TAG_REPORT):]: val for k, val in source.items() if k.startswith(TAG_REPORT) and val})
    run_id = run.raw.get("run_id") if run else None
    return {k: (u if ":" in u.split("/", 1)[0] or not run_id else f"runs:/{run_id}/{u.lstrip('/')}")
            for k, u in out.items()}
