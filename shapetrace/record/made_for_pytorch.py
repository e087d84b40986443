"""Top-level module calls that PyTorch makes, not the user's program: no pass of a model.

A checkpointed block recomputed in the backward pass, the runs of ``torch.jit.trace``
(whose sizes are traced tensors) and of ``torch.export`` (on fake tensors), and a
parametrized module's weight computed outside any forward: ``spectral_norm`` and
``weight_norm`` (``torch.nn.utils.parametrizations``) compute it as they register,
before the module is any model's part, and a read of ``layer.weight`` in the user's
code runs the ``ParametrizationList`` too (``torch.nn.utils.parametrize``). Recorded,
such a call became a model of its own (the root of a script's report) and named the
parametrization as one when the model later ran it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.jit import is_tracing
from torch.nn.utils.parametrize import ParametrizationList

from shapetrace.core.torch_private import current_graph_task_id

# True while torch.export (make_fx) runs the model on fake tensors (torch >= 2.3)
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)


def made_for_pytorch(module: nn.Module) -> bool:
    """Whether a call of ``module`` outside any recorded call is PyTorch's (see the module's docstring)."""
    return current_graph_task_id() != -1 or is_tracing() or _is_compiling() or type(module) is ParametrizationList
