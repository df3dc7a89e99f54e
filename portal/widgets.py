"""Small widgets shared by pages."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import streamlit as st

from core.progress import ProgressFn
from portal.text import inert, inert_block

T = TypeVar("T")

STATUS_BADGE = {
    "Approved": ":green-badge[Approved]",
    "PendingManualApproval": ":orange-badge[Pending]",
    "Rejected": ":red-badge[Rejected]",
}


def status_badge(status: str) -> str:
    """Markdown badge of an approval status (a status the registry made up is shown inert, in gray)."""
    return STATUS_BADGE.get(status, f":gray-badge[{inert(status)}]")


# What a report built from user data may do in its frame: run its own scripts (Evidently's charts need them), and
# nothing else. Without allow-same-origin the frame has an opaque origin, so its scripts cannot reach the portal's
# DOM, cookies, storage or Streamlit session; no forms, pop-ups, top navigation or downloads either.
UNTRUSTED_SANDBOX = "allow-scripts"


def untrusted_frame_document(html: str, *, title: str) -> str:
    """A wrapper page holding ``html`` in a sandboxed inner frame that fills it (width 100%, scrolling inside).

    The wrapper itself contains no script: it is what Streamlit puts in its own (same-origin) iframe; the
    untrusted document lives only in the inner frame's ``srcdoc``, escaped as an attribute value.
    """
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>"
        "html,body{margin:0;padding:0;height:100%;overflow:hidden}"
        "iframe{display:block;border:0;width:100%;height:100%}"
        "</style></head><body>"
        f'<iframe sandbox="{UNTRUSTED_SANDBOX}" referrerpolicy="no-referrer" title="{html_lib.escape(title)}" '
        f'srcdoc="{html_lib.escape(html, quote=True)}"></iframe>'
        "</body></html>"
    )


def untrusted_html(html: str, *, title: str, height: int = 900) -> None:
    """Show HTML built from user data (column names, category values…) so that its scripts cannot touch the
    portal: in a sandboxed frame with an opaque origin, as wide as the page, scrolling inside."""
    st.iframe(untrusted_frame_document(html, title=title), width="stretch", height=height, alt=title)


def label_badges(labels: tuple[str, ...] | list[str]) -> str:
    """Markdown badges of a version's registry labels (MLflow aliases, ZenML stages); empty when it has none."""
    return "".join(f" :violet-badge[{inert(label)}]" for label in labels)


def show_error(exc: Exception) -> None:
    """Show a Countersign error as one clear message."""
    st.error(inert_block(str(exc)), icon=":material/error:")


def run_with_progress(label: str, work: Callable[[ProgressFn], T], *, done_label: str = "Done") -> T:
    """Run ``work(progress)`` in a worker thread and draw its progress here, in the script thread.

    Streamlit elements may only be updated from the script's own thread; governance code reports progress
    from wherever it runs (sync uses a thread pool), so reports travel through a queue.
    """
    reports: queue.Queue[tuple[str, float]] = queue.Queue()
    with st.status(label, expanded=True) as box, ThreadPoolExecutor(max_workers=1) as pool:
        bar = st.progress(0.0, text="starting…")
        future = pool.submit(work, lambda message, fraction: reports.put((message, fraction)))
        while True:
            try:
                message, fraction = reports.get(timeout=0.05)
                bar.progress(min(max(fraction, 0.0), 1.0), text=message)
            except queue.Empty:
                if future.done():
                    break
        try:
            result = future.result()
        except Exception:
            box.update(label=f"{label} failed", state="error")
            raise
        box.update(label=done_label, state="complete")
    return result


def as_of_wanted(key: str) -> dt.datetime | None:
    """The instant :func:`as_of_picker` ``key`` will return this run, read from its widgets before they are drawn
    (the page passes it to its use case first, then draws the picker where it belongs)."""
    if not st.session_state.get(f"{key}.as_of"):
        return None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    day = st.session_state.get(f"{key}.as_of_date") or now.date()
    time = st.session_state.get(f"{key}.as_of_time") or now.time()
    return dt.datetime.combine(day, time)


def as_of_picker(key: str) -> dt.datetime | None:
    """An "As of" toggle with a date and a time (UTC): the instant chosen, naive UTC, or None for now."""
    if not st.toggle("As of", key=f"{key}.as_of", help="Show the registry as it stood at a past instant (UTC), "
                     "from the history Countersign records at every sync"):
        return None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    a, b = st.columns(2)
    day = a.date_input("As of date (UTC)", value=now.date(), key=f"{key}.as_of_date")
    time = b.time_input("As of time (UTC)", value=now.time(), key=f"{key}.as_of_time", step=60)
    return dt.datetime.combine(day, time)
