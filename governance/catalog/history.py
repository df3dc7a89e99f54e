"""Registry history: what each version and deployment looked like over time, and when nobody was looking.

Registries keep only their current state (SageMaker overwrites an approval, MLflow moves an alias, ZenML a stage).
Every sync compares the account's state after the snapshot was applied with the open history rows and, inside the
snapshot's transaction, closes the rows that changed or disappeared and opens rows for the new states. A version's
state is its environment, approval, labels and model card, and its artifact digest (``artifact_sha256`` with where
and when it was read): bytes replaced under an unchanged registry record open a new row, so the digest a version
had before stays in its history with the time the change was seen. Rows are never deleted. Intervals are half-open: a row holds at instant ``t`` when ``valid_from <= t < valid_to`` (an open
row has ``valid_to`` NULL). ``time_source`` says where ``valid_from`` came from: ``source`` (the registry's own
modification time) or ``sync`` (the start of the sync that saw the change). A sync that failed, or a pause longer
than the account's full-pass period, is a row of ``history_gaps``: the state inside a gap is not known.

:data:`AS_OF_SQL` is the as-of query on the three history tables alone, so an examiner can run it offline on the
Parquet files of an audit pack (see :func:`as_of_sql_for_files`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from core.canonical import record_hash
from core.structs import Row
from governance.catalog.connection import CatalogConnection
from governance.catalog.records import fetch_dicts, from_json, to_json

if TYPE_CHECKING:
    import pandas as pd

# Switchable for the benchmark only (benchmarks/history.py measures a sync with and without history writes).
RECORD_HISTORY = True

HISTORY_TABLES = ("version_history", "deployment_history", "history_gaps")

# The state of every version and deployment at the instant $as_of (a naive UTC TIMESTAMP), from the history
# tables alone: one row per version as `countersign models` lists it, with the deployments serving it then and
# whether its account was in an observation gap at that instant.
AS_OF_SQL = """
WITH v AS (
    SELECT * FROM version_history
    WHERE valid_from <= $as_of AND (valid_to IS NULL OR valid_to > $as_of) AND superseded_by IS NULL
), d AS (
    SELECT * FROM deployment_history
    WHERE valid_from <= $as_of AND (valid_to IS NULL OR valid_to > $as_of) AND version_id IS NOT NULL
      AND superseded_by IS NULL
), dep AS (
    SELECT version_id, array_to_string(list_sort(list(endpoint)), ', ') AS deployed_on,
           bool_or(status = 'InService') AS serving
    FROM d GROUP BY version_id
), gap AS (
    SELECT account, min(reason) AS gap_reason FROM history_gaps
    WHERE coalesce(gap_from, TIMESTAMP '-infinity') <= $as_of AND (gap_to IS NULL OR gap_to > $as_of)
      AND version_id IS NULL AND superseded_by IS NULL
    GROUP BY account
)
SELECT v.version_id, v.model, v.version, v.environment, v.account, v.approval_status, v.labels,
       v.created_by, v.created_at, dep.deployed_on, coalesce(dep.serving, FALSE) AS serving,
       coalesce(dep.serving, FALSE) AND v.approval_status <> 'Approved' AS unapproved_deployment,
       v.source_version_id, v.valid_from, v.time_source, v.sync_id, v.ledger_seq, v.request_id,
       v.change_source, v.confidence, v.changed_by,
       gap.gap_reason IS NOT NULL AS in_gap, gap.gap_reason
