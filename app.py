"""Countersign portal: reads the workspace once, signs the user in, and routes over one page table.

Run: ``streamlit run app.py -- --workspace DIR`` (or set ``COUNTERSIGN_WORKSPACE``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from core.errors import CountersignError
from governance.config import Workspace, resolve_workspace
from governance.usecases.session import Opened, open_shell, open_workspace
from portal.auth import resolve_identity
from portal.context import PortalContext, set_context
from portal.integrity import ledger_banner
from portal.pages import REGISTRY
from portal.text import code, inert, inert_block

REQUESTS_PAGE = "requests"  # its title counts the requests awaiting this person's approval
DEFAULT_ALIAS = "start"  # the path the default page reserves (it is served at "/"); its own name stays free


def _workspace_arg(argv: list[str]) -> str | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace")
    known, _ = parser.parse_known_args(argv)
    return known.workspace


@st.cache_resource(show_spinner=False)
def _open(root: str, config_mtime: float) -> Opened:
    # config_mtime is part of the key: editing countersign.toml takes effect on the next rerun
    return open_workspace(Workspace(Path(root)))


def main() -> None:
    """Entry point of every Streamlit run."""
    st.set_page_config(page_title="Countersign", page_icon=":material/verified_user:", layout="wide")
    ws = resolve_workspace(_workspace_arg(sys.argv[1:]), os.environ)
    try:
        mtime = ws.config_path.stat().st_mtime if ws.config_path.exists() else 0.0
        opened = _open(str(ws.root), mtime)
    except CountersignError as exc:
        st.title("Countersign cannot open its workspace")
        st.error(inert_block(str(exc)))
        if ws.config_path.exists():  # the file is there and wrong: fixing it is the next step, not a demo
            st.info(f"Fix {inert(str(ws.config_path))} as the line above says, then reload this page.")
        else:
            st.info("Build a demo with `countersign demo --workspace workspace`, or point `--workspace` at yours.")
        st.stop()  # no navigation is declared: a visitor reaches no page

    ws, settings, catalog = opened.workspace, opened.settings, opened.catalog
    identity = resolve_identity(settings)
    if identity is None:
        st.stop()  # no navigation is declared: a visitor reaches no page
    if settings.workspace.demo:
        st.warning(
            f"**Demo workspace** — generated data. Acting as **{inert(identity.label)}** "
            f"({', '.join(sorted(identity.roles))})."
            + (" Switch persona in the sidebar." if identity.source == "demo" else ""),
            icon=":material/science:",
        )
    ctx = PortalContext(workspace=ws, settings=settings, catalog=catalog, identity=identity)
    set_context(ctx)
    st.sidebar.caption(f"{inert(settings.workspace.name)} · {code(ws.root.name)} · {inert(identity.email)}")

    # one script run is a burst of catalog reads: open the file once for it (released when the run ends, or
    # after 0.25 s without a catalog operation during slow work)
    with catalog.keep_open(linger=0.25):
        shell = open_shell(ctx)
        ledger_banner(shell)
        waiting = shell.awaiting  # what this person may approve now (four eyes)
        if waiting:
            st.sidebar.markdown(f":orange-badge[:material/approval: {waiting} request"
                                f"{'s await' if waiting > 1 else ' awaits'} your approval]")
        sections: dict[str, list[st.Page]] = {}
        for name, spec in REGISTRY.items():
            title = f"{spec.title} ({waiting})" if name == REQUESTS_PAGE and waiting else spec.title
            pages = sections.setdefault(spec.section, [])
            if not spec.default:
                pages.append(st.Page(spec.path, title=title, icon=spec.icon, url_path=name))
                continue
            # Streamlit serves the default page at "/" and reserves its url_path without serving it: typing
            # /inventory said "Page not found" (issue 35, finding 6). The default takes a spare path and a hidden
            # twin of the same script answers at the page's own name.
            pages.append(st.Page(spec.path, title=title, icon=spec.icon, default=True, url_path=DEFAULT_ALIAS))
            pages.append(st.Page(spec.path, title=title, icon=spec.icon, url_path=name, visibility="hidden"))
        st.navigation(sections).run()


main()
