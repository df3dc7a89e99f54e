"""The docker compose example (deploy/): parsed and checked, since no Docker engine runs where the tests do."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from governance.config import Workspace, load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_two_portal_replicas_one_sync_worker_postgres_and_a_sticky_proxy() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "portal-1", "portal-2", "sync-worker", "listener", "proxy"}
    for name in ("portal-1", "portal-2"):
        assert services[name]["command"][:2] == ["countersign", "serve"]
    assert "countersign sync" in " ".join(services["sync-worker"]["command"])
    assert services["postgres"]["image"].startswith("postgres:15")
    for name in ("portal-1", "portal-2", "sync-worker", "listener"):  # the catalog is up before anything opens it
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "workspace:/workspace" in services[name]["volumes"]  # keys and the signed head are shared
    assert set(services["proxy"]["depends_on"]) == {"portal-1", "portal-2", "listener"}
    # the proxy sends each browser back to the replica holding its Streamlit session
    dynamic = yaml.safe_load((DEPLOY / "traefik" / "dynamic.yml").read_text())
    balancer = dynamic["http"]["services"]["portal"]["loadBalancer"]
    assert balancer["sticky"]["cookie"]["name"]
    assert [s["url"] for s in balancer["servers"]] == ["http://portal-1:8501", "http://portal-2:8501"]
    flag = next(a for a in services["proxy"]["command"] if a.startswith("--providers.file.filename="))
    mount = next(v for v in services["proxy"]["volumes"] if v.startswith("./traefik/dynamic.yml:"))
    assert mount.split(":")[1] == flag.split("=", 1)[1]


def test_no_password_is_written_in_the_deployment() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    for name in ("portal-1", "portal-2", "sync-worker", "listener"):
        env = services[name]["environment"]
        assert "PGPASSWORD" not in env and env["PGPASSFILE"].startswith("/run/secrets/")
    assert "COUNTERSIGN_WEBHOOK_SECRET" not in services["listener"]["environment"]  # from a secret file only
    assert {s["file"] for s in compose["secrets"].values()} == {"./secrets/pg_password", "./secrets/pgpass",
                                                                "./secrets/webhook_secret"}
    for path in (DEPLOY / "compose.yaml", DEPLOY / "traefik" / "dynamic.yml", DEPLOY / "workspace" / "countersign.toml"):
        for url in re.findall(r"postgres(?:ql)?://\S+", path.read_text()):
            assert ":" not in url.split("://", 1)[1].split("@")[0], f"{path.name}: a password in {url}"
    assert (DEPLOY / "secrets" / ".gitignore").read_text().split() == ["*", "!.gitignore"]  # secrets never committed


def test_the_example_workspace_configuration_is_valid(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "workspace" / "countersign.toml", tmp_path / "countersign.toml")
    settings = load_settings(Workspace(tmp_path), {})
    assert settings.catalog.url == "postgresql://countersign@postgres:5432/countersign"


def test_the_listener_takes_webhooks_through_the_proxy_and_reports_its_health() -> None:
    services = _compose()["services"]
    listener = services["listener"]
    assert listener["command"][:2] == ["countersign", "listen"]
    port = listener["command"][listener["command"].index("--port") + 1]
    assert f"127.0.0.1:{port}/health" in " ".join(listener["healthcheck"]["test"])
    assert listener["environment"]["COUNTERSIGN_WEBHOOK_SECRET_FILE"] == "/run/secrets/webhook_secret"
    dynamic = yaml.safe_load((DEPLOY / "traefik" / "dynamic.yml").read_text())
    route = dynamic["http"]["routers"]["webhooks"]
    assert route["rule"] == "PathPrefix(`/webhooks/`)" and route["service"] == "listener"
    assert dynamic["http"]["services"]["listener"]["loadBalancer"]["servers"] == [{"url": f"http://listener:{port}"}]
