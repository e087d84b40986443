"""Where the samples of a run's DataLoader are made: the ``return`` of its Dataset's ``__getitem__``.

A layout that comes from the data (images loaded height, width, channels; a window
sliced features by time) is fixed where each sample is made, not in the model. The
recorder notes where the user's Dataset class defines ``__getitem__``
(``run_info["loaders"][i]["getitem"]``, ``record/data_hook.py``); this reads that
function's source for its one ``return`` of a sample.
"""

from __future__ import annotations

import ast
import dataclasses

from shapetrace.analyze.checks._source import parsed_file
from shapetrace.core.records import Location
from shapetrace.core.source_file import read_lines
from shapetrace.core.trace import Trace
from shapetrace.errors import SourceNotFoundError


@dataclasses.dataclass(frozen=True)
class SampleReturn:
    """The line of ``__getitem__`` that returns the samples, the expression of the
    input among them (``img`` in ``return img, label``), and the Dataset's class."""

    location: Location
    sample: str
    dataset: str


def sample_return(trace: Trace, key: str = "getitem") -> SampleReturn | None:
    """The return of the one user Dataset the run's loaders read (``key="collate"``: of
    their one user ``collate_fn``; ``dataset`` is then its name); None when there are
    several, none, or the function returns in more than one place."""
    sources = {
        info[key]
        for info in trace.run_info.get("loaders", ())
        if isinstance(info, dict) and isinstance(info.get(key), str)
    }
    if len(sources) != 1:
        return None
    filename, _, line = sources.pop().rpartition(":")
    tree = parsed_file(filename) if line.isdigit() else None
    if tree is None:
        return None
    owners = {id(f): node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for f in node.body}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and _starts(function, line):
            if key == "getitem" and function.name != "__getitem__":
                continue
            return _returned(function, filename, owners.get(id(function), function.name))
    return None


def _starts(function: ast.FunctionDef, line: str) -> bool:
    first = min([function.lineno, *(decorator.lineno for decorator in function.decorator_list)])
    return str(first) == line or str(function.lineno) == line


def _returned(function: ast.FunctionDef, filename: str, dataset: str) -> SampleReturn | None:
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return) and node.value is not None]
    if len(returns) != 1 or returns[0].value is None:
        return None
    value = returns[0].value
    sample = value.elts[0] if isinstance(value, ast.Tuple) and value.elts else value
    if not isinstance(sample, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
        return None
    code = _line(filename, returns[0].lineno)
    return SampleReturn(Location(filename, returns[0].lineno, code, function.name), ast.unparse(sample), dataset)


def _line(filename: str, line: int) -> str:
    """The line as written, without its comment (a ``# bug`` note is not the code)."""
    try:
        text = read_lines(filename)[line - 1]
    except (SourceNotFoundError, IndexError):
        return ""
    return text.split("  #")[0].strip()
