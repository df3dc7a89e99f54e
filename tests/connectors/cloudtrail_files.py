"""CloudTrail log files as a trail delivers them to S3, written independently of the code that reads them.

The format is AWS's documented one: each object is gzip-compressed JSON ``{"Records": [...]}``, one record per API
call with ``eventVersion``, ``userIdentity``, ``eventTime`` (UTC, ``Z``), ``eventSource``, ``eventName``,
``awsRegion``, ``requestParameters``, ``responseElements``, ``eventID`` … and ``errorCode`` for a refused call.
Objects sit under ``<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` named
``<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAGEMAKER = "sagemaker.amazonaws.com"


def user(account_id: str, who: str, role: str = "DataScience") -> dict[str, Any]:
    """An assumed-role identity as CloudTrail records it (``arn`` names the session, i.e. the person)."""
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLE:{who}",
            "arn": f"arn:aws:sts::{account_id}:assumed-role/{role}/{who}", "accountId": account_id,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account_id}:role/{role}",
                                                 "userName": role}}}


def record(account_id: str, region: str, at: dt.datetime, name: str, who: str, request: dict[str, Any] | None,
           response: dict[str, Any] | None = None, *, source: str = SAGEMAKER, error: str | None = None,
           event_id: str | None = None) -> dict[str, Any]:
    """One CloudTrail record of API call ``name`` made by ``who`` at ``at`` (naive UTC)."""
    out: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": user(account_id, who), "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": region, "sourceIPAddress": "10.0.0.12",
        "userAgent": "Boto3/1.34.0 md/Botocore#1.34.0", "requestParameters": request, "responseElements": response,
        "requestID": str(uuid.uuid4()), "eventID": event_id or str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    if error:
        out.update(errorCode=error, errorMessage=f"{error}: not allowed", responseElements=None)
    return out


def key_for(prefix: str, account_id: str, region: str, at: dt.datetime) -> str:
    """The object key CloudTrail gives a file delivered at ``at``."""
    folder = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return (f"{folder}AWSLogs/{account_id}/CloudTrail/{region}/{at:%Y/%m/%d}/"
            f"{account_id}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{uuid.uuid4().hex[:16]}.json.gz")


def body(records: list[dict[str, Any]]) -> bytes:
    """A log file's bytes: gzip of ``{"Records": [...]}``."""
    return gzip.compress(json.dumps({"Records": records}).encode(), mtime=0)


@dataclass
class Trail:
    """The files written so far: key -> bytes (what an independent check re-reads)."""

    bucket: str
    prefix: str
    files: dict[str, bytes] = field(default_factory=dict)

    def deliver(self, s3: Any, account_id: str, region: str, at: dt.datetime, records: list[dict[str, Any]]) -> str:
        """Put one log file delivered at ``at`` holding ``records``; return its key."""
        key = key_for(self.prefix, account_id, region, at)
        data = body(records)
        s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        self.files[key] = data
        return key

    def write_local(self, root: Path) -> Path:
        """The same files under ``root`` (what ``aws s3 sync`` would leave), for reading without S3."""
        for key, data in self.files.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return root
