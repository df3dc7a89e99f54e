"""Checkpoints: the ledger's length and head hash at a moment, signed and written to ``checkpoints/``.

Somebody who can write the database could rewrite the whole chain, or restore an older copy of the file; a
checkpoint, kept outside the database, catches both (:mod:`governance.ledger.verification` compares them). They follow
decisions (:func:`seal`) and requests for one (:func:`checkpoint`).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.canonical import canonical_json
from core.clock import utcnow
from core.errors import LedgerTampered
from governance.catalog import Catalog
from governance.config import Workspace, private_dir, write_private
from governance.identity import Identity, require
from governance.ledger.chain import TIME_FORMAT, stored_head
from governance.ledger.commit import append
from governance.ledger.guard import TailState, tail_state
from governance.ledger.keys import cached_key
from governance.ledger.signed_head import advance_head

CHECKPOINT_FORMAT = "countersign-ledger-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: 'the ledger had ``length`` entries ending in ``head_hash``' (one file in checkpoints/)."""

    length: int
    head_hash: str
    created_at: dt.datetime
    created_by: str
    key_id: str
    signature: str
    path: Path | None = None
    sha256: str = ""  # of the file's bytes, when it was read or written

    @property
    def file(self) -> str:
        """The file name in ``checkpoints/`` (empty when not stored)."""
        return self.path.name if self.path else ""

    @property
    def content(self) -> dict[str, Any]:
        """The document as stored in the file."""
        return {"format": CHECKPOINT_FORMAT, "length": self.length, "head_hash": self.head_hash,
                "created_at": self.created_at.strftime(TIME_FORMAT), "created_by": self.created_by,
                "key_id": self.key_id, "signature": self.signature}


