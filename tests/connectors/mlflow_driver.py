"""Seeding a real MLflow server over plain REST, as the connector contract suite's driver for kind ``mlflow``.

:class:`MlflowDriver` stands in front of one running ``mlflow server`` and can give account settings, create a
model, add a version (with a run: params, metrics, a dataset input, and a model directory uploaded through the
artifact proxy), change a version (tags, approval, alias), delete a version and corrupt one (an approval tag no
status matches, so the sync records an issue and goes on). Nothing here imports mlflow: the servers run from their
own virtualenv, and the REST calls are what any client makes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers.mlflow_server import MlflowServer, ensure_venv

TRAINING_SCRIPT = Path(__file__).with_name("mlflow_training.py")

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

MLMODEL_SKOPS = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.skops
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.9.1
mlflow_version: 3.17.2
"""
MLMODEL_PICKLE = MLMODEL_SKOPS.replace("model.skops", "model.pkl").replace("skops\n", "cloudpickle\n")


@dataclass
class SeededVersion:
    model: str
    version: int
    run_id: str
    source: str


@dataclass
class MlflowDriver:
    """Seeds one MLflow server through its REST API and artifact proxy."""

    server: MlflowServer
    auth: tuple[str, str] | None = None
    client: httpx.Client = field(init=False, repr=False)
    _experiment: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.server.url, timeout=60, auth=self.auth)

    # -- the contract suite's operations -------------------------------------------------------------------------

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The account keys that reach this server (credentials come from the environment, never from here)."""
        return {"tracking_uri": self.server.url, **extra}

    def create_model(self, name: str, *, description: str = "", tags: dict[str, str] | None = None) -> str:
        self.post("registered-models/create", {"name": name, "description": description,
                                               "tags": _tag_list(tags)})
        return name

    def add_version(self, model: str, *, metrics: dict[str, float] | None = None, params: dict[str, str] | None = None,
                    tags: dict[str, str] | None = None, artifact: bytes = b"model-bytes", pickle: bool = False,
                    dataset_uri: str | None = None, with_run: bool = True) -> SeededVersion:
        """A run (params, metrics, a training dataset input) with a model directory, registered as the next version."""
        run_id = ""
        if with_run:
            run = self.post("runs/create", {"experiment_id": self.experiment(), "run_name": f"train-{model}",
                                            "start_time": _now(),
                                            "tags": _tag_list({"mlflow.user": "data.scientist@example.com"})})
            run_id = run["run"]["info"]["run_id"]
            root = run["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
            self.post("runs/log-batch", {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in (params or {"max_depth": "3"}).items()],
                "metrics": [{"key": k, "value": v, "timestamp": _now(), "step": 0}
                            for k, v in (metrics or {"auc": 0.81}).items()],
            })
            if dataset_uri:
                self.post("runs/log-inputs", {"run_id": run_id, "datasets": [{
                    "dataset": {"name": "train", "digest": "d1", "source_type": "http",
                                "source": json.dumps({"url": dataset_uri})},
                    "tags": [{"key": "mlflow.data.context", "value": "training"}]}]})
            folder = f"{root}/model"
        else:
            folder = f"loose/{uuid.uuid4().hex}/model"
        self.upload(f"{folder}/MLmodel", (MLMODEL_PICKLE if pickle else MLMODEL_SKOPS).encode())
        self.upload(f"{folder}/{'model.pkl' if pickle else 'model.skops'}", artifact)
        source = f"mlflow-artifacts:/{folder}"
        body = {"name": model, "source": source, "tags": _tag_list(tags)}
        if run_id:
            body["run_id"] = run_id
        v = self.post("model-versions/create", body)["model_version"]
        return SeededVersion(model, int(v["version"]), run_id, source)

    def change_version(self, model: str, version: int, *, tags: dict[str, str] | None = None,
                       approval: str | None = None, alias: str | None = None, description: str | None = None) -> None:
        """Tags, the countersign.approval tag, an alias (moved onto this version) or the description."""
        for k, v in {**(tags or {}), **({"countersign.approval": approval} if approval else {})}.items():
            self.post("model-versions/set-tag", {"name": model, "version": str(version), "key": k, "value": v})
        if alias:
            self.set_alias(model, alias, version)
        if description is not None:
            self.request("PATCH", "model-versions/update", {"name": model, "version": str(version),
                                                             "description": description})

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self.post("registered-models/alias", {"name": model, "alias": alias, "version": str(version)})

    def delete_alias(self, model: str, alias: str) -> None:
        self.request("DELETE", "registered-models/alias", {"name": model, "alias": alias})

    def delete_version(self, model: str, version: int) -> None:
        self.request("DELETE", "model-versions/delete", {"name": model, "version": str(version)})

    def corrupt(self, model: str, version: int) -> None:
        """An approval tag that is no status: the sync must report it and still sync the rest."""
        self.change_version(model, version, tags={"countersign.approval": "maybe-later"})

    def train(self, model: str, *, workspace: str | None = None, **options: Any) -> dict[str, Any]:
        """Run ``mlflow_training.py`` with the real MLflow client of the server's virtualenv, as a user's training
        script runs: it logs params, metrics, dataset inputs and a model, registers a version and answers what it
        did (run id, model id, version, dataset digests). Options: see the script."""
        python = ensure_venv().parent / "python"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
        env.update(MLFLOW_TRACKING_URI=self.server.url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
                   GIT_PYTHON_REFRESH="quiet")
        if self.auth:
            env.update(MLFLOW_TRACKING_USERNAME=self.auth[0], MLFLOW_TRACKING_PASSWORD=self.auth[1])
        if workspace:
            env["MLFLOW_WORKSPACE"] = workspace
        env.update(options.pop("env", None) or {})
        # each call its own experiment unless named: MLflow keeps one dataset per (experiment, name, digest), and
        # the source logged first would stand for every later run's
        options.setdefault("experiment", f"train-{uuid.uuid4().hex[:8]}")
        done = subprocess.run([str(python), str(TRAINING_SCRIPT), json.dumps({"model": model, **options})],
                              env=env, capture_output=True, text=True, timeout=300, cwd=self.server.root)
        if done.returncode != 0:
            raise AssertionError(f"training script failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    # -- reading back --------------------------------------------------------------------------------------------

    def versions(self, model: str) -> list[dict[str, Any]]:
        out, token = [], None
        while True:
            params = {"filter": f"name='{model}'", "max_results": 1000, **({"page_token": token} if token else {})}
            data = self.get("model-versions/search", **params)
            out += data.get("model_versions") or []
            token = data.get("next_page_token")
            if not token:
                return sorted(out, key=lambda v: int(v["version"]))

    def version(self, model: str, version: int) -> dict[str, Any]:
        return self.get("model-versions/get", name=model, version=str(version))["model_version"]

    def download(self, path: str) -> bytes:
        r = self.client.get(f"{ARTIFACTS}/{path}")
        r.raise_for_status()
        return r.content

    # -- plumbing ------------------------------------------------------------------------------------------------

    def experiment(self) -> str:
        if self._experiment is None:
            name = f"seed-{uuid.uuid4().hex[:8]}"
            self._experiment = self.post("experiments/create", {"name": name})["experiment_id"]
        return self._experiment

    def upload(self, path: str, data: bytes) -> None:
        r = self.client.put(f"{ARTIFACTS}/{path}", content=io.BytesIO(data).getvalue())
        r.raise_for_status()

    def request(self, method: str, endpoint: str, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        r = self.client.request(method, f"{API}/{endpoint}", json=body, params=params or None)
        if r.status_code != 200:
            raise AssertionError(f"{method} {endpoint}: HTTP {r.status_code} {r.text[:300]}")
        return r.json() if r.content else {}

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", endpoint, body)

    def get(self, endpoint: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", endpoint, None, **params)

    def close(self) -> None:
        self.client.close()


def _tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in (tags or {}).items()]


def _now() -> int:
    return int(time.time() * 1000)


def unique(prefix: str) -> str:
    """A model name no other test on the shared server uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def workspace_toml(accounts: dict[str, dict[str, Any]], environments: tuple[str, ...] = ("dev", "staging", "prod"),
                   ) -> str:
    """A countersign.toml with the given MLflow accounts (name -> keys incl. environment) and the test personas."""
    lines = [f"[environments]\norder = {json.dumps(list(environments))}\n"]
    for name, keys in accounts.items():
        lines.append(f'[[accounts]]\nname = "{name}"\nconnector = "mlflow"\nfull_sync_every_hours = 0')
        for k, v in keys.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{a} = {json.dumps(b)}" for a, b in v.items())
                lines.append(f"{k} = {{ {inner} }}")
            else:
                lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    lines.append('[roles]\n"ml.engineer@example.com" = ["ml_engineer"]\n"risk.officer@example.com" = ["risk_officer"]\n')
    return "\n".join(lines)


def write_workspace(root: Path, accounts: dict[str, dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "countersign.toml").write_text(workspace_toml(accounts), encoding="utf-8")
    return root
