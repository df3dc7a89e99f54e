"""What several report blocks read the same way: gate verdicts (evaluated, or as a request recorded them) and the
payload of a decision."""

from __future__ import annotations

import json
from typing import Any

from governance.analytics.kinds.base import first, records_from
from governance.reports.facts import ReportFacts


def gate_records(f: ReportFacts) -> tuple[list[dict[str, Any]], str | None]:
    """Gate verdicts: the policy evaluated as of the report date, else those a promotion request recorded."""
    if f.gates:
        return [dict(g) for g in f.gates], f.gates_note
    for req in reversed(f.requests):
        payload = req.get("payload")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            continue
        checklist = payload.get("checklist")
        gates = (checklist.get("results") if isinstance(checklist, dict) else None) or payload.get("gates")
        if gates:
            return records_from(gates, "gate"), f"promotion request {req['request_id']}"
    return [], None


def verdict(row: dict[str, Any]) -> str:
    """A gate row's verdict in capitals (PASS, FAIL, MISSING; ``?`` when it records none)."""
    v = first(row, "verdict", "status", "passed", "ok")
    if isinstance(v, bool):
        return "PASS" if v else "FAIL"
    return str(v).upper() if v is not None else "?"


def payload(d: dict[str, Any]) -> dict[str, Any]:
    """The payload of a request or decision row as a dict (JSON text read; other text kept under ``text``)."""
    value = d.get("payload")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = {"text": value}
    return value if isinstance(value, dict) else {}


def load_list(value: Any) -> list[str]:
    """A list stored as JSON text or as a list, as strings."""
    loaded = json.loads(value) if isinstance(value, str) else value
    return [str(x) for x in loaded or []]
