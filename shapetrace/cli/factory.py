"""``shapetrace run pkg.module:factory``: import, build and trace a model."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from shapetrace.analyze.symbolic import vary
from shapetrace.cli.input_spec import InputSpec, index_limit, make_input
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record import frames
from shapetrace.record.recorder import OpsSetting
from shapetrace.record.tracing import trace


def is_factory_target(target: str) -> bool:
    """``pkg.mod:factory`` rather than a script path."""
    return ":" in target and not target.endswith(".py") and not os.path.exists(target)


def import_factory(target: str) -> Callable[[], Any]:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ShapetraceError(f"{target!r}: expected pkg.module:factory")
    if os.getcwd() not in sys.path:  # importable as with `python -m`
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as missing:
        raise ShapetraceError(f"cannot import {module_name}: {missing}") from None
    except Exception as failed:  # the module's own code: a syntax error, a failing top-level line
        raise ShapetraceError(f"cannot import {module_name}: {describe_failure(failed)}") from None
    factory: Any = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ShapetraceError(f"{module_name} has no attribute {attribute!r}")
    if not callable(factory):
        raise ShapetraceError(f"{target} is a {type(factory).__name__}, not a function or class")
    return factory  # type: ignore[no-any-return]


def describe_failure(error: BaseException) -> str:
    """``ValueError: bad size (at models.py:12)``: the error and the user's line that raised it."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, SyntaxError):
        return text  # its message names the file and line
    tb, line = error.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if not frames.is_internal(code) and not code.co_filename.startswith("<frozen"):
            line = f"{code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{text} (at {line})" if line else text


def resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ShapetraceError(f"--device {name!r} is not a device (cpu, meta, cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ShapetraceError("--device cuda: no CUDA device is available here")
    return device


def build_model(factory: Callable[[], Any], target: str, device: torch.device) -> nn.Module:
    """Call the factory with its defaults; on ``meta`` nothing is allocated."""
    try:
        inspect.signature(factory).bind()
    except TypeError as missing:
        raise ShapetraceError(f"{target} needs arguments ({missing}); give it defaults or wrap it") from None
    except ValueError:  # builtins without a signature
        pass
    try:
        with device:
            model = factory()
    except Exception as failed:
        raise ShapetraceError(f"{target} raised {describe_failure(failed)}") from None
    if not isinstance(model, nn.Module):
        raise ShapetraceError(f"{target} returned a {type(model).__name__}, not an nn.Module")
    return model.to(device).eval()


def trace_factory(
    target: str,
    inputs: Sequence[InputSpec],
    *,
    device: str = "cpu",
    ops: OpsSetting = True,
    ignore: Sequence[str] = (),
    vary_sizes: dict[str, tuple[int, ...]] | None = None,
) -> Trace:
    """Build the model, make inputs of the given shapes, trace one forward pass;
    with ``vary_sizes`` (``{"B": (8, 3)}``) trace one per size and name the dims.

    A forward that raises still returns its trace (``trace.error`` holds it).
    """
    if not inputs:
        raise ShapetraceError("a factory target needs --input, e.g. --input 5x30")
    names = {name for spec in inputs for name in spec.names}
    unknown = sorted(set(vary_sizes or {}) - names)
    if unknown:
        raise ShapetraceError(f"--vary {unknown[0]}: no --input uses the dimension {unknown[0]}")
    torch_device = resolve_device(device)
    model = build_model(import_factory(target), target, torch_device)
    limit = index_limit(model)

    def make_inputs(**sizes: int) -> tuple[torch.Tensor, ...]:
        torch.manual_seed(0)
        return tuple(make_input(spec.resolve(sizes), spec.dtype, torch_device, limit) for spec in inputs)

    if vary_sizes:
        return vary(model, make_inputs, ops=ops, ignore=ignore, **vary_sizes)
    tensors = make_inputs()
    block = trace(model, ops=ops, ignore=ignore)
    try:
        with torch.no_grad(), block as traced:
            model(*tensors)
    except Exception:  # the model's own error: reported with the trace, not raised
        pass
    return traced
