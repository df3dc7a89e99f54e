"""Extension points (issue 33): an evidence kind, a policy gate and a report block are each one module and one
registry line; nothing else names them. Each test registers a new one the way a plugin would and follows it through
the real services on a copy of the demo workspace; the static tests read the source for names that should only live
in a registry."""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from governance import gates as gate_registry
from governance.analytics import kinds as kind_registry
from governance.analytics.kinds.base import EvidenceKind, Plan
from governance.analytics.summaries import summary_from_json
from governance.catalog import Catalog
from governance.config import load_settings
from governance.document import Block, Missing, Table, kv, walk
from governance.gates.base import Gate, GateResult
from governance.identity import identity_for

ROOT = Path(__file__).resolve().parents[2]
RISK = "risk.officer@demo.countersign.dev"
VERSION = "lab-staging:credit-approval:3"


# -- a new evidence kind: row counts of the reference data (the whole module a plugin would write) -----------------


@dataclass(frozen=True)
class RowsConfig:
    """Typed configuration."""

    limit: int = 1_000_000


@dataclass(frozen=True)
class RowsSummary:
    """Typed summary."""

    rows: int

    @property
    def kind(self) -> str:
        return "rowcount"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RowsSummary:
        return cls(int(data.get("rows", 0)))

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def lines(self) -> list[str]:
        return [f"{self.rows} rows"]

    def report_rows(self) -> list[tuple[str, Any]]:
        return [("rows", self.rows)]


@dataclass(frozen=True)
class RowsResult:
    """Typed result."""

    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def summary(self) -> RowsSummary:
        return RowsSummary(self.rows)


def _plan(p: Any) -> Plan:
    config = p.override or RowsConfig()
    return Plan(config, {"limit": config.limit})


def _compute(files: Mapping[str, Path], plan: Plan, progress: Any, engine: Any) -> RowsResult:
    import duckdb

    [(rows,)] = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(files['reference'])]).fetchall()
    return RowsResult(min(rows, plan.config.limit))


def _rows_block(f: Any, charts: Any) -> list[Any]:
    item = f.evidence.get("rowcount")
    if item is None:
        raise Missing("row count evidence")
    return [kv([("Reference rows", item.summary.rows)])]


ROWCOUNT = EvidenceKind(
    name="rowcount", inputs=("reference",), summary=RowsSummary, plan=_plan, compute=_compute,
    result_from_dict=lambda d: RowsResult(int(d["rows"])),
    blocks=(("rowcount", Block("Reference row count", _rows_block, "rowcount evidence")),),
)


@pytest.fixture
def rowcount_kind():
    kind_registry.register(ROWCOUNT)
    try:
        yield ROWCOUNT
    finally:
        kind_registry.unregister("rowcount")


def test_a_registered_evidence_kind_is_computed_stored_summarised_and_reported(demo_copy, rowcount_kind) -> None:
    from governance.evidence import review_version
    from governance.reports.assemble import section_nodes
    from governance.reports.chart_cache import ChartSpecs
    from governance.reports.facts import collect_facts
    from governance.reports.templates import Section

    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    officer = identity_for(settings, RISK, source="cli")
    first = review_version(demo_copy, settings, catalog, VERSION, actor=officer, kinds=("rowcount",))
    item = first.items["rowcount"]
    assert item.status == "computed", item.message
    reference = Path(item.evidence.inputs["reference"]["path"])
    expected = pq.read_metadata(reference).num_rows  # the oracle: the file's own footer, not a scan
    assert expected > 0
    assert item.evidence.result == {"rows": expected}
    # stored by content: the same files and configuration load the row, they do not compute it again
    again = review_version(demo_copy, settings, catalog, VERSION, actor=officer, kinds=("rowcount",))
    assert again.items["rowcount"].status == "cached"
    assert again.items["rowcount"].evidence.evidence_id == item.evidence.evidence_id
    assert item.evidence.summary == RowsSummary(expected)  # read back into the kind's own type
    assert summary_from_json("rowcount", {"rows": expected}) == RowsSummary(expected)

    facts = collect_facts(demo_copy, settings, catalog, VERSION, officer)
    assert facts.evidence["rowcount"].summary == RowsSummary(expected)
    nodes, gaps = section_nodes(Section("9", "Rows", "", "", ("rowcount",)), facts, ChartSpecs())
    assert gaps == []
    assert any(isinstance(n, Table) and ("Reference rows", expected) in n.rows for n in walk(nodes))


def test_an_unregistered_kind_is_refused_and_its_stored_rows_still_read(demo_copy) -> None:
    from core.errors import InputError
    from governance.evidence import review_version

    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    with pytest.raises(InputError, match=r"unknown evidence kind.*rowcount"):
        review_version(demo_copy, settings, catalog, VERSION, actor=identity_for(settings, RISK, source="cli"),
                       kinds=("rowcount",))
    assert summary_from_json("rowcount", {"rows": 3}).values == {"rows": 3}


# -- a new gate ---------------------------------------------------------------------------------------------------


def _freeze_check(ctx: Any) -> GateResult:
    frozen = ctx.version.model == "credit-approval"
    return GateResult("change_freeze", "fail" if frozen else "pass",
                      "credit-approval is frozen until the audit ends" if frozen else "no freeze")


FREEZE = Gate("change_freeze", lambda tier: True, _freeze_check, "No promotion during a change freeze.",
              monitoring=True)


