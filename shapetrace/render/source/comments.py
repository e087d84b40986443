"""The comment of one statement: what it produced, as the article writes it.

``output, _ = self.lstm(x, (h_0, c_0))`` gets ``output (5, 30, 64), h_n
(5, 5, 64), c_n (5, 5, 64)``: assigned names label the tensors, ``_`` takes
PyTorch's own name. ``x = x.view(...)`` gets just ``(150, 64)``: the name is
not repeated where the statement rebinds a name it reads (the article's
habit). A statement run several times shows each distinct result once with
its count: ``(4, 2) ×7``.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from collections.abc import Sequence

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_op, format_shape, tensor_name
from shapetrace.render.marks import marked_shape, marked_shapes
from shapetrace.render.passes import fold_sizes
from shapetrace.render.source.reader import UNBOUNDED, Statement
from shapetrace.render.structure import relative_name


def statement_comment(
    calls_per_forward: Sequence[Sequence[Call]], statement: Statement, *, verbose: bool = False
) -> str:
    """The comment for the calls one statement recorded, per forward call."""
    per_forward = [
        [describe_run(run, statement, verbose=verbose) for run in split_runs(calls, statement)]
        for calls in calls_per_forward
    ]
    texts = [text for found in per_forward for text in found]
    if len(texts) == 1:
        return texts[0]
    counts = Counter(texts)
    if all(len(found) == 1 for found in per_forward):
        # once a pass, passes at other batch sizes: one text, (16|8, 10) ×2 (render/passes.py);
        # a loop's steps within one pass keep a text per shape
        return "; ".join(f"{text} ×{count}" for text, count in fold_sizes(counts))
    return "; ".join(f"{text} ×{count}" for text, count in counts.items())


# ------------------------------------------------------------------ runs
def split_runs(calls: Sequence[Call], statement: Statement) -> list[list[Call]]:
    """Cut the calls of one statement within one forward call into its runs.

    Without frames in the trace, a loop running ``x = x.view(b * t, -1)``
    twice and ``x.view(a).view(b)`` once both record two views; the
    statement's own code tells them apart: how many calls one run can make
    (``steps``) and how often it names each (``called``). Of the ways to cut
    the calls into equal runs, the first whose runs call each name as often as
    the code does wins; then any that fits; else the calls are cut greedily.
    Where the ops' expressions are known (``Call.site``) and the statement has
    no comprehension, each expression runs once a run: a run holds an op's
    site once, whatever the names (``x.mul(w) * m`` runs two muls where the
    code names one), and the code's names judge the module calls only.
    """
    count = len(calls)
    sited = statement.steps < UNBOUNDED and all(call.kind == "module" or call.site is not None for call in calls)
    fitting = [
        size
        for size in range(1, count + 1)
        if count % size == 0
        and _repeats(calls, size)
        and all(
            _own_steps(chunk) <= statement.steps and _fits(chunk, statement, sited=sited)
            for chunk in _chunks(calls, size)
        )
    ]
    # once: a 1,999-step loop has 1,999 chunks
    seen = {_called_as(call) for call in calls if not (sited and call.kind == "op")}
    exact = [
        size for size in fitting if all(_calls_as_written(chunk, seen, statement) for chunk in _chunks(calls, size))
    ]
    if exact or fitting:
        return _chunks(calls, (exact or fitting)[0])
    return _greedy(calls, statement, sited=sited)


def _own_steps(calls: Sequence[Call]) -> int:
    """How many of the statement's own expressions ``calls`` take: an op PyTorch's Python
    code ran at the user's line (``pack_padded_sequence``'s ``index_select``, a negative
    ``Call.site``) is a step of the user's call, not one of its own."""
    return sum(1 for call in calls if not (call.kind == "op" and call.site is not None and call.site < 0))


def _chunks(calls: Sequence[Call], size: int) -> list[list[Call]]:
    return [list(calls[i : i + size]) for i in range(0, len(calls), size)]


def _kind(call: Call) -> tuple[str, str, int | None]:
    """Calls of one run repeat by kind: an op by name and expression (site), a
    module by type (``layers.0`` and ``layers.1`` are one ``layer(x)`` in a loop)."""
    if call.kind == "op":
        return call.kind, call.name, call.site
    return call.kind, call.type, None


def _repeats(calls: Sequence[Call], size: int) -> bool:
    kinds = [_kind(call) for call in calls]
    return all(kinds[i] == kinds[i - size] for i in range(size, len(kinds)))


def _called_as(call: Call) -> str:
    """The name the code calls: ``lstm`` for ``self.lstm(...)``, ``view`` for ``.view``."""
    return call.name.rsplit(".", 1)[-1] if call.kind == "module" else call.name


def _fits(chunk: Sequence[Call], statement: Statement, *, sited: bool = False) -> bool:
    if sited:
        sites = [call.site for call in chunk if call.kind == "op"]
        if len(set(sites)) < len(sites):
            return False
        chunk = [call for call in chunk if call.kind == "module"]
    used = Counter(_called_as(call) for call in chunk)
    return all(n <= statement.called[name] for name, n in used.items() if name in statement.called)