FROM v LEFT JOIN dep ON dep.version_id = v.version_id LEFT JOIN gap ON gap.account = v.account
ORDER BY v.model, v.environment, v.version DESC, v.account
"""


LABEL_ENVIRONMENTS = "label_environments"  # the pack's file of (account, label, environment): the label mapping

# What an examiner's copy adds to AS_OF_SQL, from files beside the history (see as_of_sql_for_files): labels as
# lists; serving_labels, the labels that meant the version's environment in its account (the deployment by label,
# MLflow alias or ZenML stage); in_use; unapproved_deployment counting labels; and approved_in_countersign, whether
# an executed promotion in the ledger slice (request.create + execute.done by the instant) put it there.
_FILES_SQL = """
WITH h AS ({as_of_sql}),
le AS (SELECT account, label, environment FROM '{folder}/{labels}.parquet'),
held AS (
    SELECT h.version_id, list_sort(list(le.label)) AS serving_labels
    FROM h, le WHERE le.account = h.account AND le.environment = h.environment
                 AND list_contains(from_json(h.labels, '["VARCHAR"]'), le.label)
    GROUP BY h.version_id
),
executed AS (
    SELECT json_extract_string(c.payload, '$.to_env') AS environment,
           coalesce(json_extract_string(d.payload, '$.target_version_id'),
                    json_extract_string(c.payload, '$.version_id')) AS version_id
    FROM '{ledger}' d JOIN '{ledger}' c ON c.subject = d.subject AND c.action = 'request.create'
    WHERE d.action = 'execute.done' AND d.recorded_at <= {instant}
)
SELECT h.* REPLACE (from_json(h.labels, '["VARCHAR"]') AS labels,
                    (h.serving OR held.version_id IS NOT NULL) AND h.approval_status <> 'Approved'
                        AS unapproved_deployment),
       coalesce(held.serving_labels, []) AS serving_labels, h.serving OR held.version_id IS NOT NULL AS in_use,
       EXISTS (SELECT 1 FROM executed e WHERE e.version_id = h.version_id AND e.environment = h.environment)
           AS approved_in_countersign
FROM h LEFT JOIN held ON held.version_id = h.version_id
ORDER BY h.model, h.environment, h.version DESC, h.account
"""


def as_of_sql_for_files(folder: str = "history", instant: str = "getvariable('as_of')",
                        ledger: str = "ledger/entries.parquet") -> str:
    """:data:`AS_OF_SQL` reading the pack's Parquet files in ``folder`` instead of the catalog tables, with the
    instant given by the SQL expression ``instant`` (default: the variable set by ``SET VARIABLE as_of = ...``),
    plus the deployment by label and the Countersign approvals from the ``ledger`` slice (see ``_FILES_SQL``)."""
    sql = AS_OF_SQL.replace("$as_of", instant)
    for table in HISTORY_TABLES:
        sql = sql.replace(f"FROM {table}", f"FROM '{folder}/{table}.parquet'")
    return _FILES_SQL.format(as_of_sql=sql.strip(), folder=folder, labels=LABEL_ENVIRONMENTS, ledger=ledger,
                             instant=instant).strip()


class HistoryCounts(Row):
    """What one sync wrote to the history."""

    opened: int = 0
    closed: int = 0
    gaps: int = 0


def _change_time(source: dt.datetime | None, previous_source: dt.datetime | None,
                 previous_from: dt.datetime | None, observed_at: dt.datetime) -> tuple[dt.datetime, str]:
    """When a new state began: the source's own time when it is credible, else the sync's.

    Credible means newer than the time the source gave for the previous state (an unchanged modification time
    says the source did not date this change), not before the previous state began, and not in the future.
    """
    if source is None or source > observed_at:
        return observed_at, "sync"
    if previous_from is not None and (source < previous_from
                                      or (previous_source is not None and source <= previous_source)):
        return observed_at, "sync"
    return source, "source"


def state_hash(environment: str, status: str | None, description: str | None, labels: Sequence[str],
               card: Any) -> str:
    """What decides whether a version's state changed: every writer of a version row (a sync, an event, a backfill)
    computes it this way, so the same state written twice is one state."""
    return record_hash([environment, status, description, list(labels), card])


def deployment_state_hash(environment: str, endpoint: str | None, variant: str | None, status: str | None,
                          model: str | None, version_id: str | None, weight: float | None) -> str:
    """:func:`state_hash` of an endpoint variant's state."""
    return record_hash([environment, endpoint, variant, status, model, version_id, weight])


# the provenance columns of a row a sync opens (migration 8); an event's hint makes it the event's change
SYNC_ORIGIN = {"change_source": "sync", "changed_by": None, "note": None, "evidence": None, "event_id": None,
               "backfill_id": None, "superseded_by": None}


