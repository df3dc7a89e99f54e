"""SHAP throughput on the demo models: our explain_model vs shap called directly, and the row budget for 5 s.

Run: ``.venv/bin/python benchmarks/explain.py`` or ``--quick`` (fewer rows). Builds the demo workspace in a
temporary folder, then for every distinct demo model explains validation rows with Countersign's
``explain_model`` (explainer chosen by model type, additivity checked, per-group importance) and with shap's
``TreeExplainer``/``LinearExplainer`` called directly on the same rows, and with the permutation fallback for scale.
Single-threaded (``threadpool_limits(1)``), as the portal runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE_BUDGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 rows per model instead of 3000")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (other work inflates timings)")
    rows = 500 if args.quick else 3000

    import pandas as pd
    import shap
    from threadpoolctl import threadpool_limits

    from governance.analytics.artifacts import load_model
    from governance.analytics.explain import ExplainConfig, explain_model
    from governance.catalog import Catalog
    from governance.config import load_settings
    from governance.demo import build_demo
    from governance.sources import version_file

    with tempfile.TemporaryDirectory(prefix="cs-bench-explain-") as tmp:
        t = time.perf_counter()
        ws = build_demo(Path(tmp) / "demo")
        print(f"demo workspace built in {time.perf_counter() - t:.1f} s")
        settings, catalog = load_settings(ws), Catalog(ws.catalog_path)
        seen: set[str] = set()
        print(f"\n{'version':<34} {'model':<28} {'explainer':<16} {'rows':>5} {'ours rows/s':>12} "
              f"{'shap rows/s':>12} {'overhead':>9} {'add. err':>9} {'rows in 5 s':>11}")
        for vid in sorted(catalog.inventory()["version_id"]):
            version = catalog.version(vid)
            if version.artifact_sha256 in seen or version.environment != "dev":
                continue
            seen.add(version.artifact_sha256 or vid)
            loaded = load_model(version_file(ws, settings, version, "artifact"))
            data = pd.read_parquet(version_file(ws, settings, version, "validation"))
            features = version.metadata["features"].split(",")
            group_cols = [c for c in ("gender", "age_band") if c in data.columns]
            n = min(rows, len(data))
            config = ExplainConfig(max_rows=n, budget_seconds=600)
            started = time.perf_counter()
            result = explain_model(loaded, data, features, groups=data[group_cols] if group_cols else None,
                                   config=config)
            t_ours = time.perf_counter() - started
            X = data[features].to_numpy(float)[:n]
            with threadpool_limits(limits=1):
                started = time.perf_counter()
                if result.explainer == "TreeExplainer":
                    shap.TreeExplainer(loaded.model).shap_values(X, check_additivity=False)
                else:
                    masker = shap.maskers.Independent(X[:100], max_samples=100)
                    shap.LinearExplainer(loaded.model, masker)(X)
                t_shap = time.perf_counter() - started
            rate = result.n_rows / t_ours
            budget_rows = int(PAGE_BUDGET_S * rate)  # at our measured end-to-end rate, fixed costs included
            print(f"{vid:<34} {type(loaded.model).__name__:<28} {result.explainer:<16} {result.n_rows:>5} "
                  f"{rate:>12,.0f} {n / t_shap:>12,.0f} {t_ours / t_shap:>8.2f}× "
                  f"{result.additivity_max_error:>9.1e} {budget_rows:>11,}")

        # the permutation fallback, for models without a tree or linear explainer
        version = catalog.version("lab-dev:credit-approval:2")
        loaded = load_model(version_file(ws, settings, version, "artifact"))
        data = pd.read_parquet(version_file(ws, settings, version, "validation"))
        features = version.metadata["features"].split(",")
        from governance.analytics import explain as ex

        original = ex._choose
        ex._choose = lambda _loaded: "permutation"
        try:
            n = 100 if args.quick else 300
            cfg = ExplainConfig(permutation_max_rows=n, background_rows=100, budget_seconds=600)
            started = time.perf_counter()
            cold = explain_model(loaded, data, features, config=cfg)
            t_cold = time.perf_counter() - started
            started = time.perf_counter()
            warm = explain_model(loaded, data, features, config=cfg)
            t_warm = time.perf_counter() - started
        finally:
            ex._choose = original
        tree = explain_model(loaded, data, features, config=ExplainConfig(max_rows=n))
        print(f"\npermutation fallback on {version.version_id} ({n} rows, 100 background rows):")
        print(f"  first call in a process {t_cold:6.1f} s  ({'; '.join(cold.warnings) or 'no compile'})")
        print(f"  afterwards              {t_warm:6.2f} s  = {warm.n_rows / t_warm:,.0f} rows/s; additivity error "
              f"{warm.additivity_max_error:.1e}")
        print(f"  TreeExplainer           {tree.seconds:6.2f} s  = {tree.rows_per_second:,.0f} rows/s "
              f"({tree.rows_per_second / (warm.n_rows / t_warm):,.1f}× the warm permutation rate)")
        print(f"review page default: {ExplainConfig().max_rows} rows (tree/linear), "
              f"{ExplainConfig().permutation_max_rows} rows with {ExplainConfig().background_rows} background rows "
              f"(permutation), budget {ExplainConfig().budget_seconds:g} s")


if __name__ == "__main__":
    main()
