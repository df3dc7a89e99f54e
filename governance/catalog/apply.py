"""Sync writes: the configured accounts, sync runs, and one account's snapshot applied in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from core.canonical import canonical_json, record_hash
from core.clock import utcnow
from core.ids import version_id_for
from governance.catalog import history
from governance.catalog.connection import CatalogConnection

if TYPE_CHECKING:
    from connectors.base import Snapshot

from governance.catalog.records import (
    SyncCounts,
    SyncMark,
    fetch_dicts,
    from_json,
    naive_utc,
    to_json,
    upsert_sql,
)

SYNC_RUN_COLUMNS = ("sync_id", "account", "started_at", "finished_at", "status", "error", "counts", "issues",
                    "watermark", "full_sync", "calls", "throttled", "actor")


def _sync_marks(con: duckdb.DuckDBPyConnection, account: str | None = None) -> dict[str, SyncMark]:
    """Per account (or only ``account``): its newest successful watermark and when its last full pass started."""
    only, params = ("AND account = ?", [account]) if account else ("", [])
    # the newest run's id first, then its watermark: a watermark can be kilobytes, and every sync adds a run, so
    # reading them all to keep one grew with the history (12 ms at 30,000 runs; 4 ms this way)
    rows = fetch_dicts(
        con,
        "SELECT account, arg_max(sync_id, (finished_at, sync_id)) AS sync_id, "
        "max(started_at) FILTER (WHERE full_sync) AS last_full_at "
        f"FROM sync_runs WHERE status IN ('ok', 'partial') {only} GROUP BY account",
        params,
    )
    if not rows:
        return {}
    marks = dict(con.execute(
        f"SELECT sync_id, watermark FROM sync_runs WHERE sync_id IN ({', '.join('?' * len(rows))})",
        [r["sync_id"] for r in rows]).fetchall())
    return {r["account"]: SyncMark(marks.get(r["sync_id"]), r["last_full_at"]) for r in rows}


MODEL_FIELDS = ("description", "owner", "risk_tier", "intended_use")  # what accounts state about a model


class SnapshotWriter(CatalogConnection):
    """What a sync writes: accounts, sync runs, and snapshots of an account's registry."""

    def upsert_accounts(self, accounts: Iterable[Any]) -> dict[str, SyncMark]:
        """Record the configured accounts (``AccountConfig`` objects); return where each one's syncs stand.

        One transaction for both, because a sync needs both and every connection costs an open of the file.

        An account whose settings changed since they were last recorded (its environment, or a connector setting
        such as MLflow's ``alias_environments``) loses its watermarks: how records map to catalog rows may depend on
        them, and an incremental sync would re-read only what changed at the source, leaving every other row mapped
        the old way. Its next successful sync is a full pass, however many syncs fail before it.
        """
        wanted = _account_rows(accounts)
        with self.transaction() as con:
            _write_accounts(con, _changed_accounts(con, wanted))
            return _sync_marks(con)

    def record_accounts(self, accounts: Iterable[Any]) -> None:
        """Record the configured accounts as :meth:`upsert_accounts` does, with one read and no write transaction
        when none changed (opening a workspace to read it writes nothing)."""
        wanted = _account_rows(accounts)
        with self.connect() as con:
            if not _changed_accounts(con, wanted):
                return
        with self.transaction() as con:
            _write_accounts(con, _changed_accounts(con, wanted))

    def sync_mark(self, account: str) -> SyncMark:
        """The watermark of the newest successful sync of ``account`` and when its last full pass started."""
        with self.connect() as con:
            return _sync_marks(con, account).get(account, SyncMark(None, None))

    def record_sync_failure(
        self, *, sync_id: str, account: str, started_at: dt.datetime, error: str, full: bool, actor: str
    ) -> None:
        """Record a sync of ``account`` that failed as a whole; its data stays as it was, its history notes a gap."""
        with self.transaction() as con:
            history.record_failure_gap(con, account=account, sync_id=sync_id, error=error)
            con.execute(
                upsert_sql("sync_runs", SYNC_RUN_COLUMNS, ("sync_id",),
                           "?, ?, ?, ?, 'failed', ?, NULL, NULL, NULL, ?, 0, 0, ?"),
                [sync_id, account, started_at, utcnow(), error, full, actor],
            )

    def apply_snapshot(
        self,
        *,
        sync_id: str,
        account: str,
        environment: str,
        snapshot: Snapshot,
        started_at: dt.datetime,
        full: bool,
        actor: str,
        model_overrides: dict[str, dict[str, Any]] | None = None,
        environment_order: Sequence[str] = (),
        before_commit: Callable[[duckdb.DuckDBPyConnection, SyncCounts, str], Any] | None = None,
        request_id: str | None = None,
        gap_after: dt.timedelta | None = None,
        hints: Mapping[str, tuple[dt.datetime, str]] | None = None,
    ) -> SyncCounts:
        """Write one account's snapshot and its sync run in a single transaction (all or nothing).

        ``before_commit(con, counts, status)`` runs inside that transaction (the sync's ledger entry uses it, so
        the record of a sync commits or rolls back with the sync itself). Where accounts describe the same model
        differently, the account furthest along ``environment_order`` wins (prod's registry over dev's), whatever
        order the accounts sync in; ``model_overrides`` (the ``[models.X]`` settings) win over every account.

        The registry history (:mod:`.history`) is written in the same transaction: states seen at ``started_at``,
        tied to ``sync_id``, to the ledger entry ``before_commit`` returns (anything with ``seq`` and ``hash``) and to
        ``request_id`` when a Countersign execution caused the sync; a pause longer than ``gap_after`` is a gap.
        ``hints``: changes registry events announced (see :func:`.history.record_history`).
        """
        now = utcnow()
        overrides = model_overrides or {}
        version_rows, new_artifacts, ref_to_id = self._version_rows(account, environment, snapshot, now)
        run_rows = self._run_rows(account, snapshot)

        # An incremental snapshot that found nothing new changes no rows: only the sync run is recorded.
        nothing_new = not full and not (snapshot.models or snapshot.versions or snapshot.runs
                                         or snapshot.deployments or snapshot.model_cards)
        with self.transaction() as con:
            if nothing_new:
                by_table = {t: {"added": 0, "updated": 0, "unchanged": 0, "deleted": 0}
                            for t in ("versions", "runs", "deployments", "model_cards")}
            else:
                by_table = self._write_tables(
                    con, account=account, environment=environment, snapshot=snapshot, full=full,
                    prepared=(version_rows, new_artifacts, ref_to_id), run_rows=run_rows, overrides=overrides, now=now,
                    environment_order=environment_order)
            totals = {k: sum(t[k] for t in by_table.values()) for k in ("added", "updated", "unchanged", "deleted")}
            status = "partial" if snapshot.issues else "ok"
            # a plain INSERT: the sync id is new (an upsert costs DuckDB ~2 ms more, on every account of every sync)
            con.execute(
                f"INSERT INTO sync_runs ({', '.join(SYNC_RUN_COLUMNS)}) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sync_id, account, started_at, utcnow(), status, to_json(by_table),
                    to_json([{"ref": i.ref, "message": i.message} for i in snapshot.issues]),
                    snapshot.watermark, full, snapshot.calls, snapshot.throttled, actor,
                ],
            )
            history.record_observation(con, account=account, sync_id=sync_id, observed_at=naive_utc(started_at),
                                       gap_after=gap_after)
            held = con.execute("SELECT count(*) FROM versions WHERE account = ?", [account]).fetchone()[0]
            counts = SyncCounts(by_table=by_table, held=held, **totals)
            entry = before_commit(con, counts, status) if before_commit is not None else None
            if not nothing_new:  # the history rows this sync opens name its ledger entry
                history.record_history(
                    con, account=account, sync_id=sync_id, observed_at=naive_utc(started_at),
                    version_states={ref_to_id[v.source_ref]: (v.environment or environment, tuple(v.labels))
                                    for v in snapshot.versions},
                    request_id=request_id, columns=lambda table: self.columns(con, table), hints=hints,
                    ledger=(entry.seq, entry.hash) if hasattr(entry, "seq") and hasattr(entry, "hash") else None,
                )
        return counts

    @staticmethod
    def _version_rows(account: str, environment: str, snapshot: Snapshot, now: dt.datetime
                      ) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
        """The snapshot's versions as rows (by version id), its artifact URIs (→ version id) and its registry refs
        (→ version id)."""
        version_rows: dict[str, dict[str, Any]] = {}
        new_artifacts: dict[str, str] = {}  # artifact uri → version id, of this snapshot's versions
        ref_to_id: dict[str, str] = {}
        for v in snapshot.versions:
            vid = version_id_for(account, v.model, v.version)
            ref_to_id[v.source_ref] = vid
        for v in snapshot.versions:
            vid = ref_to_id[v.source_ref]
            body = {
                "approval_status": v.approval_status,
                "approval_description": v.approval_description,
                # as text already: the same JSON json_default would write, without a callback per date
                "created_at": v.created_at.isoformat() if v.created_at is not None else None,
                "created_by": v.created_by,
                "modified_at": v.modified_at.isoformat() if v.modified_at is not None else None,
                "artifact_uri": v.artifact_uri,
                "artifact_sha256": v.artifact_sha256,
                "framework": v.framework,
                "image": v.image,
                "data_uris": v.data_uris,
                "report_uris": v.report_uris,
                "metrics": v.metrics,
                "metadata": v.metadata,
                "run_ref": v.run_ref,
                "source": [v.source_account, v.source_version_ref],
                "card": v.model_card_ref,
                "ref": v.source_ref,
            }
            if v.environment or v.labels:  # so a moved alias or stage updates the row (others keep their hash)
                body["placed"] = [v.environment, sorted(v.labels)]
            if v.artifact_digest_source or v.artifact_digest_problem:  # where the digest came from, or why none
                body["digest"] = [v.artifact_digest_source, v.artifact_digest_problem]
            run_id = f"{account}:{v.run_ref}" if v.run_ref else None
            card_id = f"{account}:{v.model_card_ref}" if v.model_card_ref else None
            if v.artifact_uri:
                new_artifacts[v.artifact_uri] = vid
            version_rows[vid] = {
                "version_id": vid, "account": account, "environment": v.environment or environment, "model": v.model,
                "version": v.version, "source_ref": v.source_ref, "approval_status": v.approval_status,
                "approval_description": v.approval_description, "created_at": naive_utc(v.created_at),
                "created_by": v.created_by, "modified_at": naive_utc(v.modified_at), "artifact_uri": v.artifact_uri,
                "artifact_sha256": v.artifact_sha256, "framework": v.framework, "image": v.image,
                "data_uris": to_json(v.data_uris), "report_uris": to_json(v.report_uris),
                "metrics": to_json(v.metrics), "metadata": to_json(v.metadata), "run_id": run_id,
                "source_version_id": None,
                "source_ref_hint": canonical_json([v.source_account, v.source_version_ref])
                if v.source_version_ref else None,
                "model_card_id": card_id, "raw": to_json(v.raw), "record_hash": record_hash(body), "synced_at": now,
                "labels": to_json(sorted(v.labels)), "artifact_digest_source": v.artifact_digest_source,
                "artifact_digest_at": naive_utc(v.artifact_digest_at),
                "artifact_digest_problem": v.artifact_digest_problem,
            }
        return version_rows, new_artifacts, ref_to_id

    @staticmethod
    def _run_rows(account: str, snapshot: Snapshot) -> dict[str, tuple[Any, ...]]:
        """The snapshot's training runs as rows (by run id)."""
        return {
            f"{account}:{r.run_ref}": (
                f"{account}:{r.run_ref}", account, r.kind, r.name, r.status, naive_utc(r.started_at),
                naive_utc(r.ended_at), to_json(r.params), to_json(r.metrics), to_json(r.inputs), r.experiment, to_json(r.raw),
                record_hash([r.kind, r.name, r.status, r.started_at, r.ended_at, r.params, r.metrics, r.inputs,
                             r.experiment]),
            )
            for r in snapshot.runs
        }


    def _write_tables(self, con: duckdb.DuckDBPyConnection, *, account: str, environment: str, snapshot: Snapshot,
                      full: bool, prepared: tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]],
                      run_rows: dict[str, tuple[Any, ...]], overrides: dict[str, dict[str, Any]], now: dt.datetime,
                      environment_order: Sequence[str]) -> dict[str, dict[str, int]]:
        """Upsert the snapshot's versions, runs, deployments, cards and models inside ``con``'s transaction; the
        counts per table."""
        version_rows, new_artifacts, ref_to_id = prepared
        # the account's stored versions, read once: to tell changed rows from unchanged ones, and so that
        # versions not in this snapshot (an incremental sync) still resolve for deployments and cards
        stored = con.execute(
            "SELECT version_id, source_ref, artifact_uri, record_hash, environment FROM versions "
            "WHERE account = ?",
            [account],
        ).fetchall()
        known = {ref: vid for vid, ref, _, _, _ in stored}
        known.update(ref_to_id)
        by_artifact = {uri: vid for vid, _, uri, _, _ in stored if uri is not None}
        by_artifact.update(new_artifacts)
        deployment_rows = {}
        for d in snapshot.deployments:
            did = f"{account}:{d.endpoint}:{d.variant}"
            vid = known.get(d.version_ref or "") or by_artifact.get(d.model_data_uri or "")
            model = d.model or (vid.split(":")[1] if vid else None)
            deployment_rows[did] = (
                did, account, environment, d.endpoint, d.variant, d.status, model, vid, d.model_data_uri,
                d.weight, naive_utc(d.updated_at), to_json(d.raw),
                record_hash([d.endpoint, d.variant, d.status, model, vid, d.model_data_uri, d.weight]),
            )
        card_rows = {
            f"{account}:{c.card_ref}": (
                f"{account}:{c.card_ref}", account, c.model, known.get(c.version_ref or ""), c.status,
                to_json(c.content), naive_utc(c.updated_at),
                record_hash([c.model, c.version_ref, c.status, c.content, c.updated_at]),
            )
            for c in snapshot.model_cards
        }

        # An item the connector could not read is kept as it was: bad input never deletes stored data.
        kept_versions = {known[i.ref] for i in snapshot.issues if i.ref in known}
        other_issues = any(i.ref not in known for i in snapshot.issues)
        by_table: dict[str, dict[str, int]] = {}
        tables = (
            ("versions", "version_id", version_rows, kept_versions, True,
             {vid: (digest, env) for vid, _, _, digest, env in stored}),
            ("runs", "run_id", run_rows, set(), not snapshot.issues, None),
            ("deployments", "deployment_id", deployment_rows, set(), not other_issues, None),
            ("model_cards", "card_id", card_rows, set(), not other_issues, None),
        )
        for table, key, rows, keep, may_delete, existing in tables:
            if rows and isinstance(next(iter(rows.values())), dict):  # named values: in the table's order
                order = self.columns(con, table)
                rows = {k: tuple(r.get(c) for c in order) for k, r in rows.items()}
            by_table[table] = self._upsert_rows(
                con, table, key, account, rows, columns=self.columns(con, table),
                delete_missing=full and snapshot.complete and may_delete, keep=keep, existing=existing,
            )
        self._resolve_lineage(con)
        self._upsert_models(con, account, environment, snapshot, overrides, now, environment_order,
                            replace=full and snapshot.complete)
        return by_table

    @staticmethod
    def _upsert_rows(
        con: duckdb.DuckDBPyConnection,
        table: str,
        key: str,
        account: str,
        rows: dict[str, tuple[Any, ...]],
        *,
        columns: Sequence[str],
        delete_missing: bool,
        keep: set[str] | frozenset[str] = frozenset(),
        existing: dict[str, tuple[str, str | None]] | None = None,
    ) -> dict[str, int]:
        """Insert or replace ``rows`` (key → values in the table's ``columns`` order) whose record hash changed,
        or whose environment did (the account's environment, which no record hash covers: an account moved to
        another environment in the settings moves its rows on the next full pass).

        ``existing``: the account's stored keys → (record hash, environment or None), when the caller read them.
        """
        if not rows and not delete_missing:
            return {"added": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        hash_at = list(columns).index("record_hash")
        env_at = list(columns).index("environment") if "environment" in columns else None
        if existing is None:
            env = "environment" if env_at is not None else "NULL"
            existing = {k: (digest, e) for k, digest, e in con.execute(
                f"SELECT {key}, record_hash, {env} FROM {table} WHERE account = ?", [account]).fetchall()}
        added = [k for k in rows if k not in existing]
        changed = [k for k, r in rows.items() if k in existing and (
            existing[k][0] != r[hash_at] or (env_at is not None and existing[k][1] != r[env_at]))]
        unchanged = len(rows) - len(added) - len(changed)
        gone = [k for k in existing if k not in rows and k not in keep] if delete_missing else []
        stale = changed + gone
        if stale:
            con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?))", [stale])
        fresh = [rows[k] for k in added + changed]
        if fresh:
            # one columnar insert: executemany costs ~2 ms a row, this ~2 ms for thousands
            # (an Arrow table rather than a registered pandas frame: pandas_scan raced under parallel account syncs)
            import pyarrow as pa

            arrow = pa.Table.from_pydict({c: [r[i] for r in fresh] for i, c in enumerate(columns)})
            con.from_arrow(arrow).insert_into(table)
        return {"added": len(added), "updated": len(changed), "unchanged": unchanged, "deleted": len(gone)}

    @staticmethod
    def _resolve_lineage(con: duckdb.DuckDBPyConnection) -> None:
        # Each UPDATE below joins the versions table with itself (~1.3 ms each on every account of every sync); one
        # scan first says whether any row could take part (registries without provenance hints or S3 artifacts,
        # such as MLflow and ZenML, have none)
        hinted, unresolved = con.execute(
            "SELECT count(*) FILTER (WHERE source_ref_hint IS NOT NULL), "
            "count(*) FILTER (WHERE source_ref_hint IS NULL AND source_version_id IS NULL "
            "AND artifact_uri LIKE 's3://%') FROM versions"
        ).fetchone()
        if hinted:
            # A promoted version names its source by (account, ref); resolve it to a catalog id once both are known.
            con.execute(
                """
                UPDATE versions AS v SET source_version_id = s.version_id
                FROM versions AS s
                WHERE v.source_ref_hint IS NOT NULL
                  AND s.account = json_extract_string(v.source_ref_hint, '$[0]')
                  AND s.source_ref = json_extract_string(v.source_ref_hint, '$[1]')
                  AND v.source_version_id IS DISTINCT FROM s.version_id
                  AND v.version_id <> s.version_id  -- a label moved on the version itself is no copy of it
                """
            )
        if unresolved:
            # Without provenance metadata, the same artifact registered earlier in another account is the source.
            con.execute(
                """
                UPDATE versions AS v SET source_version_id = c.src FROM (
                    SELECT v2.version_id AS vid, arg_max(s.version_id, s.created_at) AS src
                    FROM versions v2 JOIN versions s
                      ON s.artifact_uri = v2.artifact_uri AND s.account <> v2.account AND s.created_at < v2.created_at
                    WHERE v2.source_ref_hint IS NULL AND v2.artifact_uri LIKE 's3://%'
                    GROUP BY v2.version_id
                ) AS c
                WHERE v.version_id = c.vid AND v.source_version_id IS NULL
                """
            )

    @staticmethod
    def _restate_models(con: duckdb.DuckDBPyConnection, account: str, environment: str, snapshot: Snapshot, *,
                        replace: bool) -> tuple[set[str], set[str]]:
        """Record what ``account`` says about its models (see :meth:`_upsert_models`); the models to derive again
        and the ones this snapshot states."""
        fields = MODEL_FIELDS
        said = {
            r["model"]: r
            for r in fetch_dicts(
                con,
                "SELECT model, description, owner, risk_tier, intended_use, tags, environment FROM model_sources "
                "WHERE account = ?",
                [account],
            )
        }
        stated_here = {m.name for m in snapshot.models}
        names = stated_here | {v.model for v in snapshot.versions}
        restate: dict[str, list[Any]] = {}
        for m in snapshot.models:
            old = said.get(m.name)
            values = [getattr(m, f) for f in fields]
            tags = dict(m.tags)
            if old is not None and not replace:
                values = [new if new is not None else old[f] for new, f in zip(values, fields, strict=True)]
                tags = {**(from_json(old["tags"]) or {}), **tags}
            if (old is None or values != [old[f] for f in fields] or tags != (from_json(old["tags"]) or {})
                    or old["environment"] != environment):
                restate[m.name] = [m.name, account, environment, *values, to_json(tags)]
        gone = set(said) - stated_here if replace else set()
        # a statement per model costs ~2 ms in DuckDB: the account's changes go in one DELETE and one INSERT
        stale = (set(restate) | gone) & set(said)  # only what the account had said is there to delete
        if stale:
            con.execute("DELETE FROM model_sources WHERE account = ? AND model IN (SELECT unnest(?))",
                        [account, sorted(stale)])
        if restate:
            _insert_columns(con, "model_sources", ("model", "account", "environment", *fields, "tags"),
                            list(restate.values()))
        return names | gone, stated_here

    @staticmethod
    def _upsert_models(
        con: duckdb.DuckDBPyConnection,
        account: str,
        environment: str,
        snapshot: Snapshot,
        overrides: dict[str, dict[str, Any]],
        now: dt.datetime,
        environment_order: Sequence[str],
        *,
        replace: bool,
    ) -> None:
        """Record what ``account`` says about its models, then derive each model's row from every account.

        ``replace`` (a complete full pass): the account's statements are taken as they are, and models it no
        longer has lose its statements. Otherwise a missing field means 'not read this time' and keeps the old one.
        """
        fields = MODEL_FIELDS
        names, stated_here = SnapshotWriter._restate_models(con, account, environment, snapshot, replace=replace)
        if not names:
            return

        rank = {env: i for i, env in enumerate(environment_order)}
        sources: dict[str, list[dict[str, Any]]] = {}
        for row in fetch_dicts(
            con,
            "SELECT model, account, environment, description, owner, risk_tier, intended_use, tags "
            "FROM model_sources WHERE model IN (SELECT unnest(?))",
            [sorted(names)],
        ):
            sources.setdefault(row["model"], []).append(row)
        # What the catalog said before model_sources existed (account ''; migration 2) counts as said from the
        # model's furthest environment, after any account there, until an account that far along states it itself.
        legacy = sorted(n for n, rows in sources.items() if any(r["account"] == "" for r in rows))
        furthest: dict[str, int] = {}
        if legacy:  # only then is the versions table asked (a statement that costs more than the rest here)
            furthest = {
                r["model"]: max((rank.get(e, -1) for e in r["environments"]), default=-1)
                for r in fetch_dicts(
                    con,
                    "SELECT model, list(DISTINCT environment) AS environments FROM versions "
                    "WHERE model IN (SELECT unnest(?)) GROUP BY model",
                    [legacy],
                )
            }
            restated = sorted(n for n in legacy if n in stated_here
                              and rank.get(environment, -1) >= furthest.get(n, -1))
            if restated:
                con.execute("DELETE FROM model_sources WHERE account = '' AND model IN (SELECT unnest(?))", [restated])
                for n in restated:
                    sources[n] = [r for r in sources[n] if r["account"] != ""]
        stored = {
            r["name"]: r
            for r in fetch_dicts(
                con,
                "SELECT name, description, owner, risk_tier, intended_use, tags FROM models "
                "WHERE name IN (SELECT unnest(?))",
                [sorted(names)],
            )
        }
        rewritten: list[list[Any]] = []
        for name in sorted(names):
            current = stored.get(name)
            # most authoritative first: furthest along the promotion order, then account name for a stable tie-break
            said_by = sorted(sources.get(name, []), key=lambda r: (
                -(furthest.get(name, -1) if r["account"] == "" else rank.get(r["environment"], -1)),
                r["account"] == "", r["account"]))
            o = overrides.get(name, {})
            merged: dict[str, Any] = {}
            for f in fields:
                stated = next((r[f] for r in said_by if r[f] is not None), None)
                if not said_by and current is not None:
                    stated = current[f]  # a catalog from before model_sources: keep what it had
                merged[f] = o.get(f) or stated
            tags: dict[str, Any] = {} if said_by or current is None else (from_json(current["tags"]) or {})
            for r in reversed(said_by):
                tags.update(from_json(r["tags"]) or {})
            merged["tags"] = tags
            if current and all(current[f] == merged[f] for f in fields) and (from_json(current["tags"]) or {}) == tags:
                continue
            rewritten.append([name, *(merged[f] for f in fields), to_json(tags), now])
        if rewritten:
            if replaced := [r[0] for r in rewritten if r[0] in stored]:
                con.execute("DELETE FROM models WHERE name IN (SELECT unnest(?))", [replaced])
            _insert_columns(con, "models", ("name", *fields, "tags", "updated_at"), rewritten)


