"""A training script as an MLflow user writes it: executed by the MLflow virtualenv's python, never imported by tests.

    <mlflow venv>/bin/python mlflow_training.py '<json options>'

with ``MLFLOW_TRACKING_URI`` (and, for a secured server, ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD``, or for a
workspace ``MLFLOW_WORKSPACE``) in the environment. It builds a small credit data set, trains a gradient boosting
classifier, logs params and metrics, logs the training and validation data as dataset inputs with the source the
options ask for, logs the model (skops with the trusted types tree models need, or the default pickle), registers
it and prints one JSON line: run id, model id, version, the datasets' digests and URIs.

Options (JSON): ``model`` (registered name), ``source`` (how the datasets are logged: ``code`` — plain
``from_pandas(df)``; ``artifact`` — the file logged to the run and named by ``HTTPDatasetSource`` on its
``mlflow-artifacts:/`` URI; ``runs`` — the same through a ``runs:/`` URI; ``proxy-url`` — the server's artifact
proxy URL; ``http`` — ``base_url`` + file name, a host of the test's own; ``s3`` — ``bucket`` + key; ``local`` —
``local_dir`` + file name), ``serialization`` (``skops``, ``pickle`` or ``cloudpickle``), ``contexts`` (context of each of the
two datasets), ``rows``, ``seed``, ``description``, ``tags`` (model version tags), ``shift`` (added to ``income``
in the validation data: another distribution), ``shap`` (log the model's SHAP values on the validation data as
docs/mlflow.md says: the file in the run's artifacts and the tag naming it).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import mlflow
import mlflow.data
import numpy as np
import pandas as pd
from mlflow.data.http_dataset_source import HTTPDatasetSource
from sklearn.ensemble import GradientBoostingClassifier

FEATURES = ["age", "income", "debt_ratio", "tenure"]


def credit_data(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 80, rows),
        "income": rng.normal(50 + shift, 12, rows).round(3),
        "debt_ratio": rng.uniform(0, 1, rows).round(4),
        "tenure": rng.integers(0, 30, rows),
        "gender": rng.choice(["female", "male"], rows),
    })
    logit = 0.04 * (df["income"] - 50) - 2.5 * (df["debt_ratio"] - 0.5) + 0.02 * df["tenure"]
    df["label"] = (rng.uniform(0, 1, rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def dataset(df: pd.DataFrame, name: str, opts: dict, run_id: str, folder: Path):
    """``df`` as an MLflow dataset whose source is what ``opts["source"]`` says."""
    how = opts.get("source", "artifact")
    if how == "code":
        return mlflow.data.from_pandas(df, name=name)
    fmt = opts.get("format", "parquet")
    local = folder / f"{name}.{fmt}"
    df.to_parquet(local, index=False) if fmt == "parquet" else df.to_csv(local, index=False)
    if how in ("artifact", "runs", "proxy-url"):
        mlflow.log_artifact(str(local), "data")
        uri = mlflow.get_artifact_uri(f"data/{local.name}")
        if how == "runs":
            uri = f"runs:/{run_id}/data/{local.name}"
        elif how == "proxy-url":
            uri = f"{os.environ['MLFLOW_TRACKING_URI']}/api/2.0/mlflow-artifacts/artifacts/" + uri.split(":/", 1)[1]
        return mlflow.data.from_pandas(df, name=name, source=HTTPDatasetSource(uri))
    if how == "http":
        target = Path(opts["serve_dir"]) / local.name
        target.write_bytes(local.read_bytes())
        return mlflow.data.from_pandas(df, name=name, source=f"{opts['base_url']}/{local.name}")
    if how == "s3":  # the test puts the file from serve_dir into the bucket, as a pipeline's upload would
        (Path(opts["serve_dir"]) / local.name).write_bytes(local.read_bytes())
        return mlflow.data.from_pandas(df, name=name, source=f"s3://{opts['bucket']}/{opts.get('prefix', 'data')}/"
                                                             f"{local.name}")
    if how == "local":
        target = Path(opts["local_dir"]) / local.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(local.read_bytes())
        return mlflow.data.from_pandas(df, name=name, source=str(target))
    raise SystemExit(f"unknown source {how!r}")


def shap_values(model, train: pd.DataFrame, valid: pd.DataFrame) -> pd.DataFrame:
    """Exact baseline Shapley values of the model's log-odds on ``valid`` (the training means as the baseline; four
    features, so every coalition is enumerated): the layout docs/analytics.md names, one row per validation row."""
    import itertools
    import math

    x, base_row = valid[FEATURES].to_numpy(float), train[FEATURES].mean().to_numpy(float)
    n = len(FEATURES)

    def f(mask: tuple[int, ...]) -> np.ndarray:
        mixed = np.where(np.array(mask, bool), x, base_row)
        return model.decision_function(pd.DataFrame(mixed, columns=FEATURES))

    phi = np.zeros_like(x)
    for mask in itertools.product((0, 1), repeat=n):
        value, size = f(mask), sum(mask)
        for i in range(n):
            weight = math.factorial(size - mask[i]) * math.factorial(n - size - 1 + mask[i]) / math.factorial(n)
            phi[:, i] += (1 if mask[i] else -1) * weight * value
    base = f((0,) * n)
    return pd.DataFrame(phi, columns=FEATURES).assign(base_value=base, output=f((1,) * n))


def main() -> None:
    opts = json.loads(sys.argv[1])
    rows, seed = int(opts.get("rows", 600)), int(opts.get("seed", 7))
    train = credit_data(rows, seed)
    valid = credit_data(rows // 2, seed + 1, float(opts.get("shift", 0.0)))
    contexts = opts.get("contexts", ["training", "validation"])
    mlflow.set_experiment(opts.get("experiment", "credit-risk"))
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        params = {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.1}
        model = GradientBoostingClassifier(random_state=0, **params).fit(train[FEATURES], train["label"])
        mlflow.log_params(params)
        auc = float(((model.predict_proba(valid[FEATURES])[:, 1] > 0.5) == valid["label"]).mean())
        mlflow.log_metrics({"accuracy": round(auc, 4)})
        scored = valid.assign(prediction=model.predict(valid[FEATURES]))
        logged = {}
        for df, name, context in ((train, "train", contexts[0]), (scored, "validation", contexts[1])):
            ds = dataset(df, name, opts, run.info.run_id, Path(tmp))
            mlflow.log_input(ds, context=context)
            logged[name] = {"digest": ds.digest, "source_type": ds.source._get_source_type(),
                            "source": ds.source.to_dict()}
        fmt = opts.get("serialization", "skops")
        kwargs: dict = {"serialization_format": fmt}
        if fmt == "skops":
            # what docs/mlflow.md tells users: skops (MLflow 3's default outside Databricks), with the types a tree
            # model holds trusted explicitly (else log_model fails on loading its own input example)
            kwargs["skops_trusted_types"] = ["sklearn.tree._tree.Tree"]
        if opts.get("shap"):
            # the two lines docs/mlflow.md gives a user whose model stays a pickle
            shap_values(model, train, valid).to_parquet(Path(tmp) / "shap_values.parquet")
            mlflow.log_artifact(str(Path(tmp) / "shap_values.parquet"))
            mlflow.set_tag("countersign.report.shap_values", "shap_values.parquet")
        info = mlflow.sklearn.log_model(model, name="model", input_example=train[FEATURES].head(3), **kwargs)
    version = mlflow.register_model(info.model_uri, opts["model"], tags=opts.get("tags") or None)
    client = mlflow.MlflowClient()
    if opts.get("description"):
        client.update_model_version(opts["model"], version.version, description=opts["description"])
    print(json.dumps({"run_id": run.info.run_id, "model_id": info.model_id, "model_uri": info.model_uri,
                      "version": int(version.version), "datasets": logged}))


if __name__ == "__main__":
    main()
