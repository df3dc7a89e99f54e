"""Schema changes of the catalog: numbered migrations recorded in ``schema_migrations``."""

from __future__ import annotations

from typing import Any

import duckdb

from core.clock import utcnow
from governance.catalog.connection import CatalogConnection
from governance.catalog.postgres import COMPAT_FUNCTIONS, advisory_lock, is_postgres
from governance.catalog.records import fetch_column

# Numbered migrations. Never edit a released one: add the next number.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "initial catalog",
        """
        CREATE TABLE accounts (
            name TEXT PRIMARY KEY, environment TEXT NOT NULL, connector TEXT NOT NULL,
            location TEXT, config JSON, updated_at TIMESTAMP
        );
        CREATE TABLE models (
            name TEXT PRIMARY KEY, description TEXT, owner TEXT, risk_tier TEXT, intended_use TEXT,
            tags JSON, updated_at TIMESTAMP
        );
        CREATE TABLE versions (
            version_id TEXT PRIMARY KEY, account TEXT NOT NULL, environment TEXT NOT NULL, model TEXT NOT NULL,
            version INTEGER NOT NULL, source_ref TEXT NOT NULL, approval_status TEXT NOT NULL,
            approval_description TEXT, created_at TIMESTAMP, created_by TEXT, modified_at TIMESTAMP,
            artifact_uri TEXT, artifact_sha256 TEXT, framework TEXT, image TEXT,
            data_uris JSON, report_uris JSON, metrics JSON, metadata JSON,
            run_id TEXT, source_version_id TEXT, source_ref_hint TEXT, model_card_id TEXT,
            raw JSON, record_hash TEXT NOT NULL, synced_at TIMESTAMP
        );
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, account TEXT NOT NULL, kind TEXT, name TEXT, status TEXT,
            started_at TIMESTAMP, ended_at TIMESTAMP, params JSON, metrics JSON, inputs JSON, experiment TEXT,
            raw JSON, record_hash TEXT NOT NULL
        );
        CREATE TABLE deployments (
            deployment_id TEXT PRIMARY KEY, account TEXT NOT NULL, environment TEXT NOT NULL, endpoint TEXT,
            variant TEXT, status TEXT, model TEXT, version_id TEXT, model_data_uri TEXT, weight DOUBLE,
            updated_at TIMESTAMP, raw JSON, record_hash TEXT NOT NULL
        );
        CREATE TABLE model_cards (
            card_id TEXT PRIMARY KEY, account TEXT NOT NULL, model TEXT, version_id TEXT, status TEXT,
            content JSON, updated_at TIMESTAMP, record_hash TEXT NOT NULL
        );
        CREATE TABLE sync_runs (
            sync_id TEXT PRIMARY KEY, account TEXT NOT NULL, started_at TIMESTAMP, finished_at TIMESTAMP,
            status TEXT NOT NULL, error TEXT, counts JSON, issues JSON, watermark TEXT, full_sync BOOLEAN,
            calls INTEGER, throttled INTEGER, actor TEXT
        );
        CREATE TABLE evidence (
            evidence_id TEXT PRIMARY KEY, kind TEXT NOT NULL, version_id TEXT, input_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL, result JSON, summary JSON, software JSON, inputs JSON,
            computed_at TIMESTAMP, computed_by TEXT
        );
        CREATE TABLE promotion_requests (
            request_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, model TEXT NOT NULL, from_env TEXT NOT NULL,
            to_env TEXT NOT NULL, target_account TEXT, requester TEXT NOT NULL, reason TEXT, status TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP, execution_state TEXT, execution_error TEXT,
            target_version_id TEXT, payload JSON
        );
        CREATE TABLE decisions (
            decision_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
            comment TEXT, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, payload JSON, ledger_hash TEXT
        );
        CREATE TABLE ledger (
            seq BIGINT PRIMARY KEY, recorded_at TIMESTAMP NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            subject TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
        );
        CREATE INDEX versions_model ON versions(model);
        CREATE INDEX versions_account ON versions(account);
        """,
    ),
    (
        2,
        "what each account says about a model",
        """
        CREATE TABLE model_sources (
            model TEXT NOT NULL, account TEXT NOT NULL, environment TEXT, description TEXT, owner TEXT,
            risk_tier TEXT, intended_use TEXT, tags JSON, PRIMARY KEY (model, account)
        );
        INSERT INTO model_sources SELECT name, '', NULL, description, owner, risk_tier, intended_use, tags FROM models;
        UPDATE sync_runs SET watermark = NULL;
        """,
    ),
    (
        3,
        "periodic reviews and sent notifications (governance.oversight, governance.notify)",
        """
        CREATE TABLE periodic_reviews (
            review_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, model TEXT NOT NULL, reviewer TEXT NOT NULL,
            outcome TEXT NOT NULL, comment TEXT NOT NULL, reviewed_at TIMESTAMP NOT NULL, tier TEXT,
            evidence JSON, gates JSON, ledger_hash TEXT
        );
        CREATE INDEX periodic_reviews_version ON periodic_reviews(version_id);
        CREATE TABLE notifications (
            notification_id TEXT PRIMARY KEY, event_key TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT,
            channel TEXT NOT NULL, recipient TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
            attempted_at TIMESTAMP NOT NULL, title TEXT
        );
        CREATE INDEX notifications_key ON notifications(event_key, channel, recipient)
        """,
    ),
    (
        4,
        "registry labels of versions",
        # an MLflow alias or a ZenML stage; the next sync of each account fills them (watermarks reset)
        """
        ALTER TABLE versions ADD COLUMN labels JSON;
        UPDATE sync_runs SET watermark = NULL;
        """,
    ),
    (
        5,
        "registry history: each version's and deployment's states over time, and the gaps in observation",
        """
        CREATE TABLE version_history (
            history_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, account TEXT NOT NULL, environment TEXT NOT NULL,
            model TEXT NOT NULL, version INTEGER NOT NULL, approval_status TEXT, approval_description TEXT,
            labels JSON, card JSON, created_at TIMESTAMP, created_by TEXT, modified_at TIMESTAMP,
            source_version_id TEXT, state_hash TEXT NOT NULL,
            valid_from TIMESTAMP NOT NULL, time_source TEXT NOT NULL, valid_to TIMESTAMP, valid_to_source TEXT,
            sync_id TEXT NOT NULL, ledger_seq BIGINT, ledger_hash TEXT, request_id TEXT, closed_by_sync TEXT
        );
        CREATE TABLE deployment_history (
            history_id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, account TEXT NOT NULL, environment TEXT NOT NULL,
            endpoint TEXT, variant TEXT, status TEXT, model TEXT, version_id TEXT, weight DOUBLE,
            updated_at TIMESTAMP, state_hash TEXT NOT NULL,
            valid_from TIMESTAMP NOT NULL, time_source TEXT NOT NULL, valid_to TIMESTAMP, valid_to_source TEXT,
            sync_id TEXT NOT NULL, ledger_seq BIGINT, ledger_hash TEXT, request_id TEXT, closed_by_sync TEXT
        );
        CREATE TABLE history_gaps (
            gap_id TEXT PRIMARY KEY, account TEXT NOT NULL, gap_from TIMESTAMP, gap_to TIMESTAMP,
            reason TEXT NOT NULL, sync_id TEXT NOT NULL, detail TEXT
        )
        """,
    ),
    (
        6,
        "Countersign's own artifact digests: where each came from, when, why missing; kept in the history",
        # the history rows open today take the digest the catalog has (so upgrading opens no row); the next sync of
        # each account is a full pass (watermarks reset) that reads every version's artifact once
        """
        ALTER TABLE versions ADD COLUMN artifact_digest_source TEXT;
        ALTER TABLE versions ADD COLUMN artifact_digest_at TIMESTAMP;
        ALTER TABLE versions ADD COLUMN artifact_digest_problem TEXT;
        ALTER TABLE version_history ADD COLUMN artifact_sha256 TEXT;
        ALTER TABLE version_history ADD COLUMN artifact_digest_source TEXT;
        ALTER TABLE version_history ADD COLUMN artifact_digest_at TIMESTAMP;
        ALTER TABLE version_history ADD COLUMN artifact_digest_problem TEXT;
        UPDATE version_history SET artifact_sha256 = (
            SELECT v.artifact_sha256 FROM versions AS v WHERE v.version_id = version_history.version_id
        ) WHERE valid_to IS NULL;
        UPDATE sync_runs SET watermark = NULL
        """,
    ),
    (
        7,
        "triggered reviews: re-validations a monitoring breach or cumulative change started (governance.oversight)",
        # insert-only; a trigger is open until a periodic review of its version is recorded after it
        """
        CREATE TABLE triggered_reviews (
            trigger_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL,
            gate TEXT, reason TEXT NOT NULL, figure DOUBLE, threshold DOUBLE, columns JSON, evidence JSON,
            breach_key TEXT NOT NULL, triggered_at TIMESTAMP NOT NULL, triggered_by TEXT NOT NULL, ledger_hash TEXT
        );
        CREATE INDEX triggered_reviews_version ON triggered_reviews(version_id)
        """,
    ),
    (
        8,
        "history from before the first sync and from registry events: where each change came from, how sure it "
        "is; backfills, received events, version-level gaps",
        # change_source: sync | event | cloudtrail | lifecycle action | registry timestamp; confidence: exact (the
        # change's own recorded time) | inferred (a last-modified time, which may date another change) | observed
        # (when a sync saw it). Rows a later backfill replaces are marked superseded_by, never deleted.
        """
        ALTER TABLE version_history ADD COLUMN change_source TEXT;
        ALTER TABLE version_history ADD COLUMN confidence TEXT;
        ALTER TABLE version_history ADD COLUMN changed_by TEXT;
        ALTER TABLE version_history ADD COLUMN note TEXT;
        ALTER TABLE version_history ADD COLUMN evidence TEXT;
        ALTER TABLE version_history ADD COLUMN event_id TEXT;
        ALTER TABLE version_history ADD COLUMN backfill_id TEXT;
        ALTER TABLE version_history ADD COLUMN superseded_by TEXT;
        ALTER TABLE deployment_history ADD COLUMN change_source TEXT;
        ALTER TABLE deployment_history ADD COLUMN confidence TEXT;
        ALTER TABLE deployment_history ADD COLUMN changed_by TEXT;
        ALTER TABLE deployment_history ADD COLUMN note TEXT;
        ALTER TABLE deployment_history ADD COLUMN evidence TEXT;
        ALTER TABLE deployment_history ADD COLUMN event_id TEXT;
        ALTER TABLE deployment_history ADD COLUMN backfill_id TEXT;
        ALTER TABLE deployment_history ADD COLUMN superseded_by TEXT;
        ALTER TABLE history_gaps ADD COLUMN version_id TEXT;
        ALTER TABLE history_gaps ADD COLUMN source TEXT;
        ALTER TABLE history_gaps ADD COLUMN backfill_id TEXT;
        ALTER TABLE history_gaps ADD COLUMN superseded_by TEXT;
        UPDATE version_history SET change_source = 'sync',
            confidence = CASE WHEN time_source = 'source' THEN 'inferred' ELSE 'observed' END;
        UPDATE deployment_history SET change_source = 'sync',
            confidence = CASE WHEN time_source = 'source' THEN 'inferred' ELSE 'observed' END;
        UPDATE history_gaps SET source = 'sync';
        CREATE TABLE backfills (
            backfill_id TEXT PRIMARY KEY, account TEXT NOT NULL, started_at TIMESTAMP NOT NULL, since TIMESTAMP,
            until TIMESTAMP NOT NULL, reach TIMESTAMP, sources JSON, counts JSON, rows_sha256 TEXT NOT NULL,
            actor TEXT NOT NULL, ledger_seq BIGINT, ledger_hash TEXT, superseded_by TEXT
        );
        CREATE TABLE history_events (
            event_id TEXT PRIMARY KEY, account TEXT, channel TEXT NOT NULL, kind TEXT, event_time TIMESTAMP,
            received_at TIMESTAMP NOT NULL, version_id TEXT, payload TEXT, payload_sha256 TEXT NOT NULL,
            status TEXT NOT NULL, detail TEXT, applied_at TIMESTAMP, ledger_seq BIGINT, ledger_hash TEXT
        );
        CREATE INDEX history_events_status ON history_events(status)
        """,
    ),
    (
        9,
        "the rest of the lifecycle: fallback plans, incidents, model card edits and write-backs (issue 38)",
        # insert-only: a plan's or an incident's state is replayed from its events (each one a ledger entry)
        """
        CREATE TABLE fallback_plans (
            plan_id TEXT PRIMARY KEY, model TEXT NOT NULL, environment TEXT NOT NULL, kind TEXT NOT NULL,
            protects TEXT, fallback_version_id TEXT, fallback_sha256 TEXT, business_process TEXT, reason TEXT NOT NULL,
            tier TEXT, approvals_required INTEGER NOT NULL, proposed_by TEXT NOT NULL, proposed_at TIMESTAMP NOT NULL,
            ledger_hash TEXT
        );
        CREATE TABLE fallback_events (
            event_id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
            happened_at TIMESTAMP NOT NULL, outcome TEXT NOT NULL, comment TEXT, detail JSON, review_due TIMESTAMP,
            ledger_hash TEXT
        );
        CREATE INDEX fallback_events_plan ON fallback_events(plan_id);
        CREATE TABLE incidents (
            incident_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, model TEXT NOT NULL, title TEXT NOT NULL,
            description TEXT, occurred_at TIMESTAMP NOT NULL, aware_at TIMESTAMP NOT NULL, impact TEXT NOT NULL,
            severity TEXT NOT NULL, serious BOOLEAN NOT NULL, serious_kind TEXT, deadlines JSON,
            recorded_by TEXT NOT NULL, recorded_at TIMESTAMP NOT NULL, ledger_hash TEXT
        );
        CREATE TABLE incident_events (
            event_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
            happened_at TIMESTAMP NOT NULL, text TEXT, detail JSON, ledger_hash TEXT
        );
        CREATE INDEX incident_events_incident ON incident_events(incident_id);
        CREATE TABLE card_edits (
            edit_id TEXT PRIMARY KEY, model TEXT NOT NULL, fields JSON NOT NULL, changed JSON NOT NULL,
            registry JSON, editor TEXT NOT NULL, edited_at TIMESTAMP NOT NULL, comment TEXT, ledger_hash TEXT
        );
        CREATE INDEX card_edits_model ON card_edits(model);
        CREATE TABLE card_writebacks (
            writeback_id TEXT PRIMARY KEY, edit_id TEXT NOT NULL, model TEXT NOT NULL, account TEXT NOT NULL,
            target TEXT, status TEXT NOT NULL, detail JSON, actor TEXT NOT NULL, happened_at TIMESTAMP NOT NULL,
            ledger_hash TEXT
        )
        """,
    ),
)


