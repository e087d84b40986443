"""The package's modules parsed once per test session: the layer and
private-API tests walk every module's syntax tree (parsing them all is most
of their time)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "shapetrace"


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The syntax tree of one module of the package (do not change it: it is shared)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
