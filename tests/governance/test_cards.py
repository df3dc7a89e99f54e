"""Model card editor: edits with history and ledger entries, validated against the templates' required fields,
written back where the registry holds cards, a registry change since the edit shown as a conflict and never
overwritten. The folder registry here; SageMaker (moto), MLflow and ZenML (real servers) in tests/connectors."""

from __future__ import annotations

import json

import pytest

from core.errors import AccessDenied, InputError, LedgerTampered
from countersign_cli.main import main
from governance import cards, ledger
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import identity_for
from governance.policy import evaluate

D = "demo.countersign.dev"
MODEL = "credit-approval"


def ctx_as(ws: Workspace, who: str) -> Context:
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, f"{who}@{D}", source="cli"))


def card_file(ws: Workspace, env: str) -> dict:
    return json.loads((ws.root / "registry" / env / MODEL / "card.json").read_text())


def test_an_edit_keeps_history_and_a_ledger_entry_and_names_the_missing_template_fields(demo_copy) -> None:
    scientist = ctx_as(demo_copy, "data.scientist")
    before = cards.card_view(scientist, MODEL)
    assert before.fields.get("intended_uses")  # the registry's card until Countersign holds an edit
    edit = cards.edit_card(scientist, MODEL, {"limitations": "Not for applicants under 21.",
                                              "ethical_considerations": "Age is a protected attribute."},
                           "limitations agreed with validation")
    assert set(edit.changed) == {"limitations", "ethical_considerations"}
    assert edit.changed["limitations"]["to"] == "Not for applicants under 21."
    view = cards.card_view(scientist, MODEL)
    assert view.fields["limitations"] == "Not for applicants under 21." and view.source == "countersign"
    assert [h.edit_id for h in view.history] == [edit.edit_id]
    assert "human_oversight" in view.missing["eu-ai-act-annex-iv"]  # Annex IV asks; nobody wrote it yet
    entry = ledger.entries_for(scientist.catalog, f"model:{MODEL}")[-1]
    assert entry.action == "card.edit" and entry.payload["edit_id"] == edit.edit_id
    assert set(entry.payload["changed"]) == {"limitations", "ethical_considerations"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"favourite_colour": "blue"}, "unknown card field 'favourite_colour'"),
    ({"risk_rating": "Extreme"}, "risk_rating must be one of"),
    ({"generative_ai": "maybe"}, "generative_ai must be one of"),
    ({}, "nothing to change"),
])
def test_bad_edits_are_refused_and_write_nothing(demo_copy, changes, message) -> None:
    ctx = ctx_as(demo_copy, "ml.engineer")
    head = ledger.head(ctx.catalog)
    with pytest.raises(InputError, match=message):
        cards.edit_card(ctx, MODEL, changes, "a comment")
    assert ledger.head(ctx.catalog) == head


def test_write_back_to_every_account_holding_the_model(demo_copy) -> None:
    cards.edit_card(ctx_as(demo_copy, "data.scientist"), MODEL, {"limitations": "Not for applicants under 21."},
                    "limitations agreed")
    results = cards.write_back(ctx_as(demo_copy, "ml.engineer"), MODEL)
    assert {r.account: r.status for r in results} == {"lab-dev": "written", "lab-staging": "written",
                                                       "lab-prod": "written"}
    for env in ("dev", "staging", "prod"):
        assert card_file(demo_copy, env)["content"]["limitations"] == "Not for applicants under 21."
    again = cards.write_back(ctx_as(demo_copy, "ml.engineer"), MODEL)
    assert {r.status for r in again} == {"unchanged"}
    actions = [e.action for e in ledger.entries_for(ctx_as(demo_copy, "auditor").catalog, f"model:{MODEL}")]
    assert actions.count("card.writeback") == 6


def test_a_registry_change_since_the_edit_is_a_conflict_shown_and_never_overwritten(demo_copy) -> None:
    scientist, engineer = ctx_as(demo_copy, "data.scientist"), ctx_as(demo_copy, "ml.engineer")
    cards.edit_card(scientist, MODEL, {"limitations": "Not for applicants under 21."}, "limitations agreed")
    path = demo_copy.root / "registry" / "prod" / MODEL / "card.json"
    doc = json.loads(path.read_text())
    doc["content"]["limitations"] = "Edited in the registry by the prod team."
    path.write_text(json.dumps(doc))
    results = {r.account: r for r in cards.write_back(engineer, MODEL)}
    prod = results["lab-prod"]
    assert prod.status == "conflict" and results["lab-dev"].status == "written"
    (conflict,) = prod.conflicts
    assert (conflict.field, conflict.registry, conflict.countersign) == (
        "limitations", "Edited in the registry by the prod team.", "Not for applicants under 21.")
    assert card_file(demo_copy, "prod")["content"]["limitations"] == "Edited in the registry by the prod team."
    entry = [e for e in ledger.entries_for(engineer.catalog, f"model:{MODEL}")
             if e.payload.get("account") == "lab-prod"][-1]
    assert entry.payload["status"] == "conflict" and entry.payload["conflicts"][0]["field"] == "limitations"
    view = cards.card_view(engineer, MODEL)
    assert view.registries["lab-prod"].conflicts == ("limitations",)
    # resolving: an edit made after seeing the registry's value takes it as its base, and then writes back
    cards.edit_card(scientist, MODEL, {"limitations": "Not for applicants under 21; prod team's note merged."},
                    "merged the prod team's wording")
    assert {r.status for r in cards.write_back(engineer, MODEL)} == {"written"}
    assert card_file(demo_copy, "prod")["content"]["limitations"].endswith("note merged.")


