"""Incident register (EU AI Act Art. 73, PRA SS1/23 escalation): recorded against a version, reporting deadlines
per rule and severity, actions, closure, overdue notifications; every step a ledger entry under the tail check."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import AccessDenied, ConflictError, InputError, LedgerTampered
from countersign_cli.main import main
from governance import incidents, ledger
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import identity_for

D = "demo.countersign.dev"
CREDIT, CLAIMS = "lab-prod:credit-approval:1", "lab-prod:claims-fraud:2"
AWARE = dt.datetime(2027, 12, 10, 8, 0)  # credit scoring is an Annex III use: Art. 73 applies from 2 Dec 2027


def ctx_as(ws: Workspace, who: str) -> Context:
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, f"{who}@{D}", source="cli"))


def classify(ws: Workspace, model: str, cls: str) -> None:
    path = ws.config_path
    path.write_text(path.read_text().replace(f"[models.{model}]\n", f"[models.{model}]\nai_act_classification = "
                                                                    f"\"{cls}\"\n"), encoding="utf-8")


def record(ctx: Context, **kw) -> incidents.Incident:
    args = {"version_id": CREDIT, "title": "Applicants over 70 refused", "impact": "412 applications refused",
            "severity": "high", "serious": False, "occurred_at": AWARE - dt.timedelta(days=2), "aware_at": AWARE,
            "now": AWARE} | kw
    return incidents.record_incident(ctx, **args)


@pytest.mark.parametrize(("kind", "days"), [
    ("fundamental_rights", 15),  # Art. 73(2): not later than 15 days after becoming aware
    ("critical_infrastructure", 2),  # Art. 73(3): 2 days
    ("death", 10),  # Art. 73(4): 10 days
])
def test_a_serious_incident_gets_its_art_73_deadline_and_the_internal_escalation(demo_copy, kind, days) -> None:
    classify(demo_copy, "credit-approval", "high_risk_annex_iii")
    inc = record(ctx_as(demo_copy, "data.scientist"), serious=True, serious_kind=kind, severity="critical")
    deadlines = {d.rule: d for d in inc.deadlines}
    assert deadlines["eu-ai-act-art-73"].due_at == AWARE + dt.timedelta(days=days)
    assert deadlines["eu-ai-act-art-73"].applicable
    assert deadlines["pra-ss1-23-escalation"].due_at == AWARE + dt.timedelta(days=1)  # critical: 1 day
    entry = ledger.entries_for(ctx_as(demo_copy, "auditor").catalog, f"incident:{inc.incident_id}")[-1]
    assert entry.action == "incident.record" and entry.payload["serious"] is True


def test_before_the_high_risk_date_art_73_is_shown_as_not_yet_applicable(demo_copy) -> None:
    classify(demo_copy, "credit-approval", "high_risk_annex_iii")
    early = dt.datetime(2027, 6, 1)
    inc = record(ctx_as(demo_copy, "ml.engineer"), serious=True, serious_kind="fundamental_rights",
                 occurred_at=early, aware_at=early, now=early)
    art73 = next(d for d in inc.deadlines if d.rule == "eu-ai-act-art-73")
    assert not art73.applicable and "applies from 2027-12-02" in art73.note
    assert art73.status(early + dt.timedelta(days=30)) == "not_applicable"


def test_a_non_serious_incident_has_only_the_internal_escalation(demo_copy) -> None:
    inc = record(ctx_as(demo_copy, "ml.engineer"), severity="medium")
    assert [d.rule for d in inc.deadlines] == ["pra-ss1-23-escalation"]
    assert inc.deadlines[0].due_at == AWARE + dt.timedelta(days=10)


def test_actions_reports_and_closure_are_events_and_the_deadline_is_met_by_the_report(demo_copy) -> None:
    classify(demo_copy, "credit-approval", "high_risk_annex_iii")
    inc = record(ctx_as(demo_copy, "ml.engineer"), serious=True, serious_kind="fundamental_rights")
    engineer, officer = ctx_as(demo_copy, "ml.engineer"), ctx_as(demo_copy, "risk.officer")
    incidents.add_action(engineer, inc.incident_id, "Rolled back to the fallback; rule patched.",
                         now=AWARE + dt.timedelta(days=1))
    incidents.file_report(officer, inc.incident_id, "eu-ai-act-art-73", "Reported to the market surveillance "
                          "authority, reference MSA-2027-0042", now=AWARE + dt.timedelta(days=3))
    later = incidents.get_incident(officer, inc.incident_id, now=AWARE + dt.timedelta(days=20))
    by_rule = {d.rule: d for d in later.deadlines}
    assert by_rule["eu-ai-act-art-73"].status(later.as_of) == "met"
    assert by_rule["pra-ss1-23-escalation"].status(later.as_of) == "overdue"  # high: 3 days, nobody escalated
    with pytest.raises(AccessDenied):
        incidents.close_incident(engineer, inc.incident_id, "fixed")
    closed = incidents.close_incident(officer, inc.incident_id, "Root cause fixed; monitoring shows no recurrence.",
                                      now=AWARE + dt.timedelta(days=21))
    assert closed.status == "closed" and [e.kind for e in closed.events] == ["action", "report", "close"]
    with pytest.raises(ConflictError, match="closed"):
        incidents.add_action(engineer, inc.incident_id, "too late")
    actions = [e.action for e in ledger.entries_for(officer.catalog, f"incident:{inc.incident_id}")]
    assert actions == ["incident.record", "incident.action", "incident.report", "incident.close"]


def test_overdue_deadlines_are_in_the_register_and_in_the_notifications(demo_copy) -> None:
    from governance.notify import collect_events

    classify(demo_copy, "credit-approval", "high_risk_annex_iii")
    inc = record(ctx_as(demo_copy, "ml.engineer"), serious=True, serious_kind="critical_infrastructure")
    auditor = ctx_as(demo_copy, "auditor")
    reg = incidents.register(auditor, now=AWARE + dt.timedelta(days=3, hours=1))
    (row,) = reg.incidents
    assert {d.rule for d in row.overdue} == {"eu-ai-act-art-73", "pra-ss1-23-escalation"}
    events = collect_events(auditor, now=AWARE + dt.timedelta(days=3, hours=1))
    late = [e for e in events if e.kind == "incident_deadline"]
    assert {e.key for e in late} == {f"incident_deadline:{inc.incident_id}:eu-ai-act-art-73",
                                     f"incident_deadline:{inc.incident_id}:pra-ss1-23-escalation"}
    assert "Art. 73" in next(e.title for e in late if e.key.endswith("art-73"))


@pytest.mark.parametrize(("kw", "message"), [
    ({"severity": "catastrophic"}, "unknown severity"),
    ({"serious": True}, "names what makes it serious"),
    ({"serious": False, "serious_kind": "death"}, "serious_kind only for a serious incident"),
    ({"title": " "}, "what happened"),
    ({"aware_at": AWARE - dt.timedelta(days=5)}, "became aware before it happened"),
    ({"version_id": "lab-prod:nope:1"}, "unknown version"),
])
def test_bad_incidents_are_refused_and_write_nothing(demo_copy, kw, message) -> None:
    ctx = ctx_as(demo_copy, "ml.engineer")
    before = ledger.head(ctx.catalog)
    with pytest.raises((InputError, Exception), match=message):
        record(ctx, **kw)
    assert ledger.head(ctx.catalog) == before


def test_roles_and_a_tampered_tail(demo_copy) -> None:
    with pytest.raises(AccessDenied):
        record(ctx_as(demo_copy, "auditor"))
    ctx = ctx_as(demo_copy, "ml.engineer")
    with ctx.catalog.transaction() as con:
        con.execute("INSERT INTO ledger SELECT seq + 1, recorded_at, actor, action, subject, payload, hash, hash "
                    "FROM ledger ORDER BY seq DESC LIMIT 1")
    with pytest.raises(LedgerTampered, match="refused the incident"):
        record(ctx)


def test_cli_incident_record_list_close(demo_copy, capsys) -> None:
    ws = str(demo_copy.root)

    def run(actor: str, *args: str) -> int:
        return main([*args, "--workspace", ws, "--actor", f"{actor}@{D}"])

    assert run("ml.engineer", "incident", "record", "--version", CLAIMS, "--title", "False alarms doubled",
               "--impact", "investigators overloaded for two days", "--severity", "medium", "--json") == 0
    inc = json.loads(capsys.readouterr().out)
    assert inc["status"] == "open" and inc["deadlines"][0]["rule"] == "pra-ss1-23-escalation"
    assert run("ml.engineer", "incident", "action", inc["incident_id"], "--text", "threshold restored") == 0
    capsys.readouterr()
    assert run("auditor", "incident", "list", "--json") == 0
    assert [i["incident_id"] for i in json.loads(capsys.readouterr().out)["incidents"]] == [inc["incident_id"]]
    assert run("risk.officer", "incident", "close", inc["incident_id"], "--text", "resolved; no recurrence") == 0
    assert "closed" in capsys.readouterr().out
    assert run("auditor", "incident", "list", "--all", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["incidents"][0]["status"] == "closed"
    assert run("ml.engineer", "incident", "record", "--version", CLAIMS, "--title", "x", "--impact", "y",
               "--severity", "mild") == 2
