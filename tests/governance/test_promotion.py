"""Promotion requests end to end on a copy of the demo workspace (real folder registries, real DuckDB)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.errors import AccessDenied, ConflictError, InputError
from governance import ledger
from governance.binding import flag_deployments, unapproved_deployments
from governance.catalog import Catalog
from governance.config import Settings, Workspace, load_settings
from governance.context import Context
from governance.demo_history import open_request_id
from governance.execution import execute
from governance.identity import Identity, identity_for
from governance.promotion import RiskAcceptance, allowed_actions, approve, cancel, create_request, get_request, reject
from governance.sources import connector_for
from tests.backends import BOTH, use_catalog_url

D = "demo.countersign.dev"
ROOT = Path(__file__).resolve().parents[2]


class World:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.settings: Settings = load_settings(ws)
        self.catalog = Catalog(ws.catalog_path, url=self.settings.catalog.url)

    def who(self, name: str) -> Identity:
        return identity_for(self.settings, f"{name}@{D}", source="cli")

    def prod_versions(self, model: str) -> list[int]:
        folder = self.ws.root / "registry" / "prod" / model
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def request(self, version_id: str = "lab-staging:claims-fraud:3", to: str = "prod") -> str:
        existing = open_request_id(self.catalog) if version_id == "lab-staging:claims-fraud:3" else None
        if existing:
            return existing
        return create_request(Context(self.ws, self.settings, self.catalog, self.who("ml.engineer")), version_id, to,
                              "tests").request_id

    def accept_all(self, request_id: str, days: int = 30) -> RiskAcceptance | None:
        r = get_request(self.catalog, request_id)
        gates = [g for g, s in self.gates(r.version_id, r.to_env).items() if s != "pass"]
        if not gates:
            return None
        return RiskAcceptance(tuple(gates), "Accepted for the test: evidence is computed by another suite.",
                              dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=days))

    def gates(self, version_id: str, to_env: str) -> dict[str, str]:
        from governance.policy import evaluate

        return {r.gate: r.status for r in evaluate(self.catalog, self.settings, version_id, to_env).results}

    def approve(self, request_id: str, who: str = "risk.officer") -> object:
        return approve(Context(self.ws, self.settings, self.catalog, self.who(who)), request_id, "looks right",
                       risk_acceptance=self.accept_all(request_id))

    def verify(self) -> ledger.VerifyReport:
        return ledger.verify(self.ws, self.catalog, self.who("auditor"))


@pytest.fixture
def world(demo_copy: Workspace, catalog_url: str | None) -> World:
    if catalog_url is not None:  # the demo moved into PostgreSQL the way an operator does it
        from countersign_cli.main import main

        assert main(["catalog", "copy", "--workspace", str(demo_copy.root), "--to", catalog_url]) == 0
        use_catalog_url(demo_copy, catalog_url)
    return World(demo_copy)


@BOTH
def test_demo_history_is_verifiable_and_has_an_open_request(world: World) -> None:
    report = world.verify()
    assert report.ok and report.checkpoints_checked > 0, report.summary()
    rid = open_request_id(world.catalog)
    assert rid is not None
    r = get_request(world.catalog, rid)
    assert r.status == "pending" and r.requester == f"ml.engineer@{D}"
    statuses = world.catalog.query_df("SELECT status, count(*) AS n FROM promotion_requests GROUP BY 1")
    assert set(statuses["status"]) >= {"executed", "rejected", "pending"}
    assert world.catalog.query_df("SELECT count(*) AS n FROM decisions WHERE kind = 'risk_acceptance'")["n"][0] >= 1
    # the planted unapproved deployment, and only it, is flagged
    flagged = unapproved_deployments(world.settings, world.catalog)
    assert flagged["version_id"].tolist() == ["lab-prod:repair-cost:2"]
    inv = flag_deployments(world.settings, world.catalog, world.catalog.inventory())
    prod = inv[(inv["environment"] == "prod") & inv["in_use"]]
    assert prod.loc[prod["no_signoff"], "version_id"].tolist() == ["lab-prod:repair-cost:2"]


@BOTH
def test_request_approve_execute_promotes_exactly_once(world: World) -> None:
    before = world.prod_versions("claims-fraud")
    rid = world.request()
    r = world.approve(rid)
    assert r.status == "approved" and r.approvers == (f"risk.officer@{D}",)
    r = execute(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), rid)
    assert r.status == "executed", r.execution_error
    after = world.prod_versions("claims-fraud")
    assert len(after) == len(before) + 1
    target = world.catalog.version(r.target_version_id)
    assert target.account == "lab-prod" and target.source_version_id == "lab-staging:claims-fraud:3"
    meta = json.loads((world.ws.root / "registry/prod/claims-fraud" / str(after[-1]) / "metadata.json").read_text())
    assert meta["promotion"]["request_id"] == rid
    actions = [e.action for e in ledger.entries_for(world.catalog, f"request:{rid}")]
    assert actions == ["request.create", "request.approve", "request.approved",
                       "execute.start", "execute.source_approved", "execute.target_registered", "execute.done"]
    assert world.verify().ok
    with pytest.raises(ConflictError):  # executed once: a second run is refused
        execute(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), rid)


def test_four_eyes_requester_and_creator_may_not_approve(world: World) -> None:
    rid = world.request()
    acc = world.accept_all(rid)
    both = Identity(f"ml.engineer@{D}", frozenset({"ml_engineer", "risk_officer"}))
    with pytest.raises(AccessDenied, match="requested"):
        approve(Context(world.ws, world.settings, world.catalog, both), rid, "mine", risk_acceptance=acc)
    creator = Identity(f"DATA.Scientist@{D}", frozenset({"risk_officer"}))  # case does not help
    with pytest.raises(AccessDenied, match="created"):
        approve(Context(world.ws, world.settings, world.catalog, creator), rid, "mine", risk_acceptance=acc)
    assert get_request(world.catalog, rid).status == "pending"
    assert "approve" not in allowed_actions(both, get_request(world.catalog, rid),
                                            world.catalog.version("lab-staging:claims-fraud:3"))


@BOTH
def test_high_tier_needs_two_distinct_approvers(world: World) -> None:
    rid = world.request("lab-staging:credit-approval:2")
    r = world.approve(rid, "risk.officer")
    assert r.status == "pending" and len(r.approvers) == 1 and r.approvals_required == 2
    with pytest.raises(AccessDenied, match="already approved"):
        approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "again")
    r = approve(Context(world.ws, world.settings, world.catalog, world.who("validator")), rid, "second pair of eyes")
    assert r.status == "approved" and set(r.approvers) == {f"risk.officer@{D}", f"validator@{D}"}


BLOCKED = ("lab-dev:claims-fraud:4", "staging")  # no evidence computed: drift and fairness are missing


def test_open_demo_request_passes_every_gate_on_computed_evidence(world: World) -> None:
    rid = world.request()
    assert set(world.gates("lab-staging:claims-fraud:3", "prod").values()) == {"pass"}
    r = approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "all gates pass")
    assert r.status == "approved" and r.risk_acceptances == ()


def test_blocking_gates_need_a_valid_risk_acceptance(world: World) -> None:
    rid = world.request(*BLOCKED)
    officer = world.who("risk.officer")
    with pytest.raises(ConflictError, match="risk acceptance"):
        approve(Context(world.ws, world.settings, world.catalog, officer), rid, "fine")
    good = world.accept_all(rid)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for bad in (
        RiskAcceptance(good.gates, "too short", good.expires_at),
        RiskAcceptance(good.gates, good.justification, now - dt.timedelta(days=1)),
        RiskAcceptance(good.gates, good.justification, now + dt.timedelta(days=800)),
        RiskAcceptance((), good.justification, good.expires_at),
        RiskAcceptance((*good.gates, "metrics"), good.justification, good.expires_at),
    ):
        with pytest.raises(InputError):
            approve(Context(world.ws, world.settings, world.catalog, officer), rid, "fine", risk_acceptance=bad)
    with pytest.raises(InputError, match="comment"):
        approve(Context(world.ws, world.settings, world.catalog, officer), rid, "   ", risk_acceptance=good)
    assert get_request(world.catalog, rid).decisions == ()


def test_expired_risk_acceptance_stops_execution(world: World) -> None:
    rid = world.request(*BLOCKED)
    world.approve(rid)
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=60)
    with pytest.raises(ConflictError, match="expired"):
        execute(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, now=later)


@BOTH
def test_reject_and_cancel(world: World) -> None:
    rid = world.request()
    with pytest.raises(InputError):
        reject(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "")
    with pytest.raises(AccessDenied):
        cancel(Context(world.ws, world.settings, world.catalog, Identity(f"other@{D}", frozenset({"ml_engineer"}))), rid)
    r = reject(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "drift not understood")
    assert r.status == "rejected"
    with pytest.raises(ConflictError):
        cancel(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), rid)
    rid2 = world.request()
    assert cancel(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), rid2, "wrong one").status == \
        "cancelled"


def test_bad_requests(world: World) -> None:
    eng = world.who("ml.engineer")
    with pytest.raises(ConflictError, match="already has an open request"):
        create_request(Context(world.ws, world.settings, world.catalog, eng), "lab-staging:claims-fraud:3", "prod", "again")
    with pytest.raises(InputError, match="later environment"):
        create_request(Context(world.ws, world.settings, world.catalog, eng), "lab-prod:claims-fraud:2", "staging", "back")
    with pytest.raises(InputError, match="unknown environment"):
        create_request(Context(world.ws, world.settings, world.catalog, eng), "lab-dev:claims-fraud:4", "qa", "x")
    with pytest.raises(InputError, match="reason"):
        create_request(Context(world.ws, world.settings, world.catalog, eng), "lab-dev:claims-fraud:4", "staging", " ")


class Crash(BaseException):
    """A process dying mid-step: not an Exception, so nothing records a failure."""


class Faulty:
    """The real folder connector, failing once at one point of the promotion protocol."""

    def __init__(self, inner, point: str, kind: str, fired: list[str]) -> None:
        self.inner, self.point, self.kind, self.fired = inner, point, kind, fired
        self.kind_name = inner.kind

    def _maybe(self, point: str) -> None:
        if point == self.point and not self.fired:
            self.fired.append(point)
            raise (Crash if self.kind == "crash" else RuntimeError)(f"injected at {point}")

    def extract(self, since, *, full=False, progress=None):
        return self.inner.extract(since, full=full)

    def fetch(self, uri):
        return self.inner.fetch(uri)

    def artifact_digest(self, version, *, fresh=False):
        return self.inner.artifact_digest(version, fresh=fresh)

    def set_approval(self, version, status, description):
        self._maybe("before_set_approval")
        out = self.inner.set_approval(version, status, description)
        self._maybe("after_set_approval")
        return out

    def register_copy(self, source, source_connector, ref):
        self._maybe("before_register_copy")
        out = self.inner.register_copy(source, source_connector, ref)
        self._maybe("after_register_copy")
        return out


POINTS = ("before_set_approval", "after_set_approval", "before_register_copy", "after_register_copy")


FAST = {("before_set_approval", "error"), ("after_set_approval", "crash"), ("before_register_copy", "crash"),
        ("after_register_copy", "error"), ("after_register_copy", "crash")}


@pytest.mark.parametrize(
    ("point", "kind"),
    [pytest.param(p, k, marks=() if (p, k) in FAST else pytest.mark.slow) for p in POINTS for k in ("error", "crash")],
)
def test_failure_at_any_step_then_retry_gives_one_target_version(world: World, point: str, kind: str) -> None:
    before = world.prod_versions("claims-fraud")
    rid = world.request()
    world.approve(rid)
    fired: list[str] = []

    def factory(name: str):
        return Faulty(connector_for(world.ws, world.settings, name), point, kind, fired)

    officer = world.who("risk.officer")
    if kind == "error":
        r = execute(Context(world.ws, world.settings, world.catalog, officer), rid, connectors=factory)
        assert r.status == "failed" and "injected" in r.execution_error
        r = execute(Context(world.ws, world.settings, world.catalog, officer), rid, connectors=factory)
    else:
        with pytest.raises(Crash):
            execute(Context(world.ws, world.settings, world.catalog, officer), rid, connectors=factory)
        assert get_request(world.catalog, rid).status == "executing"
        with pytest.raises(ConflictError, match="already executing"):  # a second executor does not barge in
            execute(Context(world.ws, world.settings, world.catalog, officer), rid, connectors=factory)
        r = execute(Context(world.ws, world.settings, world.catalog, officer), rid, connectors=factory, takeover=True)
    assert fired == [point]
    assert r.status == "executed", r.execution_error
    after = world.prod_versions("claims-fraud")
    assert len(after) == len(before) + 1
    assert world.catalog.version(r.target_version_id).source_version_id == "lab-staging:claims-fraud:3"
    entries = [e.action for e in ledger.entries_for(world.catalog, f"request:{rid}")]
    assert entries.count("execute.target_registered") == 1 and entries.count("execute.done") == 1
    assert world.verify().ok


@BOTH
def test_killed_process_then_takeover_gives_one_target_version(world: World) -> None:
    before = world.prod_versions("claims-fraud")
    rid = world.request()
    world.approve(rid)
    child = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from governance.sources import connector_for
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.execution import execute
from governance.identity import identity_for
from pathlib import Path
ws = Workspace(Path({str(world.ws.root)!r})); settings = load_settings(ws)
class Dying:
    def __init__(self, inner): self.inner = inner; self.kind = inner.kind
    def extract(self, *a, **k): return self.inner.extract(*a, **k)
    def fetch(self, uri): return self.inner.fetch(uri)
    def artifact_digest(self, *a, **k): return self.inner.artifact_digest(*a, **k)
    def set_approval(self, *a): return self.inner.set_approval(*a)
    def register_copy(self, *a):
        self.inner.register_copy(*a)
        os._exit(9)  # killed after the copy, before the ledger knows
def factory(name):
    return Dying(connector_for(ws, settings, name))
execute(Context(ws, settings, Catalog(ws.catalog_path, url=settings.catalog.url),
                identity_for(settings, "risk.officer@{D}", source="cli")), {rid!r}, connectors=factory)
"""
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert len(world.prod_versions("claims-fraud")) == len(before) + 1  # the copy happened
    r = execute(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, takeover=True)
    assert r.status == "executed", r.execution_error
    assert len(world.prod_versions("claims-fraud")) == len(before) + 1  # ... and was found again, not redone
    assert world.verify().ok


