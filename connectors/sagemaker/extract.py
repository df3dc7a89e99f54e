"""Extraction: model package groups, packages (versions), training jobs, endpoints, trial components and model
cards into a :class:`~connectors.base.Snapshot`, incrementally against the watermark of the last sync."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import threading
from concurrent.futures import Future
from typing import Any

from connectors import digests
from connectors.base import (
    TAG_COLLECTIONS,
    DeploymentRecord,
    ModelCardRecord,
    ModelRecord,
    RunRecord,
    Snapshot,
    SyncIssue,
    VersionRecord,
    decode_watermark,
)
from connectors.sagemaker.capture import capture_uri
from connectors.sagemaker.documents import document_refs, feature_names_from_statistics, metrics_from_document
from connectors.sagemaker.metadata import (
    META_ARTIFACT_SHA256,
    META_CAPTURE_COLUMNS,
    META_CREATED_BY,
    META_DATA,
    META_SOURCE_ACCOUNT,
    META_SOURCE_ARN,
    META_TRAINING_JOB,
)
from connectors.sagemaker.session import SageMakerSession, error_text
from core import workers
from core.canonical import canonical_json
from core.clock import naive_utc
from core.errors import ConnectorError
from core.progress import ProgressFn, no_progress

WATERMARK_VERSION = 1
_DATASET_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".json")


def _short_hash(*parts: Any) -> str:
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:10]


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return naive_utc(value).isoformat()
    return None if value is None else str(value)


# -- the watermark: what the last sync saw ---------------------------------------------------------------


@dataclasses.dataclass
class WatermarkState:
    groups: dict[str, str] = dataclasses.field(default_factory=dict)  # group -> logical model name
    packages: dict[str, str] = dataclasses.field(default_factory=dict)  # "group/version" -> hash of its summary
    endpoints: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # name -> {m, variants}
    cards: dict[str, str] = dataclasses.field(default_factory=dict)  # card name -> last modified
    trials: dict[str, str] = dataclasses.field(default_factory=dict)  # trial component -> last modified

    def dump(self) -> str:
        return canonical_json({"v": WATERMARK_VERSION, "g": self.groups, "p": self.packages, "e": self.endpoints,
                               "c": self.cards, "t": self.trials})

    @classmethod
    def load(cls, text: str | None) -> WatermarkState | None:
        data = decode_watermark(text, WATERMARK_VERSION)
        if data is None:
            return None  # none yet, or an older or foreign watermark: do a full pass
        return cls(data.get("g", {}), data.get("p", {}), data.get("e", {}), data.get("c", {}), data.get("t", {}))


@dataclasses.dataclass
class _Pass:
    """One extraction in progress: the watermark it started from, the one it builds, and what it found so far."""

    old: WatermarkState
    new: WatermarkState
    incremental: bool
    issues: list[SyncIssue] = dataclasses.field(default_factory=list)
    models: list[ModelRecord] = dataclasses.field(default_factory=list)
    complete: bool = True


@dataclasses.dataclass
class _Listings:
    """The account's listings, read side by side: package summaries of known groups, deployments, trial-component
    runs, and the model-card listing (still a future: the cards step reads it)."""

    summaries: list[dict[str, Any]]
    deployments: list[DeploymentRecord]
    runs: list[RunRecord]
    cards: Future[list[dict[str, Any]]]


class Extraction(SageMakerSession):
    """``extract``: what changed in the account since the watermark."""

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        calls_before, throttled_before = self.meter.calls, self.meter.throttled
        before = WatermarkState.load(None if full else since)
        run = _Pass(before or WatermarkState(), WatermarkState(), before is not None)
        progress("listing groups, packages, endpoints and experiments", 0.02)
        listed = self._listings(run)
        todo = self._to_describe(run, listed.summaries)
        before_issues = len(run.issues)
        versions, runs = self._describe_versions(todo, run.new, self._serving(run.new), run.issues, progress)
        # a version or run that could not be described is missing from the snapshot, not gone from the source
        run.complete &= len(versions) == len(todo) and not any(
            "describe failed" in i.message for i in run.issues[before_issues:]
        )
        progress("reading model cards", 0.95)
        cards, cards_ok = self._model_cards(run.old, run.new, run.incremental, run.issues, listed.summaries,
                                            listed.cards)
        run.complete &= cards_ok
        cards += [card for v in versions if (card := embedded_card(v, run.issues)) is not None]
        run.models += _card_models(cards, run.new)
        progress("done", 1.0)
        return Snapshot(
            models=_merge_models(run.models), versions=tuple(versions), runs=tuple(runs) + tuple(listed.runs),
            deployments=tuple(listed.deployments), model_cards=tuple(cards), issues=tuple(run.issues),
            watermark=run.new.dump(), complete=run.complete and not run.incremental,
            calls=self.meter.calls - calls_before, throttled=self.meter.throttled - throttled_before,
        )

    def _listings(self, run: _Pass) -> _Listings:
        """List groups (with their tags), packages, endpoints, trial components and cards side by side, within the
        account's concurrency bound (the listings are independent)."""
        self.client("sagemaker")  # credentials and client made once, before the threads need them
        with workers.executor(self.settings.max_concurrency) as pool:
            f_groups = pool.submit(self._groups_and_tags, run)
            f_packages = pool.submit(self._packages)
            f_endpoints = pool.submit(self._endpoints, run.old, run.new, run.incremental, run.issues)
            f_trials = pool.submit(self._trial_components, run.old, run.new, run.incremental, run.issues)
            f_cards = pool.submit(lambda: list(self._paginate("sagemaker", "list_model_cards", "ModelCardSummaries")))
            f_groups.result()
            summaries = [s for s in f_packages.result() if s.get("ModelPackageGroupName") in run.new.groups]
            deployments, endpoints_ok = f_endpoints.result()
            runs, runs_ok = f_trials.result()
        run.complete &= endpoints_ok and runs_ok
        return _Listings(summaries, deployments, runs, f_cards)

    def _groups_and_tags(self, run: _Pass) -> None:
        """Every model package group into ``run.new.groups``; a group new since the watermark has its tags read and
        becomes a model record (named by ``model_tag`` when set)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            groups = list(self._paginate("sagemaker", "list_model_package_groups", "ModelPackageGroupSummaryList"))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("cannot list model package groups (check the role and its policy "
                             "docs/iam/sync-policy.json)", exc) from exc
        for g in groups:
            name = g["ModelPackageGroupName"]
            tags: dict[str, str] = {}
            known = run.incremental and name in run.old.groups
            if not known:
                try:
                    tags = {t["Key"]: t["Value"] for t in self.client("sagemaker").list_tags(
                        ResourceArn=g["ModelPackageGroupArn"]).get("Tags", [])}
                except (ClientError, BotoCoreError) as exc:
                    run.issues.append(SyncIssue(g["ModelPackageGroupArn"], f"tags not read: {error_text(exc)}"))
            model = run.old.groups[name] if known else (
                tags.get(self.settings.model_tag, name) if self.settings.model_tag else name)
            run.new.groups[name] = model
            if not known:
                paths = collection_paths(tags)
                if paths:  # the neutral key the inventory reads, whatever the registry
                    tags = {**tags, TAG_COLLECTIONS: "; ".join(paths)}
                run.models.append(ModelRecord(name=model, description=g.get("ModelPackageGroupDescription"),
                                              tags=tags))

    def _packages(self) -> list[dict[str, Any]]:
        """Every versioned model package's summary, oldest first."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return list(self._paginate("sagemaker", "list_model_packages", "ModelPackageSummaryList",
                                       ModelPackageType="Versioned", SortBy="CreationTime", SortOrder="Ascending",
                                       PaginationConfig={"PageSize": 100}))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("cannot list model packages", exc) from exc

    @staticmethod
    def _to_describe(run: _Pass, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The packages to describe: all on a full pass; else new, changed, or served by a changed endpoint (each
        package's summary digest goes into the new watermark)."""
        old, new = run.old, run.new
        changed_endpoints = {e for e in new.endpoints if old.endpoints.get(e) != new.endpoints.get(e)}
        changed_endpoints |= set(old.endpoints) - set(new.endpoints)
        affected = {
            v[0]
            for e in changed_endpoints
            for state in (old.endpoints.get(e), new.endpoints.get(e))
            if state
            for v in state.get("v", {}).values()
            if v[0]
        }
        todo: list[dict[str, Any]] = []
        for s in summaries:
            arn = s["ModelPackageArn"]
            digest = _short_hash(s.get("ModelApprovalStatus"), s.get("ModelPackageStatus"),
                                 s.get("ModelPackageDescription"), s.get("ModelLifeCycle"))
            new.packages[_package_key(arn)] = digest
            if not run.incremental or old.packages.get(_package_key(arn)) != digest or arn in affected:
                todo.append(s)
        return todo

    # -- versions --------------------------------------------------------------------------------------

    @staticmethod
    def _serving(state: WatermarkState) -> dict[str, list[tuple[str, str, str | None]]]:
        """package ARN -> [(endpoint, variant, capture prefix)] from the endpoint state."""
        out: dict[str, list[tuple[str, str, str | None]]] = {}
        for endpoint, e in sorted(state.endpoints.items()):
            for variant, (ref, capture) in sorted(e.get("v", {}).items()):
                if ref:
                    out.setdefault(ref, []).append((endpoint, variant, capture))
        return out

    def _describe_versions(
        self,
        todo: list[dict[str, Any]],
        state: WatermarkState,
        serving: dict[str, list[tuple[str, str, str | None]]],
        issues: list[SyncIssue],
        progress: ProgressFn,
    ) -> tuple[list[VersionRecord], list[RunRecord]]:
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        total = max(len(todo), 1)
        done = [0]
        lock = threading.Lock()

        def one(summary: dict[str, Any]) -> tuple[VersionRecord | None, list[SyncIssue], str | None]:
            arn = summary["ModelPackageArn"]
            problems: list[SyncIssue] = []
            try:
                desc = sm.describe_model_package(ModelPackageName=arn)
            except (ClientError, BotoCoreError) as exc:
                return None, [SyncIssue(arn, f"describe failed: {error_text(exc)}")], None
            finally:
                with lock:
                    done[0] += 1
                    if done[0] % 20 == 0 or done[0] == total:
                        progress(f"described {done[0]}/{total} versions", 0.15 + 0.7 * done[0] / total)
            desc.pop("ResponseMetadata", None)
            record = self._version_record(desc, state, serving, problems)
            if digests.ENABLED:  # read here, on the describe's worker: a version's artifact once, side by side
                record = digests.settle(record, self.artifact_digest(record),
                                        record.metadata.get(META_ARTIFACT_SHA256), problems)
            return record, problems, self._training_job_name(desc)

        with workers.executor(self.settings.max_concurrency) as pool:
            results = list(pool.map(one, todo))

        versions: list[VersionRecord] = []
        jobs: dict[str, list[int]] = {}
        for record, problems, job in results:
            if problems:
                issues.extend(problems)
                # forget what we saw so the next incremental sync looks at this version again
                for p in problems:
                    state.packages.pop(_package_key(p.ref), None)
            if record is None:
                continue
            if job:
                jobs.setdefault(job, []).append(len(versions))
            versions.append(record)

        return self._with_training_runs(versions, jobs, state, issues)

    def _with_training_runs(
        self, versions: list[VersionRecord], jobs: dict[str, list[int]], state: WatermarkState,
        issues: list[SyncIssue],
    ) -> tuple[list[VersionRecord], list[RunRecord]]:
        """Describe each training job once (``jobs``: job name → positions in ``versions``): its run, and the
        datasets its input channels name for the versions it trained. A version whose job cannot be described is
        left out (the catalog keeps its row; the next sync tries again)."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        runs: list[RunRecord] = []
        dropped: set[int] = set()
        for job, positions in sorted(jobs.items()):
            try:
                tj = sm.describe_training_job(TrainingJobName=job)
            except (ClientError, BotoCoreError) as exc:
                issues.append(SyncIssue(f"training-job/{job}", f"describe failed: {error_text(exc)}"))
                # without its run a version would lose its datasets: keep the catalog's row, retry next sync
                for i in positions:
                    dropped.add(i)
                    state.packages.pop(_package_key(versions[i].source_ref), None)
                continue
            run = self._training_run(tj)
            runs.append(run)
            for i in positions:
                v = versions[i]
                data = dict(v.data_uris)
                for channel, key in (("train", "reference"), ("training", "reference"), ("validation", "validation")):
                    uri = run.inputs.get(channel)
                    if uri and key not in data and uri.lower().endswith(_DATASET_SUFFIXES):
                        data[key] = uri
                versions[i] = dataclasses.replace(v, data_uris=data)
        return [v for i, v in enumerate(versions) if i not in dropped], runs

    @staticmethod
    def _training_job_name(desc: dict[str, Any]) -> str | None:
        meta = desc.get("CustomerMetadataProperties") or {}
        if meta.get(META_TRAINING_JOB):
            return meta[META_TRAINING_JOB]
        generated = (desc.get("MetadataProperties") or {}).get("GeneratedBy") or ""
        if ":training-job/" in generated:
            return generated.rsplit("/", 1)[-1]
        return None

    def _version_record(
        self,
        desc: dict[str, Any],
        state: WatermarkState,
        serving: dict[str, list[tuple[str, str, str | None]]],
        problems: list[SyncIssue],
    ) -> VersionRecord:
        arn = desc["ModelPackageArn"]
        group = desc.get("ModelPackageGroupName") or ""
        meta = dict(desc.get("CustomerMetadataProperties") or {})
        containers = (desc.get("InferenceSpecification") or {}).get("Containers") or [{}]
        first = containers[0]
        artifact = first.get("ModelDataUrl") or ((first.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        framework = meta.get("countersign:framework") or (
            " ".join(p for p in (first.get("Framework"), first.get("FrameworkVersion")) if p) or None
        )
        created = desc.get("CreatedBy") or {}
        created_by = meta.get(META_CREATED_BY) or (created.get("IamIdentity") or {}).get("Arn") or created.get(
            "UserProfileName")

        reports = document_refs(desc)
        columns, metrics = self._read_documents(arn, reports, meta, problems)
        data = {k[len(META_DATA):]: v for k, v in meta.items() if k.startswith(META_DATA)}
        served = serving.get(arn, [])
        captures = [(e, var, cap) for e, var, cap in served if cap]
        for i, (endpoint, variant, prefix) in enumerate(captures):
            key = "current" if i == 0 else f"current:{endpoint}/{variant}"
            data.setdefault(key, capture_uri(prefix, endpoint, variant, columns))

        return VersionRecord(
            model=state.groups.get(group, group),
            version=int(desc.get("ModelPackageVersion") or 0),
            source_ref=arn,
            approval_status=desc.get("ModelApprovalStatus") or "PendingManualApproval",
            created_at=desc["CreationTime"],
            created_by=created_by,
            modified_at=desc.get("LastModifiedTime"),
            approval_description=desc.get("ApprovalDescription"),
            artifact_uri=artifact,
            framework=framework,
            image=first.get("Image"),
            data_uris=data,
            report_uris={k: uri for k, (uri, _) in reports.items()},
            metrics=metrics,
            metadata=meta,
            run_ref=f"training-job/{self._training_job_name(desc)}" if self._training_job_name(desc) else None,
            source_version_ref=meta.get(META_SOURCE_ARN),
            source_account=meta.get(META_SOURCE_ACCOUNT),
            labels=lifecycle_labels(desc.get("ModelLifeCycle")),
            raw=json.loads(canonical_json(desc)),
        )

    def _read_documents(
        self, arn: str, reports: dict[str, tuple[str, str]], meta: dict[str, str], problems: list[SyncIssue],
    ) -> tuple[tuple[str, ...], dict[str, float]]:
        """The feature columns (the capture's, else the statistics document's) and the metrics the package's
        documents hold; a document that cannot be read or parsed is a problem of the version, not of the sync."""
        metrics: dict[str, float] = {}
        columns: tuple[str, ...] = tuple(c for c in (meta.get(META_CAPTURE_COLUMNS) or "").split(",") if c)
        seen: set[str] = set()
        for name, (uri, kind) in sorted(reports.items()):
            if not kind or uri in seen:
                continue
            seen.add(uri)
            try:
                doc = json.loads(self.fetch(uri).read_bytes())
                if kind == "statistics":
                    columns = columns or feature_names_from_statistics(doc)
                else:
                    metrics.update(metrics_from_document(kind, doc))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(SyncIssue(arn, f"{name} document {uri} is malformed: {exc}"))
            except ConnectorError as exc:
                problems.append(SyncIssue(arn, f"{name} document {uri} not read: {exc}"))
        return columns, metrics

    @staticmethod
    def _training_run(tj: dict[str, Any]) -> RunRecord:
        inputs = {
            c["ChannelName"]: ((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri", "")
            for c in tj.get("InputDataConfig") or []
        }
        metrics = {m["MetricName"]: float(m["Value"]) for m in tj.get("FinalMetricDataList") or [] if "Value" in m}
        raw = {
            "arn": tj.get("TrainingJobArn"),
            "billable_seconds": tj.get("BillableTimeInSeconds"),
            "instance_type": (tj.get("ResourceConfig") or {}).get("InstanceType"),
            "instance_count": (tj.get("ResourceConfig") or {}).get("InstanceCount"),
            "output": (tj.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
            "image": (tj.get("AlgorithmSpecification") or {}).get("TrainingImage"),
        }
        return RunRecord(
            run_ref=f"training-job/{tj['TrainingJobName']}", kind="training_job", name=tj["TrainingJobName"],
            status=tj.get("TrainingJobStatus"), started_at=tj.get("TrainingStartTime") or tj.get("CreationTime"),
            ended_at=tj.get("TrainingEndTime"), params=dict(tj.get("HyperParameters") or {}), metrics=metrics,
            inputs=inputs, experiment=(tj.get("ExperimentConfig") or {}).get("ExperimentName"),
            raw=json.loads(canonical_json(raw)),
        )

    # -- endpoints --------------------------------------------------------------------------------------

    def _endpoints(
        self, old: WatermarkState, new: WatermarkState, incremental: bool, issues: list[SyncIssue]
    ) -> tuple[list[DeploymentRecord], bool]:
        """Deployments of new or changed endpoints (all on a full pass); False when the listing failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        try:
            listed = list(self._paginate("sagemaker", "list_endpoints", "Endpoints"))
        except (ClientError, BotoCoreError) as exc:
            issues.append(SyncIssue("endpoints", f"not listed: {error_text(exc)}"))
            new.endpoints.update(old.endpoints)
            return [], False
        out: list[DeploymentRecord] = []
        ok = True
        for e in listed:
            name = e["EndpointName"]
            marker = f"{_iso(e.get('LastModifiedTime'))}|{e.get('EndpointStatus')}"
            previous = old.endpoints.get(name)
            if incremental and previous and previous.get("m") == marker:
                new.endpoints[name] = previous
                continue
            try:
                endpoint = sm.describe_endpoint(EndpointName=name)
                config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
                capture = config.get("DataCaptureConfig") or {}
                prefix = capture.get("DestinationS3Uri") if capture.get("EnableCapture", True) and capture else None
                prefix = prefix or self.settings.monitoring_prefix
                weights = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants") or []}
                counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.get("ProductionVariants") or []}
                variants: dict[str, list[Any]] = {}
                for pv in config.get("ProductionVariants") or []:
                    model = sm.describe_model(ModelName=pv["ModelName"])
                    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
                    package = container.get("ModelPackageName") or ""
                    ref = package if ":model-package/" in package else None
                    data_url = container.get("ModelDataUrl")
                    weight = weights.get(pv["VariantName"])
                    out.append(DeploymentRecord(
                        endpoint=name, variant=pv["VariantName"], status=endpoint.get("EndpointStatus", "Unknown"),
                        version_ref=ref, model_data_uri=data_url,
                        weight=float(weight if weight is not None else pv.get("InitialVariantWeight", 1.0)),
                        updated_at=endpoint.get("LastModifiedTime"),
                        raw=json.loads(canonical_json({
                            "endpoint_arn": endpoint.get("EndpointArn"), "config": endpoint["EndpointConfigName"],
                            "model_name": pv["ModelName"], "instance_type": pv.get("InstanceType"),
                            "instance_count": counts.get(pv["VariantName"]) or pv.get("InitialInstanceCount"),
                            "created_at": _iso(endpoint.get("CreationTime")), "capture_prefix": prefix,
                        })),
                    ))
                    variants[pv["VariantName"]] = [ref, prefix]
                new.endpoints[name] = {"m": marker, "v": variants}
            except (ClientError, BotoCoreError) as exc:
                issues.append(SyncIssue(f"endpoint/{name}", f"not read: {error_text(exc)}"))
                ok = False
                if previous:
                    new.endpoints[name] = {**previous, "m": "retry"}
        return out, ok

    # -- experiments ------------------------------------------------------------------------------------

    def _trial_components(
        self, old: WatermarkState, new: WatermarkState, incremental: bool, issues: list[SyncIssue]
    ) -> tuple[list[RunRecord], bool]:
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        try:
            listed = list(self._paginate("sagemaker", "list_trial_components", "TrialComponentSummaries"))
        except (ClientError, BotoCoreError) as exc:
            issues.append(SyncIssue("trial-components", f"not listed: {error_text(exc)}"))
            new.trials.update(old.trials)
            return [], False
        out: list[RunRecord] = []
        ok = True
        for s in listed:
            name = s["TrialComponentName"]
            marker = _iso(s.get("LastModifiedTime")) or ""
            new.trials[name] = marker
            if incremental and old.trials.get(name) == marker:
                continue
            try:
                tc = sm.describe_trial_component(TrialComponentName=name)
                trials = sm.list_trials(TrialComponentName=name).get("TrialSummaries") or []
                experiment = None
                if trials:
                    experiment = sm.describe_trial(TrialName=trials[0]["TrialName"]).get("ExperimentName")
            except (ClientError, BotoCoreError) as exc:
                issues.append(SyncIssue(f"trial-component/{name}", f"not read: {error_text(exc)}"))
                new.trials.pop(name, None)
                ok = False
                continue
            params = {
                k: str(v.get("StringValue", v.get("NumberValue")))
                for k, v in (tc.get("Parameters") or {}).items()
                if isinstance(v, dict)
            }
            metrics = {
                m["MetricName"]: float(m.get("Last", m.get("Avg")))
                for m in tc.get("Metrics") or []
                if m.get("MetricName") and (m.get("Last") is not None or m.get("Avg") is not None)
            }
            inputs = {k: v.get("Value", "") for k, v in (tc.get("InputArtifacts") or {}).items()}
            outputs = {k: v.get("Value", "") for k, v in (tc.get("OutputArtifacts") or {}).items()}
            status = tc.get("Status") or {}
            out.append(RunRecord(
                run_ref=f"trial-component/{name}", kind="trial_component", name=tc.get("DisplayName") or name,
                status=status.get("PrimaryStatus"), started_at=tc.get("StartTime"), ended_at=tc.get("EndTime"),
                params=params, metrics=metrics, inputs=inputs, experiment=experiment,
                raw=json.loads(canonical_json({"arn": tc.get("TrialComponentArn"), "outputs": outputs,
                                               "trial": trials[0]["TrialName"] if trials else None})),
            ))
        return out, ok

    # -- model cards --------------------------------------------------------------------------------------

    def _model_cards(
        self, old: WatermarkState, new: WatermarkState, incremental: bool, issues: list[SyncIssue], summaries: list[dict[str, Any]],
        listing: Future[list[dict[str, Any]]],
    ) -> tuple[list[ModelCardRecord], bool]:
        """Cards new or changed since the last sync (``listing``: the card list, fetched alongside the others)."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        try:
            listed = listing.result()
        except (ClientError, BotoCoreError) as exc:
            issues.append(SyncIssue("model-cards", f"not listed: {error_text(exc)}"))
            new.cards.update(old.cards)
            return [], False
        group_of = {s["ModelPackageArn"]: s["ModelPackageGroupName"] for s in summaries}
        out: list[ModelCardRecord] = []
        ok = True
        for s in listed:
            name = s["ModelCardName"]
            marker = f"{_iso(s.get('LastModifiedTime'))}|{s.get('ModelCardStatus')}"
            new.cards[name] = marker
            if incremental and old.cards.get(name) == marker:
                continue
            try:
                card = sm.describe_model_card(ModelCardName=name)
                content = json.loads(card.get("Content") or "{}")
                if not isinstance(content, dict):
                    raise ValueError("content is not a JSON object")
            except (ClientError, BotoCoreError, ValueError) as exc:
                issues.append(SyncIssue(f"model-card/{name}", f"not read: {error_text(exc)}"))
                new.cards.pop(name, None)
                ok = False
                continue
            overview = content.get("model_overview") or {}
            model_id = overview.get("model_id") or ""
            version_ref = model_id if ":model-package/" in model_id else None
            group = group_of.get(version_ref or "") or overview.get("model_name") or name
            out.append(ModelCardRecord(
                card_ref=f"model-card/{name}", model=new.groups.get(group, group), status=card.get("ModelCardStatus"),
                version_ref=version_ref, content=content, updated_at=card.get("LastModifiedTime"),
            ))
        return out, ok


def _card_models(cards: list[ModelCardRecord], state: WatermarkState) -> list[ModelRecord]:
    """What the cards say of their models (intended use, risk rating), for models the registry has; settings
    (``[models.X]``) still win in the catalog."""
    out = []
    for c in cards:
        intended = c.content.get("intended_uses") or {}
        risk = str(intended.get("risk_rating") or "").lower() or None
        if (intended or risk) and c.model in state.groups.values():
            out.append(ModelRecord(
                name=c.model, intended_use=intended.get("intended_uses") or intended.get("purpose_of_model"),
                risk_tier=risk if risk not in (None, "unknown") else None,
            ))
    return out


def embedded_card(version: VersionRecord, issues: list[SyncIssue]) -> ModelCardRecord | None:
    """The model card a package carries itself (DescribeModelPackage ``ModelCard``), as a card of that version.

    Its ``ModelCardContent`` is the JSON of a model card (intended uses, risk rating, evaluation details…); a
    content that is not a JSON object is a sync issue and the card is left out.
    """
    embedded = version.raw.get("ModelCard")
    if not isinstance(embedded, dict):
        return None
    try:
        content = json.loads(embedded.get("ModelCardContent") or "{}")
        if not isinstance(content, dict):
            raise ValueError("content is not a JSON object")
    except ValueError as exc:
        issues.append(SyncIssue(version.source_ref, f"embedded model card is malformed: {exc}"))
        return None
    return ModelCardRecord(
        card_ref=f"model-package-card/{_package_key(version.source_ref)}", model=version.model,
        status=embedded.get("ModelCardStatus"), version_ref=version.source_ref, content=content,
        updated_at=version.modified_at,
    )


def lifecycle_labels(lifecycle: Any) -> tuple[str, ...]:
    """A package's ``ModelLifeCycle`` (2025: a stage, its status and a description per package) as its registry
    label, ``stage/status`` — label history keeps every change of it."""
    if not isinstance(lifecycle, dict) or not lifecycle.get("Stage"):
        return ()
    status = lifecycle.get("StageStatus")
    return (f"{lifecycle['Stage']}/{status}" if status else str(lifecycle["Stage"]),)


def collection_paths(tags: dict[str, str]) -> list[str]:
    """The Model Registry Collections a group is in: a collection is a resource group whose tag rule
    ``sagemaker:collection-path:<id>`` = ``parent/child`` the group carries (the SageMaker SDK's
    ``Collection.add_model_groups``)."""
    prefix = "sagemaker:collection-path:"
    return sorted(v for k, v in tags.items() if k.startswith(prefix) and k != prefix + "root" and v)


def _merge_models(records: list[ModelRecord]) -> tuple[ModelRecord, ...]:
    """One record per logical model (several groups may name the same model by tag; a card adds its fields)."""
    merged: dict[str, ModelRecord] = {}
    for r in records:
        m = merged.get(r.name)
        merged[r.name] = r if m is None else ModelRecord(
            name=r.name, description=m.description or r.description, owner=m.owner or r.owner,
            risk_tier=r.risk_tier or m.risk_tier, intended_use=r.intended_use or m.intended_use,
            tags={**m.tags, **r.tags},
        )
    return tuple(merged[n] for n in sorted(merged))


def _package_key(arn: str) -> str:
    # "group/version": the account and region are the same for every package of one watermark
    return arn.split(":model-package/")[-1]
