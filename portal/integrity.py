"""The ledger banner on every page: decisions are refused while the ledger does not vouch for the catalog.

Nobody has to press Verify to learn it: each run checks the ledger's tail against the signed head (well under a
millisecond) and, when they disagree, says so above the page in red, with the one-line reason the CLI prints.
"""

from __future__ import annotations

import streamlit as st

from governance.usecases.session import ShellView


def ledger_banner(shell: ShellView) -> bool:
    """Show the red banner when the catalog's ledger is not the one the signed head vouches for; True if shown."""
    if shell.ledger_ok:
        return False
    st.error("**The ledger does not vouch for this catalog: every decision, execution and export is refused "
             "until it does.** An administrator runs `countersign ledger verify` to see what changed.",
             icon=":material/gpp_bad:")
    st.code(shell.ledger_message, language=None, wrap_lines=True)
    return True
