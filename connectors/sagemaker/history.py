"""What a SageMaker account keeps about its own past (``countersign backfill``): CloudTrail log files, lifecycle
actions, and the queue its EventBridge events wait in (``countersign listen``).

- CloudTrail log files (:mod:`~connectors.sagemaker.cloudtrail`) from ``s3://bucket/prefix`` with the account's
  sync role (the role needs ``s3:ListBucket`` and ``s3:GetObject`` on the trail's bucket, often in a log-archive
  account: grant them in that bucket's policy), or from a local copy of the same layout.
- Lifecycle actions: ``ListActions(ActionType="ModelLifeCycle")`` and ``DescribeAction`` give each stage change of a
  model package (``Properties``: stage, stageStatus, stageDescription), its time and who made it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from connectors.base import EventQueue, HistoryRead, QueuedMessage, ReadObject, RegistryChange, SyncIssue
from connectors.sagemaker import cloudtrail
from connectors.sagemaker.capture import split_s3
from connectors.sagemaker.session import SageMakerSession, error_text
from core.clock import naive_utc
from core.errors import ConnectorError, InputError
from core.progress import ProgressFn, no_progress

_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


class HistoryReading(SageMakerSession):
    """``read_history`` (:class:`connectors.base.HistoryReader`) and ``event_queue`` of a SageMaker account."""

    _account_id: str | None = None

    def aws_account_id(self) -> str:
        """The AWS account id this account reads: from ``role_arn``, else asked of STS once."""
        if self._account_id is None:
            found = _ROLE.match(self.settings.role_arn or "")
            if found:
                self._account_id = found[1]
            else:
                from botocore.exceptions import BotoCoreError, ClientError

                try:
                    self._account_id = self.client("sts").get_caller_identity()["Account"]
                except (BotoCoreError, ClientError) as exc:  # no credentials, or STS refused
                    raise self._fail("cannot tell which AWS account this is (STS GetCallerIdentity)", exc) from exc
        return self._account_id

    def read_history(self, since: dt.datetime | None, until: dt.datetime, *, records: str | None = None,
                     progress: ProgressFn = no_progress) -> HistoryRead:
        """Changes between ``since`` and ``until`` from the CloudTrail files at ``records`` and the lifecycle
        actions; a file or call that fails is an issue (and its period a gap), never the end of the reading."""
        calls_before = self.meter.calls
        changes: list[RegistryChange] = []
        objects: list[ReadObject] = []
        issues: list[SyncIssue] = []
        gaps: list[tuple[dt.datetime, dt.datetime, str]] = []
        sources = []
        reach = since
        if records:
            sources.append("cloudtrail")
            found, read, unread, trail_issues = self._trail(records, since, until, progress)
            changes += found
            objects += read
            issues += trail_issues
            days = [d for d in (cloudtrail.day_of(o.uri) for o in read) if d is not None]
            gaps += cloudtrail.missing_days(days + [d for d in unread], since, until)
            gaps += [(dt.datetime.combine(d, dt.time()), dt.datetime.combine(d, dt.time()) + dt.timedelta(days=1),
                      "CloudTrail file unreadable") for d in sorted(set(unread))]
            if reach is None and days:
                reach = dt.datetime.combine(min(days), dt.time())
        stages, problem = self._lifecycle(since, until)
        if problem is None:
            sources.append("lifecycle action")
            changes += stages
        else:
            issues.append(SyncIssue("ListActions", f"lifecycle actions not read ({problem}): stage changes before "
                                    "the first sync are unknown"))
        kept = sorted((c for c in changes if (since is None or c.at >= since) and c.at < until),
                      key=lambda c: c.at)
        return HistoryRead(tuple(kept), tuple(objects), reach if sources and "cloudtrail" in sources else None,
                           tuple(gaps), tuple(sources), tuple(issues), self.meter.calls - calls_before)

    # -- CloudTrail ------------------------------------------------------------------------------------------------

    def _trail(self, where: str, since: dt.datetime | None, until: dt.datetime, progress: ProgressFn):
        account, region = self.aws_account_id(), self.settings.region
        if where.startswith("s3://"):
            files = self._s3_files(where, account, region, since, until)
            s3 = self.client("s3")

            def fetch(uri: str) -> bytes:
                bucket, key = split_s3(uri)
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        else:
            root = Path(where.removeprefix("file://")).expanduser()
            if not root.is_dir():
                raise InputError(f"--cloudtrail {where}: no such folder (give s3://bucket/prefix, or a folder holding "
                                 "a copy of the trail's AWSLogs/ tree)")
            files = cloudtrail.local_files(root, account, region, since, until)

            def fetch(uri: str) -> bytes:
                return Path(uri).read_bytes()

        reader = cloudtrail.ChangeReader()
        read: list[ReadObject] = []
        unread: list[dt.date] = []
        issues: list[SyncIssue] = []
        collected: list[tuple[dt.datetime, int, dict[str, Any], str]] = []
        total = max(1, len(files))
        for n, (obj, records, uri, problem) in enumerate(cloudtrail.read_all(
                files, fetch, workers=self.settings.max_concurrency * 2,
                progress=lambda i: progress(f"CloudTrail files {i}/{total}", i / total))):
            if problem is not None:
                issues.append(SyncIssue(uri, problem))
                if (day := cloudtrail.day_of(uri)) is not None:
                    unread.append(day)
                continue
            read.append(obj)
            for i, r in enumerate(records):
                r["_at"] = cloudtrail.event_time(r.get("eventTime"))
                collected.append((r["_at"] or dt.datetime.min, n * 100_000 + i, r, uri))
        collected.sort(key=lambda x: (x[0], x[1]))
        changes = reader.changes((r, uri) for _, _, r, uri in collected)
        return changes, read, unread, issues + reader.issues

    def _s3_files(self, where: str, account: str, region: str, since: dt.datetime | None,
                  until: dt.datetime) -> list[cloudtrail.LogFile]:
        bucket, prefix = split_s3(where if where.endswith("/") else where + "/")
        prefix = prefix.strip("/")
        logs = f"{prefix}/AWSLogs/" if prefix else "AWSLogs/"
        s3 = self.client("s3")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            files = self._list(s3, bucket, f"{logs}{account}/CloudTrail/{region}/", since, until)
            if not files:  # an organisation trail: AWSLogs/<o-id>/<account>/...
                pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=logs, Delimiter="/")
                orgs = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])
                        if p["Prefix"].rstrip("/").rsplit("/", 1)[-1].startswith("o-")]
                for org in orgs:
                    files += self._list(s3, bucket, f"{org}{account}/CloudTrail/{region}/", since, until)
        except (BotoCoreError, ClientError) as exc:  # the bucket is missing or refuses this role
            raise ConnectorError(f"account {self.account.name!r}: cannot list CloudTrail files under {where}: "
                                 f"{error_text(exc)}") from exc
        return files

    @staticmethod
    def _list(s3: Any, bucket: str, base: str, since: dt.datetime | None,
              until: dt.datetime) -> list[cloudtrail.LogFile]:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": base}
        if since is not None:  # keys sort by day: skip the years before the window
            params["StartAfter"] = f"{base}{since - dt.timedelta(days=2):%Y/%m/%d}/~"
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(**params):
            for item in page.get("Contents", []):
                day = cloudtrail.day_of(item["Key"])
                if cloudtrail.within(day, since, until):
                    out.append(cloudtrail.LogFile(f"s3://{bucket}/{item['Key']}", day))
        return out

    # -- lifecycle actions -------------------------------------------------------------------------------------------

    def _lifecycle(self, since: dt.datetime | None, until: dt.datetime) -> tuple[list[RegistryChange], str | None]:
        """Stage changes from the account's ``ModelLifeCycle`` actions, or why they could not be read."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        params: dict[str, Any] = {"ActionType": "ModelLifeCycle", "CreatedBefore": until,
                                  "SortBy": "CreationTime", "SortOrder": "Ascending"}
        if since is not None:
            params["CreatedAfter"] = since
        out = []
        try:
            for page in sm.get_paginator("list_actions").paginate(**params):
                for summary in page.get("ActionSummaries", []):
                    out.append(self._stage(sm.describe_action(ActionName=summary["ActionName"])))
        except (BotoCoreError, ClientError) as exc:  # no ListActions here (moto, an older region): said, not fatal
            return [], error_text(exc)
        return [c for c in out if c is not None], None

    @staticmethod
    def _stage(action: dict[str, Any]) -> RegistryChange | None:
        props = {str(k).lower(): v for k, v in (action.get("Properties") or {}).items()}
        arn = (action.get("Source") or {}).get("SourceUri")
        parts = cloudtrail.package_parts(arn)
        stage, at = props.get("stage"), action.get("CreationTime")
        if parts is None or not stage or not isinstance(at, dt.datetime):
            return None
        who = action.get("CreatedBy") or {}
        actor = who.get("UserProfileName") or (who.get("IamIdentity") or {}).get("Arn") or who.get("UserProfileArn")
        detail = " ".join(str(x) for x in (props.get("stagestatus"), props.get("stagedescription")) if x)
        return RegistryChange(
            at=naive_utc(at), what="version", action="stage", source="lifecycle action", model=parts[0],
            version=parts[1], source_ref=arn, actor=actor, label=str(stage),
            note=f"lifecycle stage {stage}" + (f" ({detail})" if detail else ""), evidence=action.get("ActionArn"),
            event_id=action.get("ActionArn"))

    # -- the event queue ---------------------------------------------------------------------------------------------

    def event_queue(self, url: str) -> EventQueue:
        """The SQS queue at ``url`` read with this account's sync credentials (long polling)."""
        return SqsQueue(self.client("sqs"), url)


class SqsQueue:
    """An SQS queue of EventBridge events (:class:`connectors.base.EventQueue`)."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def receive(self, wait_seconds: int, max_messages: int = 10) -> list[QueuedMessage]:
        """Up to ``max_messages`` messages, long-polling up to ``wait_seconds`` (at most 20, SQS's limit)."""
        got = self.client.receive_message(QueueUrl=self.url, MaxNumberOfMessages=max(1, min(10, max_messages)),
                                          WaitTimeSeconds=max(0, min(20, wait_seconds)),
                                          MessageSystemAttributeNames=["ApproximateReceiveCount"])
        return [QueuedMessage(m["MessageId"], m["ReceiptHandle"], m.get("Body") or "",
                              int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1)))
                for m in got.get("Messages", [])]

    def delete(self, receipt: str) -> None:
        """Delete one received message."""
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)
