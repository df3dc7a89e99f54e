"""The progress callback long work reports through (sync, evidence, reports); pages draw it, the CLI prints it."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, float], None]
"""Progress callback: a short message and a fraction in [0, 1]."""


def no_progress(message: str, fraction: float) -> None:
    """A progress callback that ignores everything."""
