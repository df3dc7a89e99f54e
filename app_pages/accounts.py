"""Accounts: configured sources, last sync per account, and Sync now.

One call (:func:`governance.usecases.accounts.open_accounts`) → render; Sync now is one command, after which the
page reads the accounts again so the table shows the sync it just did.
"""

from __future__ import annotations

import streamlit as st

from core.wording import words
from governance.usecases.accounts import SyncCommand, open_accounts, sync
from portal import context
from portal.tables import show_table
from portal.text import inert, inert_block
from portal.widgets import run_with_progress

ctx = context.get()
view = open_accounts(ctx)
st.title("Accounts")

if not view.accounts:
    st.info("No accounts are configured. Add `[[accounts]]` entries to `countersign.toml` (see README).")
    st.stop()

# The status table sits above the Sync controls but is drawn last, so it shows the sync this run just did.
table = st.container()

names = list(view.accounts)
if view.can_sync:
    c1, c2, c3 = st.columns([3, 1, 1])
    chosen = c1.multiselect("Accounts to sync (empty = all)", names, key="accounts.chosen")
    full = c2.toggle("Full pass", help="Ignore watermarks and notice deletions", key="accounts.full")
    if c3.button("Sync now", type="primary", icon=":material/sync:", key="accounts.sync"):
        report = run_with_progress(
            "Syncing…",
            lambda progress: sync(ctx, SyncCommand(tuple(chosen), full), progress),
            done_label="Sync finished",
        )
        for r in report.results:
            if r.counts is None:
                st.error(f"**{inert(r.account)}** failed: {inert_block(r.error)}")
            else:
                c = r.counts
                st.success(f"**{inert(r.account)}** {r.status}: {c.held} version(s) held; this "
                           f"{'full' if r.full else 'incremental'} sync found {c.added} new, {c.updated} changed, "
                           f"{c.deleted} gone ({r.kind}, {r.seconds:.1f} s)")
                for issue in r.issues:
                    st.warning(inert_block(issue))
        view = open_accounts(ctx)  # the table shows the sync just done
else:
    st.caption(f"Syncing needs the ML engineer or admin role; you are {', '.join(map(words, view.roles)) or 'no role'}.")

with table:
    status = view.status  # an account whose registry labels mean environments (aliases, stages) holds several
    show_table(
        status,
        width="stretch",
        column_order=["account", "environment", "connector", "location", "status", "last_success", "finished_at",
                      "last_full_pass", "versions", "calls", "throttled", "error"],
        column_config={
            "last_success": st.column_config.DatetimeColumn("Last good sync", format="YYYY-MM-DD HH:mm:ss"),
            "last_full_pass": st.column_config.DatetimeColumn(
                "Last full pass", format="YYYY-MM-DD HH:mm:ss",
                help="Deletions and metadata-only edits reach the catalog on a full pass; one runs by itself when "
                     "the last is older than the account's full_sync_every_hours (default 24)"),
            "finished_at": st.column_config.DatetimeColumn("Last attempt", format="YYYY-MM-DD HH:mm:ss"),
            "environment": st.column_config.TextColumn(
                "Environments", help="The account's environment, and those its registry labels mean "
                                     "(alias_environments, stage_environments)"),
        },
        key="accounts.table",
    )
    failed = status[status["status"] == "failed"]
    for row in failed.itertuples():
        st.error(f"**{inert(row.account)}**: last sync failed — {inert_block(row.error)}")

with st.expander("Recent sync runs"):
    show_table(view.runs, width="stretch")
