"""Verification: recompute the chain and compare it with every signed checkpoint and the signed head.

The chain is recomputed in one DuckDB query (the hashes are independent of each other once ``prev_hash`` is
stored, so no Python loop over a million rows).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.errors import LedgerTampered
from governance.catalog import Catalog
from governance.config import Workspace
from governance.identity import Identity, require
from governance.ledger.chain import GENESIS_HASH, TIME_FORMAT, hash_at
from governance.ledger.checkpoints import Checkpoint, parse_checkpoint, signed_text
from governance.ledger.guard import has_written_before, ledger_table_problem
from governance.ledger.keys import PUBLIC_KEY_FILE, key_id, load_public_key
from governance.ledger.requests import Person, state_mismatches
from governance.ledger.signed_head import HEAD_FILE, Head, head_text, read_head
from governance.ledger.witness import witness_of

# The chain check. Row hashes do not depend on each other (prev_hash is stored), so DuckDB computes them in
# parallel in one pass; the link to the previous entry is a self-join on seq - 1, a second pass.
_HASH_SQL = f"""
    SELECT count(*), min(seq), max(seq), min(seq) FILTER (WHERE bad), count(*) FILTER (WHERE bad)
    FROM (
        SELECT seq,
               sha256(concat(seq::VARCHAR, chr(10), strftime(recorded_at, '{TIME_FORMAT}'), chr(10), actor, chr(10),
                             action, chr(10), coalesce(subject, ''), chr(10), prev_hash, chr(10), payload)) <> hash
                   AS bad
        FROM ledger
    )
"""
_LINK_SQL = f"""
    SELECT min(seq) FILTER (WHERE bad_link), min(seq) FILTER (WHERE gap)
    FROM (
        SELECT b.seq,
               CASE WHEN b.seq = 1 THEN b.prev_hash <> '{GENESIS_HASH}'
                    ELSE a.seq IS NULL OR a.hash <> b.prev_hash END AS bad_link,
               b.seq > 1 AND a.seq IS NULL AS gap
        FROM ledger b LEFT JOIN ledger a ON a.seq = b.seq - 1
    )
"""


@dataclass(frozen=True)
class Problem:
    """One thing verification found wrong; ``seq`` is the first entry concerned when it is known."""

    # edited | broken_link | missing | truncated | rewritten | bad_signature | unknown_key | bad_start
    # | missing_head | rolled_back | unsealed | state_mismatch
    kind: str
    seq: int | None
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`."""

    length: int
    head_hash: str
    checkpoints_checked: int
    newest_checkpoint: Checkpoint | None
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]
    seconds: float
    head: Head | None = None  # the verified signed head in checkpoints/

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The problem with the lowest entry number (the first place the record can no longer be trusted)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.seq is None, p.seq or 0))

    def summary(self) -> str:
        """One line for people."""
        if self.ok and not self.length:
            return "nothing to verify yet: the ledger has no entries"
        if self.ok:
            cp = self.newest_checkpoint
            sealed = (
                f"; matches {self.checkpoints_checked} signed checkpoint(s), newest at entry {cp.length} "
                f"({cp.created_at:%Y-%m-%d %H:%M} UTC)"
                if cp
                else "; no signed checkpoint yet (run 'countersign ledger checkpoint')"
            )
            signed = f"; signed head at entry {self.head.seq}" if self.head else ""
            return f"ledger intact: {self.length} entries, head {self.head_hash[:16]}{sealed}{signed}"
        bad = self.first_bad
        assert bad is not None
        return f"ledger TAMPERED: {bad.message}" + (
            f" (+{len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        cp = self.newest_checkpoint
        return {
            "ok": self.ok,
            "length": self.length,
            "head_hash": self.head_hash,
            "checkpoints_checked": self.checkpoints_checked,
            "newest_checkpoint": None
            if cp is None
            else {"length": cp.length, "head_hash": cp.head_hash, "created_at": cp.created_at, "path": cp.path},
            "signed_head": None if self.head is None else {
                "seq": self.head.seq, "hash": self.head.hash, "written_at": self.head.written_at, "path": self.head.path},
            "first_bad_seq": self.first_bad.seq if self.first_bad else None,
            "problems": [{"kind": p.kind, "seq": p.seq, "message": p.message} for p in self.problems],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 4),
        }


