"""Ledger subjects: how an entry names the object it is about (``request:PR-…``, ``version:acct:model:3``), in one
place, built and parsed the same way everywhere."""

from __future__ import annotations

REQUEST = "request"
VERSION = "version"
ACCOUNT = "account"
FALLBACK = "fallback"
INCIDENT = "incident"
MODEL = "model"


def request_subject(request_id: str) -> str:
    """The subject of the entries about promotion request ``request_id``."""
    return f"{REQUEST}:{request_id}"


def version_subject(version_id: str) -> str:
    """The subject of the entries about version ``version_id`` (exports, periodic reviews)."""
    return f"{VERSION}:{version_id}"


def account_subject(account: str) -> str:
    """The subject of an account's sync entries."""
    return f"{ACCOUNT}:{account}"


def fallback_subject(plan_id: str) -> str:
    """The subject of the entries about fallback plan ``plan_id`` (proposal, approvals, rehearsals, executions)."""
    return f"{FALLBACK}:{plan_id}"


def incident_subject(incident_id: str) -> str:
    """The subject of the entries about incident ``incident_id``."""
    return f"{INCIDENT}:{incident_id}"


def model_subject(model: str) -> str:
    """The subject of the entries about a logical model as a whole (its model card's edits and write-backs)."""
    return f"{MODEL}:{model}"


def parse_subject(subject: str) -> tuple[str, str]:
    """``(kind, id)`` of a subject (``("request", "PR-1")``); ``("", subject)`` for a bare one such as ``ledger``."""
    kind, sep, rest = subject.partition(":")
    return (kind, rest) if sep else ("", subject)


def request_of(subject: str) -> str | None:
    """The request id a subject names, or None when it names something else."""
    kind, rest = parse_subject(subject)
    return rest if kind == REQUEST else None