def _calls_as_written(chunk: Sequence[Call], seen: set[str], statement: Statement) -> bool:
    used = Counter(_called_as(call) for call in chunk)
    return all(used[name] == n for name, n in statement.called.items() if name in seen)


def _greedy(calls: Sequence[Call], statement: Statement, *, sited: bool = False) -> list[list[Call]]:
    runs: list[list[Call]] = [[]]
    for call in calls:
        if _own_steps([*runs[-1], call]) > statement.steps or not _fits([*runs[-1], call], statement, sited=sited):
            runs.append([])
        runs[-1].append(call)
    return [run for run in runs if run]


# ---------------------------------------------------------------- labels
def describe_run(run: Sequence[Call], statement: Statement, *, verbose: bool = False) -> str:
    """``output (150, 64)``; verbose: ``(5, 30, 64) -> contiguous -> view -> (150, 64)``."""
    last = run[-1]
    failed = last.error is not None
    if failed:
        result = f"✗ {str(last.error).split(':')[0]}"
    elif not last.outputs and last.inputs:  # `outputs[t] = o`: no result, a write into a tensor
        result = _written(last)
    else:
        result = ", ".join(named_shapes(last, statement))
    return _steps(run, result) if verbose else result


def _written(call: Call) -> str:
    """``(4, 25) into (6, 4, 25)`` for ``outputs[t] = o``: the value written and the
    tensor written into (``into (6, 4, 25)`` for a number)."""
    target, value = call.inputs[0], call.input_at("2")
    written = f"{marked_shape(value)} into " if value is not None else "into "
    return written + marked_shape(target)


def _steps(run: Sequence[Call], result: str) -> str:
    """Each step of a run, with the shape after it wherever the shape changed."""
    first = run[0]
    parts: list[str] = []
    shape = first.inputs[0].shape if first.inputs else None
    if first.inputs:
        parts.append(format_shape(first.inputs[0]))
    for position, call in enumerate(run):
        parts.append(format_op(call, 24) if call.name == "__getitem__" else relative_name(call))
        if call.outputs and call.outputs[0].shape != shape and position < len(run) - 1:
            parts.append(format_shape(call.outputs[0]))
        shape = call.outputs[0].shape if call.outputs else shape
    return " -> ".join([*parts, result])


# A PackedSequence's fields (torch.nn.utils.rnn): shown as one tensor, its data.
_PACKED_FIELDS = ("data", "batch_sizes", "sorted_indices", "unsorted_indices")


def named_shapes(call: Call, statement: Statement) -> list[str]:
    """The call's outputs, labelled by the names the statement binds them to; a
    PackedSequence as its data, ``out packed (34, 48)`` (its other fields are the
    batch's bookkeeping, not a shape of the model's)."""
    names = _bound_names(statement)
    packed = _packed_prefixes(call.outputs)
    if not names and not packed:
        return marked_shapes(call, call.outputs)
    labels = []
    for meta in call.outputs:
        prefix, _, field = meta.path.rpartition(".")
        if prefix in packed and field != "data":
            continue
        if prefix in packed:
            label = _label(call, dataclasses.replace(meta, path=prefix), names) if names else ""
            labels.append(f"{label} packed {marked_shape(meta)}".strip())
            continue
        label = _label(call, meta, names) if names else ""
        shape = marked_shape(meta)
        labels.append(f"{label} {shape}" if label else shape)
    return labels


def _packed_prefixes(metas: Sequence[TensorMeta]) -> set[str]:
    """The output paths that hold a PackedSequence (``0`` for an LSTM given one)."""
    fields: dict[str, set[str]] = {}
    for meta in metas:
        prefix, _, field = meta.path.rpartition(".")
        fields.setdefault(prefix, set()).add(field)
    # sorted_indices and unsorted_indices are None where the batch came sorted
    return {prefix for prefix, found in fields.items() if {"data", "batch_sizes"} <= found <= set(_PACKED_FIELDS)}


def _label(call: Call, meta: TensorMeta, names: dict[str, str]) -> str:
    """``output``; ``h_n`` where the name is ``_``; ``hidden[0]`` inside a name."""
    prefix = max(
        (p for p in names if p == "" or meta.path == p or meta.path.startswith(p + ".")), key=len, default=None
    )
    if prefix is None:
        return ""
    name = names[prefix]
    if name == "_":
        own = tensor_name(call, meta)
        return "" if own == meta.path else own
    rest = meta.path[len(prefix) :].lstrip(".")
    return name + "".join(f"[{part}]" if part.isdigit() else f"[{part!r}]" for part in rest.split(".") if part)


def _bound_names(statement: Statement) -> dict[str, str]:
    """Output path prefix -> the name it is bound to; empty where nothing is named."""
    target = statement.target
    if target is None or (isinstance(target, ast.Name) and target.id in statement.reads):
        return {}
    names: dict[str, str] = {}
    _bind(target, "", names)
    return names


def _bind(target: ast.expr, prefix: str, names: dict[str, str]) -> None:
    if isinstance(target, (ast.Tuple, ast.List)):
        if any(isinstance(element, ast.Starred) for element in target.elts):
            return  # positions after a starred name are unknown
        for position, element in enumerate(target.elts):
            _bind(element, f"{prefix}.{position}" if prefix else str(position), names)
    else:
        names[prefix] = ast.unparse(target)