@BOTH
def test_two_officers_approving_at_once_make_one_decision_and_one_execution(world: World) -> None:
    before = world.prod_versions("claims-fraud")
    rid = world.request()
    acc = world.accept_all(rid)
    officers = [world.who("risk.officer"), world.who("validator")]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(officer: Identity) -> None:
        barrier.wait()
        try:
            r = approve(Context(world.ws, world.settings, world.catalog, officer), rid, "go", risk_acceptance=acc)
            outcomes.append(f"approved:{r.status}")
        except ConflictError:
            outcomes.append("conflict")
        try:
            r = execute(Context(world.ws, world.settings, world.catalog, officer), rid)
            outcomes.append(f"executed:{r.status}")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=act, args=(o,)) for o in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = get_request(world.catalog, rid)
    assert r.status == "executed"
    assert len(r.approvers) == 1
    assert outcomes.count("executed:executed") == 1
    actions = [e.action for e in ledger.entries_for(world.catalog, f"request:{rid}")]
    assert actions.count("request.approve") == 1 and actions.count("execute.start") == 1
    assert len(world.prod_versions("claims-fraud")) == len(before) + 1
    assert world.verify().ok


@BOTH
def test_cli_request_approve_execute(world: World, capsys) -> None:
    from countersign_cli.main import main

    ws = str(world.ws.root)
    rid = world.request(*BLOCKED)
    acc = world.accept_all(rid)
    assert acc is not None
    args = ["approve", rid, "--workspace", ws, "--actor", f"risk.officer@{D}", "--comment", "ok", "--json"]
    assert main(args) == 2  # gates block without a risk acceptance
    for g in acc.gates:
        args += ["--accept-risk", g]
    args += ["--justification", acc.justification, "--expires", f"{acc.expires_at:%Y-%m-%d}"]
    capsys.readouterr()
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "executed" and doc["target_version_id"].startswith("lab-staging:claims-fraud:")
    assert main(["requests", "--workspace", ws, "--json"]) == 0
    assert main(["ledger", "verify", "--workspace", ws]) == 0


def test_a_changed_artifact_cannot_be_approved(world: World) -> None:
    from governance.sync import sync

    rid = world.request()
    artifact = world.ws.root / "registry/staging/claims-fraud/3/model.skops"
    artifact.write_bytes(artifact.read_bytes() + b"\0")  # swapped behind the request's back
    sync(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), accounts=["lab-staging"])
    with pytest.raises(ConflictError, match=r"artifact .* (changed|replaced)"):
        approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "ok")
