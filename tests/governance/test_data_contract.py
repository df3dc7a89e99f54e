"""One data contract for every analytics input, tried as a user would: files written by common tools, the CLI run as
a process (``python -m countersign_cli``), Evidently as the oracle.

- NaN (and ±inf) are missing values on every route, exactly as Evidently drops them: a Parquet file storing IEEE NaN
  (Spark, Polars, pyarrow from numpy) and one storing NULL (pandas) give the same verdict, above and below 1,000
  reference rows.
- A reference column missing from the current data, or whose type changed, is a failing finding counted in the share.
- Duplicated column names are refused (exit 2, one line naming them); index columns are left out and listed.
- No data problem produces a traceback.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import InputError
from governance.analytics.bias import BiasConfig, bias_file
from governance.analytics.drift import DriftConfig, drift_files
from tests.governance.oracles import evidently_drift


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "countersign_cli", *args], capture_output=True, text=True, timeout=180)


def write_parquet(path: Path, frame: pd.DataFrame, *, nan_stored: bool) -> Path:
    """``frame`` as Parquet: missing floats stored as IEEE NaN (as Spark, Polars and pyarrow-from-numpy write them)
    or as NULL (as pandas writes them)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if nan_stored:
        arrays = [pa.array(frame[c].to_numpy(), from_pandas=False) if frame[c].dtype.kind == "f" else table.column(c)
                  for c in frame.columns]
        table = pa.table(dict(zip(frame.columns, arrays, strict=True)))
    pq.write_table(table, path)
    stored = pq.read_table(path)
    for c in frame.columns:
        if frame[c].dtype.kind == "f" and frame[c].isna().any():
            # the file really stores what the test says: NaN values, or nulls
            assert (stored.column(c).null_count > 0) is (not nan_stored), c
    return path


