"""A promotion request as its ledger entries tell it: the authority for approvals and execution.

The catalog's ``promotion_requests`` and ``decisions`` rows are a cache of the ledger, convenient to list and cheap
to edit by hand. Approval and execution therefore count approvals from the request's ledger entries (who, when,
which artifact digest, which policy version), never from a status column, and ``ledger verify`` compares the cache
with this replay (:func:`state_mismatches`): every difference is a finding.

Replay rules (oldest entry first): ``request.create`` opens the request pending; each ``request.approve`` by a new
person who is neither the requester nor the version's creator counts once; the request is approved when the count
reaches what its ``request.create`` entry required; ``request.reject`` / ``request.cancel`` close it;
``execute.start`` … ``execute.done`` / ``execute.failed`` follow the execution.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from governance.ledger.chain import Entry
from governance.ledger.subjects import REQUEST, request_of, request_subject

_COLUMNS = "seq, recorded_at, actor, action, subject, payload, prev_hash, hash"

Person = Callable[[str], str]
"""actor → the one person it is (``Settings.person``: ``os:`` users mapped to their e-mail, case folded)."""


def _lower(actor: str) -> str:
    return actor.strip().lower()


@dataclass(frozen=True)
class LedgerApproval:
    """One counted approval as the ledger recorded it."""

    actor: str
    seq: int
    at: dt.datetime
    artifact_sha256: str | None
    policy_version: str | None


@dataclass(frozen=True)
class LedgerRequest:
    """Where a promotion request stands according to its ledger entries alone."""

    request_id: str
    version_id: str
    requester: str
    to_env: str
    target_account: str
    approvals_required: int
    artifact_sha256: str | None
    created_by: str | None
    created_seq: int
    status: str = "pending"
    approvals: tuple[LedgerApproval, ...] = ()
    ignored: tuple[str, ...] = ()  # approvals that did not count, and why
    execution_state: str | None = None
    target_version_id: str | None = None
    entries: tuple[int, ...] = field(default=(), repr=False)

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(a.actor for a in self.approvals)

    def progress(self) -> str:
        """``1 of 2 approvals recorded in the ledger``."""
        return f"{len(self.approvals)} of {self.approvals_required} approvals recorded in the ledger"


def _entry(row: tuple[Any, ...]) -> Entry:
    seq, at, actor, action, subject, payload, prev, digest = row
    return Entry(seq, at, actor, action, subject or "", json.loads(payload), prev, digest)


def _open(entry: Entry, request_id: str) -> LedgerRequest:
    p = entry.payload
    return LedgerRequest(
        request_id=request_id, version_id=str(p.get("version_id", "")), requester=entry.actor,
        to_env=str(p.get("to_env", "")), target_account=str(p.get("target_account", "")),
        approvals_required=int(p.get("approvals_required", 1)), artifact_sha256=p.get("artifact_sha256"),
        created_by=p.get("created_by"), created_seq=entry.seq, entries=(entry.seq,))


def _approve(state: LedgerRequest, entry: Entry, person: Person) -> LedgerRequest:
    who = person(entry.actor)
    why = None
    if state.status != "pending":
        why = f"entry {entry.seq}: {entry.actor} approved a request that was {state.status}"
    elif who == person(state.requester):
        why = f"entry {entry.seq}: {entry.actor} is the person who requested this promotion (four eyes)"
    elif state.created_by and who == person(state.created_by):
        why = f"entry {entry.seq}: {entry.actor} is the person who created the version (four eyes)"
    elif who in {person(a) for a in state.approvers}:
        why = f"entry {entry.seq}: {entry.actor} is a person who had approved already"
    if why is not None:
        return replace(state, ignored=(*state.ignored, why))
    p = entry.payload
    approval = LedgerApproval(entry.actor, entry.seq, entry.recorded_at, p.get("artifact_sha256"),
                              p.get("policy_version"))
    approvals = (*state.approvals, approval)
    status = "approved" if len(approvals) >= state.approvals_required else "pending"
    return replace(state, approvals=approvals, status=status,
                   execution_state="queued" if status == "approved" else None)


_CLOSES = {"request.reject": ("rejected", ("pending",)),
           "request.cancel": ("cancelled", ("pending", "approved", "failed"))}


def replay(request_id: str, entries: Iterable[Entry], person: Person = _lower) -> LedgerRequest | None:
    """The state of ``request_id`` after its ``entries`` (oldest first); None without a ``request.create``.
    ``person`` says who an actor is (four eyes compares people, not spellings)."""
    state: LedgerRequest | None = None
    for e in entries:
        if e.action == "request.create":
            state = state or _open(e, request_id)
            continue
        if state is None:
            continue
        state = replace(state, entries=(*state.entries, e.seq))
        if e.action == "request.approve":
            state = _approve(state, e, person)
        elif e.action in _CLOSES:
            status, allowed = _CLOSES[e.action]
            if state.status in allowed:
                state = replace(state, status=status)
        elif e.action == "execute.start" and state.status in ("approved", "failed", "executing"):
            state = replace(state, status="executing", execution_state=str(e.payload.get("resume_from") or "queued"))
        elif e.action in ("execute.source_approved", "execute.target_registered") and state.status == "executing":
            state = replace(state, execution_state=e.action.split(".", 1)[1],
                            target_version_id=e.payload.get("target_version_id", state.target_version_id))
        elif e.action == "execute.done" and state.status == "executing":
            state = replace(state, status="executed", execution_state="done",
                            target_version_id=e.payload.get("target_version_id", state.target_version_id))
        elif e.action == "execute.failed" and state.status == "executing":
            state = replace(state, status="failed")
    return state


def request_from_ledger(con: Any, request_id: str, person: Person = _lower) -> LedgerRequest | None:
    """The state of ``request_id`` replayed from its ledger entries, read on connection ``con`` (inside the
    caller's transaction, so a decision and the state it was taken on are one)."""
    rows = con.execute(f"SELECT {_COLUMNS} FROM ledger WHERE subject = ? ORDER BY seq",
                       [request_subject(request_id)]).fetchall()
    return replay(request_id, (_entry(r) for r in rows), person)


def all_requests(con: Any, person: Person = _lower) -> dict[str, LedgerRequest]:
    """Every request the ledger knows, replayed."""
    rows = con.execute(f"SELECT {_COLUMNS} FROM ledger WHERE subject LIKE ? ORDER BY seq", [f"{REQUEST}:%"]).fetchall()
    by_request: dict[str, list[Entry]] = {}
    for row in rows:
        e = _entry(row)
        rid = request_of(e.subject)
        if rid is not None:
            by_request.setdefault(rid, []).append(e)
    out = {}
    for rid, entries in by_request.items():
        state = replay(rid, entries, person)
        if state is not None:
            out[rid] = state
    return out


@dataclass(frozen=True)
class Mismatch:
    """One difference between the catalog's request state and the ledger's."""

    request_id: str
    message: str


def _compare(rid: str, row: Mapping[str, Any], approvers: set[str], truth: LedgerRequest,
             person: Person) -> list[Mismatch]:
    out = []
    if row["status"] != truth.status:
        out.append(Mismatch(rid, f"request {rid}: the catalog says {row['status']}, its ledger entries say "
                            f"{truth.status} ({truth.progress()})"))
    recorded = {person(a) for a in truth.approvers}
    if approvers != recorded:
        out.append(Mismatch(rid, f"request {rid}: the catalog lists approvals by "
                            f"{', '.join(sorted(approvers)) or 'nobody'}, the ledger by "
                            f"{', '.join(sorted(recorded)) or 'nobody'}"))
    if (row.get("target_version_id") or None) != (truth.target_version_id or None) and truth.status == "executed":
        out.append(Mismatch(rid, f"request {rid}: the catalog names target {row.get('target_version_id')}, the "
                            f"ledger {truth.target_version_id}"))
    if row["version_id"] != truth.version_id:
        out.append(Mismatch(rid, f"request {rid}: the catalog names version {row['version_id']}, the ledger "
                            f"{truth.version_id}"))
    return out


def state_mismatches(con: Any, person: Person = _lower) -> list[Mismatch]:
    """Every difference between the catalog's requests and approvals and what the ledger records (``verify``)."""
    truth = all_requests(con, person)
    rows = {r[0]: dict(zip(("request_id", "version_id", "status", "target_version_id"), r, strict=True))
            for r in con.execute("SELECT request_id, version_id, status, target_version_id "
                                 "FROM promotion_requests").fetchall()}
    approvals: dict[str, set[str]] = {}
    for rid, actor in con.execute("SELECT request_id, actor FROM decisions WHERE kind = 'approve'").fetchall():
        approvals.setdefault(rid, set()).add(person(actor))
    out: list[Mismatch] = []
    for rid in sorted(set(rows) | set(truth)):
        if rid not in truth:
            out.append(Mismatch(rid, f"request {rid} is in the catalog but the ledger never recorded it"))
        elif rid not in rows:
            out.append(Mismatch(rid, f"request {rid} is in the ledger but missing from the catalog"))
        else:
            out.extend(_compare(rid, rows[rid], approvals.get(rid, set()), truth[rid], person))
    return out
