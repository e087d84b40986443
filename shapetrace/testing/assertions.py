"""``assert_shapes``: one-line shape contracts for a model's tests."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Mapping

from rich import box
from rich.table import Table

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape, tensor_name
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError, UnknownTensorError
from shapetrace.render.report import make_console
from shapetrace.testing.spec import Bindings, Match, ShapeSpec, SpecLike, format_bindings, match_all, parse_spec

TensorSpecs = Mapping[str, SpecLike]
Spec = Mapping[str, SpecLike | TensorSpecs]
_ROOT_LABEL = "(root)"
_FIRST_MISMATCH = ">"


@dataclasses.dataclass(frozen=True)
class _Check:
    label: str
    spec: ShapeSpec
    meta: TensorMeta


def assert_shapes(trace_or_call: Trace | Call, spec: Spec) -> Bindings:
    """Check shapes against specs and return the dims they bound.

    Keys are modules' qualified names (``""`` is the root); a value is the
    spec of that call's first output, or a dict from tensors (``"in"``,
    ``"out"``, a name such as ``"h_n"``, or a path such as ``"1.0"``) to specs.
    A dim is an int, a name bound on first use (``B``), ``*``, ``...`` or a
    product ``(B*T)``::

        shapetrace.assert_shapes(t, {
            "lstm": {"in": "B T 1", "out": "B T 64", "h_n": "L B 64"},
            "linear": "(B*T) 1",
            "": "B 1",
        })                               # -> {'B': 5, 'T': 30, 'L': 5}

    Given a ``Call`` instead of a trace, keys are that call's tensors or its
    children's names relative to it (``assert_shapes(t["encoder"], {"lstm": ...})``).
    A module called more than once is checked at its first call; pass
    ``t.calls_of(name)[i]`` for another.

    Args:
        trace_or_call: a :class:`~shapetrace.Trace`, or one :class:`~shapetrace.Call` of it.
        spec: a dict from module names (or, for a call, tensor keys) to specs:
            a string ``"B T 64"``, a tuple ``(5, 30, 64)``, or a dict of those.

    Returns:
        dict[str, int]: the size each named dim was bound to.

    Raises:
        AssertionError: a shape does not match; the message is a table of
            every checked tensor, expected against actual, the bindings and
            the first mismatch marked.
        UnknownCallError, UnknownTensorError: a key names nothing in the
            trace (the message lists close matches).
        SpecSyntaxError: a spec does not parse.
    """
    __tracebackhide__ = True
    checks = list(_checks(trace_or_call, spec))
    results, bindings = match_all((check.spec, check.meta.shape) for check in checks)
    if any(not result.ok for result in results):
        raise AssertionError(_failure_message(checks, results, bindings))
    return bindings


# ----------------------------------------------------------- what to check
def _checks(target: Trace | Call, spec: Spec) -> Iterator[_Check]:
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    if not isinstance(spec, Mapping):
        raise ShapetraceError(f"assert_shapes takes a dict from module names to shape specs, not {type(spec).__name__}")
    if not isinstance(target, (Trace, Call)):
        raise ShapetraceError(f"assert_shapes takes a Trace or a Call, not {type(target).__name__}")
    for key, value in spec.items():
        _check_key(key, "a module's qualified name such as 'lstm'")
        if isinstance(target, Trace):
            yield from _call_checks(target[key], value)
        else:
            yield from _checks_under(target, key, value)


def _checks_under(call: Call, key: str, value: SpecLike | TensorSpecs) -> Iterator[_Check]:
    """Keys of a Call: ``""`` (the call), its tensors, or its children's names."""
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    if key == "":
        yield from _call_checks(call, value)
        return
    meta = _find_tensor(call, key)
    if meta is not None and not isinstance(value, Mapping):
        yield _Check(_label(call, key), parse_spec(value), meta)
        return
    children = _children_by_name(call)
    child = children.get(key)
    if child is None:
        raise UnknownTensorError(key, call, _tensor_keys(call) + list(children), what="tensor or child module")
    yield from _call_checks(child, value)


def _call_checks(call: Call, value: SpecLike | TensorSpecs) -> Iterator[_Check]:
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    if not isinstance(value, Mapping):
        value = {"out": value}
    for key, tensor_spec in value.items():
        _check_key(key, "a tensor's name such as 'out' or 'h_n'")
        meta = _find_tensor(call, key)
        if meta is None:
            raise UnknownTensorError(key, call, _tensor_keys(call))
        yield _Check(_label(call, key), parse_spec(tensor_spec), meta)


def _check_key(key: object, what: str) -> None:
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    if not isinstance(key, str):
        raise ShapetraceError(f"assert_shapes keys are str ({what}), not {type(key).__name__} {key!r}")


def _label(call: Call, key: str) -> str:
    """``lstm h_n``; the first output is the call's name alone."""
    name = call.name or _ROOT_LABEL
    return name if key == "out" else f"{name} {key}"


def _find_tensor(call: Call, key: str) -> TensorMeta | None:
    """``out``/``in`` are the first output/input; names and paths look in outputs first."""
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    if key in ("out", "in"):
        metas = call.outputs if key == "out" else call.inputs
        return metas[0] if metas else None
    for metas, output in ((call.outputs, True), (call.inputs, False)):
        for meta in metas:
            if key in (meta.path, tensor_name(call, meta, output=output)):
                return meta
    return None


def _tensor_keys(call: Call) -> list[str]:
    keys = ["out"] * bool(call.outputs) + ["in"] * bool(call.inputs)
    for metas, output in ((call.outputs, True), (call.inputs, False)):
        for meta in metas:
            keys += [k for k in (tensor_name(call, meta, output=output), meta.path) if k and k not in keys]
    return keys


def _children_by_name(call: Call) -> dict[str, Call]:
    """Module calls under ``call`` by name relative to it, first call of each."""
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    prefix = len(call.name) + 1 if call.name else 0
    children: dict[str, Call] = {}
    for child in call.walk():
        if child is not call and child.kind == "module":
            children.setdefault(child.name[prefix:], child)
    return children


# ------------------------------------------------------------- the message
def _failure_message(checks: list[_Check], results: list[Match], bindings: Bindings) -> str:
    first = next(i for i, result in enumerate(results) if not result.ok)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("", "tensor", "expected", "actual", ""):
        table.add_column(column, no_wrap=True)
    for i, (check, result) in enumerate(zip(checks, results)):
        table.add_row(
            _FIRST_MISMATCH if i == first else "",
            check.label,
            format_dims(check.spec.labels()),
            format_shape(check.meta, symbolic=False),
            "ok" if result.ok else result.reason,
        )
    text = io.StringIO()
    make_console(text, color=False).print(table)
    rendered = "\n".join(line.rstrip() for line in text.getvalue().splitlines())
    headline = f"shapes do not match the spec: {checks[first].label} {results[first].reason}"
    return f"{headline}\n{rendered}\nbindings: {format_bindings(bindings) or '(none)'}"
