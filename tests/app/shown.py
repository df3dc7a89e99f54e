"""What a reader sees of the portal's markdown: registry and user text is escaped (portal.text), so AppTest's raw
values carry backslashes a browser never shows; these helpers take them out before tests compare text."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation: CommonMark's escape


def plain(markdown: object) -> str:
    """``markdown`` as it reads on screen: every backslash escape undone."""
    return _ESCAPE.sub(r"\1", str(markdown))


def texts(at) -> str:
    """Every text element of an AppTest run (markdown, headings, captions, alerts), as it reads on screen."""
    parts = [e.value for kind in ("markdown", "title", "header", "subheader", "caption", "error", "warning", "info",
                                  "success") for e in getattr(at, kind)]
    return "\n".join(plain(p) for p in parts)
