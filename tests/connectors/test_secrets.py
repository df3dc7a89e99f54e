"""No credential is ever stored or printed (issue 34, finding 3), against a real ZenML server with a real API key.

A ZenML account whose ``url`` carried ``svc:SECRET@`` used to be accepted: ``sync`` printed the password and the
ledger, ``sync_runs`` and ``accounts`` kept it for good. Now such a URL is refused before anything is written, and
with credentials where they belong (the environment, named by ``api_key_env``) a whole life cycle — sync (one
account with a wrong key, so an error is recorded), request, approval, execution, audit pack, notification over a
signed webhook, checkpoint — leaves no trace of any secret in the catalog (every table, the ledger among them), the
workspace's files (packs unzipped), stdout, stderr or the logs.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from countersign_cli.main import main
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import identity_for, os_user
from governance.promotion import approve, create_request
from governance.reports.keys import generate_self_signed
from tests.connectors.zenml_driver import ZenMLDriver

pytestmark = pytest.mark.timeout(900)  # the first test may build the ZenML virtualenv and start its server
ENGINEER, OFFICER = "ml.engineer@example.com", "risk.officer@example.com"
WRONG_KEY = f"ZENKEY_wrong-{uuid.uuid4().hex}"
WEBHOOK_SECRET = f"whsec-{uuid.uuid4().hex}"


@pytest.fixture
def webhook() -> Iterator[http.server.ThreadingHTTPServer]:
    """A loopback HTTP server taking the notification posts (``.url``; ``.bodies``: what it received)."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    server.bodies = bodies  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def config(url: str, key_env: str, hook: str, artifact_root: Path) -> str:
    """Two ZenML accounts on one server (one with a wrong key), a webhook, roles for the life cycle."""
    return f"""
[environments]
order = ["dev", "staging", "prod"]

[[accounts]]
name = "zen"
environment = "dev"
connector = "zenml"
url = "{url}"
api_key_env = "{key_env}"
artifact_root = "{artifact_root}"
stage_environments = {{ staging = "staging", production = "prod" }}

[[accounts]]
name = "zen-wrong-key"
environment = "dev"
connector = "zenml"
url = "{url}"
api_key_env = "CS_TEST_WRONG_KEY"

[roles]
"{ENGINEER}" = ["ml_engineer"]
"{OFFICER}" = ["risk_officer"]
"os:{os_user()}" = ["admin"]

[notify]
lookback_days = 30

[notify.webhook]
url = "{hook}"
secret_env = "CS_TEST_WEBHOOK_SECRET"
"""


def leaks(texts: dict[str, str], secrets: list[str]) -> list[str]:
    """Where any of ``secrets`` occurs: ``place: secret[:6]…`` for each hit."""
    return [f"{place}: {s[:6]}…" for place, text in texts.items() for s in secrets if s in text]


def catalog_texts(catalog: Catalog) -> dict[str, str]:
    """Every row of every table of the catalog (the ledger, sync_runs and accounts among them), as text."""
    out = {}
    with catalog.connect() as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        for table in tables:
            out[f"table {table}"] = repr(con.execute(f'SELECT * FROM "{table}"').fetchall())
    return out


def file_texts(root: Path) -> dict[str, str]:
    """Every file of the workspace but the artifact cache (packs unzipped), as text."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "cache" not in p.relative_to(root).parts):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    out[f"{path.name}!{name}"] = z.read(name).decode("latin-1")
        else:
            out[str(path.relative_to(root))] = path.read_bytes().decode("latin-1")
    return out


def test_the_scanner_finds_a_planted_secret(tmp_path: Path) -> None:
    """The oracle below can fail: a secret written into a workspace file or a catalog row is found."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "note.txt").write_text(f"key={WRONG_KEY}")
    with zipfile.ZipFile(tmp_path / "exports" / "p.zip", "w") as z:
        z.writestr("inside.json", json.dumps({"k": WEBHOOK_SECRET}))
    found = leaks(file_texts(tmp_path), [WRONG_KEY, WEBHOOK_SECRET])
    assert len(found) == 2, found