def _insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str],
                    rows: list[list[Any]]) -> None:
    """Insert ``rows`` (values in ``columns`` order) in one statement: one list parameter per column, unnested
    side by side, each list cast to its column's type (PostgreSQL casts nothing to JSON by itself)."""
    typed = [{"updated_at": "TIMESTAMP", "tags": "JSON"}.get(c, "VARCHAR") for c in columns]
    select = ", ".join(f"unnest(CAST(? AS {t}[]))" for t in typed)
    con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select}",
                [[r[i] for r in rows] for i in range(len(columns))])


def _account_rows(accounts: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"name": a.name, "environment": a.environment, "connector": a.connector, "location": a.location,
             "config": to_json(a.as_record())} for a in accounts]


def _write_accounts(con: Any, changed: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
    """Record each changed account; one whose settings changed loses its watermarks (its next sync is full)."""
    for new, old in changed:
        con.execute(
            upsert_sql("accounts", ("name", "environment", "connector", "location", "config", "updated_at"), ("name",)),
            [new["name"], new["environment"], new["connector"], new["location"], new["config"], utcnow()],
        )
        if old is not None:
            con.execute("UPDATE sync_runs SET watermark = NULL WHERE account = ? AND watermark IS NOT NULL",
                        [new["name"]])


def _changed_accounts(con: Any, wanted: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The accounts of ``wanted`` that are new or whose recorded settings differ, each with its recorded row."""
    stored = {r["name"]: r for r in fetch_dicts(
        con, "SELECT name, environment, connector, location, config FROM accounts")}
    changed = []
    for new in wanted:
        old = stored.get(new["name"])
        if old is None or any(old[k] != new[k] for k in ("environment", "connector", "location")) \
                or from_json(old["config"]) != from_json(new["config"]):
            changed.append((new, old))
    return changed
