"""The tail check: before a write of consequence, the ledger's newest entry must be the one the signed head vouches for.

``ledger verify`` recomputes the whole chain; this is its cheap sibling (a file read, a signature check and two
indexed reads, well under a millisecond) that every decision runs inside its own transaction before writing: a
request, an approval, a rejection, a cancellation, a risk acceptance, an execution step, an export, a periodic review.
It fails closed: on a catalog the signed head disowns (restored from an older copy, entries deleted, the chain
rewritten, entries appended outside Countersign, the head deleted) the decision is refused with one line saying what
is wrong and what to do, and nothing is written.

What it cannot see, ``ledger verify`` does: an entry edited in the middle of the chain.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from core.errors import ConfigError, LedgerTampered
from governance.catalog import Catalog
from governance.catalog.postgres import session_lock
from governance.config import Workspace
from governance.ledger.chain import hash_at, stored_head
from governance.ledger.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, key_id, load_public_key
from governance.ledger.signed_head import HEAD_FILE, Head, head_text, read_head
from governance.ledger.witness import witness_of

_VERIFY = "run 'countersign ledger verify' for details"


@dataclass(frozen=True)
class TailState:
    """Whether the ledger's tail is the one the signed head vouches for; ``kind`` names the problem, if any.

    ``kind``: None (sealed), ``empty`` (a new workspace: nothing written yet), ``unsealed``, ``truncated``,
    ``rewritten``, ``rolled_back``, ``missing_head``, ``bad_signature``, ``unknown_key``.
    """

    kind: str | None
    message: str
    length: int
    head_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind in (None, "empty")

    @property
    def unsealed_range(self) -> tuple[int, int] | None:
        """The entries newer than the signed head (first, last), when that is the only problem."""
        if self.kind == "unsealed":
            return (self.head_seq or 0) + 1, self.length
        if self.kind == "missing_head" and self.length:
            return 1, self.length
        return None


def _verified_head(workspace: Workspace, path: Path, label: str) -> tuple[Head | None, TailState | None]:
    """The head at ``path`` if its signature verifies with the workspace's public key, or the problem."""
    try:
        found = read_head(path)
    except ValueError as exc:
        return None, TailState("bad_signature", f"the {label} is unreadable ({exc}): it was altered; {_VERIFY}", 0)
    if found is None:
        return None, None
    key_path = workspace.keys_dir / PUBLIC_KEY_FILE
    try:
        public = load_public_key(key_path)
    except ConfigError:
        return None, TailState("unknown_key", f"the {label} exists but the ledger public key {key_path} is missing "
                               f"or unreadable, so it cannot be checked; {_VERIFY}", 0)
    try:
        if found.key_id != key_id(public):
            raise InvalidSignature
        public.verify(base64.b64decode(found.signature), head_text(found.seq, found.hash, found.written_at,
                                                                     found.key_id))
    except (InvalidSignature, ValueError):
        return None, TailState("bad_signature", f"the {label} {found.path} does not verify with the workspace key: "
                               f"it was altered or forged; {_VERIFY}", 0)
    return found, None


def has_written_before(workspace: Workspace, con: Any) -> bool:
    """Whether this workspace has ever committed a ledger entry (so an empty ledger is a loss, not a new start):
    a signing key, a checkpoint, or catalog rows that are only ever written together with a ledger entry."""
    if (workspace.keys_dir / PUBLIC_KEY_FILE).exists():
        return True
    folder = workspace.checkpoints_dir
    if folder.is_dir() and any(folder.glob("ledger-*.json")):
        return True
    return any(con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
               for table in ("sync_runs", "promotion_requests", "decisions"))


_LEDGER_COLUMNS = ("seq", "recorded_at", "actor", "action", "subject", "payload", "prev_hash", "hash")


def ledger_table_problem(con: Any) -> str | None:
    """Why the catalog's ``ledger`` table cannot be read as a ledger (dropped, columns removed), or None."""
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'ledger' AND table_catalog = current_database()").fetchall()}
    if not columns:
        return ("the catalog has no ledger table: it was dropped. Restore catalog.duckdb from a backup, then run "
                "'countersign ledger verify' again")
    missing = [c for c in _LEDGER_COLUMNS if c not in columns]
    if missing:
        return (f"the catalog's ledger table lacks column(s) {', '.join(missing)}: its structure was altered. Restore "
                "catalog.duckdb from a backup, then run 'countersign ledger verify' again")
    return None


