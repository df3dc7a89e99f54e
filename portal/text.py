"""Untrusted text shown as plain text: no markdown, no HTML, no images, no badges.

Anything a registry, a data file or a person typed (model descriptions, owners, card fields, run and endpoint names,
tags, column names, reasons and comments) reaches the portal through these functions whenever it is drawn by an
element that renders markdown (``st.markdown``, ``st.write`` of a string, ``st.caption``, ``st.info`` and the other
alerts, titles, expander and metric labels, badges). Streamlit's markdown would otherwise load ``![x](http://…)``
as an image from anywhere (a beacon that tells the sender who opened the page), draw ``:green-badge[APPROVED]``,
icons, colours and LaTeX. Tables (``st.dataframe``) and widget options draw text as it is and need nothing.

A bare ``https://…`` or e-mail address stays clickable: Streamlit links it after parsing, escapes or not; its text
is still exactly what the registry holds, and no request is made until someone clicks.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

# CommonMark lets a backslash escape any ASCII punctuation. Escaped here: what starts syntax anywhere in a line —
# emphasis, code, link and image brackets (``(`` and ``!`` mean nothing without them), raw HTML and autolinks,
# tables, strikethrough, maths, and Streamlit's ``:badge[…]``, ``:emoji:`` and ``:material/…:`` (which Streamlit
# expands before parsing: only an escaped colon or slash stops it) — and ``&`` where it would start an entity.
# Other punctuation stays as it is, so names and e-mail addresses read normally.
_SYNTAX = re.compile(r"([\\`*_\[\]<>|~:$/]|&(?=#?\w+;))")
# what matters only at the start of a line: a list item, a numbered item, a heading, a setext underline
_LINE_START = re.compile(r"^(\s*)(\d+(?=[.)])|)([-+=#.)])")


def inert(text: object) -> str:
    """``text`` as markdown that renders literally on one line (runs of white space, newlines too, become one space).

    For a value inside a sentence, a bold label or a badge: ``st.caption(f"Owner: {inert(model.owner)}")``.
    """
    if text is None:
        return ""
    escaped = _SYNTAX.sub(r"\\\1", " ".join(str(text).split()))
    return _LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2)}\\{m.group(3)}", escaped, count=1)


def inert_block(text: object) -> str:
    """``text`` as markdown that renders literally, keeping its lines (a description, a card field, a comment).

    Each line is escaped like :func:`inert` (so indentation cannot start a code block) and ends in a hard break;
    an empty line still separates paragraphs.
    """
    if text is None:
        return ""
    return "  \n".join(inert(line) for line in str(text).splitlines())


def code(text: object) -> str:
    """``text`` as an inline code span (ids, names, URIs in monospace): nothing inside a code span is markdown.

    The fence is one backtick longer than the longest run of backticks in the text, so a backtick in a registry
    name cannot close the span early and let what follows render.
    """
    value = " ".join(str("" if text is None else text).split())
    if not value:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def inert_rows(rows: Any) -> pd.DataFrame:
    """``rows`` (a frame or a list of dicts) with every text cell made inert, for ``st.table``, whose cells are markdown.

    ``st.dataframe`` draws cells as they are and needs no such care.
    """
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: inert_block(v) if isinstance(v, str) else v)
    return frame
