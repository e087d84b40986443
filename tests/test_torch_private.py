"""The canary: every private torch API shapetrace uses is still where it was.

A torch release may move any of them; this test names the one that moved,
why shapetrace needs it and where it is used, so the fix starts in
``shapetrace/core/torch_private.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import torch

from shapetrace.core import torch_private
from tests.package_sources import parsed

PACKAGE = Path(__file__).resolve().parent.parent / "shapetrace"


def _report(apis) -> str:
    return "\n".join(f"  {api.path}: {api.why} (used in {', '.join(api.used_in)})" for api in apis)


def test_every_private_torch_api_is_there():
    gone = [api for api in torch_private.missing() if not api.optional]
    assert not gone, (f"torch {torch.__version__} moved or removed private APIs shapetrace relies on:\n"
                      f"{_report(gone)}\nAdapt shapetrace/core/torch_private.py and the modules named.")


def test_optional_private_apis_are_there_too():
    """Their loss costs a feature, not a crash: still worth knowing at once."""
    gone = [api for api in torch_private.missing() if api.optional]
    assert not gone, f"torch {torch.__version__} lacks optional private APIs:\n{_report(gone)}"


def test_the_modules_named_exist():
    for api in torch_private.PRIVATE_APIS:
        for path in api.used_in:
            assert (PACKAGE / path).is_file(), f"{api.path}: used_in names {path}, which is not a module"


def test_no_private_torch_api_is_used_outside_the_list():
    """``torch._C.X`` or ``torch.a._b`` in code must be one of PRIVATE_APIS (bound in torch_private)."""
    allowed = PACKAGE / "core" / "torch_private.py"
    listed = {part for api in torch_private.PRIVATE_APIS for part in api.path.replace(":", ".").split(".")}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == allowed:
            continue
        for node in ast.walk(parsed(path)):
            dotted = None
            if isinstance(node, ast.Attribute):
                dotted = ast.unparse(node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                dotted = next((n for n in names if n.startswith("torch")), None)
            if dotted and dotted.startswith("torch") and any(
                    part.startswith("_") and not part.startswith("__") and part not in listed
                    for part in dotted.split(".")):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {dotted}")
    assert not found, "private torch APIs used outside core/torch_private.py:\n" + "\n".join(found)
