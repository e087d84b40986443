"""Symbolic dimensions: ``(B, T, 64)`` instead of ``(5, 30, 64)``.

One run only knows numbers, and a 5 may be the batch or the layer count.
``vary`` runs the model at several sizes, matches the calls across runs and
fits each dimension to a name (``B``), a constant (``64``) or a simple
expression (``B*T``, ``2*T``, ``T-2``) that explains every run; ``?`` where
none does.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from shapetrace.analyze.error_note import failing_call
from shapetrace.analyze.trace_diff import call_keys
from shapetrace.core.records import Call, link_calls
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record.events import error_text
from shapetrace.record.recorder import OpsSetting
from shapetrace.record.tracing import trace

Sizes = dict[str, int]
SymbolicDim = int | str
UNKNOWN = "?"


# ------------------------------------------------------------------ fitting
def _monomial(coefficient: Fraction, names: Sequence[str]) -> str:
    factors = ([] if coefficient == 1 else [str(coefficient)]) + list(names)
    return "*".join(factors)


def _linear(name: str, slope: Fraction, offset: Fraction) -> str:
    head = name if slope == 1 else f"{slope}*{name}"
    if offset == 0:
        return head
    return f"{head}{'+' if offset > 0 else '-'}{abs(offset)}"


def _product(coefficient: Fraction, names: Sequence[str]) -> Callable[[Sizes], Fraction]:
    return lambda sizes: coefficient * math.prod(sizes[n] for n in names)


def _affine(name: str, slope: Fraction, offset: Fraction) -> Callable[[Sizes], Fraction]:
    return lambda sizes: slope * sizes[name] + offset


def _fits(observations: Sequence[tuple[Sizes, int]], formula: Callable[[Sizes], Fraction]) -> bool:
    return all(formula(sizes) == value for sizes, value in observations)


def fit_dim(observations: Sequence[tuple[Sizes, int]]) -> SymbolicDim:
    """The simplest expression of the varied sizes that gives every observed value.

    >>> fit_dim([({"B": 8, "T": 24}, 192), ({"B": 3, "T": 24}, 72), ({"B": 8, "T": 11}, 88)])
    'B*T'
    """
    values = {value for _, value in observations}
    if len(values) == 1:
        return values.pop()
    base_sizes, base_value = observations[0]
    names = [n for n in base_sizes if any(s[n] != base_sizes[n] and v != base_value for s, v in observations)]
    # c * product of names, fewest names first: B, 2*T, B*T
    for count in range(1, min(len(names), 3) + 1):
        for subset in itertools.combinations(names, count):
            denominator = math.prod(base_sizes[n] for n in subset)
            coefficient = Fraction(base_value, denominator)
            if coefficient and _fits(observations, _product(coefficient, subset)):
                return subset[0] if coefficient == 1 and count == 1 else _monomial(coefficient, subset)
    # a*X + b in one name: T-2 (a convolution without padding), 2*T+1
    for name in names:
        others = [(s, v) for s, v in observations if s[name] != base_sizes[name]]
        if not others:
            continue
        sizes, value = others[0]
        slope = Fraction(value - base_value, sizes[name] - base_sizes[name])
        offset = base_value - slope * base_sizes[name]
        if (
            slope
            and slope.denominator == 1
            and offset.denominator == 1
            and _fits(observations, _affine(name, slope, offset))
        ):
            return _linear(name, slope, offset)
    return UNKNOWN


# -------------------------------------------------------------------- runs
def size_runs(sizes: Mapping[str, Sequence[int]]) -> list[Sizes]:
    """The base sizes, each name moved alone to each other value, then all at once.

    Moving one name at a time shows what each dimension depends on; the last
    run tells a product (``B*T``) from a sum.
    """
    base = {name: values[0] for name, values in sizes.items()}
    runs = [base]
    for name, values in sizes.items():
        runs += [{**base, name: value} for value in values[1:]]
    if len(sizes) > 1:
        runs.append({name: values[1] for name, values in sizes.items()})
    return runs


def _check_sizes(sizes: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    if not sizes:
        raise ShapetraceError("vary() needs at least one size to vary, e.g. B=(8, 3)")
    checked = {}
    for name, values in sizes.items():
        if not name.isidentifier():
            raise ShapetraceError(f"size name {name!r} is not an identifier")
        # A sequence, not a set or a generator: the first size is the base run.
        if not isinstance(values, (tuple, list, range)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values
        ):
            raise ShapetraceError(
                f"{name} needs two or more positive integer sizes, e.g. {name}=(8, 3), not {_shown(values)}"
            )
        values = tuple(values)
        if len(values) < 2 or len(set(values)) != len(values):
            raise ShapetraceError(f"{name} needs two or more different sizes, got {values}")
        checked[name] = values
    return checked


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _check_takes_sizes(make_inputs: Callable[..., Any], sizes: Mapping[str, Sequence[int]]) -> None:
    """``make_inputs`` must accept every varied size by name (else the error would look like the model's)."""
    try:
        inspect.signature(make_inputs).bind(**{name: values[0] for name, values in sizes.items()})
    except TypeError as mismatch:
        raise ShapetraceError(
            f"make_inputs must take the sizes {', '.join(sizes)} as keyword arguments: {mismatch}"
        ) from None
    except ValueError:  # no signature to check (some builtins)
        pass


@dataclasses.dataclass
class _Run:
    sizes: Sizes
    trace: Trace
    calls: dict[tuple, Call]


def _trace_once(
    model: nn.Module, make_inputs: Callable[..., Any], sizes: Sizes, ops: OpsSetting, ignore: Sequence[str]
) -> _Run:
    inputs = make_inputs(**sizes)
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    block = trace(model, ops=ops, ignore=ignore)
    try:
        with torch.no_grad(), block as traced:
            model(*inputs)
    except Exception:  # a size the model does not support: the trace says where
        pass
    return _Run(sizes, traced, dict(call_keys(traced)))


# ----------------------------------------------------------------- merging
def _symbolic(metas: Sequence[TensorMeta], key: tuple, io: str, runs: Sequence[_Run]) -> tuple[TensorMeta, ...]:
    merged = []
    for meta in metas:
        observations = []
        for run in runs:
            call = run.calls.get(key)
            tensors = getattr(call, io, ()) if call is not None else ()
            twin = next((m for m in tensors if m.path == meta.path), None)
            if twin is not None and len(twin.shape) == len(meta.shape):
                observations.append((run.sizes, twin.shape))
        dims = tuple(fit_dim([(sizes, shape[d]) for sizes, shape in observations]) for d in range(len(meta.shape)))
        merged.append(dataclasses.replace(meta, symbolic=dims))
    return tuple(merged)


def _label(key: tuple) -> str:
    if key[0] == "module":
        return f"{key[1] or '(root)'}" + (f" #{key[2] + 1}" if key[2] else "")
    parent = "(outside any module)" if key[1] is None else key[1][0] or "(root)"
    return f"{parent}/{key[2]}" + (f" #{key[3] + 1}" if key[3] else "")


def _unmatched(runs: Sequence[_Run]) -> list[dict[str, Any]]:
    """Calls present at some sizes only: data-dependent control flow."""
    base = runs[0]
    # A run that raised stops early: its missing calls say nothing of control flow.
    complete = [run for run in runs if run.trace.error is None]
    unmatched = []
    for key in dict.fromkeys(key for run in complete for key in run.calls):
        present = [run.sizes for run in complete if key in run.calls]
        if len(present) != len(complete):
            base_call = base.calls.get(key)
            unmatched.append(
                {
                    "call": _label(key),
                    "call_id": base_call.id if base_call else None,
                    "present_at": present,
                    "missing_at": [run.sizes for run in complete if key not in run.calls],
                }
            )
    return unmatched


def _failures(runs: Sequence[_Run]) -> list[dict[str, Any]]:
    """The sizes the model raised at, with the call that raised (its base-run id)."""
    failures = []
    for run in runs:
        if run.trace.error is None:
            continue
        culprit = failing_call(run.trace)
        key = next((k for k, c in run.calls.items() if c is culprit), None)
        base_call = runs[0].calls.get(key) if key is not None else None
        location = culprit.location if culprit is not None else None
        failures.append(
            {
                "sizes": run.sizes,
                "error": error_text(run.trace.error),
                "call": _label(key) if key is not None else None,
                "call_id": base_call.id if base_call is not None else None,
                "location": None if location is None else [location.filename, location.lineno],
            }
        )
    return failures


def _variation(runs: Sequence[_Run]) -> dict[str, Any]:
    """What the runs tell beyond shapes (JSON-ready, kept in ``Trace.meta``)."""
    base = runs[0]
    return {
        "sizes": {name: [run.sizes[name] for run in runs] for name in base.sizes},
        "runs": [run.sizes for run in runs],
        "unmatched": _unmatched(runs),
        "failures": _failures(runs),
    }


def merge_runs(runs: Sequence[_Run]) -> Trace:
    """The first run's trace with every dimension made symbolic."""
    base = runs[0]
    complete = [run for run in runs if run.trace.error is None] or [base]
    calls = []
    for key, call in base.calls.items():
        calls.append(
            dataclasses.replace(
                call,
                inputs=_symbolic(call.inputs, key, "inputs", complete),
                outputs=_symbolic(call.outputs, key, "outputs", complete),
                parent=None,
                children=(),
            )
        )
    calls.sort(key=lambda c: c.id)
    link_calls(calls)
    return Trace(
        calls,
        error=base.trace.error,
        ops=base.trace.ops_setting,
        ignore=base.trace.ignore,
        run_info={**base.trace.run_info, "variation": _variation(runs)},
    )


def vary(
    model: nn.Module,
    make_inputs: Callable[..., Any],
    *,
    ops: OpsSetting = True,
    ignore: Sequence[str] = (),
    **sizes: Sequence[int],
) -> Trace:
    """Trace ``model`` at several sizes and name its dimensions::

        t = shapetrace.vary(model, lambda B, T: (torch.randn(B, T, 7),), B=(8, 3), T=(24, 11))
        t["lstm"].outputs[0].symbolic     # ('B', 'T', 64)
        t["linear"].inputs[0].symbolic    # ('B*T', 64)

    ``make_inputs(**sizes)`` returns the model's positional inputs (a tuple, or
    one tensor). The first value of each size is the base run whose calls the
    result holds. Sizes the model fails at and calls that appear at some sizes
    only are in ``t.run_info["variation"]`` and reported as findings.

    Args:
        model: the ``nn.Module`` to run.
        make_inputs: a function of the sizes (by name) returning the inputs.
        ops: which tensor ops to record, as in :func:`shapetrace.trace`; default True.
        ignore: finding codes to silence; default none.
        **sizes: each dim's name and two or more values to try, ``B=(8, 3)``.

    Returns:
        A :class:`~shapetrace.Trace` of the first run, each TensorMeta's
        ``symbolic`` filled in (``('B', 'T', 64)``).

    Raises:
        ShapetraceError: a bad argument (``model`` not a module, sizes not
            ints, ``make_inputs`` not taking the sizes' names).
    """
    if not isinstance(model, nn.Module):
        raise ShapetraceError(f"vary() takes an nn.Module, not {type(model).__name__}")
    if not callable(make_inputs):
        raise ShapetraceError("vary() needs make_inputs, a function of the sizes returning the inputs")
    checked = _check_sizes(sizes)
    _check_takes_sizes(make_inputs, checked)
    runs = [_trace_once(model, make_inputs, run_sizes, ops, ignore) for run_sizes in size_runs(checked)]
    return merge_runs(runs)