def _origin(at: dt.datetime, time_source: str, hints: Mapping[str, tuple[dt.datetime, str]] | None, key: str,
            previous_from: dt.datetime | None, observed_at: dt.datetime) -> tuple[dt.datetime, str, dict[str, Any]]:
    """When a change a sync sees began, where that time came from, and the row's provenance columns: the sync's own
    (a registry time, inferred; or the sync's, observed), or, when an event announced the change and its time is
    credible (after the previous state began, not after the sync), the event's own time, exact."""
    # a deployment's hint may name its endpoint only (``account:endpoint:*``): the event does not say the variants
    hint = (hints or {}).get(key) or (hints or {}).get(key.rsplit(":", 1)[0] + ":*")
    if hint is not None and hint[0] <= observed_at and (previous_from is None or hint[0] > previous_from):
        return hint[0], "source", {**SYNC_ORIGIN, "change_source": "event", "confidence": "exact",
                                   "event_id": hint[1], "evidence": f"event {hint[1]}"}
    return at, time_source, {**SYNC_ORIGIN, "confidence": "inferred" if time_source == "source" else "observed"}


def _cards_by_version(con: duckdb.DuckDBPyConnection, account: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    cards = fetch_dicts(con, "SELECT card_id, model, version_id, status, content, updated_at FROM model_cards "
                             "WHERE account = ?", [account])
    by_id, by_version, by_model = {}, {}, {}
    for c in cards:
        field = {"card_id": c["card_id"], "status": c["status"], "content": from_json(c["content"]) or {}}
        by_id[c["card_id"]] = field
        if c["version_id"]:
            by_version[c["version_id"]] = field
        else:
            by_model.setdefault(c["model"], field)
    return by_id, by_version, by_model


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if rows:
        import pyarrow as pa

        con.from_arrow(pa.Table.from_pylist(rows, schema=None).select(list(columns))).insert_into(table)


def _close(con: duckdb.DuckDBPyConnection, table: str, closes: list[tuple[str, dt.datetime, str]], sync_id: str) -> None:
    if closes:
        import pyarrow as pa

        frame = pa.Table.from_pylist([{"hid": h, "vto": t, "src": s} for h, t, s in closes])
        con.register("_history_closes", frame)
        try:
            con.execute(
                f"UPDATE {table} AS h SET valid_to = c.vto, valid_to_source = c.src, closed_by_sync = ? "
                "FROM _history_closes AS c WHERE h.history_id = c.hid", [sync_id])
        finally:
            con.unregister("_history_closes")


def record_history(
    con: duckdb.DuckDBPyConnection,
    *,
    account: str,
    sync_id: str,
    observed_at: dt.datetime,
    version_states: Mapping[str, tuple[str, tuple[str, ...]]],
    request_id: str | None = None,
    ledger: tuple[int, str] | None = None,
    columns: Callable[[str], Sequence[str]],
    hints: Mapping[str, tuple[dt.datetime, str]] | None = None,
) -> HistoryCounts:
    """Bring ``account``'s open history rows in line with its catalog rows, inside the snapshot's transaction.

    ``version_states`` maps the ids of the versions in this snapshot to (environment, labels) as the snapshot's
    records state them; versions the snapshot did not carry (an incremental pass) keep those of their open row.
    ``ledger``: the sequence number and hash of the sync's ledger entry (in the same transaction), which the
    rows opened here name. ``columns``: a table's columns in order. ``hints``: version or deployment id → (time,
    event id) of a registry event that announced a change this sync may see (``countersign listen``): a change seen
    here takes the event's own time instead of the sync's, so the event and the sync are one change.
    """
    if not RECORD_HISTORY:
        return HistoryCounts()
    ledger_seq, ledger_hash = ledger if ledger is not None else (None, None)
    opened = (sync_id, request_id, ledger_seq, ledger_hash)  # what each row opened here names
    v_opened, v_closed = _record_versions(con, account, observed_at, version_states, opened, columns, hints)
    d_opened, d_closed = _record_deployments(con, account, observed_at, opened, columns, hints)
    return HistoryCounts(v_opened + d_opened, v_closed + d_closed)


_Opened = tuple[str, "str | None", "int | None", "str | None"]  # sync id, request id, ledger seq and hash


def _record_versions(con: duckdb.DuckDBPyConnection, account: str, observed_at: dt.datetime,
                     version_states: Mapping[str, tuple[str, tuple[str, ...]]], opened: _Opened,
                     columns: Callable[[str], Sequence[str]],
                     hints: Mapping[str, tuple[dt.datetime, str]] | None) -> tuple[int, int]:
    """:func:`record_history` for the versions: rows opened, rows closed."""
    sync_id, request_id, ledger_seq, ledger_hash = opened
    by_id, by_version, by_model = _cards_by_version(con, account)
    # First what decides whether a version's state changed, without the times: most syncs change few versions, and
    # turning every row's timestamps into Python objects cost more than the rest of this function. The rows of the
    # versions that changed are read whole afterwards.
    # a changed artifact digest is a new state too (bytes swapped under an unchanged registry record), compared
    # beside the state hash so that rows written before digests were kept (migration 6) still match
    open_versions = {vid: (hid, env, labels, state, sha) for vid, hid, env, labels, state, sha in con.execute(
        "SELECT version_id, history_id, environment, labels, state_hash, artifact_sha256 FROM version_history "
        "WHERE account = ? AND valid_to IS NULL", [account]).fetchall()}
    changed: dict[str, tuple[str, tuple[str, ...], Any, str]] = {}  # version id -> environment, labels, card, state
    seen = set()
    for vid, stored_environment, model, status, description, card_id, sha in con.execute(
        "SELECT version_id, environment, model, approval_status, approval_description, model_card_id, "
        "artifact_sha256 FROM versions WHERE account = ?", [account],
    ).fetchall():
        seen.add(vid)
        prev = open_versions.get(vid)
        if vid in version_states:
            environment, labels = version_states[vid]
        elif prev is not None:
            environment, labels = prev[1], tuple(from_json(prev[2]) or ())
        else:
            environment, labels = stored_environment, ()
        card = by_id.get(card_id or "") or by_version.get(vid) or by_model.get(model)
        state = state_hash(environment, status, description, labels, card)
        if prev is None or prev[3] != state or prev[4] != sha:
            changed[vid] = (environment, labels, card, state)
    new_rows, closes = [], []
    if changed:
        # the versions that changed; all of the account's when most did (a first sync), without a list to match
        only = "" if 2 * len(changed) > len(seen) else " AND version_id IN (SELECT unnest(?))"
        params: list[Any] = [account] if not only else [account, sorted(changed)]
        rows = fetch_dicts(
            con,
            "SELECT version_id, model, version, approval_status, approval_description, created_at, created_by, "
            "modified_at, source_version_id, artifact_sha256, artifact_digest_source, artifact_digest_at, "
            f"artifact_digest_problem FROM versions WHERE account = ?{only}", params)
        previous = {} if not open_versions else {r["history_id"]: r for r in fetch_dicts(
            con, "SELECT history_id, valid_from, modified_at FROM version_history "
                 f"WHERE account = ? AND valid_to IS NULL{only}", params)}
        for v in rows:
            vid = v["version_id"]
            if vid not in changed:
                continue
            environment, labels, card, state = changed[vid]
            prev = open_versions.get(vid)
            if prev is None:
                at, source = _change_time(v["modified_at"] or v["created_at"], None, None, observed_at)
                at, source, origin = _origin(at, source, hints, vid, None, observed_at)
            else:
                times = previous[prev[0]]
                at, source = _change_time(v["modified_at"], times["modified_at"], times["valid_from"], observed_at)
                at, source, origin = _origin(at, source, hints, vid, times["valid_from"], observed_at)
                closes.append((prev[0], at, source))
            new_rows.append({
                "history_id": f"{sync_id}:{vid}", "version_id": vid, "account": account, "environment": environment,
                "model": v["model"], "version": v["version"], "approval_status": v["approval_status"],
                "approval_description": v["approval_description"], "labels": to_json(list(labels)),
                "card": to_json(card), "created_at": v["created_at"], "created_by": v["created_by"],
                "modified_at": v["modified_at"], "source_version_id": v["source_version_id"], "state_hash": state,
                "artifact_sha256": v["artifact_sha256"], "artifact_digest_source": v["artifact_digest_source"],
                "artifact_digest_at": v["artifact_digest_at"], "artifact_digest_problem": v["artifact_digest_problem"],
                "valid_from": at, "time_source": source, "valid_to": None, "valid_to_source": None,
                "sync_id": sync_id, "ledger_seq": ledger_seq, "ledger_hash": ledger_hash, "request_id": request_id,
                "closed_by_sync": None, **origin,
            })
    # versions gone from the catalog (deleted at the source, noticed by a full pass): their past stays
    closes += [(r[0], observed_at, "sync") for vid, r in open_versions.items() if vid not in seen]
    _close(con, "version_history", closes, sync_id)
    _insert(con, "version_history", new_rows, columns("version_history"))
    return len(new_rows), len(closes)


def _record_deployments(con: duckdb.DuckDBPyConnection, account: str, observed_at: dt.datetime, opened: _Opened,
                        columns: Callable[[str], Sequence[str]],
                        hints: Mapping[str, tuple[dt.datetime, str]] | None) -> tuple[int, int]:
    """:func:`record_history` for the deployments: rows opened, rows closed."""
    sync_id, request_id, ledger_seq, ledger_hash = opened
    open_deps = {r["deployment_id"]: r for r in fetch_dicts(
        con, "SELECT history_id, deployment_id, state_hash, valid_from, updated_at FROM deployment_history "
             "WHERE account = ? AND valid_to IS NULL", [account])}
    new_rows, closes = [], []
    seen = set()
    for d in fetch_dicts(
        con, "SELECT deployment_id, environment, endpoint, variant, status, model, version_id, weight, updated_at "
             "FROM deployments WHERE account = ?", [account],
    ):
        did = d["deployment_id"]
        seen.add(did)
        prev = open_deps.get(did)
        state = deployment_state_hash(d["environment"], d["endpoint"], d["variant"], d["status"], d["model"],
                                      d["version_id"], d["weight"])
        if prev is not None and prev["state_hash"] == state:
            continue
        if prev is None:
            at, source = _change_time(d["updated_at"], None, None, observed_at)
            at, source, origin = _origin(at, source, hints, did, None, observed_at)
        else:
            at, source = _change_time(d["updated_at"], prev["updated_at"], prev["valid_from"], observed_at)
            at, source, origin = _origin(at, source, hints, did, prev["valid_from"], observed_at)
            closes.append((prev["history_id"], at, source))
        new_rows.append({
            **d, "history_id": f"{sync_id}:{did}", "account": account, "state_hash": state, "valid_from": at,
            "time_source": source, "valid_to": None, "valid_to_source": None, "sync_id": sync_id,
            "ledger_seq": ledger_seq, "ledger_hash": ledger_hash, "request_id": request_id, "closed_by_sync": None,
            **origin,
        })
    closes += [(r["history_id"], observed_at, "sync") for did, r in open_deps.items() if did not in seen]
    _close(con, "deployment_history", closes, sync_id)
    _insert(con, "deployment_history", new_rows, columns("deployment_history"))
    return len(new_rows), len(closes)


def record_observation(
    con: duckdb.DuckDBPyConnection, *, account: str, sync_id: str, observed_at: dt.datetime,
    gap_after: dt.timedelta | None,
) -> int:
    """A successful sync observed ``account`` at ``observed_at``: end its open gaps (failed syncs since the last
    observation) and record a pause longer than ``gap_after`` as a gap. Returns the number of gaps written."""
    if not RECORD_HISTORY:
        return 0
    closed = con.execute(
        "UPDATE history_gaps SET gap_to = ? WHERE account = ? AND gap_to IS NULL RETURNING gap_id",
        [observed_at, account]).fetchall()
    if closed or gap_after is None or gap_after <= dt.timedelta(0):
        return len(closed)
    last = con.execute(
        "SELECT max(started_at) FROM sync_runs WHERE account = ? AND status IN ('ok', 'partial') AND sync_id <> ?",
        [account, sync_id]).fetchone()[0]
    if last is None or observed_at - last <= gap_after:
        return 0
    con.execute(
        "INSERT INTO history_gaps (gap_id, account, gap_from, gap_to, reason, sync_id, detail, source) "
        "VALUES (?, ?, ?, ?, 'pause', ?, ?, 'sync')",
        [f"{sync_id}:pause", account, last, observed_at, sync_id,
         f"no successful sync for {(observed_at - last).total_seconds() / 3600:.1f} h "
         f"(more than the {gap_after.total_seconds() / 3600:g} h between full passes)"])
    return 1


def record_failure_gap(con: duckdb.DuckDBPyConnection, *, account: str, sync_id: str, error: str) -> None:
    """A sync of ``account`` failed: its state is unknown from the last observation until the next one."""
    if not RECORD_HISTORY:
        return
    if con.execute("SELECT count(*) FROM history_gaps WHERE account = ? AND gap_to IS NULL", [account]).fetchone()[0]:
        return  # already in an open gap (an earlier failure): it goes on
    last = con.execute(
        "SELECT max(started_at) FROM sync_runs WHERE account = ? AND status IN ('ok', 'partial')", [account]
    ).fetchone()[0]
    con.execute("INSERT INTO history_gaps (gap_id, account, gap_from, gap_to, reason, sync_id, detail, source) "
                "VALUES (?, ?, ?, NULL, 'failed sync', ?, ?, 'sync')",
                [f"{sync_id}:failed", account, last, sync_id, error[:500]])


def _with_label_lists(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its ``labels`` (JSON text in the history tables) as lists, as ``Catalog.inventory`` gives them."""
    df["labels"] = df["labels"].map(lambda text: [str(x) for x in from_json(text) or []])
    return df


class HistoryQueries(CatalogConnection):
    """Reads of the registry history."""

    def as_of(self, instant: dt.datetime) -> pd.DataFrame:
        """Every version as it stood at ``instant`` (naive UTC), from the history tables (:data:`AS_OF_SQL`), its
        ``labels`` as lists (stored as JSON text)."""
        with self.connect() as con:
            return _with_label_lists(con.execute(AS_OF_SQL, {"as_of": instant}).df())

    def inventory_as_of(self, instant: dt.datetime) -> pd.DataFrame:
        """:meth:`as_of` with the inventory's other columns (model facts today; Countersign sign-offs executed by then)."""
        with self.connect() as con:
            return _with_label_lists(con.execute(
                f"""
                WITH h AS ({AS_OF_SQL}), signed AS (
                    SELECT DISTINCT target_version_id AS version_id FROM promotion_requests
                    WHERE status = 'executed' AND target_version_id IS NOT NULL AND updated_at <= $as_of
                ), fresh AS (
                    SELECT account, max(finished_at) AS last_sync FROM sync_runs
                    WHERE status IN ('ok', 'partial') AND started_at <= $as_of GROUP BY account
                )
                SELECT h.*, m.risk_tier, m.owner, NULL::JSON AS metrics, fresh.last_sync,
                       signed.version_id IS NOT NULL AS approved_in_countersign
                FROM h LEFT JOIN models m ON m.name = h.model LEFT JOIN signed ON signed.version_id = h.version_id
                LEFT JOIN fresh ON fresh.account = h.account
                ORDER BY h.model, h.environment, h.version DESC, h.account
                """,
                {"as_of": instant},
            ).df())

    def version_history(self, version_id: str) -> pd.DataFrame:
        """Every state ``version_id`` has had, oldest first (rows a later backfill replaced left out)."""
        return self.query_df(*_version_history_query(version_id))

    def version_history_rows(self, version_id: str) -> list[dict[str, Any]]:
        """:meth:`version_history` as dicts."""
        return self.query_dicts(*_version_history_query(version_id))

    def deployment_history(self, version_ids: list[str] | None = None, model: str | None = None) -> pd.DataFrame:
        """Deployment states serving ``version_ids`` or ``model`` (every one when both are None), oldest first."""
        return self.query_df(*_deployment_history_query(version_ids, model))

    def deployment_history_rows(self, version_ids: list[str] | None = None,
                                model: str | None = None) -> list[dict[str, Any]]:
        """:meth:`deployment_history` as dicts."""
        return self.query_dicts(*_deployment_history_query(version_ids, model))

    def model_history(self, model: str) -> pd.DataFrame:
        """Every state of every version of ``model``, oldest first."""
        return self.query_df("SELECT * FROM version_history WHERE model = ? AND superseded_by IS NULL "
                             "ORDER BY valid_from, history_id", [model])

    def history_gaps(self, accounts: list[str] | None = None) -> pd.DataFrame:
        """The observation gaps of whole accounts (of ``accounts``, or all), oldest first."""
        return self.query_df(*_history_gaps_query(accounts))

    def history_gap_rows(self, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        """:meth:`history_gaps` as dicts."""
        return self.query_dicts(*_history_gaps_query(accounts))

    def version_gaps(self, version_ids: list[str]) -> pd.DataFrame:
        """The periods in which ``version_ids`` existed but their state is not known (a backfill's labelled gaps)."""
        return self.query_df(*_version_gaps_query(version_ids))

    def version_gap_rows(self, version_ids: list[str]) -> list[dict[str, Any]]:
        """:meth:`version_gaps` as dicts."""
        return self.query_dicts(*_version_gaps_query(version_ids))

    def history_rows(self, model: str) -> dict[str, pd.DataFrame]:
        """The history rows about ``model`` as stored, per history table (gaps: of the accounts holding it)."""
        with self.connect() as con:
            return {
                "version_history": con.execute(
                    "SELECT * FROM version_history WHERE model = ? ORDER BY history_id", [model]).df(),
                "deployment_history": con.execute(
                    "SELECT * FROM deployment_history WHERE model = ? OR version_id IN "
                    "(SELECT version_id FROM version_history WHERE model = ?) ORDER BY history_id", [model, model]).df(),
                "history_gaps": con.execute(
                    "SELECT * FROM history_gaps WHERE account IN (SELECT account FROM version_history WHERE model = ?) "
                    "ORDER BY gap_id", [model]).df(),
            }

    def approvals_of(self, version_ids: list[str]) -> pd.DataFrame:
        """Executed/approved promotion requests targeting or promoting ``version_ids``, with their decisions."""
        return self.query_df(
            """
            SELECT r.request_id, r.version_id, r.target_version_id, r.from_env, r.to_env, r.status, r.requester,
                   r.created_at, r.updated_at, r.payload AS request_payload, d.decision_id, d.actor, d.kind,
                   d.comment, d.created_at AS decided_at, d.payload AS decision_payload, d.ledger_hash
            FROM promotion_requests r LEFT JOIN decisions d ON d.request_id = r.request_id
            WHERE r.version_id IN (SELECT unnest(?)) OR r.target_version_id IN (SELECT unnest(?))
            ORDER BY r.created_at, d.created_at
            """,
            [version_ids, version_ids],
        )

    def sync_ledger_entries(self, sync_ids: list[str]) -> pd.DataFrame:
        """The ledger entries of the syncs ``sync_ids`` (seq, hash, recorded_at, actor, payload)."""
        return self.query_df(
            "SELECT seq, hash, recorded_at, actor, json_extract_string(payload, '$.sync_id') AS sync_id, payload "
            "FROM ledger WHERE action = 'sync.account' "
            "AND json_extract_string(payload, '$.sync_id') IN (SELECT unnest(?)) ORDER BY seq", [sync_ids])


def _version_history_query(version_id: str) -> tuple[str, list[Any]]:
    return ("SELECT * FROM version_history WHERE version_id = ? AND superseded_by IS NULL "
            "ORDER BY valid_from, history_id", [version_id])


def _deployment_history_query(version_ids: list[str] | None, model: str | None) -> tuple[str, list[Any]]:
    where, params = "TRUE", []
    if version_ids is not None:
        where, params = "version_id IN (SELECT unnest(?))", [version_ids]
    elif model is not None:
        where, params = "model = ?", [model]
    return (f"SELECT * FROM deployment_history WHERE {where} AND superseded_by IS NULL "
            "ORDER BY valid_from, history_id", params)


def _history_gaps_query(accounts: list[str] | None) -> tuple[str, list[Any]]:
    if accounts is None:
        return ("SELECT * FROM history_gaps WHERE version_id IS NULL AND superseded_by IS NULL "
                "ORDER BY gap_from NULLS FIRST, gap_id", [])
    return ("SELECT * FROM history_gaps WHERE account IN (SELECT unnest(?)) AND version_id IS NULL "
            "AND superseded_by IS NULL ORDER BY gap_from NULLS FIRST, gap_id", [accounts])


def _version_gaps_query(version_ids: list[str]) -> tuple[str, list[Any]]:
    return ("SELECT * FROM history_gaps WHERE version_id IN (SELECT unnest(?)) AND superseded_by IS NULL "
            "ORDER BY gap_from NULLS FIRST, gap_id", [version_ids])
