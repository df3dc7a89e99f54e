"""Model cards, as the Model page's card editor and ``countersign card`` see and act on them: the card with its
history, an edit, the write-back to the registries (docs/lifecycle.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from governance.cards import FIELDS
from governance.context import Context

if TYPE_CHECKING:
    from governance.cards import CardEdit, CardView, WriteBack


__all__ = ["FIELDS", "EditCardCommand", "WriteBackCommand", "WriteBackReport", "edit_card", "open_card", "write_back"]


@dataclass(frozen=True)
class EditCardCommand:
    """Change fields of ``model``'s card (an empty value clears one), saying why."""

    model: str
    changes: Mapping[str, str]
    comment: str = ""


@dataclass(frozen=True)
class WriteBackCommand:
    """Write Countersign's card of ``model`` to the registries holding it (only ``accounts`` when given)."""

    model: str
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteBackReport:
    """One result per registry; a conflict or a failure fails ``countersign card write-back``."""

    model: str
    results: tuple[WriteBack, ...] = field(default=())

    @property
    def failing(self) -> bool:
        """Whether a registry changed since the edit (a conflict, left as it is) or could not be written."""
        return any(r.status in ("conflict", "failed") for r in self.results)


def open_card(ctx: Context, model: str, *, read_registries: bool = True) -> CardView:
    """The card, its history, the required fields left empty and (``read_registries``) each registry's card now:
    the card editor (which does not read the registries) and ``countersign card show``."""
    from governance.cards import card_view

    return card_view(ctx, model, read_registries=read_registries)


def edit_card(ctx: Context, command: EditCardCommand) -> CardEdit:
    """Record an edit as ``ctx``'s identity (Save card, ``countersign card edit``)."""
    from governance.cards import edit_card as edit

    return edit(ctx, command.model, dict(command.changes), command.comment)


def write_back(ctx: Context, command: WriteBackCommand) -> WriteBackReport:
    """Write the card back, never over a registry's own change (the button, ``countersign card write-back``)."""
    from governance.cards import write_back as write

    return WriteBackReport(command.model, tuple(write(ctx, command.model, accounts=command.accounts)))
