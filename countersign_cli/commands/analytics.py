"""CLI: ``drift`` and ``bias`` on plain files, ``explain`` and ``review`` on a workspace version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.errors import CountersignError, InputError
from countersign_cli.cliutil import add_workspace_arg, open_workspace, print_json, progress_printer


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or ():
        col, sep, val = v.partition("=")
        if not sep or not col or not val:
            raise InputError(f"{what} must look like COLUMN=VALUE, got {v!r}")
        out[col] = val
    return out


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in (value or "").split(",") if c.strip())


def explain(p: argparse.ArgumentParser) -> None:
    """``countersign explain``: the review of one evidence kind."""
    _review_arguments(p)
    p.set_defaults(func=cmd_review, kinds=("explain",))


def review(p: argparse.ArgumentParser) -> None:
    """``countersign review``: drift, bias and explain evidence of a version."""
    _review_arguments(p)
    p.set_defaults(func=cmd_review, kinds=("drift", "bias", "explain"))


def drift(p: argparse.ArgumentParser) -> None:
    """``countersign drift`` (the options that need the analytics modules import them only when it runs)."""
    from governance.analytics.drift import CORRECTIONS, METHODS_BY_NAME

    p.description = (f"Methods: {', '.join(METHODS_BY_NAME)}. Defaults follow Evidently (K-S/chi-square/Z up to "
                     "1,000 reference rows, normed Wasserstein/Jensen-Shannon above).")
    p.add_argument("--reference", required=True, metavar="FILE|TABLE",
                   help="reference data (training or validation): a file, or on Spark a Parquet path or a table")
    p.add_argument("--current", required=True, metavar="FILE|TABLE", help="current data (monitoring), the same way")
    p.add_argument("--columns", metavar="C[,C]", help="compare only these columns")
    p.add_argument("--exclude", metavar="C[,C]", help="never compare these columns (ids, label, prediction)")
    p.add_argument("--method", action="append", metavar="COL=METHOD", help="method of one column (repeatable)")
    p.add_argument("--num-method", metavar="METHOD", help="method of every other numeric column")
    p.add_argument("--cat-method", metavar="METHOD", help="method of every other categorical column")
    p.add_argument("--threshold", action="append", metavar="COL=VALUE", help="threshold of one column (repeatable)")
    p.add_argument("--type", action="append", metavar="COL=numeric|categorical", help="override an inferred type")
    p.add_argument("--drift-share", type=float, default=0.5, help="dataset drifts at this share of columns (0.5)")
    p.add_argument("--weight", action="append", metavar="COL=W",
                   help="how much the model relies on a column (repeatable; e.g. its mean |SHAP|): the importance-"
                        "weighted drift counts each drifted column by its weight; columns not named weigh nothing")
    p.add_argument("--correction", choices=CORRECTIONS, help="multiple-testing correction for p-value methods")
    p.add_argument("--exact-max-rows", type=int, default=1_000_000,
                   help="K-S/Wasserstein exact up to this many rows (both sides), histogram-approximated above")
    p.add_argument("--html", metavar="FILE", help="also write Evidently's interactive report (sample ≤100k rows)")
    p.add_argument("--fail-on-drift", action="store_true",
                   help="exit 1 when the dataset drifts or a reference column is missing, retyped or empty")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _engine_arguments(p)
    p.set_defaults(func=cmd_drift)


def _engine_arguments(p: argparse.ArgumentParser) -> None:
    from governance.analytics.engines import DIALECTS, ENGINES

    p.add_argument("--engine", choices=ENGINES,
                   help="where the aggregates run: duckdb (in process, the default) or spark ([engines.spark])")
    p.add_argument("--spark-master", metavar="URL", help="Spark master (local[2], spark://host:7077); wins over "
                                                          "[engines.spark] master")
    p.add_argument("--spark-conf", action="append", metavar="KEY=VALUE", help="extra Spark configuration (repeatable)")
    p.add_argument("--workspace", metavar="DIR", help="read [engines] from this workspace's countersign.toml")
    p.add_argument("--show-sql", choices=DIALECTS, metavar="DIALECT",
                   help=f"also print every aggregate statement that ran, rendered for {', '.join(DIALECTS)}")


def _engine(args: argparse.Namespace) -> Any:
    from governance.usecases.files import EngineRequest

    return EngineRequest(args.engine, args.spark_master, _pairs(args.spark_conf, "--spark-conf"), args.workspace)


def _print_sql(view: Any) -> None:
    """The aggregate statements that ran, rendered for ``--show-sql``'s dialect."""
    if view.dialect:
        print(f"-- {len(view.sql)} aggregate statements for {view.dialect} (query hash "
              f"{view.result.engine.get('query_hash')})")
        for sql in view.sql:
            print(sql + ";")


