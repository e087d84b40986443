"""ST003 under ``shapetrace run``: a view in the user's loop that writes the loader's batch size.

``images.view(batch_size, -1)`` in a training loop fits every full batch and, on the
short last batch (4 images of a loader of 32), still fits when 32 divides 4 * 784:
the model gets (32, 98) and fails far from the cause. ``trace()`` records that view
(``baked_loop_view``); ``shapetrace run`` records no op outside the
model, but the sizes tell it all the same: a model input whose dim 0 is the loader's
batch size while it holds the elements of the loader's short last batch (as many as
``last_batch`` samples of another pass's input) is that batch, re-cut with the batch
size written in. The line is read from the user's source: the last assignment, before
the model call, of the name passed to the model, made by a view/reshape whose first
size is not read from the data.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._source import parsed_file
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import size_args
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call, Location
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import SIZE_ARGUMENT_OPS
from shapetrace.core.trace import Trace

_RESHAPES = ("view", "reshape")
_FROM_DATA = ("size", "shape", "len", "numel")


def _per_sample(roots: list[Call], path: str, batch: int) -> int | None:
    """The elements per sample of input ``path`` in a pass whose dim 0 is the full ``batch``."""
    for root in roots:
        meta = root.input_at(path)
        if meta is not None and meta.shape and meta.shape[0] == batch:
            return math.prod(meta.shape[1:])
    return None


def _reads_data(node: ast.AST) -> bool:
    """``x.size(0)``, ``x.shape[0]``, ``len(x)``: a size that follows the data."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in _FROM_DATA:
            return True
        if isinstance(sub, ast.Name) and sub.id in _FROM_DATA:
            return True
    return False


def _enclosing(tree: ast.Module, line: int) -> ast.AST:
    """The innermost function around ``line`` (the module itself at the top level)."""
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    around = [node for node in functions if node.lineno <= line <= (node.end_lineno or 0)]
    return max(around, key=lambda node: node.lineno) if around else tree


def _culprit(location: Location, batch: int) -> tuple[int, ast.Call, str] | None:
    """``(line, the view call, the name it assigns)``: the latest assignment before the
    model call of a name the call passes, made by a view/reshape whose first size is
    written (not read from the data) and, where a number, is ``batch``."""
    tree = parsed_file(location.filename)
    if tree is None:
        return None
    scope = _enclosing(tree, location.lineno)
    passed = {
        arg.id
        for node in ast.walk(scope)
        if isinstance(node, ast.Call) and node.lineno <= location.lineno <= (node.end_lineno or node.lineno)
        for arg in node.args[:1]
        if isinstance(arg, ast.Name)
    }
    best: tuple[int, ast.Call, str] | None = None
    for node in ast.walk(scope):
        if not isinstance(node, ast.Assign) or node.lineno >= location.lineno or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if not isinstance(target, ast.Name) or target.id not in passed or not isinstance(value, ast.Call):
            continue
        func = value.func
        if not isinstance(func, ast.Attribute) or func.attr not in _RESHAPES or not value.args:
            continue
        first = value.args[0]
        if _reads_data(first) or (isinstance(first, ast.Constant) and first.value != batch):
            continue
        if best is None or node.lineno > best[0]:
            best = (node.lineno, value, target.id)
    return best


def _line(location: Location, number: int) -> str:
    """Line ``number`` of the file of ``location``, stripped; "" when it cannot be read."""
    try:
        with open(location.filename, encoding="utf-8") as handle:
            return handle.read().splitlines()[number - 1].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def unrecorded_loop_views(flow: TraceLineage, roots: list[Call], loaders: list[dict]) -> Iterator[Finding]:
    """ST003 on the line of the user's loop that re-cut a loader's short last batch with
    the loader's batch size in dim 0, where no op recorded it (see the module's doc)."""
    for loader in loaders:
        batch, last = loader["batch_size"], loader.get("last_batch")
        if not isinstance(last, int) or not 0 < last < batch:
            continue
        for root in roots:
            for index, meta in enumerate(root.inputs):
                found = _recut(flow, roots, root, index, meta, batch, last)
                if found is not None:
                    yield found
                    return


def _recut(
    flow: TraceLineage, roots: list[Call], root: Call, index: int, meta: TensorMeta, batch: int, last: int
) -> Finding | None:
    if len(meta.shape) < 2 or meta.shape[0] != batch or flow.source(root, index) is not None:
        return None
    per_sample = _per_sample([one for one in roots if one is not root], meta.path, batch)
    if per_sample is None or math.prod(meta.shape) != last * per_sample or math.prod(meta.shape[1:]) == per_sample:
        return None
    location = root.location
    culprit = _culprit(location, batch) if location is not None else None
    if location is None or culprit is None:
        return None
    line, view, name = culprit
    written = ast.unparse(view.args[0])
    sizes = ", ".join(ast.unparse(arg) for arg in view.args)
    rest = ", ".join(ast.unparse(arg) for arg in view.args[1:])
    receiver = ast.unparse(view.func.value) if isinstance(view.func, ast.Attribute) else name
    method = view.func.attr if isinstance(view.func, ast.Attribute) else "view"
    message = (
        f"{receiver}.{method}({sizes}) at line {line} makes the model input {format_shape(meta)} of line "
        f"{location.lineno} from the DataLoader's short last batch of {last} ({last} × {per_sample} elements): "
        f"{batch} ({written}) is its batch size baked in"
    )
    hint = f"use {receiver}.{method}({', '.join([f'{receiver}.size(0)', *([rest] if rest else [])])})"
    # about the model call (the note's "explained by" then lists it), at the view's line
    found = finding("ST003", root, message, hint)
    return dataclasses.replace(found, location=Location(location.filename, line, _line(location, line)))


def loader_sizes(trace: Trace) -> list[dict]:
    """The DataLoaders a run iterated (``run_info["loaders"]``) whose default collate
    stacks the samples along a new dim 0, with a batch size."""
    return [
        info
        for info in trace.run_info.get("loaders", ())
        if isinstance(info, dict) and info.get("batch_size") and info.get("default_collate", True)
    ]


def baked_loop_view(trace: Trace, call: Call) -> tuple[dict, int] | None:
    """``(loader, its batch size)`` when ``call`` is a view/reshape in the user's own
    loop (outside the model) that asks for a loader's batch size in dim 0 of a
    tensor whose dim 0 is that loader's short last batch: ``images.view(batch_size, -1)``
    on a batch of 4 of a loader of 32."""
    if call.parent is not None or call.kind != "op" or call.name not in SIZE_ARGUMENT_OPS or not call.inputs:
        return None
    shape, sizes = call.inputs[0].shape, size_args(call)
    if not shape or not sizes or call.name.startswith("expand"):
        return None
    for info in loader_sizes(trace):
        if shape[0] == info.get("last_batch") and sizes[0] == info["batch_size"] != shape[0]:
            return info, sizes[0]
    return None


__all__ = ["baked_loop_view", "loader_sizes", "unrecorded_loop_views"]
