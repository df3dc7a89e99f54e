"""SageMaker events as they happen: an EventBridge rule on the moto server delivers "SageMaker Model Package State
Change" events (the documented shape) to an SQS queue, which ``countersign listen`` long-polls."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from governance.config import load_settings
from governance.context import Context
from governance.identity import identity_for
from governance.listen import Listener, build_listener
from tests.connectors import sagemaker_seed as seed
from tests.connectors.test_sagemaker_changes import small
from tests.connectors.test_sagemaker_sync import make_workspace, run_sync

PROD = "ml-prod"
PROD_ID = seed.ACCOUNTS[PROD][0]
LISTEN = "\n[listen]\nsettle_seconds = 0.1\nwait_seconds = 1\nqueue_account = \"ml-prod\"\n"


def wait_for(what: str, check: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def model_package_event(sm, arn: str, at: dt.datetime) -> dict:
    """The documented event: the package as DescribeModelPackage shows it, in EventBridge's envelope."""
    detail = sm.describe_model_package(ModelPackageName=arn)
    detail.pop("ResponseMetadata", None)
    return {"Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change", "Resources": [arn],
            "Detail": json.dumps(detail, default=lambda t: int(t.timestamp() * 1000)), "Time": at}


@pytest.fixture
def world(aws_env, tmp_path: Path):
    sc = small(PROD, {"claims-fraud": 3}, docs=False)
    pending = next(v for v in sc.of(PROD) if v.status == "PendingManualApproval")
    session = seed.session_for(PROD_ID)
    sqs, events = session.client("sqs", config=seed.FAST), session.client("events", config=seed.FAST)
    url = sqs.create_queue(QueueName="countersign-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="model-packages", EventPattern=json.dumps(
        {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"]}))
    events.put_targets(Rule="model-packages", Targets=[{"Id": "countersign", "Arn": queue_arn}])
    ws, catalog = make_workspace(tmp_path)
    ws.config_path.write_text(ws.config_path.read_text() + LISTEN)
    assert run_sync(ws, catalog, accounts=[PROD], full=True).results[0].status == "ok"
    settings = load_settings(ws)
    ctx = Context(ws, settings, catalog, identity_for(settings, "ml.engineer@example.com", source="cli"))
    listener = build_listener(ctx, {}, queue_url=url).start(port=0)
    yield ctx, listener, pending, sqs, events, url
    listener.stop()


def history(ctx: Context, vid: str) -> list[dict]:
    return ctx.catalog.query_dicts("SELECT * FROM version_history WHERE version_id = ? ORDER BY valid_from", [vid])


def test_an_approval_event_is_one_history_row_with_its_own_time_and_a_duplicate_is_recorded_once(world) -> None:
    ctx, listener, pending, sqs, events, url = world
    sm, _ = seed.clients(PROD_ID)
    meta = sm.describe_model_package(ModelPackageName=pending.arn)["CustomerMetadataProperties"]
    sm.update_model_package(ModelPackageArn=pending.arn, ModelApprovalStatus="Approved",
                            ApprovalDescription="approved in Studio", CustomerMetadataProperties=meta)
    time.sleep(1.0)  # EventBridge dates events to the second: after the synced state began
    at = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    assert events.put_events(Entries=[model_package_event(sm, pending.arn, at)])["FailedEntryCount"] == 0
    vid = f"{PROD}:claims-fraud:{pending.version}"

    rows = wait_for("the event's row", lambda: [r for r in history(ctx, vid) if r["change_source"] == "event"])
    assert rows[0]["approval_status"] == "Approved" and rows[0]["valid_from"] == at  # the event's own time
    assert rows[0]["confidence"] == "exact" and rows[0]["ledger_seq"] is not None
    wait_for("the sync after the event", lambda: listener.counts.snapshot().get("syncs"))

    # the same event delivered again (at-least-once): recorded once, nothing new in history
    stored = ctx.catalog.query_dicts("SELECT event_id, payload FROM history_events WHERE channel = 'eventbridge'")
    assert len(stored) == 1
    sqs.send_message(QueueUrl=url, MessageBody=stored[0]["payload"])
    wait_for("the duplicate", lambda: listener.counts.snapshot().get("duplicates"))
    listener.apply_round(settle=0)
    states = history(ctx, vid)
    assert [(s["approval_status"], s["change_source"]) for s in states] == [
        ("PendingManualApproval", "sync"), ("Approved", "event")]  # the sync after the event saw the same change
    assert len(ctx.catalog.query_dicts("SELECT * FROM history_events")) == 1
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"  # deleted once committed


def test_malformed_and_foreign_messages_are_counted_and_never_fatal(world) -> None:
    ctx, listener, _, sqs, _, url = world
    sqs.send_message(QueueUrl=url, MessageBody="not json at all")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "x1", "detail-type": "SageMaker Model Package "
                                                           "State Change", "source": "aws.sagemaker",
                                                           "time": "2026-12-01T00:00:00Z", "detail": {}}))
    wait_for("two malformed messages", lambda: listener.counts.snapshot().get("malformed", 0) >= 2)
    status, doc = listener.health()
    assert status == 200 and doc["status"] == "ok"
    # the count moves before the row commits: wait for the rows too (under load the second lagged)
    wait_for("two rows kept", lambda: len(ctx.catalog.query_dicts("SELECT status FROM history_events")) >= 2)
    kept = ctx.catalog.query_dicts("SELECT status FROM history_events")
    assert [k["status"] for k in kept] == ["malformed", "malformed"]  # kept for the record, then deleted
    wait_for("an empty queue", lambda: sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "0")


def test_a_message_is_deleted_only_after_it_is_committed(world, monkeypatch) -> None:
    ctx, listener, pending, sqs, events, url = world
    listener.stop()  # a fresh listener whose first commit fails, as when the catalog is busy
    fresh: Listener = build_listener(ctx, {}, queue_url=url)
    calls = {"n": 0}
    real = ctx.catalog.record_event

    def flaky(row):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("catalog busy")
        return real(row)

    monkeypatch.setattr(ctx.catalog, "record_event", flaky)  # our own boundary: the catalog write fails once
    sm, _ = seed.clients(PROD_ID)
    at = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    events.put_events(Entries=[model_package_event(sm, pending.arn, at)])
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    fresh.start(port=0)
    try:
        wait_for("the redelivered message", lambda: ctx.catalog.query_dicts("SELECT * FROM history_events"))
    finally:
        fresh.stop()
    assert calls["n"] >= 2 and fresh.counts.snapshot()["errors"] >= 1


def test_events_wait_while_the_ledger_is_not_sealed(world) -> None:
    from governance.ledger import HEAD_FILE

    ctx, listener, pending, _, events, _ = world
    (ctx.workspace.checkpoints_dir / HEAD_FILE).unlink()
    sm, _ = seed.clients(PROD_ID)
    time.sleep(1.0)
    events.put_events(Entries=[model_package_event(sm, pending.arn, dt.datetime.now(dt.UTC).replace(
        microsecond=0, tzinfo=None))])
    wait_for("the refusal", lambda: listener.counts.snapshot().get("errors"))
    assert "refused recording registry events of ml-prod" in listener.last_error
    assert [r["status"] for r in ctx.catalog.query_dicts("SELECT status FROM history_events")] == ["pending"]
    assert not [r for r in history(ctx, f"{PROD}:claims-fraud:{pending.version}") if r["change_source"] == "event"]
    assert listener.health()[0] == 200  # refused, not dead: it applies them once the ledger is put right