def bias(p: argparse.ArgumentParser) -> None:
    """``countersign bias``."""
    p.add_argument("--data", required=True, metavar="FILE|TABLE",
                   help="scored rows (CSV, Parquet, Arrow; on Spark a Parquet path or a table)")
    p.add_argument("--label", required=True, metavar="COL", help="observed outcome column (binary)")
    p.add_argument("--prediction", metavar="COL", help="predicted label column")
    p.add_argument("--score", metavar="COL", help="score column (instead of --prediction), with --threshold")
    p.add_argument("--threshold", type=float, default=0.5, help="predicted positive when score >= threshold")
    p.add_argument("--protected", required=True, metavar="C[,C]", help="protected attribute columns")
    p.add_argument("--positive", metavar="V", help="the favourable outcome (default 1/true for 0/1 labels)")
    p.add_argument("--min-group-size", type=int, default=30, help="smaller groups are flagged (30)")
    p.add_argument("--no-intersections", action="store_true", help="skip pairs of attributes")
    p.add_argument("--fail-on-four-fifths", action="store_true", help="exit 1 when an attribute fails 4/5")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _engine_arguments(p)
    p.set_defaults(func=cmd_bias)


def _review_arguments(p: argparse.ArgumentParser) -> None:
    from governance.analytics.explain import ExplainConfig

    add_workspace_arg(p)
    p.add_argument("--version", required=True, metavar="ID|N", help="ACCOUNT:MODEL:VERSION, or N with --model")
    p.add_argument("--model", metavar="NAME", help="model name when --version is a number")
    p.add_argument("--environment", metavar="ENV", help="environment when --version is a number")
    p.add_argument("--current", metavar="FILE", help="current data instead of the version's (drift)")
    # the page's defaults, so the CLI and the page find each other's evidence
    p.add_argument("--max-rows", type=int, default=ExplainConfig().max_rows,
                   help=f"rows explained ({ExplainConfig().max_rows})")
    p.add_argument("--budget", type=float, default=ExplainConfig().budget_seconds,
                   help=f"explainer time budget in seconds ({ExplainConfig().budget_seconds:g})")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def cmd_drift(args: argparse.Namespace) -> int:
    from governance.analytics.drift import DriftConfig
    from governance.usecases.files import FileDriftCommand, drift_of_files

    weights = {k: _float(v, "--weight") for k, v in _pairs(args.weight, "--weight").items()}
    config = DriftConfig(
        columns=_csv(args.columns) or None, exclude=_csv(args.exclude), column_types=_pairs(args.type, "--type"),
        methods=_pairs(args.method, "--method"), num_method=args.num_method, cat_method=args.cat_method,
        thresholds={k: _float(v, "--threshold") for k, v in _pairs(args.threshold, "--threshold").items()},
        drift_share=args.drift_share, correction=args.correction, exact_max_rows=args.exact_max_rows,
        weights=weights, weights_source="given" if weights else "equal",
    )
    view = drift_of_files(FileDriftCommand(args.reference, args.current, config, _engine(args),
                                           Path(args.html) if args.html else None, args.show_sql),
                          progress_printer(not args.json))
    if args.json:
        print_json(view.as_dict())
    else:
        print_drift(view.result)
        _engine_line(view.result.engine)
        _print_sql(view)
    return 1 if args.fail_on_drift and view.result.failing else 0


def print_drift(result: Any) -> None:
    """The drift table of ``countersign drift``: one line per column, one per failing finding, then the share."""
    print(f"{'column':<28} {'type':<12} {'method':<14} {'score':>12} {'threshold':>10} {'psi':>8}  drift")
    for c in result.columns:
        print(f"{c.column[:28]:<28} {c.column_type:<12} {c.method:<14} {c.score:>12.4g} {c.threshold:>10.4g} "
              f"{c.psi:>8.4f}  {'DRIFT' if c.drifted else '-'}{'' if c.exact else ' (approx.)'}")
    for p in result.problems:  # failing findings: the column is gone, retyped or empty in the current data
        print(f"{p.column[:28]:<28} FAIL: {p.describe().split(': ', 1)[1]}")
    for col, reason in result.skipped:
        print(f"{col[:28]:<28} skipped: {reason}")
    if result.missing_in_reference:
        print(f"only in the current data (not compared): {', '.join(result.missing_in_reference)}")
    if result.index_columns:
        print(f"index columns left out: {', '.join(result.index_columns)}")
    print(f"drift share {result.drift_share:.3f} (threshold {result.drift_share_threshold:g}): "
          f"{'DATASET DRIFT' if result.dataset_drifted else 'no dataset drift'}")
    if result.weights_source != "equal":
        print(f"importance-weighted drift {result.weighted_drift:.3f} ({result.weights_source} weights): "
              f"{result.headline}")