def test_a_registered_gate_joins_the_checklist_and_monitoring(demo_workspace) -> None:
    from governance.policy import evaluate, monitoring_gates

    catalog, settings = Catalog(demo_workspace.catalog_path), load_settings(demo_workspace)
    now = dt.datetime(2026, 11, 1)
    before = {r.gate for r in evaluate(catalog, settings, VERSION, "prod", evidence=lambda v, k: None,
                                       now=now).results}
    gate_registry.register(FREEZE)
    try:
        results = {r.gate: r for r in evaluate(catalog, settings, VERSION, "prod", evidence=lambda v, k: None,
                                               now=now).results}
        assert set(results) == before | {"change_freeze"}
        assert results["change_freeze"].status == "fail"
        assert "change_freeze" in monitoring_gates()
        with pytest.raises(Exception, match="change_freeze"):
            gate_registry.register(FREEZE)  # a name is taken once; replacing says so
    finally:
        gate_registry.unregister("change_freeze")
    assert "change_freeze" not in monitoring_gates()


# -- names live in their registry only ---------------------------------------------------------------------------


def _string_constants(path: Path) -> set[str]:
    """The string literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}


def test_no_gate_is_named_in_the_policy_or_oversight() -> None:
    names = set(gate_registry.REGISTRY.names())
    for module in ("governance/policy.py", "governance/oversight.py", "governance/triggered.py", "governance/usecases/why.py"):
        assert not names & _string_constants(ROOT / module), module


def _branches_on(path: Path, names: set[str]) -> list[str]:
    """Where a module compares something with one of ``names`` (``==``, ``in (...)``, ``match``): a dispatch on them."""

    def consts(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return set().union(set(), *(consts(e) for e in node.elts))
        return set()

    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            found = set().union(*(consts(c) for c in [node.left, *node.comparators])) & names
        elif isinstance(node, ast.match_case):
            found = {v.value.value for v in ast.walk(node.pattern)
                     if isinstance(v, ast.MatchValue) and isinstance(v.value, ast.Constant)} & names
        else:
            continue
        hits += [f"{path.relative_to(ROOT)}:{node.lineno} {sorted(found)}"] if found else []
    return hits


def test_nothing_outside_a_kind_module_branches_on_the_kind() -> None:
    """The if/elif on kind names (analytics/evidence.py, policy.py, triggered.py, the CLI) is gone: the services run
    whatever is registered. The kind and gate modules name their own kind; the demo's seeded story is data."""
    names = set(kind_registry.names())
    own = (ROOT / "governance/analytics/kinds", ROOT / "governance/gates")
    hits = [h for p in sorted((ROOT / "governance").rglob("*.py"))
            if not any(p.is_relative_to(d) for d in own) and not p.name.startswith("demo")
            for h in _branches_on(p, names)]
    assert hits == []


# -- chart renders cached by content -------------------------------------------------------------------------------


WARM_BUILD = """
import datetime as dt, sys
from pathlib import Path
from governance.reports.build import build_pdf
from governance.reports.facts import ReportFacts
import pickle
facts = pickle.loads(Path(sys.argv[1]).read_bytes())
from governance.reports.template_library import load_template
built = build_pdf(facts, load_template("eu-ai-act-annex-iv"), built_at=dt.datetime(2026, 12, 1, 9),
                  cache_dir=Path(sys.argv[2]))
print(built.sha256, built.charts, "altair" in sys.modules, "vl_convert" in sys.modules)
"""


def test_a_second_build_of_the_same_report_draws_no_chart(demo_copy, tmp_path) -> None:
    """Chart specs and PNGs are read back by content: the second process imports neither altair nor vl-convert,
    and writes the same bytes."""
    import pickle

    from governance.evidence import review_version
    from governance.reports.facts import collect_facts

    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    officer = identity_for(settings, RISK, source="cli")
    review_version(demo_copy, settings, catalog, VERSION, actor=officer)
    facts_file = tmp_path / "facts.pickle"
    facts_file.write_bytes(pickle.dumps(collect_facts(demo_copy, settings, catalog, VERSION, officer)))
    cache = tmp_path / "cache"

    def build() -> list[str]:
        out = subprocess.run([sys.executable, "-c", WARM_BUILD, str(facts_file), str(cache)], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return out.stdout.split()

    cold, warm = build(), build()
    assert int(cold[1]) >= 3 and cold[2:] == ["True", "True"]  # the first build draws its charts
    assert warm[0] == cold[0] and warm[2:] == ["False", "False"]


def _pdf_with(flowable) -> bytes:
    import io

    from reportlab import rl_config
    from reportlab.platypus import SimpleDocTemplate

    rl_config.invariant = 1
    buf = io.BytesIO()
    SimpleDocTemplate(buf, invariant=1).build([flowable])
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "RGB"])
def test_a_cached_chart_image_is_the_pdf_reportlab_draws(tmp_path, mode) -> None:
    """The oracle is reportlab's own Image flowable: the cached XObject gives the same file, first time and warm."""
    import hashlib
    import io

    from PIL import Image as PILImage
    from reportlab.platypus import Image

    from governance.reports.pdf_images import ChartImage

    picture = PILImage.new(mode, (64, 40), (200, 30, 60, 128)[: len(mode)])
    picture.putpixel((3, 4), (0, 0, 0, 0)[: len(mode)])
    png = io.BytesIO()
    picture.save(png, "PNG")
    data = png.getvalue()
    key = hashlib.sha256(data).hexdigest()
    expected = _pdf_with(Image(io.BytesIO(data)))
    assert _pdf_with(ChartImage(data, tmp_path, key)) == expected  # computed, then stored
    assert list((tmp_path / "charts").glob("*.xobject.json"))
    assert _pdf_with(ChartImage(data, tmp_path, key)) == expected  # read back
    assert _pdf_with(ChartImage(data, None, key)) == expected  # no cache folder
