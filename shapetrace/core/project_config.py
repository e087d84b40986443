"""``[tool.shapetrace]`` in ``pyproject.toml``: a project's defaults for the command and the pytest plugin.

::

    [tool.shapetrace]
    fail-on = "warning"        # error | warning | never
    ignore = ["ST006"]         # finding codes to silence
    max-calls = 4              # scripts: passes recorded per model
    format = "table"           # the command's default output format

The file is the nearest ``pyproject.toml`` from the current folder up, as ruff
finds its own; the command line wins over it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from shapetrace.errors import ShapetraceError

KEYS = {"fail-on": str, "ignore": list, "max-calls": int, "format": str}
FAIL_ON = ("error", "warning", "never")


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` (default: the current folder) or above it."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_config(path: Path | None) -> dict[str, Any]:
    """The ``[tool.shapetrace]`` table of ``path``, checked; ``{}`` without one.

    Raises ``ShapetraceError`` naming the file for bad TOML, an unknown key or
    a value of the wrong type.
    """
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as bad:
        raise ShapetraceError(f"{path}: cannot read [tool.shapetrace]: {bad}") from None
    table = document.get("tool", {}).get("shapetrace", {})
    if not isinstance(table, dict):
        raise ShapetraceError(f"{path}: [tool.shapetrace] should be a table")
    for key, value in table.items():
        kind = KEYS.get(key)
        if kind is None:
            raise ShapetraceError(f"{path}: [tool.shapetrace] has no setting {key!r} (settings: {', '.join(KEYS)})")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ShapetraceError(f"{path}: [tool.shapetrace] {key} should be a {kind.__name__}, got {value!r}")
    if table.get("fail-on", "never") not in FAIL_ON:
        raise ShapetraceError(f"{path}: [tool.shapetrace] fail-on should be one of {', '.join(FAIL_ON)}")
    if table.get("max-calls", 1) < 1:
        raise ShapetraceError(f"{path}: [tool.shapetrace] max-calls should be at least 1, got {table['max-calls']}")
    if not all(isinstance(code, str) for code in table.get("ignore", [])):
        raise ShapetraceError(f'{path}: [tool.shapetrace] ignore should be a list of codes such as "ST006"')
    return dict(table)


def project_config(start: Path | None = None) -> dict[str, Any]:
    """``load_config(find_pyproject(start))``."""
    return load_config(find_pyproject(start))
