"""Registry labels as deployments, against real MLflow and ZenML servers: their history answers "which version held
the champion alias / the production stage at T", and a label moved by hand onto a version Countersign never approved
is flagged everywhere (inventory, CLI, monitor, notifications, pages, report), as an endpoint serving it would be.

In MLflow the alias an account maps to an environment *is* the deployment (serving loads ``models:/name@champion``),
in ZenML the stage is. Neither registry keeps a history of them: Countersign's version history does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import streamlit as st

from core.clock import utcnow
from countersign_cli.main import main
from governance.catalog import Catalog
from governance.config import Settings, Workspace
from governance.context import Context
from governance.execution import execute
from governance.identity import Identity, identity_for, os_user
from tests.connectors.mlflow_driver import MlflowDriver, unique
from tests.connectors.test_label_promotion import (
    OFFICERS,
    champion_on_second_version,
    open_workspace,
    sign_off,
    sync_all,
    zenml_workspace,
)
from tests.connectors.zenml_driver import ZenMLDriver

pytestmark = pytest.mark.timeout(900)  # the first test may build a server's virtualenv and start it
AUDITOR = Identity("auditor@example.com", frozenset({"auditor"}), source="cli")
ALIASES = {"champion": "prod", "challenger": "staging"}


@pytest.fixture(scope="module")
def seed(mlflow_servers) -> MlflowDriver:
    driver = MlflowDriver(mlflow_servers[0])
    yield driver
    driver.close()


@dataclass(frozen=True)
class Moved:
    """A workspace over a real registry whose deployment label moved by hand between two syncs."""

    ws: Workspace
    settings: Settings
    catalog: Catalog
    model: str
    before: dt.datetime  # between the two syncs: the label was on the first holder

    def vid(self, n: int) -> str:
        return f"{self.settings.accounts[0].name}:{self.model}:{n}"


def listed(root: Path, capsys: pytest.CaptureFixture[str], as_of: dt.datetime | None = None) -> dict[str, dict]:
    """``countersign models --json`` (``--as-of``): version id → the version as listed."""
    capsys.readouterr()
    argv = ["models", "--workspace", str(root), "--json"] + (["--as-of", as_of.isoformat()] if as_of else [])
    assert main(argv) == 0
    return {v["version_id"]: v for v in json.loads(capsys.readouterr().out)["versions"]}


def holders(versions: dict[str, dict], label: str, model: str | None = None) -> list[str]:
    """The versions (of ``model``) that held ``label`` as the label of their environment (the deployment), by id.
    The servers are shared by the module's tests: other models hold the label too."""
    return sorted(vid for vid, v in versions.items()
                  if label in v["serving_labels"] and model in (None, v["model"]))


def instant_between(*, whole_minute: bool = False) -> dt.datetime:
    """Now, with the clock moved past it (two syncs must not share the instant). ``whole_minute``: the start of the
    next minute, waited for, since the pages' "as of" picker chooses minutes."""
    moment = utcnow()
    if whole_minute:
        moment = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        time.sleep((moment - utcnow()).total_seconds())
    time.sleep(0.05)
    return moment


def admin_operator(ws: Workspace) -> None:
    """The CLI's operating-system user gets the admin role (monitor and notify need it), as an operator's would."""
    text = ws.config_path.read_text()
    ws.config_path.write_text(text.replace(f'"os:{os_user()}" = ["auditor"]', f'"os:{os_user()}" = ["admin"]'))


