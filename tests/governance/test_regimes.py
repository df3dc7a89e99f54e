"""Regulation packs as dated data: the regime in force on a report's date and the next one, per model class."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.errors import ConfigError
from governance.config import parse_settings
from governance.regimes import SHIPPED, load_regimes, policy_status, regimes_on, template_status
from governance.reports.template_library import load_template

D = dt.date


def _settings(classification: str | None = None, effective: str | None = None, regimes=None):
    doc: dict = {"policy": {"regimes": regimes or ["sr-11-7", "sr-26-2", "eu-ai-act", "pra-ss1-23"]},
                 "models": {"credit": {"ai_act_classification": classification} if classification else {}}}
    if effective:
        doc["policy"]["effective_from"] = effective
    return parse_settings(doc)


def _by_id(states):
    return {s.regime.id: s for s in states}


def test_sr_11_7_applies_until_sr_26_2_replaces_it_on_17_april_2026() -> None:
    before = _by_id(regimes_on(_settings(), D(2026, 4, 16), model="credit"))
    assert before["sr-11-7"].in_force and before["sr-11-7"].superseded is None
    assert not before["sr-26-2"].in_force and before["sr-26-2"].next.start == D(2026, 4, 17)
    assert "SR 26-2 in force from 2026-04-17" in before["sr-26-2"].describe()
    on = _by_id(regimes_on(_settings(), D(2026, 4, 17), model="credit"))
    assert on["sr-11-7"].superseded == ("SR 26-2", D(2026, 4, 17))
    assert on["sr-11-7"].describe() == "SR 11-7: superseded by SR 26-2 since 2026-04-17"
    assert on["sr-26-2"].in_force[0].text.startswith(
        "SR 26-2 (Fed, with OCC Bulletin 2026-13 and FDIC) replaced SR 11-7 on 2026-04-17")


@pytest.mark.parametrize(("classification", "day", "in_force", "coming"), [
    ("high_risk_annex_iii", D(2027, 12, 1), 1, D(2027, 12, 2)),  # credit scoring: Annex III, 2 Dec 2027
    ("high_risk_annex_iii", D(2027, 12, 2), 2, None),
    ("high_risk_product", D(2027, 12, 2), 1, D(2028, 8, 2)),  # AI in regulated products: 2 Aug 2028
    ("high_risk_product", D(2028, 8, 2), 2, None),
    ("minimal", D(2030, 1, 1), 1, None),  # neither high-risk phase concerns it
])
def test_ai_act_high_risk_dates_depend_on_the_models_classification(classification, day, in_force, coming) -> None:
    state = _by_id(regimes_on(_settings(classification), day, model="credit"))["eu-ai-act"]
    assert len(state.in_force) == in_force
    assert (state.next.start if state.next else None) == coming


def test_an_unclassified_model_is_shown_every_phase_to_be_safe() -> None:
    state = _by_id(regimes_on(_settings(), D(2027, 1, 1), model="credit"))["eu-ai-act"]
    assert state.next.start == D(2027, 12, 2)


def test_a_moved_date_in_the_workspace_file_moves_the_regime_and_earlier_dates_keep_theirs(tmp_path: Path) -> None:
    moved = SHIPPED.read_text(encoding="utf-8").replace('from = "2027-12-02"', 'from = "2028-12-02"')
    (tmp_path / "regimes.toml").write_text(moved, encoding="utf-8")
    state = _by_id(regimes_on(_settings("high_risk_annex_iii"), D(2027, 12, 5), model="credit",
                              workspace_root=tmp_path))["eu-ai-act"]
    assert len(state.in_force) == 1 and state.next.start == D(2028, 12, 2)


def test_bad_regime_files_are_refused_with_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "regimes.toml").write_text('[[regimes]]\nid = "x"\nname = "X"\n[[regimes.phases]]\n'
                                           'from = "soon"\ntitle = "t"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"regimes\[0\]\.phases\[0\]\.from: 'soon' is not a date"):
        load_regimes(tmp_path)
    with pytest.raises(ConfigError, match="unknown regime 'sr-99'"):
        regimes_on(_settings(regimes=["sr-99"]), D(2026, 1, 1))
    with pytest.raises(ConfigError, match="unknown AI Act classification 'risky'"):
        _settings("risky")


def test_templates_carry_their_dates_and_sr_11_7_is_marked_superseded() -> None:
    old, new = load_template("sr-11-7"), load_template("sr-26-2")
    assert (old.superseded_from, old.superseded_by) == ("2026-04-17", "sr-26-2")
    assert template_status(old, D(2026, 4, 16)).current
    later = template_status(old, D(2026, 4, 17))
    assert not later.current and "superseded since 2026-04-17 by template sr-26-2" in later.message
    assert not template_status(new, D(2026, 4, 16)).current and template_status(new, D(2026, 4, 17)).current


def test_the_policy_names_its_effective_date() -> None:
    settings = _settings(effective="2026-05-01")
    assert policy_status(settings, D(2026, 4, 30)).startswith("policy NOT yet in force")
    assert policy_status(settings, D(2026, 5, 1)) == "policy in force since 2026-05-01"
    with pytest.raises(ConfigError, match="effective_from: 'May' is not a date"):
        _settings(effective="May")
