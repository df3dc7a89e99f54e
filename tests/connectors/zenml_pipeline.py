"""Run a tiny ZenML pipeline against a server: executed by the ZenML virtualenv's python, never imported by tests.

    <zenml venv>/bin/python zenml_pipeline.py MODEL VERSION_NAME PIPELINE_NAME

with ``ZENML_STORE_URL`` / ``ZENML_STORE_API_KEY`` pointing at the server and ``ZENML_LOCAL_STORES_PATH`` where
the local artifact store writes. The training step returns a small JSON-able dict (the "model") and logs metadata;
the run is linked to model version VERSION_NAME of MODEL, as ZenML's own ``Model(...)`` configuration does. Prints
one JSON line: the run id, its model version id and the artifact URI.
"""

import json
import sys
from typing import Annotated

from zenml import Model, log_metadata, pipeline, step


@step
def load_data() -> Annotated[list, "training_data"]:
    return [[1.0, 2.0, 0], [2.0, 1.0, 1], [3.0, 0.5, 1]]


@step
def train(data: list, learning_rate: float = 0.1) -> Annotated[dict, "credit_model"]:
    log_metadata(metadata={"accuracy": 0.87, "auc": 0.91}, infer_model=True)
    return {"weights": [0.5, -0.25], "bias": 0.1, "rows": len(data), "learning_rate": learning_rate}


def main() -> None:
    model, version, name = sys.argv[1], sys.argv[2], sys.argv[3]

    @pipeline(name=name, model=Model(name=model, version=version), enable_cache=False)
    def training() -> None:
        train(load_data(), learning_rate=0.05)

    run = training()
    mv = run.model_version
    art = run.steps["train"].outputs["credit_model"][0]
    print(json.dumps({"run_id": str(run.id), "model_version_id": str(mv.id) if mv else None, "artifact_uri": art.uri}))


if __name__ == "__main__":
    main()