def parse_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint file at ``path``, unverified; ValueError when it is not one."""
    try:
        raw = path.read_bytes()
        doc = json.loads(raw.decode("utf-8"))
        if doc.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return Checkpoint(int(doc["length"]), str(doc["head_hash"]),
                          dt.datetime.strptime(doc["created_at"], TIME_FORMAT), str(doc["created_by"]),
                          str(doc["key_id"]), str(doc["signature"]), path, hashlib.sha256(raw).hexdigest())
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None


def covering_checkpoint(workspace: Workspace, seq: int) -> Checkpoint | None:
    """The oldest checkpoint that seals ledger entry ``seq`` (stable as later checkpoints are added)."""
    folder = workspace.checkpoints_dir
    if not folder.is_dir():
        return None
    best: Checkpoint | None = None
    for path in sorted(folder.glob("ledger-*.json")):
        try:
            cp = parse_checkpoint(path)
        except ValueError:
            continue  # unreadable checkpoints are reported by 'countersign ledger verify'
        if cp.length >= seq and (best is None or (cp.length, cp.file) < (best.length, best.file)):
            best = cp
    return best


def signed_text(length: int, head_hash: str, created_at: dt.datetime, created_by: str, kid: str) -> bytes:
    return canonical_json(
        {"format": CHECKPOINT_FORMAT, "length": length, "head_hash": head_hash,
         "created_at": created_at.strftime(TIME_FORMAT), "created_by": created_by, "key_id": kid}
    ).encode()


def seal(workspace: Workspace, catalog: Catalog, *, by: str) -> Checkpoint:
    """Sign the current head and write it to ``checkpoints/``; called after an authorised write (no role check).

    Refuses (:class:`LedgerTampered`) to seal a ledger whose tail the signed head does not vouch for: entries no
    Countersign commit sealed are accepted only explicitly (:func:`checkpoint` with ``accept_unsealed``).
    """
    key, kid = cached_key(workspace)
    with catalog.connect() as con:
        length, head_hash = stored_head(con)
        state = tail_state(workspace, con)
    if not state.ok:
        raise LedgerTampered(f"refusing to sign a checkpoint: {state.message}")
    _refuse_unless_extending(workspace, catalog, key.public_key(), length)
    created = utcnow()
    signature = base64.b64encode(key.sign(signed_text(length, head_hash, created, by, kid))).decode()
    path = private_dir(workspace.checkpoints_dir) / f"ledger-{length:012d}-{created:%Y%m%dT%H%M%S%f}.json"
    sealed = Checkpoint(length, head_hash, created, by, kid, signature, path)
    raw = (json.dumps(sealed.content, indent=2, sort_keys=True) + "\n").encode()
    write_private(path, raw)  # atomic, owner-only
    return dataclasses.replace(sealed, sha256=hashlib.sha256(raw).hexdigest())


def _refuse_unless_extending(workspace: Workspace, catalog: Catalog, public: Ed25519PublicKey, length: int) -> None:
    """Never sign a chain that does not extend the newest checkpoint: that would vouch for a rewrite or rollback."""
    folder = workspace.checkpoints_dir
    names = sorted(folder.glob("ledger-*.json")) if folder.is_dir() else []
    if not names:
        return
    newest = names[-1]  # names sort by length, then time
    try:
        doc = json.loads(newest.read_text(encoding="utf-8"))
        cp_length, cp_hash = int(doc["length"]), str(doc["head_hash"])
        public.verify(base64.b64decode(doc["signature"]), signed_text(
            cp_length, cp_hash, dt.datetime.strptime(doc["created_at"], TIME_FORMAT), str(doc["created_by"]),
            str(doc["key_id"])))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise LedgerTampered(f"refusing to sign a checkpoint: the newest one, {newest.name}, does not verify "
                             f"({type(exc).__name__}); run 'countersign ledger verify'") from None
    if cp_length == 0:
        return
    with catalog.connect() as con:
        row = con.execute("SELECT hash FROM ledger WHERE seq = ?", [cp_length]).fetchone()
    if cp_length > length or row is None or row[0] != cp_hash:
        raise LedgerTampered(f"refusing to sign a checkpoint: the ledger ({length} entries) no longer extends "
                             f"{newest.name} ({cp_length} entries); run 'countersign ledger verify'")


def checkpoint(workspace: Workspace, catalog: Catalog, actor: Identity, *,
               accept_unsealed: str | None = None) -> Checkpoint:
    """Sign and store the current head on demand (``countersign ledger checkpoint``).

    Entries newer than the signed head that no Countersign commit sealed (or every entry, when the head is missing)
    are sealed only with ``accept_unsealed``, the operator's reason: that acceptance is itself an entry naming the
    range and the hashes accepted. A ledger whose chain does not verify is never sealed.
    """
    require(actor, "checkpoint")
    with catalog.connect() as con:
        state = tail_state(workspace, con)
    accepted = state.unsealed_range
    if accepted is not None:
        _accept(workspace, catalog, actor, state, accept_unsealed)
    elif not state.ok:
        raise LedgerTampered(f"refusing to sign a checkpoint: {state.message}")
    # The request is an entry too, and the checkpoint seals it, so the ledger shows who sealed when.
    append(catalog, actor=actor.email, action="ledger.checkpoint", subject="ledger", payload={"on_demand": True})
    return seal(workspace, catalog, by=actor.email)


def _accept(workspace: Workspace, catalog: Catalog, actor: Identity, state: TailState, reason: str | None) -> None:
    """Record the operator's acceptance of the unsealed entries of ``state`` and move the signed head over them."""
    first, last = state.unsealed_range or (0, 0)
    if not (reason or "").strip():
        raise LedgerTampered(f"refusing to sign a checkpoint: {state.message}. If entries {first}..{last} are "
                             "genuine, accept them with --accept-unsealed --reason '…' (recorded in the ledger)")
    from governance.ledger.verification import verify_unchecked  # the whole chain, not only its tail

    report = verify_unchecked(workspace, catalog)
    broken = [p for p in report.problems if p.kind not in ("unsealed", "missing_head")]
    if broken:
        raise LedgerTampered(f"refusing to accept unsealed entries: the chain itself does not verify "
                             f"({broken[0].message})")
    with catalog.connect() as con:
        hashes = dict(con.execute("SELECT seq, hash FROM ledger WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                  [first, last]).fetchall())
    append(catalog, actor=actor.email, action="ledger.accept_unsealed", subject="ledger",
           payload={"from_seq": first, "to_seq": last, "reason": reason.strip(), "problem": state.kind,
                    "hashes": {str(k): v for k, v in hashes.items()}})
    advance_head(catalog, workspace, accept_unsealed=True)
