"""What one sync reads from a ZenML server (``extract``), and the watermark that makes the next one incremental."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from connectors.base import (
    ModelCardRecord,
    ModelRecord,
    RunRecord,
    Snapshot,
    SyncIssue,
    VersionRecord,
    decode_watermark,
)
from connectors.zenml.records import model_records, parse, risk_tier, run_record, version_record
from connectors.zenml.session import ZenMLSession
from connectors.zenml.settings import OVERLAP, WATERMARK_VERSION
from core import workers
from core.canonical import canonical_json
from core.errors import ConnectorError
from core.progress import ProgressFn, no_progress

_FILTER_TIME = "%Y-%m-%d %H:%M:%S"  # ZenML's FILTERING_DATETIME_FORMAT


@dataclasses.dataclass
class _State:
    newest: str | None = None  # newest update time seen, ISO
    seen: dict[str, str] = dataclasses.field(default_factory=dict)  # "kind:id" -> updated, for items near `newest`

    def dump(self) -> str:
        return canonical_json({"v": WATERMARK_VERSION, "t": self.newest, "s": self.seen})

    @classmethod
    def load(cls, text: str | None) -> _State | None:
        data = decode_watermark(text, WATERMARK_VERSION)
        if data is None or not data.get("t"):
            return None
        return cls(data["t"], dict(data.get("s") or {}))

    def cut(self) -> str | None:
        """The ``updated=gte:`` bound of the next listing."""
        if not self.newest:
            return None
        return (parse(self.newest) - OVERLAP).strftime(_FILTER_TIME)



class Extraction(ZenMLSession):
    """``extract`` of one ZenML server and project (and ``_read_version``, one version read the same way)."""

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        calls_before = self.client.calls
        before = None if full else _State.load(since)
        incremental = before is not None
        cut = before.cut() if before else None
        old_seen = before.seen if before else {}
        project = {"project": self.project_id}
        issues: list[SyncIssue] = []
        newest = [before.newest if before else None]
        seen: dict[str, str] = {}

        def fresh(kind: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """Items not already seen with the same update time; remembers the newest time."""
            out = []
            for item in items:
                updated = item["body"]["updated"]
                key = f"{kind}:{item['id']}"
                seen[key] = updated
                if newest[0] is None or updated > newest[0]:
                    newest[0] = updated
                if old_seen.get(key) != updated:
                    out.append(item)
            return out

        progress("listing models, versions, links and runs", 0.05)
        # the listings are independent: side by side (each ZenML request costs ~0.1 s of server time)
        kinds = [("m", "/models", "updated", {"hydrate": "true", **project}),
                 ("v", "/model_versions", "updated", {"hydrate": "true", **project}),
                 ("p", "/runs", "updated", {"hydrate": "true", **project})]
        if not incremental:  # links and steps change with their runs: an incremental pass reads them per run
            kinds += [("a", "/model_version_artifacts", "created", {}),
                      ("r", "/model_version_pipeline_runs", "created", {}),
                      ("s", "/steps", "updated", {"hydrate": "true", **project})]
        with workers.executor(len(kinds)) as pool:
            futures = {kind: pool.submit(self._list, path, cut, field=f, **params) for kind, path, f, params in kinds}
            listed = {kind: fresh(kind, future.result()) for kind, future in futures.items()}
        models = listed["m"]
        versions = {v["id"]: v for v in listed["v"]}
        runs = {r["id"]: r for r in listed["p"]}
        art_links, run_links, steps = listed.get("a", []), listed.get("r", []), listed.get("s", [])

        progress("reading changed versions", 0.5)
        if incremental and runs:  # a run that changed may have linked artifacts or itself to versions
            run_links = self._by_ids("/model_version_pipeline_runs", set(runs), key="pipeline_run_id")
        # a version whose links changed is emitted whole: read it and all its links
        linked = {link["body"]["model_version"] for link in art_links + run_links} - set(versions)
        if linked:
            versions.update({v["id"]: v for v in self._by_ids("/model_versions", linked, hydrate="true", **project)})
        if incremental and versions:
            art_links = self._by_ids("/model_version_artifacts", set(versions), key="model_version_id")
            run_links = self._by_ids("/model_version_pipeline_runs", set(versions), key="model_version_id")
        if incremental and runs:
            steps = self._by_ids("/steps", set(runs), key="pipeline_run_id", hydrate="true", **project)
        stacks = self._stacks() if runs else {}

        progress("building records", 0.8)
        models_out, cards, version_records, run_records = self._records(
            models, versions, runs, art_links, run_links, steps, stacks, issues, seen)
        # only the items near the newest time are needed to skip them next time
        horizon = (parse(newest[0]) - OVERLAP - dt.timedelta(seconds=1)).isoformat() if newest[0] else ""
        keep = {k: t for k, t in {**old_seen, **seen}.items() if t >= horizon}
        progress("done", 1.0)
        return Snapshot(
            models=tuple(models_out), versions=tuple(version_records), runs=tuple(run_records),
            model_cards=tuple(cards), issues=tuple(issues), watermark=_State(newest[0], keep).dump(),
            complete=not incremental, calls=self.client.calls - calls_before,
        )

    def _records(self, models: list[dict[str, Any]], versions: dict[str, dict[str, Any]],
                 runs: dict[str, dict[str, Any]], art_links: list[dict[str, Any]], run_links: list[dict[str, Any]],
                 steps: list[dict[str, Any]], stacks: dict[str, dict[str, Any]], issues: list[SyncIssue],
                 seen: dict[str, str]) -> tuple[list[ModelRecord], list[ModelCardRecord], list[VersionRecord],
                                                list[RunRecord]]:
        """The records of what the listings returned; an item that cannot be mapped is an issue, looked at again
        by the next sync."""
        artifacts_of: dict[str, list[dict[str, Any]]] = {}
        for link in art_links:
            artifacts_of.setdefault(link["body"]["model_version"], []).append(link["body"]["artifact_version"])
        runs_of: dict[str, list[dict[str, Any]]] = {}
        for link in run_links:
            runs_of.setdefault(link["body"]["model_version"], []).append(link["body"]["pipeline_run"])
        steps_of: dict[str, list[dict[str, Any]]] = {}
        for s in steps:
            if s.get("metadata"):
                steps_of.setdefault(s["metadata"]["pipeline_run_id"], []).append(s)
        models_out, cards = [], []
        for m in models:
            try:
                record, card = model_records(m)
            except (KeyError, TypeError, ValueError) as exc:
                issues.append(SyncIssue(f"model/{m.get('id')}", f"skipped: {type(exc).__name__}: {exc}"))
                continue
            models_out.append(record)
            cards.append(card)
        version_records = []
        for v in sorted(versions.values(), key=lambda v: (v["body"]["model"]["name"], v["body"]["number"])):
            try:
                version_records.append(version_record(self.settings, v, artifacts_of.get(v["id"], []),
                                                      runs_of.get(v["id"], [])))
            except (KeyError, TypeError, ValueError) as exc:
                issues.append(SyncIssue(v["id"], f"skipped: {exc}"))
                seen.pop(f"v:{v['id']}", None)  # looked at again by the next sync
        version_records = self._with_digests(version_records, issues)
        models_out = self._tiers_from_versions(models_out, version_records, issues)
        run_records = []
        for r in runs.values():
            try:
                run_records.append(run_record(r, steps_of.get(r["id"], []), stacks))
            except (KeyError, TypeError, ValueError) as exc:
                issues.append(SyncIssue(f"pipeline-run/{r.get('id')}", f"skipped: {type(exc).__name__}: {exc}"))
                seen.pop(f"p:{r['id']}", None)
        return models_out, cards, version_records, run_records

    def _tiers_from_versions(self, models: list[ModelRecord], versions: list[VersionRecord],
                             issues: list[SyncIssue]) -> list[ModelRecord]:
        """``models`` whose risk tier comes from a version's tag when the model itself has none.

        ZenML 0.98 puts ``Model(name, tags=["risk_tier:high"])`` of a pipeline on the *version*; a tag on the model
        (``Client().update_model(..., add_tags=[...])``) wins. A model this sync did not list (an incremental pass)
        is read again so its own tags still win."""
        by_name = {m.name: m for m in models}
        tiers: dict[str, tuple[int, str, str]] = {}  # model -> (version, tier, model id) of its newest tagged version
        for v in versions:
            tier = risk_tier((v.raw or {}).get("tags") or [])
            if tier and v.version > tiers.get(v.model, (-1, "", ""))[0]:
                tiers[v.model] = (v.version, tier, v.metadata.get("zenml.model_id", ""))
        for name, (number, tier, model_id) in tiers.items():
            model = by_name.get(name)
            if model is None and model_id:
                try:
                    model = model_records(self.client.request("GET", f"/models/{model_id}",
                                                              params={"hydrate": "true"}))[0]
                except (ConnectorError, KeyError, TypeError, ValueError) as exc:
                    issues.append(SyncIssue(f"model/{model_id}", f"risk tier not read: {exc}"))
                    continue
            if model is not None and not model.risk_tier:
                by_name[name] = dataclasses.replace(model, risk_tier=tier, tags={
                    **model.tags, "countersign.risk_tier_from": f"tag of version {number}"})
        return list(by_name.values())

    def _stacks(self) -> dict[str, dict[str, Any]]:
        """stack id -> {name, components: {type: [{name, flavor}]}} (one listing of every stack, hydrated)."""
        out = {}
        for s in self.client.pages("/stacks", {"hydrate": "true"}, self.settings.page_size):
            components = ((s.get("metadata") or {}).get("components")) or {}
            out[s["id"]] = {
                "id": s["id"], "name": s.get("name"),
                "components": {t: [{"name": c.get("name"), "flavor": (c.get("body") or {}).get("flavor_name")}
                                   for c in cs] for t, cs in sorted(components.items())},
            }
        return out

    def _read_version(self, version_id: str) -> VersionRecord:
        v = self.client.request("GET", f"/model_versions/{version_id}", params={"hydrate": "true"})
        arts = [link["body"]["artifact_version"]
                for link in self._by_ids("/model_version_artifacts", {version_id}, key="model_version_id")]
        runs = [link["body"]["pipeline_run"]
                for link in self._by_ids("/model_version_pipeline_runs", {version_id}, key="model_version_id")]
        return self._with_digests([version_record(self.settings, v, arts, runs)], [])[0]

