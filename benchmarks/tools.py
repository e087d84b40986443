"""The tracers compared: shapetrace, a naive hook loop and the installed peers.

Each tool is a function ``(case) -> None`` that runs one traced forward pass
of the case's model, the way its documentation shows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

import shapetrace
from benchmarks.imports import import_problem
from benchmarks.models import Case

Tool = Callable[[Case], object]


def run_shapetrace(case: Case) -> object:
    with case.context(), shapetrace.trace(case.model) as t:
        case.model(*case.inputs, **case.kwargs)
    return t


def run_shapetrace_modules_only(case: Case) -> object:
    with case.context(), shapetrace.trace(case.model, ops=False) as t:
        case.model(*case.inputs, **case.kwargs)
    return t


def run_hook_loop(case: Case) -> object:
    """The naive baseline: a forward hook per module records its name, type and shapes."""
    records = []

    def shapes(value):
        values = value if isinstance(value, (tuple, list)) else (value,)
        return [tuple(v.shape) for v in values if isinstance(v, torch.Tensor)]

    def hook_for(name):
        def hook(module, args, output):
            records.append((name, type(module).__name__, shapes(args), shapes(output)))

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in case.model.named_modules()]
    try:
        case.forward()
    finally:
        for handle in handles:
            handle.remove()
    return records


class EmptyOpMode(TorchFunctionMode):
    """A torch function mode whose handler only runs the op."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def run_empty_op_mode(case: Case) -> object:
    """The floor of any tracer that sees each op through PyTorch's torch function
    mode (shapetrace's op recording): the forward under a mode that records
    nothing. PyTorch calls the mode's Python handler for every
    op, which parses the op's arguments again when it runs it. This mode is on
    inside built-in modules too, where shapetrace's is popped, so on a model
    made of few built-in layers it is a little above what shapetrace's mode
    itself costs; on a model of Python loops over ops (RWKV, Mamba) it is that
    cost."""
    with case.context(), EmptyOpMode():
        return case.model(*case.inputs, **case.kwargs)


def run_torchinfo(case: Case) -> object:
    import torchinfo

    with case.context():
        return torchinfo.summary(case.model, input_data=case.input_data, verbose=0, device=case.device)


def run_torchview(case: Case) -> object:
    import torchview

    with case.context():
        return torchview.draw_graph(case.model, input_data=case.input_data, device=case.device)


def run_torchlens(case: Case) -> object:
    import torchlens

    # As documented: torch's functions are wrapped on the first call and stay
    # wrapped (the plain runs of torchlens's process have them too).
    with case.context():
        return torchlens.trace(case.model, list(case.inputs), input_kwargs=case.kwargs or None)


def release(tool: str) -> None:
    """Undo what a tool left in torch after its measurements (torchlens's wrappers)."""
    if tool == "torchlens":
        from torchlens.backends.torch.wrappers import unwrap_torch

        unwrap_torch()


TOOLS: dict[str, tuple[Tool, str | None]] = {
    "shapetrace": (run_shapetrace, None),
    "shapetrace ops=False": (run_shapetrace_modules_only, None),
    "hook loop": (run_hook_loop, None),
    "empty op mode": (run_empty_op_mode, None),
    "torchinfo": (run_torchinfo, "torchinfo"),
    "torchview": (run_torchview, "torchview"),
    "torchlens": (run_torchlens, "torchlens"),
}


_unavailable: dict[str, str | None] = {}


def unavailable(name: str) -> str | None:
    """Why tool ``name`` cannot be measured here (``imports.import_problem``: "not
    installed", or its import's error in one line), or None. Its import is tried in a
    child process: the parent never imports a peer. Cached per tool."""
    if name not in _unavailable:
        package = TOOLS[name][1]
        _unavailable[name] = None if package is None else import_problem(package, isolated=True)
    return _unavailable[name]


def available(name: str) -> bool:
    return unavailable(name) is None
