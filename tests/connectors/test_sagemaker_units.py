"""Document parsing, data capture decoding, the content-addressed cache, and IAM policy coverage."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from connectors.base import AccountInfo
from connectors.sagemaker import SageMakerConnector, SageMakerSettings
from connectors.sagemaker.capture import capture_to_rows
from connectors.sagemaker.documents import metrics_from_document
from tests.connectors import sagemaker_seed as seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("kind", "doc", "expected"),
    [
        ("quality", {"binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": 0.1},
                                                       "f1": {"value": 0.5}}, "version": 0.0},
         {"auc": 0.91, "f1": 0.5}),
        ("quality", {"regression_metrics": {"mae": {"value": 3.5}, "r2": {"value": 0.7}}}, {"mae": 3.5, "r2": 0.7}),
        ("quality", {"auc": 0.8, "accuracy": 1, "note": "text", "version": 2}, {"auc": 0.8, "accuracy": 1.0}),
        ("bias", seed.bias_doc(0.12, 0.74), {"bias.gender=F.DPPL": 0.12, "bias.gender=F.DI": 0.74}),
        ("bias", {"pre_training_bias_metrics": {"facets": {"age": [
            {"value_or_threshold": "(40, 99]", "metrics": [{"name": "CI", "value": -0.2},
                                                           {"name": "KL", "value": None}]}]}}},
         {"bias.age=(40, 99].CI": -0.2}),
        ("explainability", seed.shap_doc({"income": 0.3, "age": 0.1}), {"shap.income": 0.3, "shap.age": 0.1}),
    ],
)
def test_metrics_from_documents(kind: str, doc: dict, expected: dict) -> None:
    assert metrics_from_document(kind, doc) == expected


@pytest.mark.parametrize(
    ("kind", "doc", "message"),
    [
        ("quality", [1, 2], "JSON object"),
        ("quality", {"binary_classification_metrics": {"auc": {"value": "high"}}}, "no numeric metric"),
        ("bias", {"label": "y"}, "bias_metrics"),
        ("explainability", {"shap": 1}, "explanations"),
    ],
)
def test_unusable_documents_are_refused_with_a_reason(kind: str, doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metrics_from_document(kind, doc)


def test_capture_records_decode_every_encoding() -> None:
    rows_in = [[1.0, 2.5, 3.0], [4.0, 5.5, 6.0]]
    when = __import__("datetime").datetime(2026, 1, 2, 3, 4, 5)
    lines = [seed.capture_line(rows_in[0], 0.9, "e1", when, b64=True),
             seed.capture_line(rows_in[1], 0.1, "e2", when, b64=False)]
    json_in = {"captureData": {
        "endpointInput": {"observedContentType": "application/json", "mode": "INPUT", "encoding": "BASE64",
                          "data": base64.b64encode(json.dumps({"instances": [{"a": 7, "b": 8, "c": 9}]}).encode())
                          .decode()},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "encoding": "JSON",
                           "data": json.dumps({"predictions": [{"score": 0.3}]})}},
        "eventMetadata": {"eventId": "e3", "inferenceTime": "2026-01-02T03:04:05Z"}, "eventVersion": "0"}
    rows = capture_to_rows([*lines, "", json.dumps(json_in)], ("a", "b", "c"))
    assert [[r["a"], r["b"], r["c"]] for r in rows] == [*rows_in, [7, 8, 9]]
    assert [r.get("prediction", r.get("prediction_score")) for r in rows] == [0.9, 0.1, 0.3]
    assert [r["_event_id"] for r in rows] == ["e1", "e2", "e3"]
    # no column names known: positional names, never a silent drop
    assert set(capture_to_rows(lines[:1], ())[0]) >= {"f0", "f1", "f2", "prediction"}
    with pytest.raises(ValueError, match="line 2"):
        capture_to_rows([lines[0], '{"eventMetadata": {}}'], ())


def prod_connector(tmp_path: Path, **kw) -> SageMakerConnector:
    account_id = seed.ACCOUNTS["ml-prod"][0]
    settings = SageMakerSettings(region=seed.REGION, role_arn=seed.role_arn(account_id),
                                 artifact_bucket=seed.bucket_for(account_id), **kw)
    return SageMakerConnector(settings, AccountInfo("ml-prod", "prod"), root=tmp_path, cache_dir=tmp_path / "cache")


def test_fetch_is_content_addressed_and_cached(aws_env, tmp_path: Path) -> None:
    _, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    bucket = seed.bucket_for(seed.ACCOUNTS["ml-prod"][0])
    seed.ensure_bucket(s3, bucket)
    uri = seed.put(s3, bucket, "data/ref.csv", "a,b\n1,2\n")
    con = prod_connector(tmp_path)
    first = con.fetch(uri)
    assert first.read_bytes() == b"a,b\n1,2\n" and first.suffix == ".csv"
    assert first.name == hashlib.sha256(b"a,b\n1,2\n").hexdigest() + ".csv"
    calls = con.meter.calls
    assert con.fetch(uri) == first and con.meter.calls == calls + 1  # a HEAD, no download
    seed.put(s3, bucket, "data/ref.csv", "a,b\n3,4\n")
    assert con.fetch(uri).read_bytes() == b"a,b\n3,4\n"
    with pytest.raises(Exception, match="cannot read s3://"):
        con.fetch(f"s3://{bucket}/missing.csv")
    with pytest.raises(Exception, match="not an S3 URI"):
        con.fetch("/etc/passwd")


def test_an_unreadable_watermark_means_a_full_pass(aws_env, tmp_path: Path) -> None:
    sc = seed.Scenario()
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    seed.seed_group(sm, s3, sc, "ml-prod", "repair-cost", 2, docs=False)
    snap = prod_connector(tmp_path).extract("not json at all")
    assert snap.complete and len(snap.versions) == 2


def _allowed(policy: dict) -> set[str]:
    out: set[str] = set()
    for st in policy["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        out.update(a for a in actions if st["Effect"] == "Allow")
    return out


# S3 operations -> the IAM action that authorises them
S3_ACTIONS = {"HeadObject": "s3:GetObject", "GetObject": "s3:GetObject", "ListObjectsV2": "s3:ListBucket",
              "PutObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
              "CompleteMultipartUpload": "s3:PutObject"}


def test_shipped_iam_policies_cover_every_call(aws_env, tmp_path: Path) -> None:
    sc = seed.Scenario()
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    versions = seed.seed_group(sm, s3, sc, "ml-prod", "credit-approval", 1, training=True)
    reported = seed.seed_reported_version(sm, s3, sc, "ml-prod", "credit-approval", status="Approved", auc=0.8,
                                          bias=(0.1, 0.9), shap={"income": 0.2})
    seed.seed_endpoint(sm, s3, sc, "ml-prod", "ep", reported, capture_rows=[[1.0, 2.0, 3.0, 4.0]] * 4)
    seed.seed_experiment(sm, sc, "ml-prod", "exp", 1)
    seed.seed_card(sm, sc, "ml-prod", "card", versions[0], "Low")
    used: dict[str, set[str]] = {"sync": set(), "promote": set()}
    con = prod_connector(tmp_path)

    for purpose in used:
        for service in ("sagemaker", "s3"):
            def record(model, purpose=purpose, service=service, **_):
                op = model.name
                used[purpose].add(S3_ACTIONS.get(op, f"s3:{op}") if service == "s3" else f"sagemaker:{op}")
            con.client(service, purpose).meta.events.register("before-call", record)

    snap = con.extract(None, full=True)
    assert not snap.issues
    current = next(v for v in snap.versions if "current" in v.data_uris)
    con.fetch(current.data_uris["current"])
    from connectors.base import PromotionRef

    con.set_approval(snap.versions[0], "Rejected", "test")
    con.register_copy(current, con, PromotionRef("r-1", None, "ml-prod", current.source_ref))

    assert {"sagemaker:DescribeModelPackage", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModelCard",
            "sagemaker:DescribeTrainingJob", "s3:GetObject", "s3:ListBucket"} <= used["sync"]
    assert {"sagemaker:UpdateModelPackage", "sagemaker:CreateModelPackage", "s3:PutObject"} <= used["promote"]
    sync_policy = json.loads((ROOT / "docs/iam/sync-policy.json").read_text())
    promotion_policy = json.loads((ROOT / "docs/iam/promotion-policy.json").read_text())
    assert used["sync"] - _allowed(sync_policy) == set()
    assert used["promote"] - _allowed(promotion_policy) == set()
    # and nothing that writes is in the read-only policy
    assert not any(a.split(":")[1].startswith(("Create", "Update", "Delete", "Put")) for a in _allowed(sync_policy))
    trust = json.loads((ROOT / "docs/iam/trust-policy.json").read_text())
    assert trust["Statement"][0]["Action"] == "sts:AssumeRole"


def test_assumed_role_credentials_are_refreshable_and_reused(aws_env, fault_proxy, aws_profiles, tmp_path) -> None:
    from botocore.credentials import RefreshableCredentials

    aws_profiles({"via-proxy": fault_proxy.url})
    con = prod_connector(tmp_path, profile="via-proxy", external_id="ext-1")
    con.extract(None, full=True)
    con.extract(None, full=True)
    assert fault_proxy.count("AssumeRole") == 1  # one assumption serves the connector while it is valid
    creds = con._session("sync").get_credentials()
    # botocore owns the expiry: it refreshes these before they run out (15 minutes ahead), not we
    assert isinstance(creds, RefreshableCredentials) and creds.method == "assume-role"
    assert not creds.refresh_needed() and creds.refresh_needed(refresh_in=2 * 3600)
