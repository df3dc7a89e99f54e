"""Checks of what a person typed: one place that says, in one line, what is missing."""

from __future__ import annotations

from core.errors import InputError


def required_text(value: str | None, what: str, *, minimum: int = 1) -> str:
    """``value`` stripped, or an :class:`~core.errors.InputError` naming ``what`` when it is shorter than ``minimum``."""
    text = (value or "").strip()
    if len(text) < minimum:
        raise InputError(f"{what} is required" + (f" (at least {minimum} characters)" if minimum > 1 else ""))
    return text
