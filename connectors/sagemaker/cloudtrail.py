"""CloudTrail log files: the years of SageMaker calls an organisation trail keeps in S3, read as registry changes.

A trail delivers gzip-compressed JSON files ``{"Records": [...]}`` under
``<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` (an organisation trail adds the organisation id:
``<prefix>/AWSLogs/<o-id>/<account>/...``), one record per API call with ``eventTime``, ``eventSource``,
``eventName``, ``userIdentity``, ``requestParameters``, ``responseElements``, ``eventID`` and, for a refused call,
``errorCode``. The same layout copied to a folder (``aws s3 sync``) reads the same way.

What becomes a change: ``CreateModelPackage`` (a version and its first approval status), ``UpdateModelPackage``
(a new approval status and note, a lifecycle stage), ``DeleteModelPackage``, and the endpoint chain
``CreateModel`` → ``CreateEndpointConfig`` → ``CreateEndpoint`` / ``UpdateEndpoint`` / ``DeleteEndpoint`` (which
version each variant served, from when to when). Refused calls change nothing and are skipped.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from connectors.base import ReadObject, RegistryChange, SyncIssue
from core.workers import executor

SAGEMAKER = "sagemaker.amazonaws.com"
EVENTS = frozenset({"CreateModelPackage", "UpdateModelPackage", "DeleteModelPackage", "CreateModel",
                    "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint"})
_DAY = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/[^/]+\.json\.gz$")
_PACKAGE = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:\d*:model-package/(?P<group>[^/]+)/(?P<version>\d+)$", re.I)


def _get(mapping: Any, *names: str) -> Any:
    """``mapping[name]`` for the first of ``names`` present, ignoring case (CloudTrail writes request parameters in
    lower camel case, the API documents them in upper)."""
    if not isinstance(mapping, Mapping):
        return None
    for name in names:  # the spellings CloudTrail and the API use, before any other case
        if name in mapping:
            return mapping[name]
        if (upper := name[:1].upper() + name[1:]) in mapping:
            return mapping[upper]
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def package_parts(arn: str | None) -> tuple[str, int] | None:
    """(group, version) of a versioned model package ARN, else None."""
    found = _PACKAGE.match(arn or "")
    return (found["group"], int(found["version"])) if found else None


def day_of(key: str) -> dt.date | None:
    """The delivery day a log file's key names (``…/YYYY/MM/DD/<file>.json.gz``), else None."""
    found = _DAY.search(key)
    if not found:
        return None
    try:
        return dt.date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None