def tail_state(workspace: Workspace, con: Any, *, witness: Path | None = None) -> TailState:
    """Compare the ledger's newest entry (on connection ``con``) with the signed head, and the head with the
    witness; cheap enough to run before every decision."""
    # PostgreSQL: wait for a writer that committed entries but has not moved the head yet (it holds this lock until
    # it has); held until the caller's transaction ends. DuckDB: that writer holds the file until it has.
    session_lock(con, "ledger")
    unreadable = ledger_table_problem(con)
    if unreadable is not None:
        return TailState("missing", unreadable, 0)
    length, _ = stored_head(con)
    head, problem = _verified_head(workspace, workspace.checkpoints_dir / HEAD_FILE, "signed head")
    if problem is not None:
        return TailState(problem.kind, problem.message, length)
    if head is None:
        if length == 0 and not has_written_before(workspace, con):
            return TailState("empty", "nothing to verify yet: the ledger has no entries", 0)
        what = (f"the ledger has {length} entries" if length else
                "the ledger is empty although this workspace has written to it before")
        return TailState("missing_head", f"the signed ledger head ({workspace.checkpoints_dir / HEAD_FILE}) is "
                         f"missing and {what}: the head was deleted, perhaps with the newest entries; {_VERIFY}",
                         length)
    if head.seq > length:
        return TailState("truncated", f"the ledger ends at entry {length} but the signed head records entry "
                         f"{head.seq}: entries were deleted or the catalog was restored from an older copy; restore "
                         f"the newest catalog, or {_VERIFY}", length, head.seq)
    if head.seq and hash_at(con, head.seq) != head.hash:
        return TailState("rewritten", f"ledger entry {head.seq} no longer has the hash the signed head records: the "
                         f"chain was rewritten, or an older copy of the catalog was restored and written to; "
                         f"{_VERIFY}", length, head.seq)
    target = witness if witness is not None else witness_of(workspace)
    if target is not None:
        copy, problem = _verified_head(workspace, target, "witness of the signed head")
        if problem is not None:
            return TailState(problem.kind, problem.message, length, head.seq)
        if copy is not None and copy.seq > head.seq:
            return TailState("rolled_back", f"the signed head (entry {head.seq}) is older than its witness "
                             f"{copy.path} (entry {copy.seq}): the workspace was restored from an older copy; "
                             f"{_VERIFY}", length, head.seq)
    if length > head.seq:
        return TailState("unsealed", f"ledger entries {head.seq + 1}..{length} are newer than the signed head and no "
                         "Countersign commit sealed them (written outside Countersign, or just before a crash); "
                         "review them, then run 'countersign ledger checkpoint --accept-unsealed --reason …' if "
                         "they are genuine", length, head.seq)
    return TailState(None, f"ledger sealed at entry {length}", length, head.seq)


def require_sealed_tail(workspace: Workspace, con: Any, what: str = "this decision") -> TailState:
    """Refuse (:class:`LedgerTampered`) unless the ledger's tail is the one the signed head vouches for; call it
    inside the decision's transaction, before anything is written."""
    state = tail_state(workspace, con)
    if not state.ok:
        raise LedgerTampered(f"refused {what}, nothing was written: {state.message}")
    problem = _cannot_seal(workspace)
    if problem:
        raise ConfigError(f"refused {what}, nothing was written: {problem}")
    return state


def _cannot_seal(workspace: Workspace) -> str | None:
    """Why this process could not move the signed head after committing (so it must not commit), or None."""
    head = workspace.checkpoints_dir / HEAD_FILE
    key = workspace.keys_dir / PRIVATE_KEY_FILE
    if head.exists() and not os.access(head, os.R_OK | os.W_OK):
        return (f"this user cannot write the signed ledger head {head}, so the decision could not be sealed; give "
                "the workspace's group write access (docs/signoff.md, a workspace shared by several users)")
    if key.exists() and not os.access(key, os.R_OK):
        return (f"this user cannot read the ledger signing key {key}, so the decision could not be sealed; give the "
                "workspace's group read access (docs/signoff.md, a workspace shared by several users)")
    return None


def catalog_tail_state(workspace: Workspace, catalog: Catalog) -> TailState:
    """:func:`tail_state` on a connection of its own (the portal's banner on every page, a check before slow work),
    after this process's writers have moved the head over what they committed."""
    with catalog.write_lock, catalog.connect() as con:
        return tail_state(workspace, con)
