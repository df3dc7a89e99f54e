"""Reports built from user data reach the page only inside a sandboxed frame (AppTest: the route; Chromium proves
the effect in tests/browser/test_untrusted_report.py)."""

from __future__ import annotations

from html.parser import HTMLParser

from governance.analytics.evidence import list_evidence
from governance.catalog import Catalog
from portal.context import SELECTED_VERSION

OFFICER = "risk.officer@demo.countersign.dev"
VERSION = "lab-staging:claims-fraud:3"  # the demo stores drift evidence for it
HOSTILE = ('<!doctype html><html><body><h1>Evidently</h1>'
           '<img src=x onerror="window.parent.document.title=\'pwned\'">'
           '<script>parent.document.body.dataset.pwned = 1; alert("pwned")</script></body></html>')


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_evidently_report_is_drawn_only_inside_a_sandboxed_frame(demo_copy, app_factory) -> None:
    drift = next(e for e in list_evidence(Catalog(demo_copy.catalog_path), VERSION) if e.kind == "drift")
    cached = demo_copy.cache_dir / "reports" / f"{drift.evidence_id}-evidently.html"  # where the page looks first
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(HOSTILE, encoding="utf-8")

    at = app_factory(demo_copy.root, persona=OFFICER).run()
    at.session_state[SELECTED_VERSION] = VERSION
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception

    frames = at.get("iframe")
    assert len(frames) == 1, "the report is drawn in exactly one frame"
    outer = frames[0].proto.srcdoc  # what Streamlit's own (same-origin) frame holds
    parsed = Tags()
    parsed.feed(outer)
    names = [t for t, _ in parsed.tags]
    assert "script" not in names and "img" not in names  # none of the report's markup runs in the portal's frame
    inner = [a for t, a in parsed.tags if t == "iframe"]
    assert len(inner) == 1
    assert inner[0]["sandbox"] == "allow-scripts"  # scripts yes, same origin no: an opaque origin
    assert inner[0]["srcdoc"] == HOSTILE  # the whole report, unchanged, inside the sandboxed frame
    assert "100%" in outer  # the frame fills the width; the report scrolls inside it
    # the report can still be taken away as a file
    assert any(b.label == "Download the Evidently report (HTML)" for b in at.get("download_button"))
