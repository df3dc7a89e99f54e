"""Registry text is inert in Chromium: a hostile folder registry loads nothing, draws no badge, breaks no graph.

Issue 34, finding 4. A copy of the demo workspace gets a model whose description, owner, intended use, model card,
run name, endpoint name, creator and approval description carry markdown images and raw ``<img>`` pointing at a
beacon HTTP server on loopback, fake "APPROVED" badges, Streamlit icons and ``"`` quotes meant to escape the lineage
graph's labels. After a sync through the CLI, a risk officer opens every page that shows them; the beacon must
receive no request at all, and the page must show each text literally.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import harness as h

pytestmark = pytest.mark.browser


@dataclass
class Beacon:
    """A loopback HTTP server that records every request it gets (an image the page should never load)."""

    server: http.server.ThreadingHTTPServer
    hits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    """The beacon, serving a 1×1 GIF to whoever asks (and remembering that they asked)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(f"{self.path} (Referer: {self.headers.get('Referer')})")
            body = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Beacon(server, hits)
    finally:
        server.shutdown()
        server.server_close()


def hostile_texts(beacon: str) -> dict[str, str]:
    """What each registry field says: every trick that made the portal load, draw or break something."""
    return {
        "description": f"Scores claims. ![logo]({beacon}/description.png) <img src=\"{beacon}/description-html.png\">",
        "owner": f"![owner]({beacon}/owner.png)",
        "intended_use": f":green-badge[APPROVED] by the board <img src='{beacon}/intended.png'>",
        "card": f":material/verified: **APPROVED** ![card]({beacon}/card.png)",
        "card_status": f":green-badge[Approved] ![status]({beacon}/card-status.png)",
        "run": f'train" URL="{beacon}/run-url" image="{beacon}/run.png" label="APPROVED',
        "endpoint": f'claims-prod" [label="APPROVED", image="{beacon}/endpoint.png"]; x [label="',
        "created_by": f"<img src={beacon}/creator.png> mallory",
        "approval_description": f"![approved]({beacon}/approval.png) :green-badge[APPROVED]",
        "tag": f"![tag]({beacon}/tag.png)",
    }