class CatalogMigrations(CatalogConnection):
    """Applying and reading the schema version of the catalog file."""

    def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded; return the numbers applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._pg is None and self._up_to_date():  # the usual case: one read, no write (opening to read writes nothing)
            return []
        applied: list[int] = []
        with self.transaction() as con:
            if is_postgres(con):  # replicas starting together migrate one after the other
                advisory_lock(con, "migrate")
                for statement in COMPAT_FUNCTIONS:
                    con.raw.execute(statement)
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            done = set(fetch_column(con, "SELECT version FROM schema_migrations"))
            for number, name, sql in MIGRATIONS:
                if number in done:
                    continue
                for statement in (s.strip() for s in sql.split(";")):
                    if statement:
                        con.execute(statement)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, utcnow()])
                applied.append(number)
        if applied:
            self.forget_columns()
        return applied

    def schema_version(self) -> int:
        """The highest migration number applied (0 for a new file)."""
        with self.connect() as con:
            return max(_applied(con), default=0)

    def _up_to_date(self) -> bool:
        """Whether every migration is recorded as applied (DuckDB: one query, not information_schema's views)."""
        with self.connect() as con:
            try:
                done = set(fetch_column(con, "SELECT version FROM schema_migrations"))
            except duckdb.CatalogException:  # a new file: no schema_migrations table yet
                return False
        return all(number in done for number, _, _ in MIGRATIONS)


def _applied(con: Any) -> set[int]:
    """The migration numbers recorded in the catalog (none for a new file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
        "AND table_catalog = current_database() AND table_schema = current_schema()"
    ).fetchone()[0]
    return set(fetch_column(con, "SELECT version FROM schema_migrations")) if exists else set()
