"""Every private PyTorch API shapetrace uses, in one place.

Private APIs (a leading underscore, ``torch._C``) may move in any torch
release. Each one shapetrace relies on is listed in ``PRIVATE_APIS`` with why
it is used and where; the callables are bound here, once, and the code
imports them from here. ``tests/test_torch_private.py`` (the canary) checks
every entry against the installed torch and fails naming the one that moved.

Attributes of ``nn.Module`` instances (``module._modules``...) are read in
place, where a lookup through this module would cost time on every event;
they are listed here all the same, and the canary checks them.

>>> [api.path for api in missing()]   # what moved in the installed torch
[]
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from types import CodeType
from typing import Any

import torch
import torch._jit_internal
from torch.nn.modules import module as _torch_module
from torch.utils import _pytree


@dataclasses.dataclass(frozen=True)
class PrivateApi:
    """One private torch API: ``path`` (``module:attribute``, or
    ``nn.Module().attribute`` for an instance attribute), why shapetrace
    uses it, and the modules that do."""

    path: str
    why: str
    used_in: tuple[str, ...]
    optional: bool = False  # the code does without it when it is gone


PRIVATE_APIS = (
    # The op mode: pushed and popped by hand, so that it can be suspended
    # inside PyTorch's built-in modules (their fast paths stay on).
    PrivateApi(
        "torch._C:_push_on_torch_function_stack",
        "push the op mode (suspended per module)",
        ("record/recording_state.py",),
    ),
    PrivateApi("torch._C:_pop_torch_function_stack", "pop the op mode", ("record/op_mode.py",)),
    PrivateApi(
        "torch._C:_len_torch_function_stack",
        "find the op mode among other modes; whether a user's mode could see the recorder's reads",
        ("record/op_mode.py", "record/module_calls.py", "record/op_events.py"),
    ),
    PrivateApi(
        "torch._C:DisableTorchFunctionSubclass",
        "read a tensor subclass's metadata without its __torch_function__ seeing it",
        ("core/tensor_meta.py", "core/meta_table.py"),
    ),
    PrivateApi(
        "torch._C:TensorBase", "tell Tensor methods from torch functions when naming an op", ("core/torch_facts.py",)
    ),
    PrivateApi(
        "torch._C:DisableTorchFunction",
        "read metadata (a nested tensor's sizes; any tensor while a user's mode is on the stack)"
        " without any mode or subclass seeing it",
        (
            "core/tensor_meta.py",
            "record/module_calls.py",
            "record/op_events.py",
            "record/recorder.py",
            "record/distributed.py",
            "record/data_hook.py",
        ),
    ),
    PrivateApi(
        "torch:Tensor._nested_tensor_size",
        "a nested tensor's component sizes (kept on the CPU): its padded-equivalent shape",
        ("core/tensor_meta.py",),
    ),
    PrivateApi(
        "torch.nested._internal.nested_tensor:NestedTensor._maybe_max_seqlen",
        "a jagged tensor's longest component, when PyTorch knows it (else read from its CPU offsets)",
        ("core/tensor_meta.py",),
        optional=True,
    ),
    PrivateApi(
        "torch.utils._pytree:SUPPORTED_NODES",
        "flatten the containers libraries register (Hugging Face ModelOutput)",
        ("core/tensor_meta.py",),
    ),
    PrivateApi(
        "torch._jit_internal:boolean_dispatched",
        "the two functions behind a boolean-dispatch wrapper (F.max_pool2d): the defaults an op's text leaves out",
        ("core/op_defaults.py",),
        optional=True,
    ),
    PrivateApi(
        "torch._jit_internal:__file__",
        "the file of torch's boolean-dispatch wrappers (not a user line)",
        ("record/frames.py",),
    ),
    # Module hooks: what nn.Module keeps and how Module._call_impl runs them.
    PrivateApi(
        "torch.nn.modules.module:_global_forward_hooks",
        "whether other global hooks are registered",
        ("record/hooks.py",),
    ),
    PrivateApi(
        "torch.nn.modules.module:_global_forward_pre_hooks",
        "whether other global hooks are registered",
        ("record/hooks.py",),
    ),
    PrivateApi(
        "torch.nn.modules.module:_global_forward_hooks_with_kwargs",
        "forget a removed global hook's kwargs flag",
        ("record/hooks.py",),
    ),
    PrivateApi(
        "torch.nn.modules.module:_has_any_global_hook",
        "stood in for while tracing, blind to our hooks (it reads the global hook registries, backward ones too):"
        " torch.compile(module) warns of global hooks",
        ("record/hooks.py",),
        optional=True,
    ),
    PrivateApi(
        "torch.nn.modules.module:_global_forward_hooks_always_called",
        "whether the user registered a global hook (read where _has_any_global_hook is stood in for)",
        ("record/hooks.py",),
        optional=True,
    ),
    PrivateApi(
        "torch.nn.modules.module:Module._call_impl",
        "the frame that runs a module's hooks (its name tells the error path; its inner() holds kwargs)",
        ("record/hooks.py", "record/module_calls.py"),
    ),
    PrivateApi("nn.Module()._forward_hooks", "a module with hooks of its own gets its own hooks", ("record/hooks.py",)),
    # Module._call_impl's fast path, taken without hooks: a user's traceback
    # keeps the hook path's inner() frame only where that path ran untraced too.
    *(
        PrivateApi(path, "whether a module ran through the hook path untraced", ("record/frames.py",))
        for path in (
            "torch.nn.modules.module:_global_backward_hooks",
            "torch.nn.modules.module:_global_backward_pre_hooks",
            "nn.Module()._backward_hooks",
            "nn.Module()._backward_pre_hooks",
        )
    ),
    PrivateApi(
        "nn.Module()._forward_pre_hooks", "a module with hooks of its own gets its own hooks", ("record/hooks.py",)
    ),
    PrivateApi(
        "nn.Module()._forward_pre_hooks_with_kwargs",
        "pass a module's kwargs to the global pre-hook",
        ("record/hooks.py",),
    ),
    PrivateApi(
        "nn.Module()._modules",
        "walk the children without named_modules()'s cost",
        ("record/module_info.py", "record/tracing.py"),
    ),
    PrivateApi("nn.Module()._parameters", "count parameters without parameters()'s cost", ("record/module_info.py",)),
    PrivateApi(
        "nn.Module:_named_members", "a class overriding it finds its parameters its own way", ("record/module_info.py",)
    ),
    # Optional: used when present, skipped when not.
    PrivateApi(
        "torch._dynamo.trace_rules:add",
        "tell torch.compile not to trace shapetrace's own files",
        ("record/dynamo.py",),
        optional=True,
    ),
    PrivateApi(
        "torch._C:_current_graph_task_id",
        "a module call made while autograd runs a backward pass (a checkpointed block recomputed) is no pass",
        ("record/module_calls.py",),
        optional=True,
    ),
    PrivateApi(
        "torch.distributed._functional_collectives:all_reduce",
        "record the functional collectives (all_reduce, all_gather_tensor, ...) a user calls",
        ("record/distributed.py",),
        optional=True,
    ),
    # The DataLoader's fetchers: only there are a batch's dataset indices and
    # samples side by side with its collate_fn (self.auto_collation and
    # self.collate_fn are read on the instance). Without them the data hook
    # wraps DataLoader.collate_fn instead and names batch positions only.
    PrivateApi(
        "torch.utils.data._utils.fetch:_MapDatasetFetcher.fetch",
        "a map-style batch's dataset indices and samples beside its collate_fn",
        ("record/data_hook.py",),
        optional=True,
    ),
    PrivateApi(
        "torch.utils.data._utils.fetch:_IterableDatasetFetcher.fetch",
        "an iterable dataset's batch (its samples' ordinals) beside its collate_fn",
        ("record/data_hook.py",),
        optional=True,
    ),
    PrivateApi(
        "torch.distributed.distributed_c10d:_get_default_store",
        "--dist-check's store when torchrun's variables are not set (a process group of the user's)",
        ("record/dist_check.py",),
        optional=True,
    ),
)


def _resolve(path: str) -> Any:
    if path.startswith("nn.Module()."):
        return getattr(torch.nn.Module(), path.removeprefix("nn.Module()."))
    if path.startswith("nn.Module:"):
        return getattr(torch.nn.Module, path.removeprefix("nn.Module:"))
    module_name, _, attribute = path.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


FETCH_MODULE = "torch.utils.data._utils.fetch"


def dataset_fetchers() -> tuple[type, type] | None:
    """PyTorch's map-style and iterable fetcher classes (``_MapDatasetFetcher``,
    ``_IterableDatasetFetcher``, each with a ``fetch`` method), or None when
    this torch has none such: the caller then does without."""
    try:
        module = importlib.import_module(FETCH_MODULE)
        pair = (module._MapDatasetFetcher, module._IterableDatasetFetcher)
    except (ImportError, AttributeError):
        return None
    return pair if all(callable(getattr(cls, "fetch", None)) for cls in pair) else None


def missing() -> list[PrivateApi]:
    """The entries of ``PRIVATE_APIS`` the installed torch does not have."""
    gone = []
    for api in PRIVATE_APIS:
        try:
            _resolve(api.path)
        except (ImportError, AttributeError):
            gone.append(api)
    return gone


# The bound callables and objects the code uses (see PRIVATE_APIS for why).
push_torch_function_mode: Callable[[Any], None] = torch._C._push_on_torch_function_stack
pop_torch_function_mode: Callable[[], Any] = torch._C._pop_torch_function_stack
torch_function_mode_count: Callable[[], int] = torch._C._len_torch_function_stack
DisableTorchFunctionSubclass = torch._C.DisableTorchFunctionSubclass
DisableTorchFunction = torch._C.DisableTorchFunction
TensorBase = torch._C.TensorBase
PYTREE_NODES: dict[type, Any] = _pytree.SUPPORTED_NODES
DISPATCH_WRAPPER_FILE: str = torch._jit_internal.__file__
# wrapper -> {"if_true": f, "if_false": g, ...} (a WeakKeyDictionary); empty where PyTorch drops it
BOOLEAN_DISPATCHED: Any = getattr(torch._jit_internal, "boolean_dispatched", {})
torch_module_globals = _torch_module  # holds _global_forward_hooks and friends
CALL_IMPL_NAME = "_call_impl"  # the name of Module._call_impl's frame
# -1 outside a backward pass; without it (a torch that dropped it) no call is taken for a recomputation
current_graph_task_id: Callable[[], int] = getattr(torch._C, "_current_graph_task_id", lambda: -1)


def _nested_code(function: Any, name: str) -> CodeType | None:
    return next(
        (c for c in function.__code__.co_consts if isinstance(c, CodeType) and c.co_name == name),
        None,
    )


# Module._call_impl runs a module with hooks through a nested ``inner``: a
# frame a traceback shows only because hooks are on (torch/nn/modules/module.py).
HOOKED_CALL_CODE: CodeType | None = _nested_code(torch.nn.Module._call_impl, "inner")


def has_hooks(module: Any) -> bool:
    """Whether ``module`` runs through Module._call_impl's hook path: it or the
    globals hold a forward or backward hook (the condition of its fast path)."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or _torch_module._global_forward_hooks
        or _torch_module._global_forward_pre_hooks
        or _torch_module._global_backward_hooks
        or _torch_module._global_backward_pre_hooks
    )