def event_time(text: Any) -> dt.datetime | None:
    """A record's ``eventTime`` as naive UTC."""
    if not isinstance(text, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def actor_of(record: Mapping[str, Any]) -> str | None:
    """Who made the call: the identity's ARN (an assumed role's session names the person), else what AWS names."""
    who = record.get("userIdentity") or {}
    return who.get("arn") or who.get("invokedBy") or who.get("principalId") or None


class _Who(msgspec.Struct):
    arn: str | None = None
    invokedBy: str | None = None
    principalId: str | None = None


class _Record(msgspec.Struct):
    """The fields of a record the reader uses; the parameters stay raw JSON until a record is kept."""

    eventSource: str | None = None
    eventName: str | None = None
    eventTime: str | None = None
    eventID: str | None = None
    errorCode: str | None = None
    userIdentity: _Who | None = None
    requestParameters: msgspec.Raw = msgspec.Raw(b"null")
    responseElements: msgspec.Raw = msgspec.Raw(b"null")


class _File(msgspec.Struct):
    Records: list[_Record]


_DECODER = msgspec.json.Decoder(_File)


def read_records(data: bytes) -> list[dict[str, Any]]:
    """The SageMaker calls that changed something (:func:`relevant`) among one log file's records, as dicts;
    ValueError when the bytes are not a gzip-compressed CloudTrail file.

    An organisation trail's files hold every service's calls: the records are decoded into the few fields read
    (msgspec, about 7 times faster than ``json.loads`` of the whole file), a record's parameters only when it is kept.
    """
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise ValueError(f"not a gzip-compressed CloudTrail file ({exc})") from None
    if SAGEMAKER.encode() not in raw:
        return []  # most files of a busy trail hold no SageMaker call at all
    try:
        records = _DECODER.decode(raw).Records
    except msgspec.ValidationError:  # an unusual record (a field of another type): the slow, general way
        return _general(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a CloudTrail JSON file ({exc})") from None
    return [{"eventSource": r.eventSource, "eventName": r.eventName, "eventTime": r.eventTime, "eventID": r.eventID,
             "userIdentity": {"arn": r.userIdentity.arn, "invokedBy": r.userIdentity.invokedBy,
                              "principalId": r.userIdentity.principalId} if r.userIdentity else {},
             "requestParameters": msgspec.json.decode(r.requestParameters),
             "responseElements": msgspec.json.decode(r.responseElements)}
            for r in records if r.eventSource == SAGEMAKER and r.eventName in EVENTS and not r.errorCode]


def _general(raw: bytes) -> list[dict[str, Any]]:
    doc = json.loads(raw)
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise ValueError("no Records list")
    return [r for r in records if isinstance(r, dict) and relevant(r)]


def relevant(record: Mapping[str, Any]) -> bool:
    """Whether a record is a SageMaker call that changed the registry or an endpoint (refused calls are not)."""
    return (record.get("eventSource") == SAGEMAKER and record.get("eventName") in EVENTS
            and not record.get("errorCode"))


@dataclass
class _Endpoints:
    """What the calls seen so far say about models, endpoint configurations and endpoints."""

    models: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # model → (package ARN, data URL)
    configs: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)  # config → (variant, model, w)
    serving: dict[str, set[str]] = field(default_factory=dict)  # endpoint → variants it serves


def _containers(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    primary = _get(request, "primaryContainer")
    more = _get(request, "containers") or []
    return [c for c in [primary, *more] if isinstance(c, Mapping)]


class ChangeReader:
    """Turns time-ordered CloudTrail records of one account into :class:`RegistryChange` records."""

    def __init__(self) -> None:
        self.state = _Endpoints()
        self.issues: list[SyncIssue] = []

    def changes(self, records: Iterable[tuple[dict[str, Any], str]]) -> list[RegistryChange]:
        """The changes of ``records`` — (record, the file it came from) pairs, oldest first; a record may carry its
        time already parsed under ``_at``."""
        out: list[RegistryChange] = []
        for record, where in records:
            at = record.get("_at") or event_time(record.get("eventTime"))
            if at is None:
                self.issues.append(SyncIssue(where, f"record {record.get('eventID')} has no readable eventTime"))
                continue
            base = {"at": at, "source": "cloudtrail", "confidence": "exact", "actor": actor_of(record),
                    "event_id": record.get("eventID"), "evidence": f"{where}#{record.get('eventID')}"}
            out.extend(self._one(record, base))
        return out

    def _one(self, record: Mapping[str, Any], base: dict[str, Any]) -> list[RegistryChange]:
        name = record["eventName"]
        request = record.get("requestParameters") or {}
        response = record.get("responseElements") or {}
        if name in ("CreateModelPackage", "UpdateModelPackage", "DeleteModelPackage"):
            return self._package(name, request, response, base)
        if name == "CreateModel":
            containers = _containers(request)
            package = next((_get(c, "modelPackageName") for c in containers if _get(c, "modelPackageName")), None)
            data = next((_get(c, "modelDataUrl") for c in containers if _get(c, "modelDataUrl")), None)
            self.state.models[str(_get(request, "modelName"))] = (package, data)
            return []
        if name == "CreateEndpointConfig":
            variants = [(str(_get(v, "variantName")), str(_get(v, "modelName")),
                         float(_get(v, "initialVariantWeight") or 1.0))
                        for v in _get(request, "productionVariants") or [] if isinstance(v, Mapping)]
            self.state.configs[str(_get(request, "endpointConfigName"))] = variants
            return []
        return self._endpoint(name, request, base)

    def _package(self, name: str, request: Mapping[str, Any], response: Mapping[str, Any],
                 base: dict[str, Any]) -> list[RegistryChange]:
        arn = (_get(response, "modelPackageArn") if name == "CreateModelPackage"
               else _get(request, "modelPackageArn", "modelPackageName"))
        parts = package_parts(arn)
        if parts is None:
            return []  # an unversioned package (a marketplace listing) is no registry version
        common = {**base, "what": "version", "model": parts[0], "version": parts[1], "source_ref": arn}
        if name == "DeleteModelPackage":
            return [RegistryChange(**common, action="deleted")]
        out = []
        status = _get(request, "modelApprovalStatus")
        note = _get(request, "approvalDescription")
        if name == "CreateModelPackage":
            out.append(RegistryChange(**common, action="created", approval_status=status or "PendingManualApproval",
                                      approval_description=note))
        elif status is not None:
            out.append(RegistryChange(**common, action="status" if note is not None else "approval",
                                      approval_status=status, approval_description=note))
        elif note is not None:
            out.append(RegistryChange(**common, action="description", approval_description=note))
        stage = _get(request, "modelLifeCycle")
        if isinstance(stage, Mapping) and _get(stage, "stage"):
            label = str(_get(stage, "stage"))
            detail = " ".join(str(x) for x in (_get(stage, "stageStatus"), _get(stage, "stageDescription")) if x)
            out.append(RegistryChange(**common, action="stage", label=label,
                                      note=f"lifecycle stage {label}" + (f" ({detail})" if detail else "")))
        return out

    def _endpoint(self, name: str, request: Mapping[str, Any], base: dict[str, Any]) -> list[RegistryChange]:
        endpoint = str(_get(request, "endpointName"))
        before = self.state.serving.get(endpoint, set())
        common = {**base, "what": "deployment", "endpoint": endpoint}
        if name == "DeleteEndpoint":
            self.state.serving.pop(endpoint, None)
            return [RegistryChange(**common, action="ended", variant=v) for v in sorted(before)]
        config = str(_get(request, "endpointConfigName"))
        variants = self.state.configs.get(config)
        if variants is None:
            self.issues.append(SyncIssue(base["evidence"], f"{name} of {endpoint} uses endpoint configuration "
                                         f"{config}, created before the records read: what it served is unknown"))
            return []
        out = []
        for variant, model, weight in variants:
            package, data = self.state.models.get(model, (None, None))
            parts = package_parts(package)
            out.append(RegistryChange(
                **common, action="serving", variant=variant, weight=weight, source_ref=package,
                model=parts[0] if parts else None, version=parts[1] if parts else None, model_data_uri=data,
                note=f"{name} with {config} (model {model})"))
        now = {v for v, _, _ in variants}
        out += [RegistryChange(**common, action="ended", variant=v) for v in sorted(before - now)]
        self.state.serving[endpoint] = now
        return out


# -- where the files are ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """One log file: where it is (``s3://…`` or a path) and the day its key names."""

    uri: str
    day: dt.date


def within(day: dt.date | None, since: dt.datetime | None, until: dt.datetime) -> bool:
    """Whether a file delivered on ``day`` can hold calls made between ``since`` and ``until`` (a file is
    delivered within minutes of its calls; the day after ``until`` is read too)."""
    if day is None:
        return False
    first = (since - dt.timedelta(days=1)).date() if since is not None else dt.date.min
    return first <= day <= (until + dt.timedelta(days=1)).date()


def local_files(root: Path, account_id: str, region: str, since: dt.datetime | None,
                until: dt.datetime) -> list[LogFile]:
    """The log files of ``account_id`` / ``region`` in a folder holding a trail's layout (``AWSLogs/…`` inside it,
    or the organisation's ``AWSLogs/<o-id>/…``)."""
    bases = [root / "AWSLogs" / account_id / "CloudTrail" / region]
    bases += sorted(p / account_id / "CloudTrail" / region for p in (root / "AWSLogs").glob("o-*"))
    out = []
    for base in bases:
        for path in sorted(base.rglob("*.json.gz")) if base.is_dir() else []:
            day = day_of(path.as_posix())
            if within(day, since, until):
                out.append(LogFile(str(path), day))
    return out


def digest_read(uri: str, data: bytes) -> tuple[ReadObject, list[dict[str, Any]]]:
    """The record of having read ``data`` from ``uri`` (its sha256 and size) and its relevant records."""
    records = read_records(data)
    return ReadObject(uri, hashlib.sha256(data).hexdigest(), len(data), len(records)), records


def missing_days(days: Iterable[dt.date], since: dt.datetime | None,
                 until: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """The whole days from ``since`` to ``until`` on which no log file was delivered, merged into periods."""
    have = set(days)
    if since is None:
        if not have:
            return []
        since = dt.datetime.combine(min(have), dt.time())
    day, last = since.date(), until.date()
    gaps: list[tuple[dt.datetime, dt.datetime, str]] = []
    while day < last:
        if day not in have:
            start = dt.datetime.combine(day, dt.time())
            end = start + dt.timedelta(days=1)
            if gaps and gaps[-1][1] == start:
                start = gaps.pop()[0]
            gaps.append((max(start, since), min(end, until), "no CloudTrail file"))
        day += dt.timedelta(days=1)
    return gaps


def read_all(files: list[LogFile], fetch: Callable[[str], bytes], *, workers: int = 4,
             progress: Callable[[int], None] | None = None) -> Iterator[tuple[ReadObject | None, list[dict[str, Any]],
                                                                               str, str | None]]:
    """(read object, relevant records, uri, problem) per file, fetched ``workers`` at a time, in file order."""
    def one(f: LogFile) -> tuple[ReadObject | None, list[dict[str, Any]], str, str | None]:
        try:
            obj, records = digest_read(f.uri, fetch(f.uri))
        except Exception as exc:  # one unreadable file is a labelled gap, not a failed backfill
            return None, [], f.uri, f"{type(exc).__name__}: {exc}"
        return obj, records, f.uri, None

    pool = executor(max(1, workers))
    try:
        for i, result in enumerate(pool.map(one, files)):
            if progress is not None:
                progress(i + 1)
            yield result
    finally:
        pool.shutdown(wait=True)