def read_checkpoints(workspace: Workspace) -> tuple[list[Checkpoint], list[Problem]]:
    """Every checkpoint file, parsed, oldest first; files that cannot be parsed come back as problems."""
    out: list[Checkpoint] = []
    problems: list[Problem] = []
    folder = workspace.checkpoints_dir
    if not folder.is_dir():
        return out, problems
    for path in sorted(folder.glob("ledger-*.json")):
        try:
            out.append(parse_checkpoint(path))
        except ValueError as exc:
            problems.append(Problem("bad_signature", None, f"checkpoint {path.name} is unreadable ({exc})"))
    out.sort(key=lambda c: (c.length, c.created_at))
    return out, problems


def verify(workspace: Workspace, catalog: Catalog, actor: Identity, *,
           public_key: Path | None = None, witness: Path | None = None, person: Person | None = None) -> VerifyReport:
    """Recompute the chain and compare it with every signed checkpoint and the signed head (``ledger verify``).

    ``public_key`` pins the key checkpoints must be signed with (default: the workspace's own public key file);
    ``witness`` is a copy of the head kept elsewhere (a ``head.json`` or its folder; default: the registered
    ``[ledger] witness``); ``person`` says who an actor is when approvals are compared (``Settings.person``).
    """
    require(actor, "verify_ledger")
    return verify_unchecked(workspace, catalog, public_key=public_key, witness=witness, person=person)


def verify_unchecked(workspace: Workspace, catalog: Catalog, *, public_key: Path | None = None,
                     witness: Path | None = None, person: Person | None = None) -> VerifyReport:
    """:func:`verify` without the role check, for benchmarks and internal callers that already checked."""
    started = time.perf_counter()
    problems: list[Problem] = []
    warnings: list[str] = []
    with catalog.connect() as con:
        unreadable = ledger_table_problem(con)
        if unreadable is not None:
            return VerifyReport(0, GENESIS_HASH, 0, None, (Problem("missing", 1, unreadable),), (),
                                time.perf_counter() - started)
        count, low, high, bad_hash, n_bad_hash = con.execute(_HASH_SQL).fetchone()
        bad_link, gap = con.execute(_LINK_SQL).fetchone()
        head_row = con.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()

        def describe(seq: int) -> str:
            row = con.execute("SELECT action, actor, recorded_at FROM ledger WHERE seq = ?", [seq]).fetchone()
            return f"entry {seq} ({row[0]} by {row[1]} at {row[2]:%Y-%m-%d %H:%M:%S})" if row else f"entry {seq}"

        if count and low != 1:
            problems.append(Problem("missing", 1, f"entries 1..{low - 1} are missing: the start was deleted"))
        if bad_hash is not None:
            problems.append(Problem("edited", bad_hash, f"{describe(bad_hash)}: stored hash does not match its "
                                    f"content — the entry was edited ({n_bad_hash} entr{'y' if n_bad_hash == 1 else 'ies'} "
                                    "affected)"))
        if gap is not None:
            problems.append(Problem("missing", gap - 1, f"entry {gap - 1} is missing: deleted from the ledger"))
        elif bad_link is not None:
            problems.append(Problem("broken_link", bad_link, f"{describe(bad_link)} does not follow entry "
                                    f"{bad_link - 1}: entries were deleted, inserted or reordered"))
        length = int(high or 0)
        head_hash = head_row[1] if head_row else GENESIS_HASH

        checkpoints, cp_problems = read_checkpoints(workspace)
        problems.extend(cp_problems)
        heads, head_problems, head_warnings = _read_heads(workspace, witness, count)
        problems.extend(head_problems)
        warnings.extend(head_warnings)
        valid, valid_heads = _signed(workspace, public_key, checkpoints, heads, problems)
        labelled = [(label, h) for label, h in heads if h in valid_heads]
        if not checkpoints:
            warnings.append("no signed checkpoint: a rewrite of the whole chain or a rollback would go unnoticed")

        newest = valid[-1] if valid else None
        if newest is not None and newest.length > length:
            problems.append(Problem(
                "truncated", length + 1,
                f"the ledger ends at entry {length} but a checkpoint signed at {newest.created_at:%Y-%m-%d %H:%M:%S} "
                f"by {newest.created_by} covers {newest.length} entries: entries {length + 1}..{newest.length} were "
                "removed, or the database was rolled back to an older copy",
            ))
        good_below = _rewritten(con, valid, length, problems)
        # a checkpoint that already found the tail cut or the chain rewritten says it first; the head adds the rest
        seen = {p.kind for p in problems}
        problems.extend(p for p in _check_heads(con, labelled, length, good_below)
                        if p.kind not in seen or p.kind == "rolled_back")
        signed_head = next((h for label, h in labelled if label == "signed head"), None)
        if signed_head is not None and signed_head.seq < length and not any(p.kind == "rewritten" for p in problems):
            problems.append(Problem(
                "unsealed", signed_head.seq + 1,
                f"entries {signed_head.seq + 1}..{length} are newer than the signed head and no Countersign commit "
                "sealed them: written outside Countersign, or just before a crash; review them, then accept them "
                "with 'countersign ledger checkpoint --accept-unsealed --reason …' if they are genuine"))
        if not count and not heads and has_written_before(workspace, con):
            problems.append(Problem(
                "missing_head", None,
                "the ledger is empty and its signed head is gone although this workspace has written to it before "
                "(a signing key, checkpoints or sync and request rows exist): the ledger was emptied"))
        problems.extend(Problem("state_mismatch", None, m.message)
                        for m in (state_mismatches(con, person) if person else state_mismatches(con)))
    return VerifyReport(length, head_hash, len(valid), newest, tuple(problems), tuple(warnings),
                        time.perf_counter() - started, signed_head)