def plant(workspace: Path, texts: dict[str, str]) -> None:
    """Write the hostile texts into the prod and staging folders of claims-fraud, then sync through the CLI."""
    prod = workspace / "registry" / "prod"
    model = prod / "claims-fraud"
    (model / "model.json").write_text(json.dumps({
        "description": texts["description"], "owner": texts["owner"], "intended_use": texts["intended_use"],
        "tags": {"team": texts["tag"]},
    }))
    card = json.loads((model / "card.json").read_text())
    card["content"]["intended_uses"] = texts["card"]
    card["status"] = texts["card_status"]
    (model / "card.json").write_text(json.dumps(card))
    for environment in ("dev", "staging", "prod"):  # the lineage graph shows the run of the first version, in dev
        meta_path = workspace / "registry" / environment / "claims-fraud" / "2" / "metadata.json"
        meta = json.loads(meta_path.read_text())
        meta["run"]["name"] = texts["run"]
        if environment == "prod":
            meta["created_by"] = texts["created_by"]
            meta["approval_description"] = texts["approval_description"]
        meta_path.write_text(json.dumps(meta))
    staged = workspace / "registry" / "staging" / "claims-fraud" / "3" / "metadata.json"  # the demo's open request
    meta = json.loads(staged.read_text())
    meta["created_by"] = texts["created_by"]
    staged.write_text(json.dumps(meta))
    deployments = json.loads((prod / "deployments.json").read_text())
    for d in deployments:
        if d["model"] == "claims-fraud":
            d["endpoint"] = texts["endpoint"]
    (prod / "deployments.json").write_text(json.dumps(deployments))
    done = subprocess.run([str(h.VENV_BIN / "countersign"), "sync", "--workspace", str(workspace), "--full",
                           "--json"], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"sync failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def hostile_portal(browser_workspace: Path, empty_secrets: Path, beacon: Beacon,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[h.Server, dict[str, str], Path]]:
    """The portal on a copy of the demo workspace whose claims-fraud registry text is hostile."""
    workspace = tmp_path_factory.mktemp("hostile") / "ws"
    shutil.copytree(browser_workspace, workspace)
    texts = hostile_texts(beacon.url)
    plant(workspace, texts)
    server = h.start_portal(workspace, log=h.ROOT / "test-output" / "portal-hostile.log", secrets=empty_secrets)
    try:
        yield server, texts, workspace
    finally:
        server.stop()


def shows_literally(page: Page, text: str) -> None:
    """``text`` is on the page as it is written (white space aside), in the main area."""
    expect(h.main_area(page)).to_contain_text(" ".join(text.split()))


def no_markup(page: Page) -> None:
    """No image anywhere in the page body, and no element (a badge, bold text) the registry's APPROVED drew."""
    expect(h.main_area(page).locator("img")).to_have_count(0)
    expect(h.main_area(page).get_by_text("APPROVED", exact=True)).to_have_count(0)


def open_request(workspace: Path) -> str:
    """Oracle (the CLI): the demo's request for staging claims-fraud v3 (pending, or decided by an earlier test)."""
    done = subprocess.run([str(h.VENV_BIN / "countersign"), "requests", "--workspace", str(workspace), "--json"],
                          capture_output=True, text=True, timeout=120, check=True)
    ids = [r["request_id"] for r in json.loads(done.stdout) if r["version_id"] == "lab-staging:claims-fraud:3"]
    assert ids, "the demo has no request for lab-staging:claims-fraud:3 any more: adapt the test"
    return ids[0]


def test_hostile_registry_text_is_shown_literally_and_loads_nothing(browser: Browser, hostile_portal,
                                                                   beacon: Beacon) -> None:
    """Model, Inventory, Requests, Review and Oversight pages with hostile registry text: literal, and no request."""
    server, texts, workspace = hostile_portal
    ctx = h.new_context(browser, h.RISK_OFFICER)
    try:
        page = ctx.new_page()
        h.open_page(page, server.url, "model?version=lab-prod%3Aclaims-fraud%3A2", title="claims-fraud")
        h.assert_no_exception(page)
        for key in ("description", "owner", "intended_use", "card", "card_status"):
            shows_literally(page, texts[key])
        # the lineage graph drew every node, with the run's and the endpoint's names as their labels
        graph = h.main_area(page).locator('[data-testid="stGraphVizChart"] svg')
        expect(graph).to_have_count(1)
        labels = graph.locator("g.node text").evaluate_all("texts => texts.map(t => t.textContent)")
        assert texts["run"] in labels and texts["endpoint"] in labels, labels
        assert "APPROVED" not in labels and not graph.locator("image").count()
        no_markup(page)
        page.get_by_text("Details of lab-prod:claims-fraud:2").click()
        h.settle(page)
        h.screenshot(page, "hostile-registry-model")

        h.open_page(page, server.url, "", title="Model inventory")
        h.assert_no_exception(page)
        no_markup(page)

        # the demo's request is for staging claims-fraud v3, whose creator is hostile too
        h.open_page(page, server.url, f"requests?request={open_request(workspace)}", title="Promotion requests")
        h.assert_no_exception(page)
        shows_literally(page, texts["created_by"])
        no_markup(page)
        h.open_page(page, server.url, "review?version=lab-prod%3Aclaims-fraud%3A2", title="Review")
        h.assert_no_exception(page)
        no_markup(page)
        h.open_page(page, server.url, "oversight", title="Oversight")
        h.assert_no_exception(page)
        no_markup(page)
        page.wait_for_timeout(1000)  # an image request would have gone out by now
    finally:
        ctx.close()
    assert beacon.hits == [], f"the portal fetched registry-named URLs: {beacon.hits}"
