"""History from before the first sync: CloudTrail log files in a moto S3 bucket, read by ``countersign backfill``.

The trail is written by ``tests.connectors.cloudtrail_files`` in AWS's documented format, independently of the
reader; the digests the ledger records are checked against hashlib over the bytes read back with boto3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from countersign_cli.main import main
from governance import ledger
from governance.config import Workspace
from governance.identity import os_user
from tests.connectors import cloudtrail_files as ct
from tests.connectors import sagemaker_seed as seed
from tests.connectors.test_sagemaker_changes import small
from tests.connectors.test_sagemaker_sync import make_workspace, run_sync

PROD = "ml-prod"
PROD_ID = seed.ACCOUNTS[PROD][0]
REGION = seed.REGION
TRAIL_BUCKET = "org-trail"
TRAIL_PREFIX = "trail"
D = dt.datetime
ROOT = Path(__file__).resolve().parents[2]


def grant_os_user(ws: Workspace) -> None:
    text = ws.config_path.read_text()
    ws.config_path.write_text(text.replace("[roles]\n", f'[roles]\n"os:{os_user()}" = ["ml_engineer"]\n'))


def models_as_of(ws: Workspace, instant: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["models", "--workspace", str(ws.root), "--as-of", instant, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def backfill(ws: Workspace, capsys, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["backfill", "--workspace", str(ws.root), "--account", PROD, "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def deliver_march(s3, v1_arn: str, v2_arn: str) -> ct.Trail:
    """A month of one trail's files: v1 created pending, a refused approval, v1 approved and deployed, v2 created
    and rejected, the endpoint deleted; noise from other services in every file; no file at all on 16 March."""
    seed.ensure_bucket(s3, TRAIL_BUCKET)
    trail = ct.Trail(TRAIL_BUCKET, TRAIL_PREFIX)
    rec = lambda at, name, who, req, resp=None, **kw: ct.record(PROD_ID, REGION, at, name, who, req, resp, **kw)  # noqa: E731
    calls = {
        D(2026, 3, 2, 10): [rec(D(2026, 3, 2, 10, 0, 5), "CreateModelPackage", "alice",
                                {"modelPackageGroupName": "claims-fraud", "modelApprovalStatus": "PendingManualApproval"},
                                {"modelPackageArn": v1_arn})],
        D(2026, 3, 5, 16): [rec(D(2026, 3, 5, 15, 30), "UpdateModelPackage", "mallory",
                                {"modelPackageArn": v1_arn, "modelApprovalStatus": "Approved"}, error="AccessDenied")],
        D(2026, 3, 9, 11): [rec(D(2026, 3, 9, 11, 0, 7), "UpdateModelPackage", "bob",
                                {"modelPackageArn": v1_arn, "modelApprovalStatus": "Approved",
                                 "approvalDescription": "validated by model risk"}, {"modelPackageArn": v1_arn})],
        D(2026, 3, 10, 8, 5): [
            rec(D(2026, 3, 10, 8, 0), "CreateModel", "carol",
                {"modelName": "claims-fraud-m1", "primaryContainer": {"modelPackageName": v1_arn}},
                {"modelArn": f"arn:aws:sagemaker:{REGION}:{PROD_ID}:model/claims-fraud-m1"}),
            rec(D(2026, 3, 10, 8, 1), "CreateEndpointConfig", "carol",
                {"endpointConfigName": "cfg-1", "productionVariants": [
                    {"variantName": "AllTraffic", "modelName": "claims-fraud-m1", "initialInstanceCount": 1,
                     "instanceType": "ml.m5.large", "initialVariantWeight": 1.0}]}),
            rec(D(2026, 3, 10, 8, 2), "CreateEndpoint", "carol",
                {"endpointName": "claims-fraud-prod", "endpointConfigName": "cfg-1"},
                {"endpointArn": f"arn:aws:sagemaker:{REGION}:{PROD_ID}:endpoint/claims-fraud-prod"}),
        ],
        D(2026, 3, 20, 9): [rec(D(2026, 3, 20, 9), "CreateModelPackage", "alice",
                                {"modelPackageGroupName": "claims-fraud"}, {"modelPackageArn": v2_arn})],
        D(2026, 3, 25, 9): [rec(D(2026, 3, 25, 9), "UpdateModelPackage", "bob",
                                {"modelPackageArn": v2_arn, "modelApprovalStatus": "Rejected"})],
        D(2026, 3, 28, 9): [rec(D(2026, 3, 28, 9), "DeleteEndpoint", "carol", {"endpointName": "claims-fraud-prod"})],
    }
    for day in range(1, 32):
        if day == 16:
            continue  # nothing delivered that day: what happened then is unknown
        at = D(2026, 3, day, 23, 55)
        noise = [rec(at, "GetObject", "etl", {"bucketName": "data", "key": "x.csv"}, source="s3.amazonaws.com")]
        trail.deliver(s3, PROD_ID, REGION, at, noise)
        for when, records in calls.items():
            if when.day == day:
                trail.deliver(s3, PROD_ID, REGION, when, [*records, *noise])
    return trail


@pytest.fixture
def world(aws_env, tmp_path: Path):
    sc = small(PROD, {"claims-fraud": 2}, docs=False)
    v1, v2 = sc.of(PROD)
    _, s3 = seed.clients(PROD_ID)
    trail = deliver_march(s3, v1.arn, v2.arn)
    ws, catalog = make_workspace(tmp_path)
    grant_os_user(ws)
    assert run_sync(ws, catalog, accounts=[PROD], full=True).results[0].status == "ok"
    return ws, catalog, trail, (v1, v2)


def test_as_of_before_the_first_sync_says_so_instead_of_an_empty_prod(world, capsys) -> None:
    ws, _, _, _ = world
    doc = models_as_of(ws, "2026-03-14T12:00:00", capsys)
    assert doc["versions"] == []
    notes = [n for n in doc["coverage"] if n["account"] == PROD]
    assert notes and "first sync" in notes[0]["message"] and "countersign backfill" in notes[0]["message"]
    capsys.readouterr()
    assert main(["models", "--workspace", str(ws.root), "--as-of", "2026-03-14T12:00:00"]) == 0
    assert "no history before" in capsys.readouterr().out


def test_as_of_before_the_first_sync_is_answered_from_cloudtrail(world, capsys) -> None:
    ws, catalog, trail, (v1, v2) = world
    code, result = backfill(ws, capsys, "--since", "2026-03-01", "--cloudtrail", f"s3://{TRAIL_BUCKET}/{TRAIL_PREFIX}")
    assert code == 0, result
    vid1, vid2 = (f"{PROD}:claims-fraud:{v.version}" for v in (v1, v2))

    doc = models_as_of(ws, "2026-03-14T12:00:00", capsys)
    rows = {v["version_id"]: v for v in doc["versions"]}
    assert set(rows) == {vid1}  # v2 did not exist yet
    assert rows[vid1]["approval_status"] == "Approved" and rows[vid1]["deployed_on"] == "claims-fraud-prod"
    assert (rows[vid1]["change_source"], rows[vid1]["confidence"]) == ("cloudtrail", "exact")
    assert rows[vid1]["changed_by"].endswith("/bob")
    assert not [n for n in doc["coverage"] if n["account"] == PROD]

    before_approval = {v["version_id"]: v for v in models_as_of(ws, "2026-03-05T16:00:00", capsys)["versions"]}
    assert before_approval[vid1]["approval_status"] == "PendingManualApproval"  # the refused call changed nothing
    late_march = {v["version_id"]: v for v in models_as_of(ws, "2026-03-29T00:00:00", capsys)["versions"]}
    assert late_march[vid2]["approval_status"] == "Rejected" and late_march[vid1]["deployed_on"] is None

    # a day without any log file is a labelled gap, not a quiet continuation
    gap_day = models_as_of(ws, "2026-03-16T12:00:00", capsys)
    assert any("CloudTrail" in g for g in gap_day["gaps"]), gap_day["gaps"]
    # before the backfill's reach: said so
    early = models_as_of(ws, "2026-02-15T00:00:00", capsys)
    assert early["versions"] == [] and any("2026-03-01" in n["message"] for n in early["coverage"])

    # the ledger entry names every file read with its sha256 (checked against the bytes themselves)
    entry = ledger.entry(catalog, ledger.head(catalog)[0])
    assert entry.action == "history.backfill" and entry.subject == f"account:{PROD}"
    read = {o["uri"]: o["sha256"] for o in entry.payload["objects"]}
    assert read == {f"s3://{TRAIL_BUCKET}/{k}": hashlib.sha256(b).hexdigest() for k, b in trail.files.items()}
    assert main(["ledger", "verify", "--workspace", str(ws.root)]) == 0


def test_backfill_is_idempotent(world, capsys) -> None:
    ws, catalog, _, _ = world
    args = ("--since", "2026-03-01", "--cloudtrail", f"s3://{TRAIL_BUCKET}/{TRAIL_PREFIX}")
    assert backfill(ws, capsys, *args)[0] == 0
    rows = catalog.query_df("SELECT * FROM version_history ORDER BY history_id")
    head = ledger.head(catalog)
    code, again = backfill(ws, capsys, *args)
    assert code == 0 and again["changed"] is False
    assert ledger.head(catalog) == head
    assert catalog.query_df("SELECT * FROM version_history ORDER BY history_id").equals(rows)


def test_the_model_timeline_and_the_report_show_where_each_change_came_from(world, capsys) -> None:
    from governance.catalog_charts import timeline_chart
    from governance.config import load_settings
    from governance.history import model_timeline
    from governance.identity import identity_for
    from governance.reports.build import build_pdf
    from governance.reports.facts import collect_facts
    from governance.reports.template_library import load_template
    from tests.governance.report_world import pdf_text

    ws, catalog, _, (v1, _v2) = world
    assert backfill(ws, capsys, "--since", "2026-03-01", "--cloudtrail", f"s3://{TRAIL_BUCKET}/{TRAIL_PREFIX}")[0] == 0
    timeline = model_timeline(catalog, "claims-fraud")
    versions = timeline[timeline["lane"] == "version"]
    assert {"cloudtrail (exact)", "sync (inferred)"} <= set(versions["source"])
    spec = timeline_chart(timeline, ["dev", "staging", "prod"]).to_dict()
    assert '"source"' in json.dumps(spec)  # each change's source is drawn (marker shape) and in the tooltip

    settings = load_settings(ws)
    vid = f"{PROD}:claims-fraud:{v1.version}"
    facts = collect_facts(ws, settings, catalog, vid, identity_for(settings, "risk.officer@example.com", source="cli"))
    text = pdf_text(build_pdf(facts, load_template("sr-11-7"), built_at=D(2026, 12, 1)).pdf)
    assert "cloudtrail" in text and "exact" in text and "bob" in text
    assert "no CloudTrail file" in text  # the account's labelled gap is in the report too


def lifecycle_stand_in(fault_proxy, v1_arn: str) -> None:
    """SageMaker's ModelLifeCycle actions as ListActions / DescribeAction return them. moto 5.2.5 implements neither
    (nor a package's ModelLifeCycle), so this is the one boundary played by a stand-in: the fault proxy answers
    these two calls; every other call reaches moto."""
    actions = {
        "lc-1": (D(2026, 3, 3, 9), {"stage": "Development", "stageStatus": "InProgress"}, "alice"),
        "lc-2": (D(2026, 3, 12, 14), {"stage": "Production", "stageStatus": "Approved",
                                      "stageDescription": "go-live"}, "bob"),
    }
    arn = lambda name: f"arn:aws:sagemaker:{REGION}:{PROD_ID}:action/{name}"  # noqa: E731

    def list_actions(request: dict) -> dict:
        assert request["ActionType"] == "ModelLifeCycle"
        return {"ActionSummaries": [{"ActionName": n, "ActionArn": arn(n), "ActionType": "ModelLifeCycle",
                                     "Source": {"SourceUri": v1_arn}, "Status": "Completed",
                                     "CreationTime": at.replace(tzinfo=dt.UTC).timestamp()}
                                    for n, (at, _, _) in sorted(actions.items())]}

    def describe_action(request: dict) -> dict:
        at, props, who = actions[request["ActionName"]]
        return {"ActionName": request["ActionName"], "ActionArn": arn(request["ActionName"]),
                "Source": {"SourceUri": v1_arn, "SourceType": "ModelPackage"}, "ActionType": "ModelLifeCycle",
                "Status": "Completed", "Properties": props, "CreationTime": at.replace(tzinfo=dt.UTC).timestamp(),
                "CreatedBy": {"UserProfileName": who}}

    fault_proxy.answer("ListActions", list_actions)
    fault_proxy.answer("DescribeAction", describe_action)


def test_lifecycle_actions_date_stage_changes_and_every_call_is_in_the_shipped_policies(
        aws_env, fault_proxy, aws_profiles, tmp_path: Path, capsys) -> None:
    from governance.config import load_settings
    from governance.sources import connector_of
    from tests.connectors.test_sagemaker_units import S3_ACTIONS, _allowed

    aws_profiles({"via-proxy": fault_proxy.url})
    sc = small(PROD, {"claims-fraud": 2}, docs=False)
    v1, v2 = sc.of(PROD)
    _, s3 = seed.clients(PROD_ID)
    deliver_march(s3, v1.arn, v2.arn)
    lifecycle_stand_in(fault_proxy, v1.arn)
    ws, catalog = make_workspace(tmp_path, {PROD: {"profile": "via-proxy"}})
    grant_os_user(ws)
    assert run_sync(ws, catalog, accounts=[PROD], full=True).results[0].status == "ok"

    code, result = backfill(ws, capsys, "--since", "2026-03-01", "--cloudtrail", f"s3://{TRAIL_BUCKET}/{TRAIL_PREFIX}")
    assert code == 0 and result["sources"] == ["cloudtrail", "lifecycle action"], result
    rows = {v["version_id"]: v for v in models_as_of(ws, "2026-03-14T12:00:00", capsys)["versions"]}
    v1_then = rows[f"{PROD}:claims-fraud:{v1.version}"]
    assert v1_then["labels"] == ["Production"] and v1_then["approval_status"] == "Approved"
    assert (v1_then["change_source"], v1_then["changed_by"]) == ("lifecycle action", "bob")
    early = {v["version_id"]: v for v in models_as_of(ws, "2026-03-04T00:00:00", capsys)["versions"]}
    assert early[f"{PROD}:claims-fraud:{v1.version}"]["labels"] == ["Development"]

    # every call a backfill and the listener make is granted by the shipped policies (and only reads, for sync)
    settings = load_settings(ws)
    con = connector_of(ws, settings.account(PROD))
    used: set[str] = set()
    for service in ("sagemaker", "s3", "sqs"):
        def record(model, service=service, **_):
            used.add(S3_ACTIONS.get(model.name, f"s3:{model.name}") if service == "s3" else f"{service}:{model.name}")
        con.client(service).meta.events.register("before-call", record)
    con.read_history(D(2026, 3, 1), D(2026, 4, 1), records=f"s3://{TRAIL_BUCKET}/{TRAIL_PREFIX}")
    sync_policy = json.loads((ROOT / "docs/iam/sync-policy.json").read_text())
    assert {"sagemaker:ListActions", "sagemaker:DescribeAction", "s3:ListBucket", "s3:GetObject"} <= used
    assert used - _allowed(sync_policy) == set()
    sqs = seed.session_for(PROD_ID).client("sqs", config=seed.FAST)
    queue = con.event_queue(sqs.create_queue(QueueName="q")["QueueUrl"])
    used.clear()
    sqs.send_message(QueueUrl=queue.url, MessageBody="{}")
    for message in queue.receive(0):
        queue.delete(message.receipt)
    listen_policy = json.loads((ROOT / "docs/iam/listen-policy.json").read_text())
    assert used == {"sqs:ReceiveMessage", "sqs:DeleteMessage"} and used <= _allowed(listen_policy)


def test_a_backfill_is_refused_when_the_ledger_is_not_sealed(world, capsys) -> None:
    from governance.ledger import HEAD_FILE

    ws, catalog, _, _ = world
    (ws.checkpoints_dir / HEAD_FILE).unlink()  # the signed head gone: the tail can no longer be vouched for
    capsys.readouterr()
    code = main(["backfill", "--workspace", str(ws.root), "--account", PROD, "--since", "2026-03-01",
                 "--cloudtrail", f"s3://{TRAIL_BUCKET}/{TRAIL_PREFIX}"])
    assert code == 1 and "refused the backfill of ml-prod, nothing was written" in capsys.readouterr().err
    assert catalog.query_dicts("SELECT * FROM backfills") == []
    assert catalog.query_dicts("SELECT * FROM version_history WHERE backfill_id IS NOT NULL") == []
