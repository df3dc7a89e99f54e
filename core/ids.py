"""Typed ids: how version, request, decision and sync ids are built and read, in one place.

- a version id is ``account:model:version`` (:class:`VersionId`; model names may themselves hold ``:``);
- a promotion request id is ``PR-<yyyymmdd>-<6 hex>``; a decision id ``D-<12 hex>``;
- a sync id is ``<account>-<yyyymmddTHHMMSS>-<6 hex>``.
"""

from __future__ import annotations

import datetime as dt
import secrets

from core.errors import InputError
from core.structs import Row


class VersionId(Row, order=True):
    """The catalog id of one version of a model in one account."""

    account: str
    model: str
    version: int

    def __str__(self) -> str:
        return version_id_for(self.account, self.model, self.version)

    @classmethod
    def parse(cls, text: str) -> VersionId:
        """``account:model:version`` → its parts; an :class:`InputError` naming the expected form otherwise."""
        account, sep, rest = text.partition(":")
        model, sep2, number = rest.rpartition(":")
        if not (sep and sep2 and account and model and number.isdigit()):
            raise InputError(f"{text!r} is not a version id (expected ACCOUNT:MODEL:VERSION, e.g. lab:churn:3)")
        return cls(account, model, int(number))

    @staticmethod
    def looks_like(text: str | None) -> bool:
        """Whether ``text`` has the form ``account:model:version`` (rather than a bare version number)."""
        if not text:
            return False
        try:
            VersionId.parse(text)
        except InputError:
            return False
        return True


def version_id_for(account: str, model: str, version: int) -> str:
    """The catalog id of a version: ``account:model:version``."""
    return f"{account}:{model}:{version}"


def new_request_id(moment: dt.datetime) -> str:
    """A new promotion request id, dated ``moment``: ``PR-20261201-3fa9c2``."""
    return f"PR-{moment:%Y%m%d}-{secrets.token_hex(3)}"


def new_decision_id() -> str:
    """A new decision id: ``D-`` and 12 hex digits."""
    return f"D-{secrets.token_hex(6)}"


def new_sync_id(account: str, started: dt.datetime) -> str:
    """A new sync id of ``account``, started at ``started``: ``lab-20261201T101500-3fa9c2``."""
    return f"{account}-{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def new_dated_id(prefix: str, moment: dt.datetime) -> str:
    """A new id of a lifecycle record, dated ``moment``: ``FB-20261201-3fa9c2`` (fallback plan), ``INC-…``."""
    return f"{prefix}-{moment:%Y%m%d}-{secrets.token_hex(3)}"


def new_event_id(prefix: str) -> str:
    """A new id of one event of a lifecycle record: ``<prefix>-`` and 12 hex digits."""
    return f"{prefix}-{secrets.token_hex(6)}"