def test_the_model_card_gate_reads_countersigns_card(demo_copy) -> None:
    from governance.sync import sync

    path = demo_copy.root / "registry" / "prod" / MODEL / "card.json"
    scientist = ctx_as(demo_copy, "data.scientist")
    version = "lab-staging:credit-approval:3"
    doc = json.loads(path.read_text())  # the registry's card loses its limitations field
    doc["content"].pop("limitations")
    doc["updated_at"] = "2026-11-01T09:00:00"
    path.write_text(json.dumps(doc))
    sync(Context(demo_copy, scientist.settings, scientist.catalog, identity_for(
        scientist.settings, f"admin@{D}", source="cli")), accounts=["lab-prod"], full=True)
    gate = next(r for r in evaluate(scientist.catalog, scientist.settings, version, "prod").results
                if r.gate == "model_card")
    assert gate.status == "fail" and "limitations" in gate.message
    cards.edit_card(scientist, MODEL, {"limitations": "Not for applicants under 21."}, "restored")
    gate = next(r for r in evaluate(scientist.catalog, scientist.settings, version, "prod").results
                if r.gate == "model_card")
    assert gate.status == "pass" and "limitations" not in json.loads(path.read_text())["content"]


def test_roles_and_the_tail_check(demo_copy) -> None:
    with pytest.raises(AccessDenied):
        cards.edit_card(ctx_as(demo_copy, "auditor"), MODEL, {"limitations": "x"}, "c")
    with pytest.raises(AccessDenied):
        cards.write_back(ctx_as(demo_copy, "data.scientist"), MODEL)
    ctx = ctx_as(demo_copy, "ml.engineer")
    with ctx.catalog.transaction() as con:
        con.execute("INSERT INTO ledger SELECT seq + 1, recorded_at, actor, action, subject, payload, hash, hash "
                    "FROM ledger ORDER BY seq DESC LIMIT 1")
    with pytest.raises(LedgerTampered, match="refused the card edit of credit-approval"):
        cards.edit_card(ctx, MODEL, {"limitations": "x"}, "c")


def test_cli_card_show_edit_write_back(demo_copy, capsys) -> None:
    ws = str(demo_copy.root)

    def run(actor: str, *args: str) -> int:
        return main([*args, "--workspace", ws, "--actor", f"{actor}@{D}"])

    assert run("data.scientist", "card", "edit", MODEL, "--set", "limitations=Not for applicants under 21.",
               "--set", "risk_rating=High", "--comment", "agreed", "--json") == 0
    assert set(json.loads(capsys.readouterr().out)["changed"]) >= {"limitations"}
    assert run("auditor", "card", "show", MODEL, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["fields"]["limitations"] == "Not for applicants under 21." and shown["history"]
    path = demo_copy.root / "registry" / "prod" / MODEL / "card.json"
    doc = json.loads(path.read_text())
    doc["content"]["limitations"] = "changed in prod"
    path.write_text(json.dumps(doc))
    assert run("ml.engineer", "card", "write-back", MODEL) == 1  # a conflict is a finding
    out = capsys.readouterr().out
    assert "CONFLICT lab-prod" in out and "changed in prod" in out
    assert run("data.scientist", "card", "edit", MODEL, "--set", "nonsense") == 2


def test_a_field_only_the_registry_changed_stays_there_and_is_shown_as_newer(demo_copy) -> None:
    scientist, engineer = ctx_as(demo_copy, "data.scientist"), ctx_as(demo_copy, "ml.engineer")
    cards.edit_card(scientist, MODEL, {"ethical_considerations": "Age is a protected attribute."}, "ethics")
    assert {r.status for r in cards.write_back(engineer, MODEL)} == {"written"}
    path = demo_copy.root / "registry" / "prod" / MODEL / "card.json"
    doc = json.loads(path.read_text())
    doc["content"]["intended_uses"] = "Consumer loans and credit cards."  # the prod team's newer wording
    path.write_text(json.dumps(doc))
    view = cards.card_view(engineer, MODEL)
    assert view.registries["lab-prod"].newer == ("intended_uses",) and not view.registries["lab-prod"].conflicts
    assert {r.account: r.status for r in cards.write_back(engineer, MODEL)}["lab-prod"] == "unchanged"
    assert card_file(demo_copy, "prod")["content"]["intended_uses"] == "Consumer loans and credit cards."
