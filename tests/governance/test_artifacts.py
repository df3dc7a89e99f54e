"""Safe artifact loading: pickles and non-allow-listed skops types are refused and run nothing."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from core.errors import InputError, UnsafeArtifact
from governance.analytics.artifacts import load_model, sniff


class Hostile:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for name in ("model.pkl", "model.joblib", "model.skops", "model.json"):  # the name must not matter
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Hostile(str(marker))))
        with pytest.raises(UnsafeArtifact, match=r"pickle/joblib.*skops"):
            load_model(path)
    assert not marker.exists()
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps(Hostile(str(marker)), protocol=0))
    with pytest.raises(UnsafeArtifact):
        load_model(old)
    assert not marker.exists()


def test_joblib_file_is_refused(tmp_path, xy):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(*xy), path)
    with pytest.raises(UnsafeArtifact, match=r"Save the model where it was trained"):
        load_model(path)
    joblib.dump(LogisticRegression().fit(*xy), tmp_path / "z.joblib", compress=3)
    with pytest.raises(UnsafeArtifact):
        load_model(tmp_path / "z.joblib")


def test_skops_with_a_type_off_the_allow_list_is_refused(tmp_path, xy):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.skops"
    sio.dump(FunctionTransformer(func=os.system, kw_args={"command": f"touch {marker}"}), path)
    with pytest.raises(UnsafeArtifact, match=r"allow-list.*system"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("estimator", [
    LogisticRegression(), GradientBoostingClassifier(n_estimators=10),
    HistGradientBoostingClassifier(max_iter=10), RandomForestRegressor(n_estimators=5),
])
def test_standard_skops_models_load_and_predict_the_same(tmp_path, xy, estimator):
    X, y = xy
    est = estimator.fit(X, y)
    path = tmp_path / "m.skops"
    sio.dump(est, path)
    loaded = load_model(path)
    assert loaded.format == "skops"
    assert np.array_equal(loaded.model.predict(X), est.predict(X))
    assert loaded.kind == ("regressor" if isinstance(est, RandomForestRegressor) else "classifier")


@pytest.mark.parametrize("suffix", ["json", "ubj"])
def test_native_xgboost_models_load(tmp_path, xy, suffix):
    import xgboost as xgb

    X, y = xy
    clf = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    path = tmp_path / f"model.{suffix}"
    clf.save_model(path)
    loaded = load_model(path)
    assert loaded.format == f"xgboost-{suffix}" and loaded.kind == "classifier"
    assert np.allclose(loaded.model.predict_proba(X)[:, 1], clf.predict_proba(X)[:, 1])


def test_empty_missing_and_unknown_files(tmp_path):
    (tmp_path / "empty.skops").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_model(tmp_path / "empty.skops")
    with pytest.raises(InputError, match="no such"):
        load_model(tmp_path / "nope.skops")
    (tmp_path / "blob.bin").write_bytes(os.urandom(64).replace(b"\x80", b"\x00").replace(b"PK", b"pk"))
    (tmp_path / "blob.bin").write_bytes(b"\x01\x02" + (tmp_path / "blob.bin").read_bytes())
    with pytest.raises(UnsafeArtifact, match="unrecognised"):
        load_model(tmp_path / "blob.bin")
    import zipfile

    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(UnsafeArtifact, match="not a skops"):
        load_model(tmp_path / "plain.zip")
    assert sniff(tmp_path / "plain.zip") == "zip"
