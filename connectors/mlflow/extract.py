"""What one sync reads from an MLflow server (``extract``), and the watermark that makes the next one incremental."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from typing import Any
from urllib.parse import quote

from connectors import digests
from connectors.base import ModelRecord, RunRecord, Snapshot, SyncIssue, VersionRecord, decode_watermark
from connectors.mlflow.client import API
from connectors.mlflow.records import (
    model_id_of,
    model_record,
    quote_filter,
    run_id_of,
    run_record,
    short,
    version_record,
    version_ref,
)
from connectors.mlflow.session import MlflowSession
from connectors.mlflow.settings import TAG_ARTIFACT_SHA256
from core import workers
from core.canonical import canonical_json
from core.errors import ConnectorError
from core.progress import ProgressFn, no_progress

WATERMARK_VERSION = 1
MODEL_PAGE = 1000  # the server's maximum for registered-models/search
VERSION_PAGE = 200  # model-versions/search allows 200,000; pages this size keep answers small and memory flat
RUN_BATCH = 100  # run ids per runs/search
INCREMENTAL_FIRST_PAGE = 20
PREFETCH_TTL = 30.0  # seconds a prefetched answer stands in for the call extract would make


@dataclasses.dataclass
class _State:
    """What the last sync saw (the watermark)."""

    ts: int = 0  # newest last_updated_timestamp seen
    edge: dict[str, int] = dataclasses.field(default_factory=dict)  # "model/version" at exactly ts
    aliases: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # model -> alias -> version
    models: dict[str, str] = dataclasses.field(default_factory=dict)  # model -> short hash of its fields
    retry: list[str] = dataclasses.field(default_factory=list)  # "model/version" to read again

    def dump(self) -> str:
        return canonical_json({"v": WATERMARK_VERSION, "ts": self.ts, "e": self.edge, "a": self.aliases,
                               "m": self.models, "r": sorted(set(self.retry))})

    @classmethod
    def load(cls, text: str | None) -> _State | None:
        data = decode_watermark(text, WATERMARK_VERSION)
        if data is None:
            return None  # none yet, or an older or foreign watermark: do a full pass
        return cls(int(data.get("ts") or 0), data.get("e") or {}, data.get("a") or {}, data.get("m") or {},
                   list(data.get("r") or []))


_MODEL_QUERY: dict[str, Any] = {"max_results": MODEL_PAGE}


def _version_query(incremental: bool) -> dict[str, Any]:
    """The parameters of the version listing (``page_token`` aside). Incremental: newest first, until what the last
    sync saw (its first page is :data:`INCREMENTAL_FIRST_PAGE` long: a re-sync usually finds nothing new). Full:
    oldest first, an order that updates during the listing do not shuffle (offset page tokens would skip a version
    that moved to the front)."""
    order = "last_updated_timestamp DESC" if incremental else "creation_timestamp ASC"
    return {"max_results": VERSION_PAGE, "order_by": [order]}


def _key(v: dict[str, Any]) -> str:
    return f"{v['name']}/{v['version']}"


class _RunReader:
    """Reads runs by id in batches of :data:`RUN_BATCH` (``runs/search``) on a pool, a batch as soon as it is full.

    ``runs/search`` needs the experiment ids: they are listed once, on the pool, by :meth:`start` or the first
    batch. :meth:`result` sends the last partial batch and waits: runs by id, and the ids whose batch (or the
    experiment listing) failed with the reason.
    """

    def __init__(self, connector: Extraction, pool: Executor) -> None:
        self.connector = connector
        self.pool = pool
        self.pending: list[str] = []
        self.sent: set[str] = set()
        self.batches: list[tuple[list[str], Future[tuple[list[dict], str | None]]]] = []
        self.experiments: Future[dict[str, str]] | None = None

    def start(self) -> None:
        if self.experiments is None:
            self.experiments = self.pool.submit(self.connector._experiments)

    def add(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            if run_id not in self.sent:
                self.sent.add(run_id)
                self.pending.append(run_id)
        while len(self.pending) >= RUN_BATCH:
            self._send(self.pending[:RUN_BATCH])
            del self.pending[:RUN_BATCH]

    def _send(self, batch: list[str]) -> None:
        self.start()
        self.batches.append((sorted(batch), self.pool.submit(self._one, sorted(batch))))

    def _one(self, batch: list[str]) -> tuple[list[dict], str | None]:
        assert self.experiments is not None
        try:
            experiments = sorted(self.experiments.result())
        except ConnectorError:
            return [], None  # reported once by result()
        body = {"experiment_ids": experiments, "max_results": len(batch), "run_view_type": "ALL",
                "filter": f"attributes.run_id IN ({', '.join(quote_filter(r) for r in batch)})"}
        try:
            return [r for page in self.connector.tracking.pages("runs/search", "runs", body, method="POST")
                    for r in page], None
        except ConnectorError as exc:
            return [], str(exc)

    def result(self) -> tuple[dict[str, RunRecord], dict[str, str]]:
        if self.pending:
            self._send(self.pending)
            self.pending = []
        if not self.batches:
            return {}, {}
        assert self.experiments is not None
        try:
            names = self.experiments.result()
        except ConnectorError as exc:
            return {}, dict.fromkeys(self.sent, str(exc))
        out: dict[str, RunRecord] = {}
        failed: dict[str, str] = {}
        for batch, future in self.batches:
            found, error = future.result()
            if error:
                failed.update(dict.fromkeys(batch, error))
            for r in found:
                out[r["info"]["run_id"]] = run_record(r, names)
        return out, failed


class Extraction(MlflowSession):
    """``prefetch``, ``extract`` and ``read_version`` (one version, read the way a sync reads it)."""

    # -- prefetch ----------------------------------------------------------------------------------------------------

    _early: dict[str, Any] | None = None

    def prefetch(self, *, full: bool = False) -> None:
        """Start the calls every extract makes whatever the watermark says: the model listing (aliases carry no
        timestamp, so every sync reads it) and, unless ``full``, the first page of versions, newest first.

        ``governance.sync`` calls this before it opens the catalog to read the watermarks, so the server answers
        while the file opens. The next :meth:`extract` uses these answers when they are at most
        :data:`PREFETCH_TTL` seconds old (a full pass, decided by the watermark after all, leaves the version page
        unused). Errors surface in that extract, as if it had made the calls itself.
        """
        calls0, throttled0 = self._calls()
        pool = workers.executor(2)
        try:
            early: dict[str, Any] = {
                "at": time.monotonic(), "calls0": calls0, "throttled0": throttled0,
                "models": pool.submit(self.registry.search, "registered-models/search", _MODEL_QUERY),
            }
            if not full:
                early["versions"] = pool.submit(self.registry.search, "model-versions/search",
                                                {**_version_query(True), "max_results": INCREMENTAL_FIRST_PAGE})
        finally:
            pool.shutdown(wait=False)
        self._early = early

    def _take_early(self) -> dict[str, Any]:
        early, self._early = self._early, None
        if early is None or time.monotonic() - early["at"] > PREFETCH_TTL:
            return {}
        return early

    # -- extract ---------------------------------------------------------------------------------------------------

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        early = self._take_early()
        calls0, throttled0 = (early["calls0"], early["throttled0"]) if early else self._calls()
        before = _State.load(None if full else since)
        incremental = before is not None
        old = before or _State()
        if not incremental:
            early.pop("versions", None)  # a page of the incremental order: a full pass lists oldest first
        # the calls that do not depend on each other go side by side (each costs a server round trip): the model
        # listing and the version listing; on a full pass also the experiments, and each batch of runs as soon as
        # the version pages have named a batch's worth (the next pages are read meanwhile)
        pool = workers.executor(self.settings.max_concurrency)
        try:
            return self._extract(old, incremental, pool, progress, calls0, throttled0, early)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _extract(self, old: _State, incremental: bool, pool: Executor, progress: ProgressFn,
                 calls0: int, throttled0: int, early: dict[str, Any]) -> Snapshot:
        new = _State()
        issues: list[SyncIssue] = []
        progress("listing registered models and model versions", 0.02)
        listing = pool.submit(lambda: [m for page in self.registry.pages(
            "registered-models/search", "registered_models", _MODEL_QUERY, first=early.get("models")) for m in page])
        reader = _RunReader(self, pool)
        if not incremental:
            reader.start()
        summaries = self._list_versions(old, new, incremental, reader, early.get("versions"))
        listed = listing.result()
        models: list[ModelRecord] = []
        for m in listed:
            name = m["name"]
            record = model_record(m)
            new.models[name] = short(record.description, record.tags, record.owner, record.risk_tier,
                                      record.intended_use)
            new.aliases[name] = {a["alias"]: str(a["version"]) for a in m.get("aliases") or []}
            if not incremental or old.models.get(name) != new.models[name]:
                models.append(record)

        progress("listed model versions", 0.1)
        # versions whose aliases changed, and versions the last sync could not read, are read again
        again = set(old.retry) if incremental else set()
        if incremental:
            for name in set(old.aliases) | set(new.aliases):
                was, now = old.aliases.get(name, {}), new.aliases.get(name, {})
                for alias in set(was) | set(now):
                    if was.get(alias) != now.get(alias):
                        again.update(f"{name}/{v}" for v in (was.get(alias), now.get(alias)) if v)

        def get(key: str) -> tuple[str, dict[str, Any] | None, str | None]:
            name, _, number = key.rpartition("/")
            try:
                found = self.registry.request("GET", f"{API}/model-versions/get",
                                              params={"name": name, "version": number}, missing_ok=True)
            except ConnectorError as exc:
                return key, None, str(exc)
            return key, (found or {}).get("model_version"), None

        for key, found, error in pool.map(get, sorted(again - set(summaries))):
            if error:
                name, _, number = key.rpartition("/")
                issues.append(SyncIssue(version_ref(name, number), f"not read: {error}"))
                new.retry.append(key)
            elif found:
                summaries[key] = found

        aliases_of: dict[str, list[str]] = collections.defaultdict(list)
        for name, amap in new.aliases.items():
            for alias, number in amap.items():
                aliases_of[f"{name}/{number}"].append(alias)

        progress(f"reading the runs of {len(summaries)} versions", 0.3)
        todo = list(summaries.values())
        reader.add(v["run_id"] for v in todo if v.get("run_id"))
        logged = self._logged_models({m for v in todo if (m := model_id_of(v))}, issues, pool)
        # a version registered from a logged model made outside a run's registration names its run there
        reader.add(r for v in todo if not v.get("run_id") and (r := run_id_of(v, logged)))
        runs, run_problems = reader.result()
        versions, run_records = self._map_versions(todo, runs, run_problems, logged, aliases_of, new, issues,
                                                   progress)

        progress(f"reading the artifacts of {len(versions)} versions", 0.92)
        versions = self._with_digests(versions, pool, issues)
        progress("done", 1.0)
        calls1, throttled1 = self._calls()
        return Snapshot(
            models=tuple(models), versions=tuple(versions), runs=tuple(run_records.values()), issues=tuple(issues),
            watermark=new.dump(),
            # a full listing says what exists: versions the catalog has and the server no longer lists were deleted
            complete=not incremental,
            calls=calls1 - calls0, throttled=throttled1 - throttled0,
        )

    def _map_versions(self, todo: list[dict[str, Any]], runs: dict[str, RunRecord], run_problems: dict[str, str],
                      logged: dict[str, dict[str, Any]], aliases_of: dict[str, list[str]], new: _State,
                      issues: list[SyncIssue], progress: ProgressFn,
                      ) -> tuple[list[VersionRecord], dict[str, RunRecord]]:
        """The version records of ``todo`` and the runs behind them; a version whose run the server failed to
        answer is left out (the catalog keeps its row) and read again by the next sync."""
        versions: list[VersionRecord] = []
        run_records: dict[str, RunRecord] = {}
        for i, v in enumerate(todo):
            ref = version_ref(v["name"], v["version"])
            run_id = run_id_of(v, logged)
            try:
                run = runs.get(run_id or "")
                if run_id and run is None:
                    issues.append(SyncIssue(ref, f"run {run_id} behind the version was not read: "
                                                 f"{run_problems.get(run_id, 'it no longer exists')}"))
                    if run_id in run_problems:
                        new.retry.append(_key(v))
                        continue  # the server failed us: keep the catalog's row, read it again next time
                record = version_record(self.settings, v, run, logged.get(model_id_of(v) or ""),
                                        sorted(aliases_of.get(_key(v), [])))
            except (ValueError, KeyError, TypeError) as exc:
                issues.append(SyncIssue(ref, f"skipped: {exc}"))
                new.retry.append(_key(v))
                continue
            versions.append(record)
            if run is not None:
                run_records[run.run_ref] = run
            if i % 200 == 0:
                progress(f"mapped {i}/{len(todo)} versions", 0.3 + 0.6 * i / max(len(todo), 1))
        return versions, run_records

    def _list_versions(self, old: _State, new: _State, incremental: bool, reader: _RunReader,
                       first: Future[Any] | None = None) -> dict[str, dict[str, Any]]:
        """The versions to emit ("model/version" -> summary); sets ``new.ts`` and ``new.edge``. A full pass hands
        each page's run ids to ``reader`` as it arrives. ``first``: the first page, prefetched."""
        summaries: dict[str, dict[str, Any]] = {}
        newest = 0
        for page in self.registry.pages("model-versions/search", "model_versions", _version_query(incremental),
                                        first_page=INCREMENTAL_FIRST_PAGE if incremental else None, first=first):
            stop = False
            for v in page:
                ts = int(v.get("last_updated_timestamp") or 0)
                if incremental and ts < old.ts:
                    stop = True  # everything further down was seen by the last sync
                    break
                newest = max(newest, ts)
                if incremental and ts == old.ts and old.edge.get(_key(v)) == ts:
                    continue  # seen at the watermark's instant already
                summaries[_key(v)] = v
            if stop:
                break
            if not incremental:
                reader.add(v["run_id"] for v in page if v.get("run_id"))
        new.ts = max(newest, old.ts)
        if incremental:
            new.edge = {k: t for k, t in old.edge.items() if t == new.ts}
        new.edge.update({k: int(v.get("last_updated_timestamp") or 0) for k, v in summaries.items()
                         if int(v.get("last_updated_timestamp") or 0) == new.ts})
        return summaries

    def _experiments(self) -> dict[str, str]:
        """Every experiment of the tracking server: id -> name."""
        return {e["experiment_id"]: e.get("name", "") for page in self.tracking.pages(
            "experiments/search", "experiments", {"max_results": 1000, "view_type": "ALL"}, method="POST")
            for e in page}

    def _runs(self, run_ids: set[str]) -> tuple[dict[str, RunRecord], dict[str, str]]:
        """Runs by id, read in batches; and the ids whose batch failed with the reason."""
        if not run_ids:
            return {}, {}
        with workers.executor(self.settings.max_concurrency) as pool:
            reader = _RunReader(self, pool)
            reader.add(run_ids)
            return reader.result()

    def _logged_models(self, model_ids: set[str], issues: list[SyncIssue],
                       pool: Executor | None = None) -> dict[str, dict[str, Any]]:
        """MLflow 3 logged models by id (params, metrics, tags, artifact location)."""
        def one(model_id: str) -> tuple[str, dict[str, Any] | None, str | None]:
            try:
                got = self.tracking.request("GET", f"{API}/logged-models/{quote(model_id, safe='')}", missing_ok=True)
            except ConnectorError as exc:
                return model_id, None, str(exc)
            return model_id, (got or {}).get("model"), None

        out: dict[str, dict[str, Any]] = {}
        if not model_ids:
            return out
        with contextlib.ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(workers.executor(self.settings.max_concurrency))
            for model_id, model, error in pool.map(one, sorted(model_ids)):
                if error:
                    issues.append(SyncIssue(f"logged-model/{model_id}", f"not read: {error}"))
                elif model:
                    out[model_id] = model
        return out

    def _get_version(self, name: str, number: str | int) -> dict[str, Any]:
        return self.registry.get("model-versions/get", name=name, version=str(number))["model_version"]

    def read_version(self, name: str, number: str | int) -> VersionRecord:
        """One version as a sync would map it (its run, logged model and aliases read now)."""
        v = self._get_version(name, number)
        issues: list[SyncIssue] = []
        model_id = model_id_of(v)
        logged = self._logged_models({model_id} if model_id else set(), issues)
        run_id = run_id_of(v, logged)
        runs, problems = self._runs({run_id} if run_id else set())
        if problems:
            raise ConnectorError(next(iter(problems.values())))
        try:
            record = version_record(self.settings, v, runs.get(run_id or ""), logged.get(model_id or ""),
                                    sorted(v.get("aliases") or []))
        except ValueError as exc:
            raise ConnectorError(f"{version_ref(name, number)}: {exc}") from None
        record = self._with_framework(record)
        if not digests.ENABLED:
            return record
        return digests.settle(record, self.artifact_digest(record), record.metadata.get(TAG_ARTIFACT_SHA256))