@pytest.fixture(scope="module")
def champion_moved(seed, tmp_path_factory) -> Moved:
    """The champion alias on version 2, synced; then moved by hand to version 1, synced again."""
    model = champion_on_second_version(seed, "asof")
    ws, settings, catalog = open_workspace(tmp_path_factory.mktemp("moved") / "ws", {"mlreg": {
        "environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url, "alias_environments": ALIASES}})
    sync_all(ws, settings, catalog)
    before = instant_between(whole_minute=True)
    seed.set_alias(model, "champion", 1)  # moved by hand in the registry
    sync_all(ws, settings, catalog)
    return Moved(ws, settings, catalog, model, before)


# -- label history ----------------------------------------------------------------------------------------------


def test_mlflow_as_of_answers_which_version_held_the_champion_alias(champion_moved: Moved, capsys) -> None:
    m = champion_moved
    then = listed(m.ws.root, capsys, m.before)
    assert then[m.vid(2)]["labels"] == ["champion"] and then[m.vid(2)]["environment"] == "prod", then[m.vid(2)]
    assert then[m.vid(1)]["labels"] == [] and then[m.vid(1)]["environment"] == "dev", then[m.vid(1)]
    assert holders(then, "champion", m.model) == [m.vid(2)]
    now = listed(m.ws.root, capsys, utcnow())
    assert now[m.vid(1)]["labels"] == ["champion"] and holders(now, "champion", m.model) == [m.vid(1)]
    # today's listing says the same as the history's latest state
    assert holders(listed(m.ws.root, capsys), "champion", m.model) == [m.vid(1)]
    # and an environment at that instant names the holder and the label that made it the deployment
    capsys.readouterr()
    assert main(["history", m.vid(2), "--workspace", str(m.ws.root), "--environment", "prod",
                 "--as-of", m.before.isoformat(), "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert [(v["version_id"], v["labels"], v["serving_labels"]) for v in state["versions"]
            if v["model"] == m.model] == [(m.vid(2), ["champion"], ["champion"])]


def _signed_in_app(ws: Workspace, monkeypatch: pytest.MonkeyPatch, email: str):
    from tests.app.conftest import make_app

    st.cache_data.clear()
    st.cache_resource.clear()
    at = make_app(ws.root, monkeypatch)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "c", "client_secret": "s",
                          "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    at.user = {"is_logged_in": True, "email": email}  # type: ignore[assignment]
    return at


def test_the_inventory_and_model_pages_show_who_held_the_champion_alias_then(champion_moved: Moved,
                                                                              monkeypatch) -> None:
    m = champion_moved
    at = _signed_in_app(m.ws, monkeypatch, OFFICERS[0]).run()
    assert not at.exception, at.exception
    at.text_input(key="inv.text").set_value(m.model).run()
    now = at.dataframe(key="inv.table").value.set_index("version_id")
    assert list(now.loc[m.vid(1), "labels"]) == ["champion"]
    at.toggle(key="inv.as_of").set_value(True).run()
    at.date_input(key="inv.as_of_date").set_value(m.before.date()).run()
    at.time_input(key="inv.as_of_time").set_value(m.before.time()).run()
    assert not at.exception, at.exception
    then = at.dataframe(key="inv.table").value.set_index("version_id")
    assert list(then.loc[m.vid(2), "labels"]) == ["champion"] and then.loc[m.vid(2), "environment"] == "prod"
    assert list(then.loc[m.vid(1), "labels"]) == []

    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value(m.model).run()
    at.toggle(key="model.as_of").set_value(True).run()
    at.date_input(key="model.as_of_date").set_value(m.before.date()).run()
    at.time_input(key="model.as_of_time").set_value(m.before.time()).run()
    assert not at.exception, at.exception
    texts = " ".join(x.value for x in at.markdown)
    assert "**v2** (mlreg)" in texts and "holds `champion`" in texts and "**v1** (mlreg)" not in texts


def test_the_audit_pack_and_the_report_answer_who_held_the_champion_alias(champion_moved: Moved, tmp_path) -> None:
    from governance.reports.keys import ensure_demo_keys
    from governance.reports.pack import build_pack
    from tests.governance.report_world import pdf_text

    m = champion_moved
    ensure_demo_keys(m.ws, m.settings)
    out = tmp_path / "pack.zip"
    pack = build_pack(m.ws, m.settings, m.catalog, AUDITOR, m.vid(2), "sr-11-7", out=out)
    text = pdf_text(pack.report.pdf)
    assert "champion (serving)" in text  # the registry history block marks the label that was the deployment
    root = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(root)
    (sql,) = re.findall(r"```sql\n(.*?)```", (root / "README.md").read_text(), flags=re.S)
    first, query = sql.split(";", 1)
    for instant, holder in ((m.before, m.vid(2)), (utcnow(), m.vid(1))):
        offline = duckdb.connect()
        offline.execute("SET file_search_path = ?", [str(root)])
        offline.execute(first.replace("TIMESTAMP '2026-03-14 09:30:00'", f"TIMESTAMP '{instant.isoformat(sep=' ')}'"))
        rows = offline.execute(f"SELECT version_id, labels FROM ({query.strip().rstrip(';')}) "
                               "WHERE list_contains(serving_labels, 'champion')").fetchall()
        assert rows == [(holder, ["champion"])], instant


def test_zenml_as_of_answers_which_version_held_the_production_stage(zenml_server, tmp_path: Path, capsys) -> None:
    driver = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=f"ZENML_KEY_{uuid.uuid4().hex[:6].upper()}")
    model = driver.create_model()
    first, second = driver.add_version(model), driver.add_version(model)
    driver.set_stage(first["id"], "production")
    ws, settings, catalog = zenml_workspace(driver, tmp_path / "ws")
    sync_all(ws, settings, catalog)
    before = instant_between()
    driver.set_stage(second["id"], "production")  # by hand: the first version is archived
    sync_all(ws, settings, catalog)
    v1, v2 = f"zen:{model['name']}:1", f"zen:{model['name']}:2"

    then = listed(ws.root, capsys, before)
    assert then[v1]["labels"] == ["production"] and then[v1]["environment"] == "prod", then[v1]
    assert holders(then, "production", model["name"]) == [v1]
    now = listed(ws.root, capsys, utcnow())
    assert now[v1]["labels"] == ["archived"] and now[v1]["environment"] == "dev", now[v1]
    assert holders(now, "production", model["name"]) == [v2]


# -- the continuous binding check: a label moved by hand is a deployment nobody approved ---------------------------


def notify_by_mail(ws: Workspace, port: int) -> None:
    """Notifications by e-mail to a local SMTP server (risk officers hear about unapproved deployments)."""
    with ws.config_path.open("a", encoding="utf-8") as f:
        f.write(f'\n[notify.email]\nhost = "127.0.0.1"\nport = {port}\nsender = "countersign@example.com"\n'
                "starttls = false\n")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_champion_alias_moved_by_hand_to_a_never_approved_version_is_flagged(seed, tmp_path: Path,
                                                                              monkeypatch, capsys) -> None:
    from tests.app.test_pages import texts
    from tests.governance.servers import Inbox, start_smtp

    model = unique("handmoved")
    seed.create_model(model)
    seed.add_version(model)
    seed.add_version(model)
    seed.set_alias(model, "challenger", 1)  # in staging: one step from prod
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": {
        "environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url, "alias_environments": ALIASES}})
    admin_operator(ws)
    inbox = Inbox()
    smtp = start_smtp(inbox)
    notify_by_mail(ws, smtp.port)
    sync_all(ws, settings, catalog)
    v1, v2 = f"mlreg:{model}:1", f"mlreg:{model}:2"
    # version 1 goes to prod the governed way: requested, approved twice, executed (the alias moves onto it)
    rid = sign_off(ws, settings, catalog, v1, "prod")
    assert execute(Context(ws, settings, catalog, identity_for(settings, OFFICERS[0], source="cli")), rid).status == "executed"
    assert listed(ws.root, capsys)[v1]["flag"] is None
    before = instant_between()

    seed.set_alias(model, "champion", 2)  # someone moves the alias by hand: serving now loads version 2
    sync_all(ws, settings, catalog)
    now = listed(ws.root, capsys)
    assert now[v2]["environment"] == "prod" and now[v2]["flag"], now[v2]
    assert now[v2]["flag_reason"].startswith("holds the MLflow alias champion (prod) but was never approved in "
                                             "Countersign"), now[v2]["flag_reason"]
    assert now[v1]["flag"] is None  # back in staging under the challenger alias, as approved there
    # as of before the move the approved version held it, unflagged; after it, the hand-moved one is flagged
    then = listed(ws.root, capsys, before)
    assert then[v1]["flag"] is None and holders(then, "champion", model) == [v1] and not then[v2]["in_use"]
    assert listed(ws.root, capsys, utcnow())[v2]["flag"] == now[v2]["flag"]

    code, out = run_cli(capsys, "monitor", "--workspace", str(ws.root))
    assert code == 1 and f"! {v2} (prod) holds the MLflow alias champion (prod) but was never approved" in out, out
    code, out = run_cli(capsys, "notify", "--workspace", str(ws.root), "--json")
    smtp.stop()
    assert code == 1
    events = [e for e in json.loads(out)["events"] if e["subject"] == f"version:{v2}"]
    assert [e["title"] for e in events] == [f"{v2} serves in prod without Countersign approval"]
    mails = [t for t in inbox.texts() if t.startswith(f"{v2} serves in prod without Countersign approval")]
    assert len(mails) == len(OFFICERS) and "holds the MLflow alias champion (prod)" in mails[0]

    # the Inventory page counts it and says why
    at = _signed_in_app(ws, monkeypatch, OFFICERS[0]).run()
    at.text_input(key="inv.text").set_value(model).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Unapproved deployments"] == "1"
    assert "holds the MLflow alias champion (prod) but was never approved in Countersign" in texts(at)


def test_a_production_stage_moved_by_hand_to_a_never_approved_version_is_flagged(zenml_server, tmp_path: Path,
                                                                                capsys) -> None:
    driver = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=f"ZENML_KEY_{uuid.uuid4().hex[:6].upper()}")
    driver.work.mkdir(parents=True)
    model = driver.create_model()
    # two versions a pipeline trained (each links the model artifact a sign-off binds to)
    first, second = ({"id": driver.run_pipeline(model["name"], name)["model_version_id"]} for name in ("v1", "v2"))
    driver.set_stage(first["id"], "staging")  # in staging: one step from prod
    ws, settings, catalog = zenml_workspace(driver, tmp_path / "ws")
    admin_operator(ws)
    sync_all(ws, settings, catalog)
    v1, v2 = f"zen:{model['name']}:1", f"zen:{model['name']}:2"
    rid = sign_off(ws, settings, catalog, v1, "prod")  # version 1 reaches production the governed way
    assert execute(Context(ws, settings, catalog, identity_for(settings, OFFICERS[0], source="cli")), rid).status == "executed"
    assert listed(ws.root, capsys)[v1]["flag"] is None

    driver.set_stage(second["id"], "production")  # by hand: version 1 is archived, version 2 serves
    sync_all(ws, settings, catalog)
    now = listed(ws.root, capsys)
    assert now[v2]["flag"] and now[v2]["flag_reason"].startswith(
        "holds the ZenML stage production (prod) but was never approved in Countersign"), now[v2]
    assert now[v1]["flag"] is None and now[v1]["labels"] == ["archived"]
    code, out = run_cli(capsys, "monitor", "--workspace", str(ws.root))
    assert code == 1 and f"! {v2} (prod) holds the ZenML stage production (prod)" in out, out
