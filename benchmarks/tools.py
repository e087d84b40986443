"""The tracers compared: shapetrace, a naive hook loop and the installed peers.

Each tool is a function ``(case) -> None`` that runs one traced forward pass
of the case's model, the way its documentation shows.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import torch
from torch import nn

import shapetrace

from .models import Case

Tool = Callable[[Case], object]


def run_shapetrace(case: Case) -> object:
    with case.context(), shapetrace.trace(case.model) as t:
        case.model(*case.inputs)
    return t


def run_shapetrace_modules_only(case: Case) -> object:
    with case.context(), shapetrace.trace(case.model, ops=False) as t:
        case.model(*case.inputs)
    return t


def run_hook_loop(case: Case) -> object:
    """The naive baseline: a forward hook on every module records output shapes."""
    records = []

    def hook(module, args, output):
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        records.append((type(module).__name__, [tuple(o.shape) for o in outputs if isinstance(o, torch.Tensor)]))

    handles = [module.register_forward_hook(hook) for module in case.model.modules()]
    try:
        with case.context():
            case.model(*case.inputs)
    finally:
        for handle in handles:
            handle.remove()
    return records


def run_torchinfo(case: Case) -> object:
    import torchinfo

    with case.context():
        return torchinfo.summary(case.model, input_data=list(case.inputs), verbose=0,
                                 device=case.inputs[0].device)


def run_torchview(case: Case) -> object:
    import torchview

    with case.context():
        return torchview.draw_graph(case.model, input_data=list(case.inputs), device=case.inputs[0].device)


def run_torchlens(case: Case) -> object:
    import torchlens
    from torchlens.options import CaptureOptions

    # torchlens wraps torch's functions globally; unwrapping afterwards keeps
    # the plain runs of this process plain.
    with case.context():
        return torchlens.trace(case.model, list(case.inputs), capture=CaptureOptions(unwrap_when_done=True))


TOOLS: dict[str, tuple[Tool, str | None]] = {
    "shapetrace": (run_shapetrace, None),
    "shapetrace ops=False": (run_shapetrace_modules_only, None),
    "hook loop": (run_hook_loop, None),
    "torchinfo": (run_torchinfo, "torchinfo"),
    "torchview": (run_torchview, "torchview"),
    "torchlens": (run_torchlens, "torchlens"),
}


def available(name: str) -> bool:
    package = TOOLS[name][1]
    return package is None or importlib.util.find_spec(package) is not None


def model_hooks_removed(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
