"""Source drivers of the server-backed kinds: MLflow and ZenML, each on real servers from their cached virtualenvs.

They adapt the seeding helpers of ``tests/connectors/mlflow_driver.py`` and ``zenml_driver.py`` to the
:class:`SourceDriver` hooks. Account ``src`` is one server and ``dst`` another (a promotion between them registers a
copy). The servers live for the session, so each driver first empties them of registered models: the contract's
exact listings ("every model and version") then see only what the test created.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.connectors.contract.driver import SourceDriver
from tests.connectors.mlflow_driver import ARTIFACTS, MlflowDriver
from tests.connectors.zenml_driver import ZenMLDriver

ZENML_KEY_ENV = "CONTRACT_ZENML_API_KEY"


class MlflowSourceDriver(SourceDriver):
    """Two MLflow servers: ``src`` and ``dst``."""

    kind = "mlflow"

    def __init__(self, servers: list[Any]) -> None:
        self.seeds = {"src": MlflowDriver(servers[0]), "dst": MlflowDriver(servers[1])}
        self.folders: dict[tuple[str, str, int], str] = {}  # the model directory of each version, on its proxy
        for seed in self.seeds.values():
            _empty_mlflow(seed)

    def settings(self, account: str) -> dict[str, Any]:
        return self.seeds[account].settings()

    def bad_settings(self) -> list[tuple[dict[str, Any], str]]:
        url = self.seeds["src"].server.url
        return [({}, "tracking_uri"), ({"tracking_uri": url, "trackin_uri": url}, "trackin_uri"),
                ({"tracking_uri": "ftp://127.0.0.1/x"}, "tracking_uri")]

    def create_model(self, account: str, model: str) -> None:
        self.seeds[account].create_model(model, description=f"{model} model")

    def add_version(self, account: str, model: str) -> int:
        seed = self.seeds[account]
        n = len(seed.versions(model)) + 1
        added = seed.add_version(model, artifact=self.artifact_bytes(account, model, n))
        self.folders[(account, model, added.version)] = added.source.removeprefix("mlflow-artifacts:/")
        return added.version

    def change_version(self, account: str, model: str, version: int) -> None:
        # a tag changes no timestamp in MLflow; a user editing the version in the UI rewrites its description too
        self.seeds[account].change_version(model, version, approval="Approved", description="validated")

    def delete_version(self, account: str, model: str, version: int) -> None:
        self.seeds[account].delete_version(model, version)

    def corrupt_version(self, account: str, model: str, version: int) -> None:
        self.seeds[account].corrupt(model, version)

    def artifact_bytes(self, account: str, model: str, version: int) -> bytes:
        return f"mlflow model {account} {model} {version}".encode()

    def artifact_files(self, account: str, model: str, version: int) -> dict[str, bytes]:
        # the model directory a run logs: MLmodel beside the model file (mlflow_driver.add_version)
        folder = self.folders[(account, model, version)]
        return {name: self.seeds[account].download(f"{folder}/{name}") for name in ("MLmodel", "model.skops")}

    def replace_artifact(self, account: str, model: str, version: int, data: bytes) -> None:
        # overwritten through the server's artifact proxy, as a user with write access to the run would
        self.seeds[account].upload(f"{self.folders[(account, model, version)]}/model.skops", data)

    def remove_artifact(self, account: str, model: str, version: int) -> None:
        seed = self.seeds[account]
        r = seed.client.delete(f"{ARTIFACTS}/{self.folders[(account, model, version)]}")
        r.raise_for_status()

    def outside_uris(self, account: str) -> list[str]:
        other = self.seeds["dst" if account == "src" else "src"].server.url.removeprefix("http://")
        return ["/etc/passwd", "file:///etc/passwd", "s3://bucket/key", "mlflow-artifacts:/../../etc/passwd",
                f"mlflow-artifacts://{other}/1/model/model.skops", "https://example.com/model.skops"]


def _empty_mlflow(seed: MlflowDriver) -> None:
    while True:
        found = seed.get("registered-models/search", max_results=1000).get("registered_models") or []
        if not found:
            return
        for m in found:
            seed.request("DELETE", "registered-models/delete", {"name": m["name"]})


class ZenMLSourceDriver(SourceDriver):
    """Two ZenML servers: ``src`` and ``dst``; versions carry a model artifact linked through the REST API."""

    kind = "zenml"
    # a promotion to another ZenML server registers a version pointing at the source artifact (docs/zenml.md), in an
    # artifact store both servers reach (an S3 bucket in production; one local folder here): nothing is copied
    copies_artifacts = False

    def __init__(self, servers: list[Any], work: Path) -> None:
        self.seeds = {a: ZenMLDriver(s, work / a, env_var=f"{ZENML_KEY_ENV}_{a.upper()}")
                      for a, s in zip(("src", "dst"), servers, strict=True)}
        self.models: dict[tuple[str, str], str] = {}
        for seed in self.seeds.values():
            seed.stores = work / "artifact-store"  # shared by both servers
            seed.stores.mkdir(parents=True, exist_ok=True)
            _empty_zenml(seed)

    def environ(self) -> dict[str, str]:
        return {self.seeds[a].env_var: self.seeds[a].server.api_key for a in self.seeds}

    def settings(self, account: str) -> dict[str, Any]:
        return {k: v for k, v in self.seeds[account].settings().items() if k != "connector"}

    def bad_settings(self) -> list[tuple[dict[str, Any], str]]:
        url = self.seeds["src"].server.url
        return [({"api_key_env": ZENML_KEY_ENV}, "url"),
                ({"url": url, "api_key_env": ZENML_KEY_ENV, "stage_enviroments": {}}, "stage_enviroments"),
                ({"url": url, "api_key_env": ZENML_KEY_ENV, "page_size": 0}, "page_size")]

    def create_model(self, account: str, model: str) -> None:
        self.models[(account, model)] = self.seeds[account].create_model(model, description=f"{model} model")["id"]

    def _version_id(self, account: str, model: str, version: int) -> str:
        seed = self.seeds[account]
        found = seed._call("GET", "/model_versions", params={"model": self.models[(account, model)],
                                                              "number": version, "project": seed.server.project_id})
        return found["items"][0]["id"]

    def add_version(self, account: str, model: str) -> int:
        seed = self.seeds[account]
        v = seed.add_version(self.models[(account, model)])
        n = int(v["body"]["number"])
        folder = seed.stores / account / model / str(n) / "model"
        folder.mkdir(parents=True)
        (folder / "model.skops").write_bytes(self.artifact_bytes(account, model, n))
        # a model artifact as a pipeline step would save it, linked to the version
        artifact = seed._call("POST", "/artifact_versions", json={
            "artifact_name": f"{model}-model", "project": seed.server.project_id, "type": "ModelArtifact",
            "uri": str(folder), "save_type": "manual",
            "materializer": "zenml.materializers.built_in_materializer.BuiltInMaterializer",
            "data_type": "builtins.bytes",
        })
        seed._call("POST", "/model_version_artifacts", json={"model_version": v["id"], "artifact_version": artifact["id"],
                                                             "project": seed.server.project_id})
        return n

    def change_version(self, account: str, model: str, version: int) -> None:
        self.seeds[account].change_version(self._version_id(account, model, version), approval="Approved")

    def delete_version(self, account: str, model: str, version: int) -> None:
        self.seeds[account].delete_version(self._version_id(account, model, version))

    def corrupt_version(self, account: str, model: str, version: int) -> None:
        self.seeds[account].corrupt(self._version_id(account, model, version))

    def artifact_bytes(self, account: str, model: str, version: int) -> bytes:
        return f"zenml model {account} {model} {version}".encode()

    def _folder(self, account: str, model: str, version: int) -> Path:
        return self.seeds[account].stores / account / model / str(version) / "model"

    def artifact_files(self, account: str, model: str, version: int) -> dict[str, bytes]:
        # a ZenML artifact is a folder (what a materializer wrote): here one file
        folder = self._folder(account, model, version)
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    def replace_artifact(self, account: str, model: str, version: int, data: bytes) -> None:
        (self._folder(account, model, version) / "model.skops").write_bytes(data)

    def remove_artifact(self, account: str, model: str, version: int) -> None:
        shutil.rmtree(self._folder(account, model, version))

    def outside_uris(self, account: str) -> list[str]:
        mine = self.seeds[account].stores
        return ["/etc/passwd", "file:///etc/passwd", f"{mine}/../x", f"file://{mine.parent}/src/x",
                "https://example.com/model.skops"]


def _empty_zenml(seed: ZenMLDriver) -> None:
    while True:
        found = seed._call("GET", "/models", params={"project": seed.server.project_id, "size": 1000})["items"]
        if not found:
            return
        for m in found:
            seed._call("DELETE", f"/models/{m['id']}")
