"""Tables a risk officer reads: human column headers and numbers rounded to what they mean.

The data keeps its own column names (tests, exports and selections read them); only the headers and the number
formats change, through ``st.dataframe(column_config=...)`` built by :func:`table_config`.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from core.wording import plain_value

# The header a person reads for each column name the governance layer returns.
COLUMN_LABELS: dict[str, str] = {
    "account": "Account",
    "action": "Action",
    "actor": "Actor",
    "approval_status": "Registry status",
    "approvals": "Approvals",
    "approvals_required": "Approvals required",
    "approvers": "Approved by",
    "connector": "Connector",
    "created_at": "Created",
    "created_by": "Created by",
    "deployed_on": "Deployed on",
    "environment": "Environment",
    "error": "Error",
    "execution_state": "Execution",
    "finished_at": "Finished",
    "from_env": "From",
    "hash": "Hash",
    "last_success": "Last successful sync",
    "last_sync": "Last sync",
    "model": "Model",
    "owner": "Owner",
    "payload": "Payload",
    "prev_hash": "Previous hash",
    "reason": "Reason",
    "recorded_at": "Recorded (UTC)",
    "request_id": "Request",
    "requester": "Requested by",
    "risk_tier": "Risk tier",
    "seq": "Entry",
    "source_version_id": "Promoted from",
    "started_at": "Started",
    "status": "Status",
    "subject": "Subject",
    "target_account": "Target account",
    "target_version_id": "Promoted copy",
    "to_env": "To",
    "updated_at": "Updated",
    "version": "Version",
    "version_id": "Version id",
    "version_label": "Version",
    "versions": "Versions",
}

# Columns holding money (2 decimals) or percentages (1 decimal); every other float is a metric (3 decimals).
MONEY_WORDS = ("cost", "total", "training (", "serving (", "price")
PERCENT_WORDS = ("percent", "share", "%")
METRIC_FORMAT, MONEY_FORMAT, PERCENT_FORMAT = "%.3f", "%.2f", "%.1f%%"
DATETIME_FORMAT = "YYYY-MM-DD HH:mm"


IDENTIFIER = re.compile(r"^[a-z][a-z0-9_ ]*$")  # a code name (``days_left``, ``last review``), not a value


def header(column: str) -> str:
    """The header of ``column``: its label in :data:`COLUMN_LABELS`; a code name in words, capitalised; anything
    else (a version id heading a comparison column) as it is."""
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    if not IDENTIFIER.match(str(column)):
        return str(column)
    words = str(column).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def number_format(column: str) -> str:
    """The printf format of a float column: money 2 decimals, percentages 1, metrics 3."""
    name = str(column).lower()
    if any(w in name for w in MONEY_WORDS):
        return MONEY_FORMAT
    if any(w in name for w in PERCENT_WORDS):
        return PERCENT_FORMAT
    return METRIC_FORMAT


# Columns that hold codes only (an action, a status, a kind): any identifier in them is shown in words.
CODE_COLUMNS = frozenset({"action", "what", "kind", "status", "approval_status", "execution_state", "outcome",
                          "monitoring", "change_source", "confidence", "trigger", "decision", "state", "source"})


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` as a person reads it: registry states and ledger actions in words, containers as text,
    empty cells as a dash (:func:`core.wording.plain_value`); numbers and dates are left to the column formats."""
    out = None
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            continue
        code = str(column) in CODE_COLUMNS
        try:  # each distinct value once: a 10,000-row inventory holds a few dozen states
            shown = {v: plain_value(v, code_column=code) for v in pd.unique(series)}
            mapped = series.map(shown)
        except TypeError:  # unhashable cells (dicts, lists): one by one
            mapped = series.map(lambda v, code=code: plain_value(v, code_column=code))
        if not mapped.equals(series):
            out = frame.copy() if out is None else out
            out[column] = mapped
    return frame if out is None else out


def _frame(data: Any) -> pd.DataFrame | None:
    if isinstance(data, pd.DataFrame):
        return data
    inner = getattr(data, "data", None)  # a pandas Styler
    return inner if isinstance(inner, pd.DataFrame) else None


# A column's width in pixels from its text: the grid's font is about 7-8 px a character; the header also carries
# the sort and menu icons. Wider than MAX_WIDTH a column would push the others off screen: it is cut there.
CHAR_PX, PAD_PX, MIN_WIDTH, MAX_WIDTH = 8, 28, 60, 560


def fit_width(frame: pd.DataFrame, column: Any, label: str | None = None) -> int:
    """Pixels that show ``column``'s longest text and its header whole (issue 35, finding 12: "⚠ unap…")."""
    series = frame[column]
    longest = int(series.map(lambda v: len(str(v))).max()) if len(series) else 0
    text = max(longest, len(label if label is not None else header(column)))
    return min(max(MIN_WIDTH, CHAR_PX * text + PAD_PX), MAX_WIDTH)


def _with_width(setting: Any, width: int) -> Any:
    """A page's own setting of a column with the fitted ``width`` unless the page chose one."""
    if isinstance(setting, str):
        return st.column_config.TextColumn(setting, width=width)
    if isinstance(setting, dict) and setting.get("width") is None and setting.get("type_config", {}).get(
            "type") in (None, "text", "list", "link", "selectbox"):
        return {**setting, "width": width}
    return setting


def table_config(data: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``column_config`` giving every column of ``data`` a human header, floats their rounding and text columns a
    width that fits their longest value (:func:`fit_width`).

    ``overrides`` (a page's own column settings) win; a plain string override is a label.
    """
    frame = _frame(data)
    config: dict[str, Any] = {}
    overrides = dict(overrides or {})
    if frame is not None:
        for column in frame.columns:
            label = header(column)
            dtype = frame[column].dtype
            if pd.api.types.is_float_dtype(dtype):
                config[column] = st.column_config.NumberColumn(label, format=number_format(column))
            elif pd.api.types.is_datetime64_any_dtype(dtype):
                config[column] = st.column_config.DatetimeColumn(label, format=DATETIME_FORMAT)
            elif pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(frame[column], skipna=True) in (
                    "string", "empty"):  # text only: a column of dates or lists keeps its own column type
                mine = overrides.get(column, label)
                shown = mine if isinstance(mine, str) else (mine or {}).get("label") or label
                config[column] = _with_width(mine, fit_width(frame, column, shown))
                overrides.pop(column, None)
            elif label != column:
                config[column] = label
    config.update(overrides)
    return config


def show_table(data: Any, *, column_config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """``st.dataframe`` with human headers and rounded numbers (the data itself is unchanged)."""
    kwargs.setdefault("hide_index", True)
    if isinstance(data, pd.DataFrame):
        data = display_frame(data)
    return st.dataframe(data, column_config=table_config(data, column_config), **kwargs)
