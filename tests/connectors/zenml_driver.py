"""Seed a real ZenML server the way a team's Model Control Plane looks, over its REST API (no zenml import).

:class:`ZenMLDriver` is the contract-suite driver for kind ``zenml`` (PROTOCOL §4): it gives account settings,
creates models, adds and changes versions (metadata, approval, stage), deletes versions, corrupts one item, and
runs a real pipeline linked to a model version (through the ZenML virtualenv's own python, as a user would).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.connectors.zenml_server import ZenMLServer, ensure_pipeline_venv, ensure_venv

PIPELINE_SCRIPT = Path(__file__).with_name("zenml_pipeline.py")
USER_PIPELINE_SCRIPT = Path(__file__).with_name("zenml_user_pipeline.py")


class ZenMLDriver:
    """Stands up and edits the source of a ``zenml`` account for tests."""

    kind = "zenml"

    def __init__(self, server: ZenMLServer, work: Path, *, env_var: str = "ZENML_TEST_API_KEY") -> None:
        self.server = server
        self.work = work
        self.env_var = env_var
        self.stores = work / "stores"  # where pipelines run by run_pipeline write their artifacts

    # -- account ----------------------------------------------------------------------------------------------

    def environ(self) -> dict[str, str]:
        """The environment the connector reads its key from."""
        return {self.env_var: self.server.api_key}

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The keys of an ``[[accounts]]`` entry for this server (without name/environment)."""
        return {"connector": "zenml", "url": self.server.url, "api_key_env": self.env_var,
                "artifact_root": str(self.stores), **extra}

    def toml(self, name: str = "zen", environment: str = "dev", **extra: Any) -> str:
        lines = [f'name = "{name}"', f'environment = "{environment}"']
        for k, v in self.settings(**extra).items():
            if isinstance(v, dict):
                v = "{ " + ", ".join(f'{a} = "{b}"' for a, b in v.items()) + " }"
            elif isinstance(v, bool):
                v = str(v).lower()
            elif isinstance(v, str):
                v = json.dumps(v)
            lines.append(f"{k} = {v}")
        return "[[accounts]]\n" + "\n".join(lines) + "\n"

    # -- REST helpers -----------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.server.admin.request(method, path, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    # -- the contract operations --------------------------------------------------------------------------

    def create_model(self, name: str | None = None, **card: Any) -> dict[str, Any]:
        """A model with model-card fields (description, license, audience, use_cases, limitations, trade_offs,
        ethics, tags)."""
        name = name or f"model-{uuid.uuid4().hex[:6]}"
        return self._call("POST", "/models", json={"name": name, "project": self.server.project_id, **card})

    def add_version(self, model: dict[str, Any] | str, *, description: str | None = None,
                    metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """The model's next version (numbered by ZenML), with optional run metadata."""
        model_id = model["id"] if isinstance(model, dict) else model
        v = self._call("POST", "/model_versions", json={"model": model_id, "project": self.server.project_id,
                                                         "description": description})
        if metadata:
            self.set_metadata(v["id"], metadata)
        return v

    def set_metadata(self, version_id: str, values: dict[str, Any], *, touch: bool = True) -> None:
        """Log run metadata on a version (and touch it, as a user editing it in the dashboard would)."""
        types = {k: "float" if isinstance(v, float) else "int" if isinstance(v, int) else "str"
                 for k, v in values.items()}
        self._call("POST", "/run-metadata", json={"project": self.server.project_id,
                                                   "resources": [{"id": version_id, "type": "model_version"}],
                                                   "values": values, "types": types})
        if touch:
            desc = self._call("GET", f"/model_versions/{version_id}")["metadata"]["description"]
            self._call("PUT", f"/model_versions/{version_id}", json={"description": desc})

    def set_stage(self, version_id: str, stage: str) -> dict[str, Any]:
        """Move a version to ``stage`` (forced: the previous holder is archived), as ZenML's promotion does."""
        return self._call("PUT", f"/model_versions/{version_id}", json={"stage": stage, "force": True})

    def change_version(self, version_id: str, *, metadata: dict[str, Any] | None = None,
                       approval: str | None = None, stage: str | None = None) -> None:
        if metadata or approval:
            self.set_metadata(version_id, {**(metadata or {}),
                                           **({"countersign.approval": approval} if approval else {})})
        if stage:
            self.set_stage(version_id, stage)

    def delete_version(self, version_id: str) -> None:
        self._call("DELETE", f"/model_versions/{version_id}")

    def corrupt(self, version_id: str) -> None:
        """An approval value no status reads as: the sync records an issue for this version and goes on."""
        self.set_metadata(version_id, {"countersign.approval": "Maybe"})

    def version(self, version_id: str) -> dict[str, Any]:
        return self._call("GET", f"/model_versions/{version_id}", params={"hydrate": "true"})

    def revoke_key(self, key_id: str) -> None:
        self._call("DELETE", f"/service_accounts/{self.server.service_account_id}/api_keys/{key_id}")

    def tag_model(self, model_id: str, *tags: str) -> None:
        """Tag the model itself (what ``Client().update_model(model, add_tags=[...])`` does)."""
        self._call("PUT", f"/models/{model_id}", json={"add_tags": list(tags)})

    def _pipeline_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.work),
                "ZENML_STORE_URL": self.server.url, "ZENML_STORE_API_KEY": self.server.api_key,
                "ZENML_CONFIG_PATH": str(self.work / "client-config"), "ZENML_LOCAL_STORES_PATH": str(self.stores),
                "ZENML_ANALYTICS_OPT_IN": "false", "ZENML_LOGGING_VERBOSITY": "WARN", "OMP_NUM_THREADS": "1",
                # once another test made a second project on the shared server, a client without an active project
                # refuses to run ("No project is currently set as active"): name the server's first one
                "ZENML_ACTIVE_PROJECT_ID": self.server.project_id}

    def run_pipeline(self, model: str, version_name: str, pipeline: str = "training") -> dict[str, str]:
        """Run a real two-step pipeline (local orchestrator) whose model version is ``version_name`` of ``model``."""
        python, _ = ensure_venv()
        done = subprocess.run([str(python), str(PIPELINE_SCRIPT), model, version_name, pipeline],
                              env=self._pipeline_env(), capture_output=True, text=True, timeout=300, cwd=self.work)
        if done.returncode != 0:
            raise RuntimeError(f"pipeline failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def run_user_pipeline(self, model: str, **options: Any) -> dict[str, Any]:
        """Run ``zenml_user_pipeline.py`` (default materializers, an Evidently step, SHAP values) with the pipelines
        virtualenv, as a team's training pipeline runs; answers the run, its model version and its artifacts."""
        python, _ = ensure_pipeline_venv()
        done = subprocess.run([str(python), str(USER_PIPELINE_SCRIPT), json.dumps({"model": model, **options})],
                              env=self._pipeline_env(), capture_output=True, text=True, timeout=600, cwd=self.work)
        if done.returncode != 0:
            raise RuntimeError(f"pipeline failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