def _signed(workspace: Workspace, public_key: Path | None, checkpoints: list[Checkpoint],
            heads: list[tuple[str, Head]], problems: list[Problem]) -> tuple[list[Checkpoint], list[Head]]:
    """The checkpoints and signed heads whose signatures verify with the trusted key; a problem for each other."""
    valid: list[Checkpoint] = []
    valid_heads: list[Head] = []
    pub: Ed25519PublicKey | None = None
    if checkpoints or heads:
        key_path = public_key or workspace.keys_dir / PUBLIC_KEY_FILE
        if not key_path.exists():
            problems.append(Problem("unknown_key", None, f"{len(checkpoints)} checkpoint(s) and {len(heads)} "
                                    f"signed head(s) exist but the public key {key_path} is missing: their "
                                    "signatures cannot be checked"))
        else:
            pub = load_public_key(key_path)
    if pub is not None:
        kid = key_id(pub)
        for cp in checkpoints:
            if cp.key_id != kid:
                problems.append(Problem("unknown_key", None, f"checkpoint {cp.path.name if cp.path else ''} "
                                        f"was signed by key {cp.key_id}, not the trusted key {kid}"))
                continue
            try:
                pub.verify(base64.b64decode(cp.signature),
                           signed_text(cp.length, cp.head_hash, cp.created_at, cp.created_by, cp.key_id))
            except (InvalidSignature, ValueError):
                problems.append(Problem("bad_signature", None, f"checkpoint {cp.path.name if cp.path else ''} "
                                        "has an invalid signature: it was altered"))
                continue
            valid.append(cp)
        for _, h in heads:
            try:
                if h.key_id != kid:
                    raise InvalidSignature
                pub.verify(base64.b64decode(h.signature), head_text(h.seq, h.hash, h.written_at, h.key_id))
            except (InvalidSignature, ValueError):
                problems.append(Problem("bad_signature", None, f"the signed head {h.path} does not verify with "
                                        f"the trusted key {kid}: it was altered or forged"))
                continue
            valid_heads.append(h)
    return valid, valid_heads


