"""Issue 33: "catch exactly what a comment names". A handler of every exception (``except Exception``,
``except BaseException``, a bare ``except``) that does not raise again must say why on its line: what it keeps
going, and why nothing narrower will do. Checked on the source of every package of the product."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "connectors", "governance", "countersign_cli", "portal", "app_pages")


def _broad(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(n is None or (isinstance(n, ast.Name) and n.id in ("Exception", "BaseException")) for n in names)


def _raises_again(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(s, ast.Raise) for s in handler.body)


def silent_broad_handlers() -> list[str]:
    """``path:line`` of each broad handler that neither raises again nor says why on its ``except`` line."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ExceptHandler) and _broad(node) and not _raises_again(node) \
                        and "#" not in lines[node.lineno - 1]:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_broad_handler_that_swallows_says_why() -> None:
    assert silent_broad_handlers() == []


def test_the_check_finds_a_silent_handler(tmp_path: Path) -> None:
    tree = ast.parse("try:\n    pass\nexcept Exception:\n    pass\n")
    (handler,) = [n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)]
    assert _broad(handler) and not _raises_again(handler)