def test_a_zenml_url_with_a_password_is_refused_before_anything_is_written(zenml_server, tmp_path: Path,
                                                                             capsys, monkeypatch) -> None:
    """The finding: ``url = "http://svc:SECRET@host"`` — sync refuses it in one line naming api_key_env."""
    secret = f"pw-{uuid.uuid4().hex}"
    host = zenml_server.url.split("://", 1)[1]
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(config(f"http://svc:{secret}@{host}", "CS_TEST_ZENML_KEY", "http://127.0.0.1:9/x",
                                     tmp_path / "stores"))
    monkeypatch.setenv("CS_TEST_ZENML_KEY", zenml_server.api_key)
    code = main(["sync", "--workspace", str(ws.root)])
    out = capsys.readouterr()
    assert code == 2
    assert "accounts[0].url: the URL carries a password" in out.err and "api_key_env" in out.err, out.err
    assert len(out.err.strip().splitlines()) == 1
    assert secret not in out.out + out.err
    assert not ws.catalog_path.exists() or not leaks(catalog_texts(Catalog(ws.catalog_path)), [secret])


def test_no_secret_reaches_the_catalog_the_ledger_the_output_the_logs_or_a_pack(
        zenml_server, webhook, tmp_path: Path, capsys, caplog, monkeypatch) -> None:
    key_env = f"CS_TEST_ZENML_KEY_{uuid.uuid4().hex[:6].upper()}"
    seed = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=key_env)
    seed.work.mkdir(parents=True)
    model = seed.create_model()
    # a version a pipeline trained: it links the model artifact a sign-off binds to
    first = {"id": seed.run_pipeline(model["name"], "trained")["model_version_id"]}
    seed.set_stage(first["id"], "staging")
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(config(zenml_server.url, key_env, webhook.url, seed.stores))
    generate_self_signed(ws.keys_dir / "signing-key.pem", ws.keys_dir / "signing-cert.pem", name="Test seal")
    monkeypatch.setenv(key_env, zenml_server.api_key)
    monkeypatch.setenv("CS_TEST_WRONG_KEY", WRONG_KEY)
    monkeypatch.setenv("CS_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    secrets = [zenml_server.api_key, WRONG_KEY, WEBHOOK_SECRET]
    caplog.set_level(logging.DEBUG)
    printed: dict[str, str] = {}

    def cli(*argv: str) -> int:
        code = main([*argv, "--workspace", str(ws.root)])
        out = capsys.readouterr()
        printed[f"stdout of {' '.join(argv)}"], printed[f"stderr of {' '.join(argv)}"] = out.out, out.err
        assert code in (0, 1), f"countersign {' '.join(argv)} → {code}: {out.err}"
        return code

    cli("sync", "--full", "--json")  # the wrong key's account fails (exit 1), and its error is recorded
    runs = json.loads(printed["stdout of sync --full --json"])["accounts"]
    assert {a["account"]: a["status"] for a in runs}["zen-wrong-key"] == "failed"
    settings = load_settings(ws)
    catalog = Catalog(ws.catalog_path)
    vid = f"zen:{model['name']}:1"
    request = create_request(Context(ws, settings, catalog, identity_for(settings, ENGINEER, source="cli")), vid, "prod",
                             "validated on the holdout")
    approve(Context(ws, settings, catalog, identity_for(settings, OFFICER, source="cli")), request.request_id, "reviewed")
    assert cli("execute", request.request_id) == 0
    assert seed.version(first["id"])["body"]["stage"] == "production"
    assert cli("pack", "--version", vid, "--out", str(ws.exports_dir / "pack.zip")) == 0
    # the ZenML server is shared by the session: another test's hand-moved stage may be an unapproved deployment
    # (exit 1); this test's own version was promoted through a sign-off and no delivery may fail
    cli("notify", "--json")
    report = json.loads(printed["stdout of notify --json"])
    assert report["counts"]["failed"] == 0, report["deliveries"]
    assert not [e for e in report["events"] if e["kind"] == "unapproved_serving" and model["name"] in e["subject"]]
    assert webhook.bodies, "no notification reached the webhook: the scan would miss that channel"
    assert cli("ledger", "checkpoint") == 0 and cli("ledger", "verify") == 0

    texts = {**printed, "logs": caplog.text,
             **catalog_texts(catalog), **file_texts(ws.root),
             **{f"webhook body {i}": b.decode() for i, b in enumerate(webhook.bodies)}}
    assert "table ledger" in texts and "table sync_runs" in texts and "table accounts" in texts
    assert leaks(texts, secrets) == []
