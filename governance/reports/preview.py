"""A PNG of one page of a PDF, through poppler's ``pdftoppm`` (Debian ``poppler-utils``) when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from core.errors import InputError


def can_preview() -> bool:
    """Whether ``pdftoppm`` is on the PATH."""
    return shutil.which("pdftoppm") is not None


def page_png(pdf: bytes, page: int = 1, dpi: int = 70) -> bytes | None:
    """PNG bytes of page ``page`` of ``pdf``; None when poppler is not installed."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="cs-preview-") as tmp:
        src = Path(tmp) / "doc.pdf"
        src.write_bytes(pdf)
        done = subprocess.run(
            [exe, "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(src), str(Path(tmp) / "p")],
            capture_output=True, timeout=60, check=False,
        )
        out = Path(tmp) / "p.png"
        if done.returncode != 0 or not out.exists():
            raise InputError(f"pdftoppm could not render page {page}: {done.stderr.decode(errors='replace').strip()}")
        return out.read_bytes()
