"""Endpoint data capture: ``capture+s3://bucket/prefix/<endpoint>/<variant>/?columns=...`` URIs, and the JSON
lines SageMaker writes there read into rows and one Parquet file."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from core.canonical import canonical_json
from core.errors import ConnectorError

if TYPE_CHECKING:
    from connectors.sagemaker.session import SageMakerSession

CAPTURE_SCHEME = "capture+s3"


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; anything else is an :class:`InputError`-like ConnectorError."""
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", CAPTURE_SCHEME) or not parts.netloc:
        raise ConnectorError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    return parts.netloc, unquote(parts.path.lstrip("/"))


def capture_uri(prefix: str, endpoint: str, variant: str, columns: tuple[str, ...] = ()) -> str:
    """The ``data_uris['current']`` value for an endpoint variant's data capture under ``prefix``."""
    bucket, key = split_s3(prefix)
    key = "/".join(p for p in (key.strip("/"), endpoint, variant) if p) + "/"
    uri = f"{CAPTURE_SCHEME}://{bucket}/{key}"
    if columns:
        uri += "?columns=" + ",".join(quote(c, safe="") for c in columns)
    return uri


def _decode_payload(block: dict[str, Any]) -> str:
    data = block.get("data", "")
    if (block.get("encoding") or "").upper() == "BASE64":
        return base64.b64decode(data).decode("utf-8")
    return data


def _payload_rows(block: dict[str, Any], columns: tuple[str, ...], default_prefix: str) -> list[dict[str, Any]]:
    """Rows of one capture payload: CSV lines (named by ``columns``) or JSON records/instances."""
    text = _decode_payload(block).strip()
    if not text:
        return []
    content_type = (block.get("observedContentType") or "").lower()
    if "json" in content_type or text[:1] in "[{":
        obj = json.loads(text)
        if isinstance(obj, dict):
            for key in ("instances", "predictions", "records"):
                if key in obj:
                    obj = obj[key]
                    break
        items = obj if isinstance(obj, list) else [obj]
        rows = []
        for item in items:
            if isinstance(item, dict):
                rows.append(dict(item.get("features", item)) if isinstance(item.get("features"), dict) else dict(item))
            else:
                values = item if isinstance(item, list) else [item]
                rows.append(_named(values, columns, default_prefix))
        return rows
    return [_named(_parse_scalar_list(r), columns, default_prefix) for r in csv.reader(io.StringIO(text)) if r]


def _parse_scalar_list(values: list[str]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            out.append(v)
    return out


def _named(values: list[Any], columns: tuple[str, ...], prefix: str) -> dict[str, Any]:
    if len(values) == 1 and prefix == "prediction":
        return {"prediction": values[0]}
    return {(columns[i] if i < len(columns) else f"{prefix}{i}"): v for i, v in enumerate(values)}


def capture_to_rows(lines: list[str], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per captured record: input features (named by ``columns``), ``prediction``, event id and time."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            data = event["captureData"]
            inputs = _payload_rows(data.get("endpointInput") or {}, columns, "f")
            outputs = _payload_rows(data.get("endpointOutput") or {}, (), "prediction")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"line {number}: not a SageMaker data capture record ({type(exc).__name__}: {exc})") from None
        meta = event.get("eventMetadata") or {}
        for i, row in enumerate(inputs):
            if i < len(outputs):
                out = outputs[i]
                row.update(out if "prediction" in out else {f"prediction_{k}": v for k, v in out.items()})
            row["_event_id"] = meta.get("eventId")
            row["_inference_time"] = meta.get("inferenceTime")
            rows.append(row)
    return rows


def capture_parquet(session: SageMakerSession, uri: str) -> Path:
    """The data capture under a ``capture+s3://`` URI as one Parquet file in the cache (named by its content)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(uri)
    columns = tuple(unquote(c) for c in (parse_qs(parts.query).get("columns", [""])[0]).split(",") if c)
    bucket, prefix = parts.netloc, unquote(parts.path.lstrip("/"))
    s3 = session.client("s3")
    try:
        objects = sorted(
            (o["Key"], o.get("ETag", ""))
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
            if o["Key"].endswith((".jsonl", ".json"))
        )
    except (ClientError, BotoCoreError) as exc:
        raise session._fail(f"cannot list data capture under {uri}", exc) from exc
    if not objects:
        raise ConnectorError(f"no data capture files (*.jsonl) under s3://{bucket}/{prefix}")
    marker = canonical_json([uri, objects])
    cached = session.cache.lookup(marker)
    if cached:
        return cached
    rows: list[dict[str, Any]] = []
    for key, _ in objects:
        try:
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except (ClientError, BotoCoreError) as exc:
            raise session._fail(f"cannot read s3://{bucket}/{key}", exc) from exc
        try:
            rows.extend(capture_to_rows(text.splitlines(), columns))
        except ValueError as exc:
            raise ConnectorError(f"s3://{bucket}/{key}: {exc}") from None
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    table = pa.table({n: [r.get(n) for r in rows] for n in names})
    path = session.cache.store(lambda fh: pq.write_table(table, fh, compression="zstd"), ".parquet")
    session.cache.remember(marker, path)
    return path
