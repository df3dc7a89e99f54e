"""A training pipeline as a ZenML user writes it: executed by the pipelines virtualenv's python, never imported.

    <zenml pipelines venv>/bin/python zenml_user_pipeline.py '<json options>'

with ``ZENML_STORE_URL`` / ``ZENML_STORE_API_KEY`` pointing at the server and ``ZENML_LOCAL_STORES_PATH`` where the
local artifact store writes. Default materializers throughout: the DataFrames are written by ZenML's pandas
materializer (``df.parquet.gzip``, or ``df.csv`` where pyarrow is missing), the scikit-learn model by its sklearn
materializer (``artifact.pkl`` + ``python_version.txt``), the Evidently report (a JSON string) by the built-in one.
The pipeline's model is ``Model(name, version, tags=[...])``, as in ZenML's docs. Prints one JSON line: the run id,
the model version id and every output artifact's URI by name.

Options (JSON): ``model``, ``version``, ``pipeline``, ``rows``, ``seed``, ``shift`` (added to ``income`` in the
test data), ``tags`` (the Model's, i.e. the version's tags in ZenML 0.98), ``mapping`` (log the run metadata
``countersign.data`` naming which artifact is the reference and which the validation data), ``csv`` (write the
DataFrames as CSV, as the materializer does where pyarrow is not installed), ``tamper_report`` (the report step
claims no drift whatever Evidently says: a pipeline whose report disagrees with its data), ``shap`` (log SHAP
values, default true).
"""

import json
import sys
from typing import Annotated

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from zenml import Model, log_metadata, pipeline, step

FEATURES = ["age", "income", "debt_ratio", "tenure"]
OPTS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


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


@step
def load_data() -> tuple[Annotated[pd.DataFrame, "train_df"], Annotated[pd.DataFrame, "test_df"]]:
    rows, seed = int(OPTS.get("rows", 800)), int(OPTS.get("seed", 3))
    return credit_data(rows, seed), credit_data(rows // 2, seed + 1, float(OPTS.get("shift", 0.0)))


@step
def train(train_df: pd.DataFrame) -> Annotated[GradientBoostingClassifier, "model"]:
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0)
    return model.fit(train_df[FEATURES], train_df["label"])


@step
def evaluate(model: GradientBoostingClassifier, test_df: pd.DataFrame) -> Annotated[pd.DataFrame, "scored_test"]:
    scored = test_df.assign(prediction=model.predict(test_df[FEATURES]))
    metadata: dict = {"accuracy": float((scored["prediction"] == scored["label"]).mean())}
    if OPTS.get("mapping"):
        # the two keys a team adds so Countersign knows which artifact is which (docs/zenml.md)
        metadata["countersign.data"] = {"reference": "train_df", "validation": "scored_test"}
    log_metadata(metadata=metadata, infer_model=True)
    return scored


@step
def drift_report(train_df: pd.DataFrame, test_df: pd.DataFrame) -> Annotated[str, "evidently_report"]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(test_df[FEATURES], train_df[FEATURES])
    report = json.loads(snapshot.json())
    if OPTS.get("tamper_report"):
        for metric in report["metrics"]:
            if metric["config"]["type"].endswith("ValueDrift"):
                metric["value"] = 0.0 if "distance" in metric["config"]["method"] else 1.0
            elif metric["config"]["type"].endswith("DriftedColumnsCount"):
                metric["value"] = {"count": 0.0, "share": 0.0}
    return json.dumps(report)


@step
def explain(model: GradientBoostingClassifier, scored_test: pd.DataFrame) -> Annotated[pd.DataFrame, "shap_values"]:
    import shap

    explainer = shap.TreeExplainer(model)
    values = explainer.shap_values(scored_test[FEATURES])
    # the documented layout: one column per feature, one row per validation row in its order, and the base value
    out = pd.DataFrame(values, columns=FEATURES)
    out["base_value"] = float(np.ravel(explainer.expected_value)[0])
    return out


def main() -> None:
    if OPTS.get("csv"):
        from zenml.integrations.pandas.materializers import pandas_materializer

        # what the materializer does on a machine without pyarrow: it writes df.csv
        original = pandas_materializer.PandasMaterializer.__init__

        def without_pyarrow(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.pyarrow_exists = False

        pandas_materializer.PandasMaterializer.__init__ = without_pyarrow

    model = Model(name=OPTS["model"], version=OPTS.get("version", "v1"), tags=OPTS.get("tags") or None)

    @pipeline(name=OPTS.get("pipeline", "credit_training"), model=model, enable_cache=False)
    def training() -> None:
        train_df, test_df = load_data()
        fitted = train(train_df)
        scored = evaluate(fitted, test_df)
        drift_report(train_df, test_df)
        if OPTS.get("shap", True):
            explain(fitted, scored)

    run = training()
    outputs = {name: arts[0].uri for step_run in run.steps.values() for name, arts in step_run.outputs.items()}
    mv = run.model_version
    print(json.dumps({"run_id": str(run.id), "model_version_id": str(mv.id) if mv else None, "artifacts": outputs}))


if __name__ == "__main__":
    main()
