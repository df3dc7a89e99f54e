"""The CLI's plain output reads as words (issue 35, finding 11): no raw summaries, snake_case keys or None."""

from __future__ import annotations

import re

from countersign_cli.main import main

D = "demo.countersign.dev"
STAGING_CREDIT = "lab-staging:credit-approval:3"


def test_review_prints_its_summaries_in_words(demo_copy, capsys) -> None:
    assert main(["review", "--workspace", str(demo_copy.root), "--actor", f"risk.officer@{D}",
                 "--version", STAGING_CREDIT]) in (0, 1)
    out = capsys.readouterr().out
    summary = [ln for ln in out.splitlines() if ln.startswith("    ")]
    assert summary, out
    for line in summary:
        key, _, value = line.strip().partition(": ")
        assert not re.search(r"[a-z]_[a-z]", key), line  # keys in words
        assert "None" not in value and "{" not in value and "[" not in value, line
        assert not re.search(r"\d\.\d{6,}|\de[+-]\d", value), line  # no 16-digit floats or exponents


def test_card_show_prints_an_empty_registry_field_as_a_dash(demo_copy, capsys) -> None:
    """An MLflow or ZenML card field the registry left empty arrives as None; plain output says "—"."""
    import duckdb

    con = duckdb.connect(str(demo_copy.catalog_path))
    con.execute("UPDATE model_cards SET content = ? WHERE model = 'credit-approval'",
                ['{"intended_use": "Score applications", "limitations": null, "risk_rating": null}'])
    con.close()
    assert main(["card", "show", "credit-approval", "--workspace", str(demo_copy.root),
                 "--actor", f"auditor@{D}"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out, out
    assert not re.search(r"needs: .*[a-z]_[a-z]", out), out