def _pair(n_ref: int, n_cur: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def make(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1.0, n)
        y = rng.exponential(2.0, n)
        z = rng.normal(0.0, 1.0, n)
        x[rng.random(n) < 0.03] = np.nan
        y[rng.random(n) < 0.05] = np.nan
        return pd.DataFrame({"x": x, "y": y, "z": z, "g": rng.choice(["a", "b", "c"], n)})

    return make(n_ref, 0.0), make(n_cur, 0.35)


ROUTES = {"ks_route": (200, 180), "wasserstein_route": (3000, 2500)}


@pytest.mark.parametrize("route", list(ROUTES))
def test_nan_stored_and_null_stored_parquet_give_evidentlys_verdict(tmp_path: Path, route: str) -> None:
    n_ref, n_cur = ROUTES[route]
    ref, cur = _pair(n_ref, n_cur, seed=5)
    docs = {}
    for stored in ("nan", "null"):
        r = write_parquet(tmp_path / f"ref_{stored}.parquet", ref, nan_stored=stored == "nan")
        c = write_parquet(tmp_path / f"cur_{stored}.parquet", cur, nan_stored=stored == "nan")
        proc = cli("drift", "--reference", str(r), "--current", str(c), "--json")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        docs[stored] = json.loads(proc.stdout)
    theirs, share = evidently_drift(ref, cur, ["x", "y", "z"], ["g"])
    for stored, doc in docs.items():
        cols = {c["column"]: c for c in doc["columns"]}
        assert set(cols) == set(theirs)
        for name, (_, value, flagged) in theirs.items():
            assert math.isclose(cols[name]["score"], value, rel_tol=1e-9, abs_tol=1e-12), (stored, name)
            assert cols[name]["drifted"] is flagged, (stored, name)
        assert doc["drift_share"] == pytest.approx(share)
        assert cols["x"]["n_reference"] == int(ref["x"].notna().sum())  # NaN is a missing value, not a value
        assert cols["x"]["nulls_reference"] == int(ref["x"].isna().sum())
    strip = ("engine", "seconds")
    assert {k: v for k, v in docs["nan"].items() if k not in strip} == \
        {k: v for k, v in docs["null"].items() if k not in strip}


def test_nan_hidden_by_parquet_statistics_is_missing_on_the_binned_route(tmp_path: Path) -> None:
    # Parquet statistics leave NaN out; an engine that trusts them reads max(x) = a number and drops the range test
    # as "always true". Above exact_max_rows the aggregates come from statistics, histograms and value counts.
    ref, cur = _pair(3000, 2500, seed=6)
    got = {}
    for stored in ("nan", "null"):
        r = write_parquet(tmp_path / f"ref_{stored}.parquet", ref, nan_stored=stored == "nan")
        c = write_parquet(tmp_path / f"cur_{stored}.parquet", cur, nan_stored=stored == "nan")
        got[stored] = drift_files(r, c, DriftConfig(exact_max_rows=0))
    nan, null = (got[k].to_dict() for k in ("nan", "null"))
    for d in (nan, null):
        d.pop("engine"), d.pop("seconds")
    assert nan == null
    x = got["nan"].column("x")
    assert not x.exact and x.n_reference == int(ref["x"].notna().sum()) and x.nulls_current == int(cur["x"].isna().sum())
    theirs, _ = evidently_drift(ref, cur, ["x", "y", "z"], ["g"])
    assert {c.column: c.drifted for c in got["nan"].columns} == {k: v[2] for k, v in theirs.items()}
    # PSI bins are exact on this route too: equal to Evidently's
    psi = drift_files(tmp_path / "ref_nan.parquet", tmp_path / "cur_nan.parquet",
                      DriftConfig(exact_max_rows=0, num_method="psi", cat_method="psi"))
    theirs, _ = evidently_drift(ref, cur, ["x", "y", "z"], ["g"], num_method="psi", cat_method="psi")
    for c in psi.columns:
        assert c.score == pytest.approx(theirs[c.column][1], rel=1e-9), c.column


def test_infinities_are_missing_values_on_the_small_route_too() -> None:
    ref, cur = _pair(300, 250, seed=8)
    dirty = cur.copy()
    dirty.loc[:6, "z"] = np.inf
    dirty.loc[7:9, "z"] = -np.inf
    got = drift_files(ref, dirty).column("z")
    clean = drift_files(ref, dirty.replace([np.inf, -np.inf], np.nan)).column("z")
    assert (got.score, got.n_current, got.nulls_current) == (clean.score, clean.n_current, clean.nulls_current)
    assert got.n_current == 250 - 10


# -- columns that are not there, or not what they were ------------------------------------------------------------


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Five features, ``claim_amount`` drifted; the current file without ``claim_amount`` and one with a type change."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("claims")

    def make(n: int, drift: bool) -> pd.DataFrame:
        return pd.DataFrame({
            "claim_amount": rng.lognormal(8.0, 0.6, n) * (1.6 if drift else 1.0),
            "vehicle_age": rng.gamma(3.0, 2.2, n), "tenure": rng.exponential(4.0, n),
            "prior_claims": rng.poisson(0.6, n), "region": rng.choice(["n", "s", "e", "w"], n),
        })

    ref, cur = make(3000, False), make(2000, True)
    paths = {"ref": folder / "ref.parquet", "cur": folder / "cur.parquet", "cur_without": folder / "cur_without.parquet",
             "cur_retyped": folder / "cur_retyped.parquet"}
    ref.to_parquet(paths["ref"], index=False)
    cur.to_parquet(paths["cur"], index=False)
    cur.drop(columns=["claim_amount"]).to_parquet(paths["cur_without"], index=False)
    cur.assign(tenure=cur["tenure"].round(1).astype(str)).to_parquet(paths["cur_retyped"], index=False)
    return paths


def test_a_reference_column_missing_from_the_current_data_is_a_failing_finding(claims: dict[str, Path]) -> None:
    full = drift_files(claims["ref"], claims["cur"])
    assert full.drifted_columns == ["claim_amount"] and full.drift_share == pytest.approx(1 / 5)
    gone = drift_files(claims["ref"], claims["cur_without"])
    assert gone.drift_share == pytest.approx(1 / 5)  # not 0 of 4: the missing column counts, and fails
    assert "claim_amount" in gone.drifted_columns
    assert [(p.column, p.problem) for p in gone.problems] == [("claim_amount", "missing_in_current")]
    assert gone.summary().drifted_columns == ("claim_amount",) and gone.summary().n_columns == 5

    assert not gone.dataset_drifted and gone.failing  # 0.2 < 0.5, and still a failing finding
    args = ["drift", "--reference", str(claims["ref"]), "--current", str(claims["cur_without"])]
    proc = cli(*args, "--fail-on-drift")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "claim_amount" in proc.stdout and "missing in the current data" in proc.stdout
    assert "FAIL" in next(line for line in proc.stdout.splitlines() if line.startswith("claim_amount"))
    assert "drift share 0.200" in proc.stdout


def test_a_changed_type_is_a_failing_finding(claims: dict[str, Path]) -> None:
    result = drift_files(claims["ref"], claims["cur_retyped"])
    assert [(p.column, p.problem) for p in result.problems] == [("tenure", "type_changed")]
    assert set(result.drifted_columns) == {"claim_amount", "tenure"}
    assert result.drift_share == pytest.approx(2 / 5)
    assert "DOUBLE" in result.problems[0].detail and "VARCHAR" in result.problems[0].detail
    assert not result.skipped


def test_a_current_column_with_no_values_left_is_a_failing_finding() -> None:
    ref, cur = _pair(2000, 1500, seed=2)
    cur["z"] = np.nan
    result = drift_files(ref, cur)
    assert [(p.column, p.problem) for p in result.problems] == [("z", "empty_in_current")]
    assert "z" in result.drifted_columns


def test_extra_current_columns_are_listed_and_not_counted(claims: dict[str, Path]) -> None:
    ref = pd.read_parquet(claims["ref"])
    result = drift_files(ref.drop(columns=["region"]), claims["cur"])
    assert result.missing_in_reference == ("region",) and not result.problems
    assert len(result.columns) == 4


# -- names ----------------------------------------------------------------------------------------------------------


def test_duplicated_column_names_are_refused_naming_them(tmp_path: Path, claims: dict[str, Path]) -> None:
    csv = tmp_path / "dup.csv"
    frame = pd.read_parquet(claims["cur"]).head(200)
    frame.insert(2, "region_copy", frame["region"])
    frame.to_csv(csv, index=False, header=[*frame.columns[:2], "region", *frame.columns[3:]])
    proc = cli("drift", "--reference", str(claims["ref"]), "--current", str(csv))
    assert proc.returncode == 2, proc.stdout
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "duplicated column name" in err and "region" in err
    table = pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["x", "x"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(InputError, match=r"duplicated column name.*'x'"):
        drift_files(tmp_path / "dup.parquet", tmp_path / "dup.parquet")
    with pytest.raises(InputError, match="duplicated column name"):
        bias_file(csv, BiasConfig(label="prior_claims", protected=("region",), prediction="prior_claims"))


def test_index_columns_are_left_out_and_listed(tmp_path: Path) -> None:
    # ZenML's pandas materializer keeps the index: scored as a feature it turned 1 of 5 drifted columns (0.20,
    # Evidently) into 2 of 6 (0.33)
    rng = np.random.default_rng(12)
    ref = pd.DataFrame({f"f{i}": rng.normal(size=2000) for i in range(5)})
    cur = pd.DataFrame({f"f{i}": rng.normal(0.6 if i == 0 else 0.0, 1.0, 1500) for i in range(5)})
    cur.index = cur.index + 10_000  # monitoring rows numbered after the training rows: the index "drifts"
    pq.write_table(pa.Table.from_pandas(ref, preserve_index=True), tmp_path / "ref.parquet")
    pq.write_table(pa.Table.from_pandas(cur, preserve_index=True), tmp_path / "cur.parquet")
    assert "__index_level_0__" in pq.read_schema(tmp_path / "cur.parquet").names
    result = drift_files(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    _, share = evidently_drift(ref, cur, list(ref.columns), [])
    assert result.drift_share == pytest.approx(share) == pytest.approx(0.2)
    assert result.index_columns == ("__index_level_0__",)
    # a CSV written with its index ('Unnamed: 0' when read back by pandas, an empty header in the file), and a
    # named index recorded in the pandas metadata of a Parquet file
    ref.to_csv(tmp_path / "ref.csv")
    named = cur.set_axis(pd.Index(cur.index.to_numpy() * 7, name="claim_id"))  # ids, not a RangeIndex
    named.to_parquet(tmp_path / "named.parquet")
    assert pq.read_schema(tmp_path / "named.parquet").pandas_metadata["index_columns"] == ["claim_id"]
    result = drift_files(tmp_path / "ref.csv", tmp_path / "named.parquet")
    assert {c.column for c in result.columns} == set(ref.columns)
    assert set(result.index_columns) == {"column0", "claim_id"} and not result.missing_in_reference
    unnamed = ref.copy()
    unnamed.insert(0, "Unnamed: 0", np.arange(len(ref)))
    result = drift_files(unnamed, cur.reset_index(drop=True))
    assert result.index_columns == ("Unnamed: 0",) and result.drift_share == pytest.approx(0.2)
    proc = cli("drift", "--reference", str(tmp_path / "ref.parquet"), "--current", str(tmp_path / "cur.parquet"))
    assert proc.returncode == 0 and "index column" in proc.stdout and "__index_level_0__" in proc.stdout


# -- no traceback for a data problem --------------------------------------------------------------------------------


def test_forcing_a_text_column_to_numeric_is_one_line_exit_2(claims: dict[str, Path]) -> None:
    proc = cli("drift", "--reference", str(claims["ref"]), "--current", str(claims["cur"]), "--type",
               "region=numeric")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "region" in err


# -- bias: the same contract --------------------------------------------------------------------------------------


def _scored(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(21)
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "gender": rng.choice(["F", "M"], n), "age": rng.choice([25.0, 45.0, 65.0], n),
        "label": (x + rng.normal(0, 0.8, n) > 0).astype(float), "score": 1 / (1 + np.exp(-1.5 * x)),
    })
    frame.loc[:29, "label"] = np.nan
    frame.loc[30:49, "score"] = np.nan
    frame.loc[50:69, "age"] = np.nan
    return frame


def test_bias_reads_nan_stored_and_null_stored_files_alike(tmp_path: Path) -> None:
    frame = _scored()
    config = BiasConfig(label="label", protected=("gender", "age"), score="score", threshold=0.5)
    got = {}
    for stored in ("nan", "null"):
        path = write_parquet(tmp_path / f"{stored}.parquet", frame, nan_stored=stored == "nan")
        got[stored] = bias_file(path, config)
    nan, null = got["nan"], got["null"]
    assert nan.dropped_rows == null.dropped_rows == 50  # no label (30) or no score (20): left out, never guessed
    assert nan.attribute("age").groups == null.attribute("age").groups
    assert "(missing)" in {g.group for g in nan.attribute("age").groups}  # NaN is missing, not a group 'nan'
    assert nan.attribute("gender").groups == null.attribute("gender").groups


def test_bias_cli_on_nan_stored_file_exits_0_without_traceback(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "scored.parquet", _scored(), nan_stored=True)
    proc = cli("bias", "--data", str(path), "--label", "label", "--score", "score", "--protected", "gender,age",
               "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dropped_rows"] == 50


# -- explain: rows with a missing feature value are left out, NaN or NULL alike ---------------------------------------


def test_explain_leaves_out_rows_with_missing_features_whatever_the_storage(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import GradientBoostingClassifier

    from governance.analytics.evidence import _explain_version
    from governance.analytics.explain import ExplainConfig

    rng = np.random.default_rng(4)
    n = 600
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "gender": rng.choice(["F", "M"], n)})
    frame["label"] = (frame["a"] + 0.3 * frame["b"] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(frame[["a", "b"]],
                                                                                       frame["label"])
    sio.dump(model, tmp_path / "model.skops")
    frame.loc[:9, "a"] = np.nan
    frame.loc[10:14, "b"] = np.inf
    out: dict[str, Any] = {}
    for stored in ("nan", "null"):
        data = frame.replace([np.inf], np.nan) if stored == "null" else frame
        path = write_parquet(tmp_path / f"{stored}.parquet", data, nan_stored=stored == "nan")
        out[stored] = _explain_version(tmp_path / "model.skops", path, ["a", "b"], ["gender"],
                                       ExplainConfig(max_rows=2000, budget_seconds=60), lambda *_: None)
    assert out["nan"].n_rows == out["null"].n_rows == n - 15
    assert out["nan"].importance == out["null"].importance
    assert any("15 rows" in w and "missing" in w for w in out["nan"].warnings)