def _engine_line(engine: dict[str, Any]) -> None:
    print(f"engine {engine.get('name')}: {engine.get('queries')} queries, {engine.get('rows_returned')} rows / "
          f"{engine.get('bytes_returned')} bytes returned, query hash {str(engine.get('query_hash'))[:16]}")


def _float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{what}: {value!r} is not a number") from None


def cmd_bias(args: argparse.Namespace) -> int:
    from governance.analytics.bias import BiasConfig
    from governance.usecases.files import FileBiasCommand, bias_of_file

    config = BiasConfig(
        label=args.label, protected=_csv(args.protected), prediction=args.prediction, score=args.score,
        threshold=args.threshold, positive_label=args.positive, intersections=not args.no_intersections,
        min_group_size=args.min_group_size,
    )
    view = bias_of_file(FileBiasCommand(args.data, config, _engine(args), args.show_sql),
                        progress_printer(not args.json))
    if args.json:
        print_json(view.as_dict())
    else:
        _print_bias(view.result)
        _engine_line(view.result.engine)
        _print_sql(view)
    return 1 if args.fail_on_four_fifths and view.fails_four_fifths else 0


def _print_bias(result: Any) -> None:
    """Per attribute (and intersection): the parity figures, then one line per group; then the warnings."""
    for a in (*result.attributes, *result.intersections):
        ratio = "n/a" if a.demographic_parity_ratio is None else f"{a.demographic_parity_ratio:.3f}"
        print(f"{a.attribute}: parity ratio {ratio} ({'passes' if a.four_fifths_pass else 'FAILS'} four fifths), "
              f"difference {a.demographic_parity_difference:.3f}, equalized odds {_fmt(a.equalized_odds_difference)}")
        print(f"  {'group':<24} {'n':>8} {'selection':>10} {'TPR':>7} {'FPR':>7} {'precision':>10} {'accuracy':>9}")
        for g in a.groups:
            print(f"  {g.group[:24]:<24} {g.n:>8} {g.selection_rate:>10.3f} {_fmt(g.tpr):>7} {_fmt(g.fpr):>7} "
                  f"{_fmt(g.precision):>10} {g.accuracy:>9.3f}{'  (small)' if g.small else ''}")
    for w in result.warnings:
        print(f"! {w}")


def _json_extras(kind: str, item: Any) -> dict[str, Any]:
    """What the evidence kind prints beyond its summary (its registered ``json_extras``)."""
    from governance.analytics import kinds

    extras = kinds.kind(kind).json_extras
    return extras(item.evidence.result) if extras is not None and item.evidence else {}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def cmd_review(args: argparse.Namespace) -> int:
    from core.canonical import json_safe
    from governance.analytics.explain import ExplainConfig
    from governance.usecases.review import review_evidence

    opened = open_workspace(args)
    vid = args.version
    if args.model:
        vid = opened.catalog.find_version(args.model, args.version, args.environment).version_id
    result = review_evidence(opened, vid, kinds=tuple(args.kinds), current=Path(args.current) if args.current else None,
                             explain_config=ExplainConfig(max_rows=args.max_rows, budget_seconds=args.budget),
                             progress=progress_printer(not args.json))
    if args.json:
        print_json(json_safe({
            "version_id": vid,
            "evidence": {
                k: {"status": i.status, "message": i.message,
                    "evidence_id": i.evidence.evidence_id if i.evidence else None,
                    "summary": i.evidence.summary.to_json() if i.evidence else None,
                    **_json_extras(k, i)}
                for k, i in result.items.items()
            },
        }))
    else:
        for k, i in result.items.items():
            ident = f" {i.evidence.evidence_id}" if i.evidence else ""
            print(f"{k:<8} {i.status:<15}{ident}  {i.message or ''}")
            if i.evidence:
                for key, value in i.evidence.summary.to_json().items():
                    print(f"    {key}: {value}")
    errors = [i.error for i in result.items.values() if i.status in ("error", "denied") and i.error is not None]
    if len(args.kinds) == 1 and errors:
        raise errors[0]
    if errors:
        print("some evidence could not be computed (see above)", file=sys.stderr)
        return errors[0].exit_code if isinstance(errors[0], CountersignError) else 2
    return 0