def _rewritten(con: Any, valid: list[Checkpoint], length: int, problems: list[Problem]) -> int:
    """Check the entries the valid checkpoints vouch for still carry the signed hashes (a problem for the first
    that does not); the last entry a checkpoint still vouches for."""
    good_below = 0
    if valid:
        lengths = sorted({cp.length for cp in valid if 0 < cp.length <= length})
        stored = dict(
            con.execute("SELECT seq, hash FROM ledger WHERE seq IN (SELECT unnest(?))", [lengths]).fetchall()
        ) if lengths else {}
        for cp in valid:
            if cp.length == 0 or cp.length > length:
                continue
            if stored.get(cp.length) != cp.head_hash:
                problems.append(Problem(
                    "rewritten", good_below + 1,
                    f"entry {cp.length} no longer has the hash signed in checkpoint "
                    f"{cp.path.name if cp.path else ''}: the chain was rewritten after entry {good_below} "
                    f"(the last entry a checkpoint still vouches for)",
                ))
                break
            good_below = cp.length
    return good_below


def _read_heads(workspace: Workspace, witness: Path | None,
                count: int) -> tuple[list[tuple[str, Head]], list[Problem], list[str]]:
    """The signed head in checkpoints/ and the witness's copy (unverified), with what is wrong or missing."""
    heads: list[tuple[str, Head]] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    local_path = workspace.checkpoints_dir / HEAD_FILE
    try:
        local = read_head(local_path)
    except ValueError as exc:
        problems.append(Problem("bad_signature", None, f"{exc}: the signed head was altered"))
    else:
        if local is not None:
            heads.append(("signed head", local))
        elif count:
            problems.append(Problem(
                "missing_head", None,
                f"{local_path} is missing although the ledger has {count} entries: the signed head was deleted, "
                "perhaps with the newest entries (a workspace older than signed heads needs one "
                "'countersign ledger checkpoint' to start it)"))
    target = witness if witness is not None else witness_of(workspace)
    if target is None:
        warnings.append("no witness of the signed head outside the workspace ([ledger] witness, or --witness): "
                        "restoring catalog.duckdb together with checkpoints/ from an older copy would go unnoticed")
        return heads, problems, warnings
    try:
        copy = read_head(target)
    except ValueError as exc:
        problems.append(Problem("bad_signature", None, f"witness {exc}: it was altered"))
        return heads, problems, warnings
    if copy is None:
        warnings.append(f"the witness {target} holds no signed head yet")
    else:
        heads.append(("witness", copy))
    return heads, problems, warnings


def _check_heads(con: duckdb.DuckDBPyConnection, heads: list[tuple[str, Head]], length: int,
                 good_below: int) -> list[Problem]:
    """Compare verified heads with the ledger, and the workspace's head with the witness."""
    problems: list[Problem] = []
    for label, h in heads:
        if h.seq > length:
            problems.append(Problem(
                "truncated", length + 1,
                f"the ledger ends at entry {length} but the {label} {h.path}, signed at "
                f"{h.written_at:%Y-%m-%d %H:%M:%S}, records entry {h.seq}: entries {length + 1}..{h.seq} were "
                "removed, or the database was restored from an older copy"))
        elif h.seq > 0 and hash_at(con, h.seq) != h.hash:
            problems.append(Problem(
                "rewritten", min(good_below, h.seq - 1) + 1,
                f"entry {h.seq} no longer has the hash recorded in the {label} {h.path}: the chain was rewritten "
                "or the database was restored from an older copy and written to since"))
    by_label = dict(heads)
    local, copy = by_label.get("signed head"), by_label.get("witness")
    if local is not None and copy is not None and copy.seq > local.seq:
        problems.append(Problem(
            "rolled_back", local.seq + 1,
            f"the signed head in checkpoints/ (entry {local.seq}) is older than the witness {copy.path} "
            f"(entry {copy.seq}): the workspace was restored from an older copy (database and checkpoints together)"))
    return problems


def verify_or_raise(workspace: Workspace, catalog: Catalog, actor: Identity) -> VerifyReport:
    """:func:`verify`, raising :class:`LedgerTampered` with the first bad entry when it fails."""
    report = verify(workspace, catalog, actor)
    if not report.ok:
        raise LedgerTampered(report.summary())
    return report
