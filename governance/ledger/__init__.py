"""The tamper-evident ledger: an append-only hash chain in the catalog, sealed by signed checkpoints outside it.

Every request, decision, execution step, sync and export is one entry. The rooms:

- :mod:`~governance.ledger.chain`: what an entry is and how its hash links it to the previous one.
- :mod:`~governance.ledger.commit`: :func:`append` / :func:`append_many`, the only code that writes the ``ledger``
  table (nothing updates or deletes its rows), and the group commit that shares one commit among threads.
- :mod:`~governance.ledger.queries`: reading entries (the head, one entry, a subject's entries, the listing).
- :mod:`~governance.ledger.keys`: the workspace's Ed25519 signing key.
- :mod:`~governance.ledger.signed_head`: the signed head (``checkpoints/head.json`` and its witness), moved after every commit;
  :mod:`~governance.ledger.witness`: which witness folder this process mirrors it to.
- :mod:`~governance.ledger.checkpoints`: signed checkpoints in ``checkpoints/`` (:class:`Checkpoint`, :func:`seal`).
- :mod:`~governance.ledger.verification`: recompute the chain and compare it with every checkpoint and the signed head.
- :mod:`~governance.ledger.guard`: the cheap tail check every write of consequence runs first (fail closed).
- :mod:`~governance.ledger.requests`: a promotion request replayed from its entries (the authority for approvals).
- :mod:`~governance.ledger.subjects`: how an entry names what it is about (``request:PR-…``).

Editing, deleting or reordering an entry breaks the chain from that entry on; rewriting the whole chain or restoring
an older copy of the database is caught by the checkpoints and the signed head, which live outside the database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the room it lives in. The package imports a room when one of its names is first used, so a
# command that only reads the catalog (`countersign models`) does not load the signing key's cryptography.
_ROOMS = {
    "GENESIS_HASH": "chain",
    "Entry": "chain",
    "entry_hash": "chain",
    "CHECKPOINT_FORMAT": "checkpoints",
    "Checkpoint": "checkpoints",
    "checkpoint": "checkpoints",
    "covering_checkpoint": "checkpoints",
    "parse_checkpoint": "checkpoints",
    "seal": "checkpoints",
    "NewEntry": "commit",
    "append": "commit",
    "append_many": "commit",
    "TailState": "guard",
    "catalog_tail_state": "guard",
    "require_sealed_tail": "guard",
    "tail_state": "guard",
    "PRIVATE_KEY_FILE": "keys",
    "PUBLIC_KEY_FILE": "keys",
    "key_id": "keys",
    "load_public_key": "keys",
    "LedgerFilter": "queries",
    "actions": "queries",
    "entries_for": "queries",
    "entries_on": "queries",
    "entry": "queries",
    "head": "queries",
    "listing": "queries",
    "LedgerRequest": "requests",
    "request_from_ledger": "requests",
    "state_mismatches": "requests",
    "HEAD_FILE": "signed_head",
    "HEAD_FORMAT": "signed_head",
    "Head": "signed_head",
    "advance_head": "signed_head",
    "read_head": "signed_head",
    "use_settings": "witness",
    "use_witness": "witness",
    "witness_of": "witness",
    "Problem": "verification",
    "VerifyReport": "verification",
    "read_checkpoints": "verification",
    "verify": "verification",
    "verify_or_raise": "verification",
    "verify_unchecked": "verification",
}

if TYPE_CHECKING:  # the names as they were imported before, for type checkers and readers
    from governance.ledger.chain import GENESIS_HASH, Entry, entry_hash
    from governance.ledger.checkpoints import (
        CHECKPOINT_FORMAT,
        Checkpoint,
        checkpoint,
        covering_checkpoint,
        parse_checkpoint,
        seal,
    )
    from governance.ledger.commit import NewEntry, append, append_many
    from governance.ledger.guard import TailState, catalog_tail_state, require_sealed_tail, tail_state
    from governance.ledger.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, key_id, load_public_key
    from governance.ledger.queries import LedgerFilter, actions, entries_for, entries_on, entry, head, listing
    from governance.ledger.requests import LedgerRequest, request_from_ledger, state_mismatches
    from governance.ledger.signed_head import (
        HEAD_FILE,
        HEAD_FORMAT,
        Head,
        advance_head,
        read_head,
    )
    from governance.ledger.verification import (
        Problem,
        VerifyReport,
        read_checkpoints,
        verify,
        verify_or_raise,
        verify_unchecked,
    )
    from governance.ledger.witness import use_settings, use_witness, witness_of


def __getattr__(name: str) -> Any:
    """Import the room holding ``name`` on first use (PEP 562) and keep the name here."""
    room = _ROOMS.get(name)
    if room is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{room}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CHECKPOINT_FORMAT",
    "GENESIS_HASH",
    "HEAD_FILE",
    "HEAD_FORMAT",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "Checkpoint",
    "Entry",
    "Head",
    "LedgerFilter",
    "LedgerRequest",
    "NewEntry",
    "Problem",
    "TailState",
    "VerifyReport",
    "actions",
    "advance_head",
    "append",
    "append_many",
    "catalog_tail_state",
    "checkpoint",
    "covering_checkpoint",
    "entries_for",
    "entries_on",
    "entry",
    "entry_hash",
    "head",
    "key_id",
    "listing",
    "load_public_key",
    "parse_checkpoint",
    "read_checkpoints",
    "read_head",
    "request_from_ledger",
    "require_sealed_tail",
    "seal",
    "state_mismatches",
    "tail_state",
    "use_settings",
    "use_witness",
    "verify",
    "verify_or_raise",
    "verify_unchecked",
    "witness_of",
]
