"""The layers: dependencies point down only (front ends > render > analyze > record > core).

CI runs ``lint-imports`` (the contract in pyproject.toml, with its list of
deliberate exceptions); this test holds the same rule without import-linter,
and checks that every exception is an import made on use, inside a function.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.package_sources import parsed

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shapetrace"
RANK = {"core": 0, "record": 1, "analyze": 2, "render": 3, "cli": 4, "testing": 4}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST, *, in_function: bool = False):
    """(module imported, line, made inside a function) for each import of the package."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # annotations only: never imported at run time
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, inside
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno, inside
        yield from _imports(node, in_function=inside)


def _declared_exceptions() -> set[tuple[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {tuple(part.strip() for part in line.split("->"))
            for contract in config["contracts"] for line in contract.get("ignore_imports", [])}


def test_no_layer_imports_a_higher_one_at_module_level():
    wrong = []
    for name, path in _modules().items():
        layer = _layer(name)
        if layer is None:
            continue
        for imported, line, inside in _imports(parsed(path)):
            target = _layer(imported)
            if target is not None and RANK[target] > RANK[layer] and not inside:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
            if target is not None and target != layer and RANK[target] == RANK[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported} (front ends are independent)")
    assert not wrong, "a lower layer imports a higher one at module level:\n" + "\n".join(wrong)


def test_every_upward_import_is_a_declared_exception_made_on_use():
    declared = _declared_exceptions()
    upward = set()
    for name, path in _modules().items():
        layer = _layer(name)
        for imported, line, _ in _imports(parsed(path)):
            target = _layer(imported)
            if layer is not None and target is not None and RANK[target] > RANK[layer]:
                upward.add((name, imported))
                assert (name, imported) in declared, (
                    f"{path.relative_to(ROOT)}:{line} imports {imported}, a higher layer: move the shared code "
                    "down, or, for a deliberate delegation, list it in pyproject.toml's ignore_imports")
    assert upward == declared, f"ignore_imports lists imports that no longer exist: {declared - upward}"


def test_errors_import_nothing_of_the_package_at_run_time():
    tree = parsed(PACKAGE / "errors.py")
    assert [m for m, _, _ in _imports(tree) if m.startswith("shapetrace")] == []


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (the test extra)")
def test_the_import_linter_contract_holds():
    # by its full path: under .ci/run's venv (system site packages) the script is the system's
    done = subprocess.run([shutil.which("lint-imports")], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
