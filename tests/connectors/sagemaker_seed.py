"""Seed SageMaker and S3 in a moto server the way real accounts look, and remember what was seeded.

Everything here goes through boto3 against the server named by the environment (``aws_env`` fixture); each
account is reached by STS AssumeRole, which moto maps to that account. The returned :class:`Scenario` is the
oracle the connector tests compare the catalog with.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from connectors.sagemaker.session import botocore_loader

REGION = "eu-west-1"
STATUSES = ("Approved", "Rejected", "PendingManualApproval")
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/sklearn-inference:1.2-1-cpu-py3"
FEATURES = ("income", "debt_ratio", "age", "tenure_months")
# name -> (AWS account id, environment)
ACCOUNTS: dict[str, tuple[str, str]] = {
    "ml-dev": ("111111111111", "dev"),
    "ml-staging": ("222222222222", "staging"),
    "ml-prod": ("333333333333", "prod"),
}
FAST = Config(retries={"mode": "standard", "max_attempts": 1})


def role_arn(account_id: str, name: str = "CountersignReader") -> str:
    """The role ARN a workspace names for ``account_id``."""
    return f"arn:aws:iam::{account_id}:role/{name}"


_LOADER = botocore_loader()  # service models parsed once per process, shared with the connector


def _session(**kw: str) -> boto3.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **kw)


def session_for(account_id: str, region: str = REGION) -> boto3.Session:
    """A boto3 session acting in ``account_id`` (AssumeRole on the moto server)."""
    # a fresh session each time: boto3's default session would keep a configuration read earlier
    creds = _session(region_name=region).client("sts", config=FAST).assume_role(
        RoleArn=role_arn(account_id, "Seeder"), RoleSessionName="seeder"
    )["Credentials"]
    return _session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=region,
    )


def clients(account_id: str) -> tuple[Any, Any]:
    """SageMaker and S3 clients of ``account_id``."""
    s = session_for(account_id)
    return s.client("sagemaker", config=FAST), s.client("s3", config=FAST)


def bucket_for(account_id: str, purpose: str = "artifacts") -> str:
    return f"cs-{account_id}-{purpose}"


def ensure_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def put(s3: Any, bucket: str, key: str, body: bytes | str) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return f"s3://{bucket}/{key}"


def quality_doc(auc: float, accuracy: float) -> dict[str, Any]:
    """A SageMaker model-quality statistics document (binary classification)."""
    return {"version": 0.0, "dataset": {"item_count": 500},
            "binary_classification_metrics": {"auc": {"value": auc, "standard_deviation": 0.01},
                                               "accuracy": {"value": accuracy, "standard_deviation": 0.01},
                                               "confusion_matrix": {"0": {"0": 200, "1": 20}, "1": {"0": 30, "1": 250}}}}


def bias_doc(dppl: float, di: float) -> dict[str, Any]:
    """A Clarify ``analysis.json`` with post-training bias metrics for facet gender=F."""
    return {"version": "1.0", "post_training_bias_metrics": {"label": "label", "facets": {"gender": [
        {"value_or_threshold": "F", "metrics": [
            {"name": "DPPL", "description": "Difference in positive proportions in predicted labels", "value": dppl},
            {"name": "DI", "description": "Disparate Impact", "value": di},
        ]}]}}}


def shap_doc(values: dict[str, float]) -> dict[str, Any]:
    """A Clarify explainability ``analysis.json``."""
    return {"version": "1.0", "explanations": {"kernel_shap": {"label": {"global_shap_values": values,
                                                                          "expected_value": 0.4}}}}


def statistics_doc(features: tuple[str, ...]) -> dict[str, Any]:
    """A Model Monitor baseline ``statistics.json`` naming the features in order."""
    return {"version": 0.0, "dataset": {"item_count": 100},
            "features": [{"name": f, "inferred_type": "Fractional"} for f in features]}


def capture_line(values: list[float], prediction: float, event_id: str, when: dt.datetime, *, b64: bool = True) -> str:
    """One SageMaker data capture record (CSV in, CSV out)."""
    def block(text: str, mode: str) -> dict[str, Any]:
        data = base64.b64encode(text.encode()).decode() if b64 else text
        return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": "BASE64" if b64 else "CSV"}

    return json.dumps({
        "captureData": {"endpointInput": block(",".join(str(v) for v in values), "INPUT"),
                        "endpointOutput": block(str(prediction), "OUTPUT")},
        "eventMetadata": {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "eventVersion": "0",
    })


@dataclass
class SeededVersion:
    """What the seeding wrote for one model package version."""

    account: str
    group: str
    version: int
    arn: str
    status: str
    artifact_uri: str
    created_by: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    training_job: str | None = None
    report_uris: dict[str, str] = field(default_factory=dict)


@dataclass
class Scenario:
    """What was seeded, per account name."""

    versions: list[SeededVersion] = field(default_factory=list)
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # account -> group -> description
    group_tags: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    training_jobs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # account -> name -> facts
    endpoints: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # account -> name -> facts
    trial_components: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    cards: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    captures: dict[str, list[list[float]]] = field(default_factory=dict)  # endpoint -> input rows

    def of(self, account: str) -> list[SeededVersion]:
        return [v for v in self.versions if v.account == account]


def seed_group(sm: Any, s3: Any, scenario: Scenario, account: str, group: str, n: int, *,
               description: str | None = None, tags: dict[str, str] | None = None, docs: bool = True,
               created_by: str | None = "data.scientist@example.com", training: bool = False,
               artifact_size: int | None = None) -> list[SeededVersion]:
    """A model package group with ``n`` versions cycling through every approval status.

    ``artifact_size``: upload each version's artifact as that many bytes even without documents (``docs=False``
    leaves the artifacts out otherwise)."""
    account_id = ACCOUNTS[account][0]
    bucket = bucket_for(account_id)
    ensure_bucket(s3, bucket)
    desc = description or f"{group} in {account}"
    sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription=desc,
                                  Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    scenario.groups.setdefault(account, {})[group] = desc
    scenario.group_tags.setdefault(account, {})[group] = dict(tags or {})
    out = []
    for i in range(1, n + 1):
        status = STATUSES[(i - 1) % 3]
        key = f"models/{group}/{i}/model.tar.gz"
        # sync never reads artifacts, so groups without documents skip the upload (faster seeding)
        body = f"model {account} {group} {i}".encode()
        if artifact_size is not None:
            body = (body * (artifact_size // len(body) + 1))[:artifact_size]
        artifact = put(s3, bucket, key, body) if docs or artifact_size is not None else f"s3://{bucket}/{key}"
        params: dict[str, Any] = {
            "ModelPackageGroupName": group, "ModelApprovalStatus": status,
            "ModelPackageDescription": f"{group} v{i}",
            "InferenceSpecification": {"Containers": [{"Image": IMAGE, "ModelDataUrl": artifact,
                                                       "Framework": "SKLEARN", "FrameworkVersion": "1.2"}],
                                       "SupportedContentTypes": ["text/csv"],
                                       "SupportedResponseMIMETypes": ["text/csv"]},
        }
        meta = {"team": "risk-ml"}
        if created_by:
            meta["countersign:created-by"] = created_by
        params["CustomerMetadataProperties"] = meta
        sv = SeededVersion(account, group, i, "", status, artifact, created_by)
        if docs:
            auc = round(0.70 + (i % 25) / 100, 4)
            acc = round(0.80 + (i % 10) / 100, 4)
            uri = put(s3, bucket, f"metrics/{group}/{i}/evaluation.json", json.dumps(quality_doc(auc, acc)))
            params["ModelMetrics"] = {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}}
            sv.metrics = {"auc": auc, "accuracy": acc}
            sv.report_uris = {"model_quality_statistics": uri, "model_metrics": uri}
        if training:
            job = f"{group}-train-{i}"
            channels = {"train": put(s3, bucket, f"data/{group}/{i}/train.csv", "a,b,label\n1,2,0\n"),
                        "validation": put(s3, bucket, f"data/{group}/{i}/validation.csv", "a,b,label\n3,4,1\n")}
            hp = {"max_depth": str(3 + i % 3), "eta": "0.1"}
            sm.create_training_job(
                TrainingJobName=job, HyperParameters=hp,
                AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                RoleArn=role_arn(account_id, "SageMakerExecution"),
                InputDataConfig=[{"ChannelName": c, "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": u, "S3DataDistributionType": "FullyReplicated"}}}
                    for c, u in channels.items()],
                OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output/"},
                ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
                StoppingCondition={"MaxRuntimeInSeconds": 3600},
            )
            tj_arn = f"arn:aws:sagemaker:{REGION}:{account_id}:training-job/{job}"
            params["MetadataProperties"] = {"GeneratedBy": tj_arn}
            sv.training_job = job
            scenario.training_jobs.setdefault(account, {})[job] = {"hyperparameters": hp, "inputs": channels}
        sv.arn = sm.create_model_package(**params)["ModelPackageArn"]
        out.append(sv)
    scenario.versions.extend(out)
    return out




def seed_reported_version(sm: Any, s3: Any, scenario: Scenario, account: str, group: str, *, status: str,
                          auc: float, bias: tuple[float, float], shap: dict[str, float],
                          features: tuple[str, ...] = FEATURES) -> SeededVersion:
    """One more version of ``group`` with model quality, Clarify bias and explainability reports and a baseline."""
    account_id = ACCOUNTS[account][0]
    bucket = bucket_for(account_id)
    n = len([v for v in scenario.versions if v.account == account and v.group == group]) + 1
    base = f"reports/{group}/{n}"
    q = put(s3, bucket, f"{base}/evaluation.json", json.dumps(quality_doc(auc, 0.9)))
    b = put(s3, bucket, f"{base}/bias/analysis.json", json.dumps(bias_doc(*bias)))
    e = put(s3, bucket, f"{base}/explainability/analysis.json", json.dumps(shap_doc(shap)))
    st = put(s3, bucket, f"{base}/baseline/statistics.json", json.dumps(statistics_doc(features)))
    # constraints files have their own formats: recorded as report URIs, never parsed as metrics
    qc = put(s3, bucket, f"{base}/quality/constraints.json", json.dumps({"version": 0.0, "auc": {"threshold": 0.7}}))
    bc = put(s3, bucket, f"{base}/bias/constraints.json", json.dumps({"version": "1.0", "facets": ["gender"]}))
    artifact = put(s3, bucket, f"models/{group}/{n}/model.tar.gz", f"model {account} {group} {n}".encode())
    doc = {"ContentType": "application/json"}
    arn = sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus=status, ModelPackageDescription=f"{group} v{n}",
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": artifact}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelMetrics={"ModelQuality": {"Statistics": {**doc, "S3Uri": q}, "Constraints": {**doc, "S3Uri": qc}},
                      "Bias": {"Report": {**doc, "S3Uri": b}},
                      "Explainability": {"Report": {**doc, "S3Uri": e}}},
        DriftCheckBaselines={"ModelDataQuality": {"Statistics": {**doc, "S3Uri": st}},
                             "Bias": {"PostTrainingConstraints": {**doc, "S3Uri": bc}}},
        CustomerMetadataProperties={"countersign:created-by": "data.scientist@example.com"},
    )["ModelPackageArn"]
    metrics = {"auc": auc, "accuracy": 0.9, "bias.gender=F.DPPL": bias[0], "bias.gender=F.DI": bias[1],
               **{f"shap.{k}": v for k, v in shap.items()}}
    sv = SeededVersion(account, group, n, arn, status, artifact, "data.scientist@example.com", metrics, None,
                       {"model_quality_statistics": q, "model_metrics": q, "bias_report": b,
                        "explainability_report": e, "drift_model_data_quality_statistics": st,
                        "baseline_statistics": st, "model_quality_constraints": qc,
                        "drift_bias_post_training_constraints": bc})
    scenario.versions.append(sv)
    return sv


def seed_endpoint(sm: Any, s3: Any, scenario: Scenario, account: str, name: str, sv: SeededVersion, *,
                  capture_rows: list[list[float]] | None = None) -> None:
    """An endpoint serving ``sv`` (model created from the package), with data capture files when rows are given."""
    account_id = ACCOUNTS[account][0]
    sm.create_model(ModelName=f"{name}-model", ExecutionRoleArn=role_arn(account_id, "SageMakerExecution"),
                    PrimaryContainer={"ModelPackageName": sv.arn})
    config: dict[str, Any] = {
        "EndpointConfigName": f"{name}-config",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": f"{name}-model",
                                "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
                                "InitialVariantWeight": 1.0}],
    }
    capture_bucket = bucket_for(account_id, "capture")
    if capture_rows is not None:
        config["DataCaptureConfig"] = {
            "EnableCapture": True, "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{capture_bucket}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sm.create_endpoint_config(**config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    scenario.endpoints.setdefault(account, {})[name] = {"version": sv, "capture": capture_rows is not None}
    if capture_rows:
        ensure_bucket(s3, capture_bucket)
        when = dt.datetime(2026, 11, 20, 10, 0, 0)
        half = len(capture_rows) // 2
        for part, rows in enumerate((capture_rows[:half], capture_rows[half:])):
            lines = [capture_line(r, round(0.1 + 0.8 * (j % 2), 2), f"{name}-{part}-{j}", when,
                                  b64=part == 0)  # both encodings occur in real captures
                     for j, r in enumerate(rows)]
            key = f"datacapture/{name}/AllTraffic/2026/11/20/1{part}/capture-{part}.jsonl"
            put(s3, capture_bucket, key, "\n".join(lines) + "\n")
        scenario.captures[name] = capture_rows


def seed_experiment(sm: Any, scenario: Scenario, account: str, experiment: str, components: int) -> None:
    """An experiment with one trial and ``components`` trial components (parameters, metrics-free, artifacts)."""
    sm.create_experiment(ExperimentName=experiment)
    trial = f"{experiment}-trial"
    sm.create_trial(TrialName=trial, ExperimentName=experiment)
    for i in range(components):
        name = f"{experiment}-tc-{i}"
        params = {"learning_rate": {"NumberValue": 0.1 * (i + 1)}, "algorithm": {"StringValue": "xgboost"}}
        sm.create_trial_component(
            TrialComponentName=name, DisplayName=f"step {i}", Parameters=params,
            InputArtifacts={"train": {"Value": f"s3://data/{experiment}/{i}/train.csv"}},
            OutputArtifacts={"model": {"Value": f"s3://data/{experiment}/{i}/model.tar.gz"}},
            Status={"PrimaryStatus": "Completed"},
        )
        sm.associate_trial_component(TrialComponentName=name, TrialName=trial)
        scenario.trial_components.setdefault(account, {})[name] = {
            "experiment": experiment, "params": {"learning_rate": str(0.1 * (i + 1)), "algorithm": "xgboost"},
            "inputs": {"train": f"s3://data/{experiment}/{i}/train.csv"},
        }


def seed_card(sm: Any, scenario: Scenario, account: str, name: str, sv: SeededVersion, risk: str) -> None:
    """A model card pointing at ``sv`` with intended uses and a risk rating."""
    content = {"model_overview": {"model_id": sv.arn, "model_name": sv.group, "model_owner": "risk-ml"},
               "intended_uses": {"purpose_of_model": "credit decisions", "intended_uses": "retail credit approval",
                                 "risk_rating": risk}}
    sm.create_model_card(ModelCardName=name, Content=json.dumps(content), ModelCardStatus="Approved")
    scenario.cards.setdefault(account, {})[name] = {"version": sv, "content": content, "risk": risk}


def seed_scenario(big: int = 105) -> Scenario:
    """The connector test scenario across ml-dev, ml-staging and ml-prod."""
    sc = Scenario()
    sm, s3 = clients(ACCOUNTS["ml-dev"][0])
    seed_group(sm, s3, sc, "ml-dev", "claims-fraud", big, tags={"team": "fraud"}, docs=False)
    credit = seed_group(sm, s3, sc, "ml-dev", "credit-approval", 3, tags={"team": "risk"}, training=True)
    seed_reported_version(sm, s3, sc, "ml-dev", "credit-approval", status="PendingManualApproval", auc=0.81,
                          bias=(0.12, 0.74), shap={"income": 0.31, "age": 0.05})
    seed_experiment(sm, sc, "ml-dev", "credit-approval-exp", 2)

    sm, s3 = clients(ACCOUNTS["ml-staging"][0])
    seed_group(sm, s3, sc, "ml-staging", "credit-approval", 2, tags={"team": "risk"})
    seed_group(sm, s3, sc, "ml-staging", "repair-cost", 4, created_by=None)

    sm, s3 = clients(ACCOUNTS["ml-prod"][0])
    prod = seed_group(sm, s3, sc, "ml-prod", "credit-approval", 1, training=True)
    reported = seed_reported_version(sm, s3, sc, "ml-prod", "credit-approval", status="Approved", auc=0.8,
                                     bias=(0.05, 0.9), shap={"income": 0.3})
    repair = seed_group(sm, s3, sc, "ml-prod", "repair-cost", 3)
    rows = [[50000.0 + 1000 * i, round(0.1 + 0.01 * i, 2), 30.0 + i % 40, float(i % 60)] for i in range(40)]
    seed_endpoint(sm, s3, sc, "ml-prod", "credit-approval-prod", reported, capture_rows=rows)
    seed_endpoint(sm, s3, sc, "ml-prod", "repair-cost-prod", repair[2])  # serves a PendingManualApproval version
    seed_card(sm, sc, "ml-prod", "credit-approval-card", prod[0], "High")
    del credit
    return sc


def seed_benchmark(groups: int = 20, versions: int = 10, artifact_size: int | None = None) -> Scenario:
    """The benchmark registry: every account gets ``groups`` groups of ``versions`` versions (no documents; the
    artifacts uploaded only with an ``artifact_size``)."""
    sc = Scenario()
    for account, (account_id, _) in ACCOUNTS.items():
        sm, s3 = clients(account_id)
        for g in range(groups):
            seed_group(sm, s3, sc, account, f"model-{g:02d}", versions, docs=False, artifact_size=artifact_size)
    return sc


def workspace_toml(accounts: dict[str, dict[str, Any]] | None = None, extra: str = "") -> str:
    """A countersign.toml with the three sagemaker accounts (role per account); ``accounts`` adds/overrides keys."""
    parts = ['[environments]\norder = ["dev", "staging", "prod"]\n']
    for name, (account_id, env) in ACCOUNTS.items():
        body = {"name": name, "environment": env, "connector": "sagemaker", "region": REGION,
                "role_arn": role_arn(account_id), "max_concurrency": 2,
                "artifact_bucket": bucket_for(account_id), **((accounts or {}).get(name, {}))}
        parts.append("[[accounts]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in body.items() if v is not None))
    parts.append('[roles]\n"ml.engineer@example.com" = ["ml_engineer"]\n"risk.officer@example.com" = ["risk_officer"]\n')
    return "\n".join(parts) + extra
