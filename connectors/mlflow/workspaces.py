"""Several workspaces of one MLflow server in one account (``workspaces = ["risk", "retail"]`` or ``"*"``).

MLflow 3.10+ (a server started with ``--enable-workspaces``) keeps each team's models, runs and artifacts in a
workspace; every call names one in the ``X-MLFLOW-WORKSPACE`` header, and model names are unique only within a
workspace. :class:`MlflowWorkspaces` is one :class:`~connectors.mlflow.connector.MlflowConnector` per workspace put
together as one account, with everything it hands out keyed by workspace so two teams' ``credit`` never meet:

- models are named ``WORKSPACE/MODEL`` (MLflow refuses ``/`` in a model name, so the split is unambiguous) and
  versions ``models:/WORKSPACE/MODEL/N``;
- every URI a record carries (artifact, datasets, reports) is written ``mlflow-workspace:WORKSPACE/<uri>``, and
  :meth:`MlflowWorkspaces.fetch` reads it through that workspace's part only (the server itself refuses a path of
  another workspace); a URI naming no workspace is refused, never tried in each;
- approvals are written in the version's own workspace; a promotion lands in the workspace the source version names
  (a target account that does not read that workspace refuses it), or, for a source from an account without
  workspaces, in the target's only workspace.

The watermark holds each workspace's own watermark. With ``"*"`` the workspaces are listed on every sync
(``GET /api/3.0/mlflow/workspaces``, the ones these credentials may see): a workspace that disappears takes its
versions with it on a full sync, as any deleted version does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import (
    AccountInfo,
    ArtifactDigest,
    Connector,
    ModelRecord,
    PromotionRef,
    RegistryCard,
    Snapshot,
    SyncIssue,
    VersionRecord,
    decode_watermark,
)
from connectors.mlflow.client import Api
from connectors.mlflow.connector import MlflowConnector
from connectors.mlflow.records import version_ref
from connectors.mlflow.settings import MlflowSettings
from core.canonical import canonical_json
from core.errors import ConfigError, ConnectorError, InputError, NotFound
from core.progress import ProgressFn, no_progress

SCHEME = "mlflow-workspace:"
WORKSPACES_API = "/api/3.0/mlflow/workspaces"
WATERMARK_VERSION = 1


def wrap(workspace: str, uri: str | None) -> str | None:
    """``uri`` of ``workspace`` as this account names it: ``mlflow-workspace:WORKSPACE/<uri>``."""
    return f"{SCHEME}{workspace}/{uri}" if uri else uri


def unwrap(uri: str) -> tuple[str, str]:
    """(workspace, the URI inside) of a workspace-qualified URI; a ``models:/WORKSPACE/…`` URI too."""
    if uri.startswith(SCHEME):
        workspace, sep, inner = uri[len(SCHEME):].partition("/")
        if sep and workspace and inner:
            return workspace, inner
    elif uri.startswith("models:/") and uri[8:].count("/") >= 1:
        workspace, _, rest = uri[8:].partition("/")
        if "/" in rest or "@" in rest or rest.startswith("m-"):
            return workspace, f"models:/{rest}"
    raise InputError(f"{uri!r} names no MLflow workspace; this account reads several, so name it: "
                     f"{SCHEME}WORKSPACE/<uri>, or models:/WORKSPACE/MODEL/VERSION")


def split_model(model: str) -> tuple[str, str]:
    """``WORKSPACE/MODEL`` → (workspace, model); anything else is an :class:`InputError`."""
    workspace, sep, name = model.partition("/")
    if not (sep and workspace and name):
        raise InputError(f"{model!r} is not WORKSPACE/MODEL: this account reads several MLflow workspaces")
    return workspace, name


def _qualified_version(ws: str, v: VersionRecord) -> VersionRecord:
    return dataclasses.replace(
        v, model=f"{ws}/{v.model}", source_ref=version_ref(f"{ws}/{v.model}", v.version),
        artifact_uri=wrap(ws, v.artifact_uri), data_uris={k: wrap(ws, u) or "" for k, u in v.data_uris.items()},
        report_uris={k: wrap(ws, u) or "" for k, u in v.report_uris.items()}, raw={**v.raw, "workspace": ws})


def _bare_version(v: VersionRecord) -> tuple[str, VersionRecord]:
    """(workspace, ``v`` as its workspace's own part names it)."""
    ws, name = split_model(v.model)

    def inner(uri: str | None) -> str | None:
        return unwrap(uri)[1] if uri else uri

    return ws, dataclasses.replace(
        v, model=name, source_ref=version_ref(name, v.version), artifact_uri=inner(v.artifact_uri),
        data_uris={k: inner(u) or "" for k, u in v.data_uris.items()},
        report_uris={k: inner(u) or "" for k, u in v.report_uris.items()})


def _qualified_issue(ws: str, issue: SyncIssue) -> SyncIssue:
    ref = issue.ref
    return SyncIssue(f"models:/{ws}/{ref[8:]}" if ref.startswith("models:/") else f"{ws}: {ref}", issue.message)


class MlflowWorkspaces:
    """One account over several workspaces of one MLflow server: a :class:`MlflowConnector` per workspace."""

    kind: ClassVar[str] = "mlflow"
    settings_model: ClassVar[type[MlflowSettings]] = MlflowSettings

    def __init__(self, settings: MlflowSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        self.settings = settings
        self.account = account
        self.account_name = account.name
        self.environment = account.environment
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self._parts: dict[str, MlflowConnector] = {}

    # -- the parts -------------------------------------------------------------------------------------------------

    def workspaces(self) -> tuple[str, ...]:
        """The workspaces this account reads: the listed ones, or every one the server lists (``"*"``); a server
        without workspaces, or a listed workspace it does not have, is a :class:`ConfigError` (a server without
        them would answer every workspace with the same models)."""
        api = Api(self.account_name, self.settings.tracking_uri, self.settings.credentials(self.account.secrets),
                  self.settings)
        try:
            listing = api.request("GET", WORKSPACES_API, read_only=True)
        except ConnectorError as exc:
            # MLflow answers 503 "disabled because the server is running without workspaces support" (3.17), or
            # FEATURE_DISABLED; a server before 3.10 has no such endpoint (404)
            text = str(exc)
            if not (isinstance(exc, NotFound) or "FEATURE_DISABLED" in text or "without workspaces" in text):
                raise
            raise ConfigError(f"account {self.account_name!r} names MLflow workspaces, but the server at "
                              f"{self.settings.tracking_uri} has none (start it with --enable-workspaces, or drop "
                              "workspaces from the account)") from None
        known = tuple(sorted(w["name"] for w in listing.get("workspaces") or [] if w.get("name")))
        if self.settings.workspaces == "*":
            return known
        missing = [w for w in self.settings.workspaces or () if w not in known]
        if missing:
            raise ConfigError(f"account {self.account_name!r}: MLflow workspace(s) {', '.join(map(repr, missing))} "
                              f"not on {self.settings.tracking_uri} (or not visible to these credentials); it has "
                              f"{', '.join(known) or 'none'}")
        return tuple(self.settings.workspaces or ())

    def part(self, workspace: str) -> MlflowConnector:
        """The connector of one workspace this account reads; a :class:`ConfigError` for any other."""
        listed = self.settings.workspaces
        if listed != "*" and workspace not in (listed or ()):
            raise ConfigError(f"account {self.account_name!r} does not read MLflow workspace {workspace!r} (it "
                              f"reads {', '.join(listed or ())}); add it to the account's workspaces")
        if workspace not in self._parts:
            info = AccountInfo(f"{self.account_name}/{workspace}", self.environment, self.account.secrets)
            self._parts[workspace] = MlflowConnector(self.settings.for_workspace(workspace), info, root=self.root,
                                                     cache_dir=self.cache_dir)
        return self._parts[workspace]

    # -- Connector -------------------------------------------------------------------------------------------------

    def prefetch(self, *, full: bool = False) -> None:
        """Start each listed workspace's first calls (a ``"*"`` account lists its workspaces in ``extract``; the
        listed ones are checked there)."""
        if self.settings.workspaces != "*":
            for ws in self.settings.workspaces or ():
                self.part(ws).prefetch(full=full)

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Each workspace's records since its own watermark, named ``WORKSPACE/…``; complete when every part is."""
        data = decode_watermark(None if full else since, WATERMARK_VERSION) or {}
        marks: dict[str, str] = data.get("w") if isinstance(data.get("w"), dict) else {}
        names = self.workspaces()
        models: list[ModelRecord] = []
        versions: list[VersionRecord] = []
        issues: list[SyncIssue] = []
        out: dict[str, Any] = {"runs": [], "marks": {}, "complete": True, "calls": 0, "throttled": 0}
        for i, ws in enumerate(names):
            def scaled(message: str, fraction: float, i: int = i, ws: str = ws) -> None:
                progress(f"workspace {ws}: {message}", (i + fraction) / max(len(names), 1))

            snap = self.part(ws).extract(marks.get(ws), full=full, progress=scaled)
            models += [dataclasses.replace(m, name=f"{ws}/{m.name}") for m in snap.models]
            versions += [_qualified_version(ws, v) for v in snap.versions]
            issues += [_qualified_issue(ws, i) for i in snap.issues]
            out["runs"] += snap.runs
            out["marks"][ws] = snap.watermark
            out["complete"] = out["complete"] and snap.complete
            out["calls"] += snap.calls
            out["throttled"] += snap.throttled
        return Snapshot(models=tuple(models), versions=tuple(versions), runs=tuple(out["runs"]), issues=tuple(issues),
                        watermark=canonical_json({"v": WATERMARK_VERSION, "w": out["marks"]}),
                        complete=out["complete"], calls=out["calls"], throttled=out["throttled"])

    def fetch(self, uri: str) -> Path:
        """The file at a workspace-qualified ``uri``, read through that workspace only."""
        ws, inner = unwrap(uri)
        return self.part(ws).fetch(inner)

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """Countersign's digest of ``version``'s artifact, read in the version's workspace."""
        ws, bare = _bare_version(version)
        return self.part(ws).artifact_digest(bare, fresh=fresh)

    def read_version(self, name: str, number: str | int) -> VersionRecord:
        """One version, ``name`` being ``WORKSPACE/MODEL``, read now."""
        ws, model = split_model(name)
        return _qualified_version(ws, self.part(ws).read_version(model, number))

    # -- Promoter --------------------------------------------------------------------------------------------------

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """The approval written in the version's own workspace."""
        ws, bare = _bare_version(version)
        return _qualified_version(ws, self.part(ws).set_approval(bare, status, description))

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef, *,
                      environment: str | None = None) -> VersionRecord:
        """Promote ``source`` into the workspace it comes from (or, from an account without workspaces, into this
        account's only one); refused before anything is written when this account does not read it."""
        ws, bare, inner_source = self._source_of(source, source_connector)
        target = self._target_workspace(ws, source)
        copy = self.part(target).register_copy(bare, inner_source, ref, environment=environment)
        return _qualified_version(target, copy)

    def source_part(self, source: VersionRecord) -> tuple[MlflowConnector, VersionRecord]:
        """(the connector of ``source``'s workspace, ``source`` as it names it): what a promotion into an account of
        one workspace, or none, reads the source through."""
        ws, bare = _bare_version(source)
        return self.part(ws), bare

    def _source_of(self, source: VersionRecord, conn: Connector) -> tuple[str | None, VersionRecord, Connector]:
        """(the source's workspace, the source as its own part names it, that part); no workspace for a source
        from an account that reads one workspace or none."""
        if isinstance(conn, MlflowWorkspaces):
            part, bare = conn.source_part(source)
            return part.settings.workspace, bare, part
        if isinstance(conn, MlflowConnector):
            return conn.settings.workspace, source, conn
        return None, source, conn

    def _target_workspace(self, ws: str | None, source: VersionRecord) -> str:
        listed = self.settings.workspaces
        if ws is not None:
            if listed != "*" and ws not in (listed or ()):
                raise ConfigError(f"{source.source_ref} is in MLflow workspace {ws!r}, which account "
                                  f"{self.account_name!r} does not read (it reads {', '.join(listed or ())}): add "
                                  f"{ws!r} to its workspaces, or promote into an account that reads it")
            return ws
        if listed != "*" and len(listed or ()) == 1:
            return (listed or ("",))[0]
        raise ConfigError(f"{source.source_ref} names no MLflow workspace and account {self.account_name!r} reads "
                          "several: promote into an account of one workspace (workspace = \"…\")")

    def find_copy(self, model: str, request_id: str) -> VersionRecord | None:
        """The version of ``WORKSPACE/MODEL`` that a promotion with ``request_id`` registered, if any."""
        ws, name = split_model(model)
        found = self.part(ws).find_copy(name, request_id)
        return _qualified_version(ws, found) if found else None

    # -- CardWriter ------------------------------------------------------------------------------------------------

    def read_card(self, model: str) -> RegistryCard:
        """The card of registered model ``WORKSPACE/MODEL``."""
        ws, name = split_model(model)
        card = self.part(ws).read_card(name)
        return dataclasses.replace(card, target=f"{card.target} (workspace {ws})")

    def write_card(self, model: str, fields: Mapping[str, str], expected_revision: str) -> RegistryCard:
        """Write the card of ``WORKSPACE/MODEL`` (refused when it changed since read)."""
        ws, name = split_model(model)
        card = self.part(ws).write_card(name, fields, expected_revision)
        return dataclasses.replace(card, target=f"{card.target} (workspace {ws})")


def mlflow_connector(settings: MlflowSettings, account: AccountInfo, *, root: Path,
                     cache_dir: Path) -> MlflowConnector | MlflowWorkspaces:
    """The connector of an MLflow account: of one workspace (or a server without them), or of several."""
    if settings.workspaces is not None:
        return MlflowWorkspaces(settings, account, root=root, cache_dir=cache_dir)
    return MlflowConnector(settings, account, root=root, cache_dir=cache_dir)
