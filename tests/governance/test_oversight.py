"""Ongoing oversight: due dates per tier as time moves on, periodic reviews in the catalog, the ledger and the PDF."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import AccessDenied, InputError, NotFound
from countersign_cli.main import main
from governance import ledger
from governance.catalog import Catalog
from governance.config import ROLES, Workspace, load_settings
from governance.context import Context
from governance.identity import PERMISSIONS, Identity, identity_for
from governance.oversight import record_review, reviews, schedule
from tests.governance.report_world import pdf_text

D = "demo.countersign.dev"
CREDIT, CLAIMS, REPAIR = "lab-prod:credit-approval:1", "lab-prod:claims-fraud:2", "lab-prod:repair-cost:2"
VIEWER = Identity("auditor@x", frozenset({"auditor"}))


def _built_on(catalog: Catalog) -> dt.datetime:
    """The day the demo was built: its seeded reviews count back from it (governance.demo_oversight)."""
    credit = reviews(catalog, version_id=CREDIT)[0]
    return credit.reviewed_at + dt.timedelta(days=100)


def test_the_demo_plants_one_overdue_one_due_within_a_week_and_one_never_reviewed(demo_workspace) -> None:
    settings, catalog = load_settings(demo_workspace), Catalog(demo_workspace.catalog_path)
    today = _built_on(catalog)
    plan = schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=today)
    by_id = {i.version_id: i for i in plan.items}
    assert set(by_id) == {CREDIT, CLAIMS, REPAIR}  # the prod versions serving on an endpoint
    assert by_id[CREDIT].status == "overdue" and by_id[CREDIT].days_left == -10
    assert by_id[CREDIT].due_at == by_id[CREDIT].last_review_at + dt.timedelta(days=90)  # high tier: every 90 days
    assert by_id[CLAIMS].status == "due" and 0 <= by_id[CLAIMS].days_left < 7
    assert by_id[CLAIMS].last_outcome == "restrict"
    # issue 35, finding 8: never reviewed and never signed off is not "scheduled, due in 150 days" from its creation:
    # nothing vouches for it, so its first review is due today
    assert by_id[REPAIR].never_reviewed and by_id[REPAIR].status == "due" and by_id[REPAIR].first_review_now
    assert by_id[REPAIR].due_at == today and by_id[REPAIR].days_left == 0
    assert [i.status for i in plan.items] == ["overdue", "due", "due"]  # earliest due first
    assert [i.tier for i in schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=today, sort="tier").items] == \
        ["high", "medium", "low"]


def test_moving_time_forward_makes_reviews_due_then_overdue(demo_workspace) -> None:
    settings, catalog = load_settings(demo_workspace), Catalog(demo_workspace.catalog_path)
    today = _built_on(catalog)
    due_at = {i.version_id: i.due_at for i in schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=today).items}

    def status(version_id: str, when: dt.datetime) -> str:
        return next(i.status for i in schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=when).items if i.version_id == version_id)

    assert status(CLAIMS, due_at[CLAIMS] - dt.timedelta(days=15)) == "scheduled"  # due_soon_days = 14
    assert status(CLAIMS, due_at[CLAIMS] - dt.timedelta(days=13)) == "due"
    assert status(CLAIMS, due_at[CLAIMS] + dt.timedelta(seconds=1)) == "overdue"
    assert status(REPAIR, today + dt.timedelta(days=400)) == "due"  # due from the day it is seen, until reviewed
    later = schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=due_at[CLAIMS] + dt.timedelta(days=1), only_attention=True)
    assert {i.version_id: i.status for i in later.items} == {CREDIT: "overdue", CLAIMS: "overdue", REPAIR: "due"}


def test_a_periodic_review_is_recorded_in_the_catalog_and_the_ledger_and_resets_the_clock(demo_copy) -> None:
    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    officer = identity_for(settings, f"risk.officer@{D}", source="cli")
    today = _built_on(catalog)
    review = record_review(Context(demo_copy, settings, catalog, officer), CREDIT, "continue",
                           "Quarterly review: stable approval rates; continue.", now=today)
    # evidence refreshed on the version's newest data: bias of the prod version (its validation file)
    assert review.evidence["bias"]["status"] in ("computed", "cached") and review.evidence["bias"]["evidence_id"]
    assert {g["gate"] for g in review.gates} >= {"fairness", "metrics"}
    entries = ledger.entries_for(catalog, f"version:{CREDIT}")
    assert entries[-1].action == "review.periodic" and entries[-1].hash == review.ledger_hash
    assert entries[-1].payload["outcome"] == "continue" and entries[-1].payload["review_id"] == review.review_id
    assert ledger.verify(demo_copy, catalog, officer).ok
    item = next(i for i in schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=today).items if i.version_id == CREDIT)
    assert item.status == "scheduled" and item.due_at == today + dt.timedelta(days=90)

    retire = record_review(Context(demo_copy, settings, catalog, officer), CLAIMS, "retire",
                           "Drift on claim amounts too large; replace with v3.", refresh=False, now=today)
    assert retire.outcome == "retire"
    item = next(i for i in schedule(Context(catalog.workspace, settings, catalog, VIEWER), now=today + dt.timedelta(days=999)).items
                if i.version_id == CLAIMS)
    assert item.status == "retired" and not item.needs_attention


@pytest.mark.parametrize(("who", "version", "outcome", "comment", "error"), [
    (f"auditor@{D}", CREDIT, "continue", "A long enough comment.", AccessDenied),
    (f"ml.engineer@{D}", CREDIT, "continue", "A long enough comment.", AccessDenied),
    (f"risk.officer@{D}", CREDIT, "approve", "A long enough comment.", InputError),
    (f"risk.officer@{D}", CREDIT, "continue", "ok", InputError),
    (f"risk.officer@{D}", "lab-dev:claims-fraud:1", "continue", "A long enough comment.", InputError),
])
def test_bad_reviews_are_refused_and_store_nothing(demo_copy, who, version, outcome, comment, error) -> None:
    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    before = (len(reviews(catalog)), ledger.head(catalog))
    with pytest.raises(error):
        record_review(Context(demo_copy, settings, catalog, identity_for(settings, who, source="cli")), version, outcome,
                      comment, refresh=False)
    assert (len(reviews(catalog)), ledger.head(catalog)) == before


def test_cli_due_json_and_review_periodic(demo_copy: Workspace, capsys) -> None:
    ws = str(demo_copy.root)
    assert main(["due", "--workspace", ws, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {i["version_id"]: i for i in doc["items"]}
    assert set(rows) == {CREDIT, CLAIMS, REPAIR}  # all three need attention on a fresh demo
    assert rows[CREDIT]["status"] == "overdue" and rows[REPAIR]["never_reviewed"] is True
    assert rows[CLAIMS]["status"] == "due" and rows[CLAIMS]["tier"] == "medium"

    assert main(["review-periodic", "--workspace", ws, "--actor", f"ml.engineer@{D}", "--version", CREDIT,
                 "--outcome", "continue", "--comment", "Not my role to review."]) == 2
    assert "may not review periodic" in capsys.readouterr().err
    assert main(["review-periodic", "--workspace", ws, "--actor", f"validator@{D}", "--version", CREDIT,
                 "--outcome", "continue", "--comment", "Reviewed on the newest data; continue.", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reviewer"] == f"validator@{D}"
    assert main(["due", "--workspace", ws, "--json"]) == 0
    assert CREDIT not in {i["version_id"] for i in json.loads(capsys.readouterr().out)["items"]}


def test_the_pdf_shows_the_reviews_and_a_gap_when_a_deployed_version_was_never_reviewed(demo_workspace) -> None:
    from governance.reports.export import build_unsigned

    settings, catalog = load_settings(demo_workspace), Catalog(demo_workspace.catalog_path)
    officer = identity_for(settings, f"risk.officer@{D}", source="cli")
    reviewed = build_unsigned(demo_workspace, settings, catalog, officer, CREDIT, "sr-11-7")
    text = pdf_text(reviewed.pdf)
    review = reviews(catalog, version_id=CREDIT)[0]
    assert "Periodic review" in text and "Tier high: every 90 days" in text
    assert review.ledger_hash in text.replace(" ", "")
    assert f"Next review due {review.reviewed_at + dt.timedelta(days=90):%Y-%m-%d}" in text
    assert not [g for g in reviewed.gaps if g.block == "Periodic review"]

    never = build_unsigned(demo_workspace, settings, catalog, officer, REPAIR, "eu-ai-act-annex-iv")
    gaps = [g for g in never.gaps if g.block == "Periodic review"]
    assert len(gaps) == 1 and "never been reviewed" in gaps[0].what
    staging = build_unsigned(demo_workspace, settings, catalog, officer, "lab-staging:credit-approval:3", "pra-ss1-23")
    assert not [g for g in staging.gaps if g.block == "Periodic review"]  # not deployed in prod: nothing expected


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_of_the_oversight_actions(demo_workspace, role: str) -> None:
    from governance.notify import notify

    settings, catalog = load_settings(demo_workspace), Catalog(demo_workspace.catalog_path)
    who = Identity(f"someone.{role}@example.org", frozenset({role}))
    if role in PERMISSIONS["review_periodic"]:
        with pytest.raises(NotFound):  # past the role check, stopped before writing to the shared workspace
            record_review(Context(demo_workspace, settings, catalog, who), "lab-prod:nope:1", "continue", "A long comment.")
    else:
        with pytest.raises(AccessDenied):
            record_review(Context(demo_workspace, settings, catalog, who), CREDIT, "continue", "A long comment.")
    if role in PERMISSIONS["notify"]:
        assert notify(Context(catalog.workspace, settings, catalog, who), dry_run=True).events
    else:
        with pytest.raises(AccessDenied):
            notify(Context(catalog.workspace, settings, catalog, who), dry_run=True)
    assert schedule(Context(catalog.workspace, settings, catalog, who)).items  # everyone may look
