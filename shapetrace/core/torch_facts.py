"""What PyTorch's ops and modules mean, in one table.

Every fact about torch that more than one part of shapetrace needs lives
here: which ops reshape, create, reduce or pass a tensor on, which modules are
recurrent and where their hidden state sits, what PyTorch's documentation
calls each tensor of a built-in module, and how a torch function is named in
a trace. The private torch APIs shapetrace uses are in ``torch_private.py``.

>>> describe_op(torch.Tensor.view)
('view', 'Tensor.view')
>>> sorted(HIDDEN_STATE_PATHS)
['1', '1.0', '1.1', 'hx', 'hx.0', 'hx.1']
"""

from __future__ import annotations

from typing import Any

import torch  # noqa: F401  (the doctest above)

from shapetrace.core.torch_private import TensorBase

# ------------------------------------------------------------- tensor ops
# Properties that produce a new tensor (``x.T``); every other attribute read
# is bookkeeping. A trace names them ``Tensor.T``; source shows ``.T``.
TENSOR_PROPERTIES = frozenset({"T", "mT", "H", "mH", "real", "imag"})

# Ops that give their input's elements, in the same order, a new shape
# (lineage follows each dim through them).
RESHAPE_OPS = frozenset(
    {
        "view",
        "reshape",
        "view_as",
        "reshape_as",
        "flatten",
        "unflatten",
        "squeeze",
        "unsqueeze",
        "ravel",
        "atleast_2d",
        "atleast_3d",
    }
)
# The reshapes that take any target shape (``unflatten``: any split of one dim):
# the ones that can reorder dims by mistake where a permute was meant (ST002, ST012).
VIEW_OPS = frozenset({"view", "reshape", "view_as", "reshape_as", "unflatten"})
# Ops whose positional arguments are the sizes of the result: a constant
# among them may be a batch size baked in (ST003).
SIZE_ARGUMENT_OPS = frozenset({"view", "reshape", "expand"})
# Ops that swap or move dims.
PERMUTE_OPS = frozenset({"permute", "transpose", "swapaxes", "swapdims", "movedim", "moveaxis", "t", "T", "mT", "mH"})
# Ops that reduce over ``dim`` (all dims without it).
REDUCTION_OPS = frozenset(
    {
        "mean",
        "sum",
        "max",
        "min",
        "amax",
        "amin",
        "argmax",
        "argmin",
        "prod",
        "std",
        "var",
        "logsumexp",
        "norm",
        "median",
        "nanmean",
        "nansum",
        "any",
        "all",
        "count_nonzero",
        "mode",
    }
)
# Ops that make a tensor from sizes or data alone, not from an input tensor's axes.
CREATION_OPS = frozenset(
    {
        "randn",
        "rand",
        "zeros",
        "ones",
        "empty",
        "full",
        "randint",
        "normal",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "arange",
        "eye",
        "linspace",
        "tensor",
        "as_tensor",
        "from_numpy",
    }
)
# The creation ops whose positional arguments are the sizes of the tensor they make.
SIZED_CREATION_OPS = frozenset(
    {"randn", "rand", "zeros", "ones", "empty", "full", "new_zeros", "new_ones", "new_empty", "new_full"}
)
# Ops that make a tensor shaped like their input (its axes carry over).
LIKE_CREATION_OPS = frozenset({"zeros_like", "ones_like", "empty_like", "randn_like", "rand_like", "full_like"})
# Ops that hand a tensor on unchanged in shape, on its way to where it is used.
PASS_THROUGH_OPS = frozenset(
    {"to", "cuda", "cpu", "float", "double", "half", "type", "detach", "clone", "contiguous", "requires_grad_"}
)

# Functional forms of pooling, resizing and convolution: (N, C, *spatial),
# the spatial axes kept (resized); a convolution makes new channels.
SPATIAL_OPS = frozenset(
    {
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "adaptive_avg_pool3d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
        "adaptive_max_pool3d",
        "interpolate",
        "upsample",
        "upsample_nearest",
        "upsample_bilinear",
        "pixel_shuffle",
        "pixel_unshuffle",
        "conv1d",
        "conv2d",
        "conv3d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
    }
)

# ------------------------------------------------------------- modules
RNN_TYPES = frozenset({"RNN", "LSTM", "GRU"})
CELL_TYPES = frozenset({"RNNCell", "LSTMCell", "GRUCell"})
# Module types whose ``forward`` calls only child modules: their output is
# found among the children's outputs.
CONTAINER_TYPES = frozenset({"Sequential"})

# Modules that hold the user's model and call it whole, as the recorder names the
# call of the model inside: DDP and DataParallel keep it as ``.module``, FSDP as
# ``._fsdp_wrapped_module`` (named ``module`` by ``record/events.unwrapped_name``),
# ``torch.compile(model)``'s OptimizedModule as ``._orig_mod`` (WRAPPED_CHILD_NAMES).
MODEL_WRAPPERS = frozenset({"DistributedDataParallel", "DataParallel", "FullyShardedDataParallel", "OptimizedModule"})
WRAPPED_MODEL_NAME = "module"
WRAPPED_CHILD_NAMES = {"OptimizedModule": "_orig_mod"}  # where it is not WRAPPED_MODEL_NAME

# Names PyTorch's documentation gives the tensors of built-in modules, by path
# (the position in the flattened value: ``"1.0"`` is h_n of ``(output, (h_n, c_n))``).
OUTPUT_NAMES = {
    "LSTM": {"0": "output", "1.0": "h_n", "1.1": "c_n"},
    "GRU": {"0": "output", "1": "h_n"},
    "RNN": {"0": "output", "1": "h_n"},
    "LSTMCell": {"0": "h_1", "1": "c_1"},
    "MultiheadAttention": {"0": "attn_output", "1": "attn_weights"},
}
INPUT_NAMES = {
    "LSTM": {"0": "input", "1.0": "h_0", "1.1": "c_0", "hx.0": "h_0", "hx.1": "c_0"},
    "GRU": {"0": "input", "1": "h_0", "hx": "h_0"},
    "RNN": {"0": "input", "1": "h_0", "hx": "h_0"},
    "LSTMCell": {"0": "input", "1.0": "h_0", "1.1": "c_0", "hx.0": "h_0", "hx.1": "c_0"},
    "GRUCell": {"0": "input", "1": "hx", "hx": "hx"},
    "RNNCell": {"0": "input", "1": "hx", "hx": "hx"},
}
# Where an RNN's initial state sits among its inputs: positional or ``hx=``.
HIDDEN_STATE_PATHS = frozenset(
    path for kind in RNN_TYPES for path, name in INPUT_NAMES[kind].items() if name in ("h_0", "c_0")
)

# Losses whose input and target are compared element by element (functional
# and module forms); cross-entropy style losses are left out: their target
# has no class dim by design.
ELEMENTWISE_LOSS_OPS = frozenset(
    {
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "soft_margin_loss",
        "poisson_nll_loss",
        "kl_div",
        "gaussian_nll_loss",
    }
)
ELEMENTWISE_LOSS_MODULES = frozenset(
    {
        "MSELoss",
        "L1Loss",
        "SmoothL1Loss",
        "HuberLoss",
        "BCELoss",
        "BCEWithLogitsLoss",
        "SoftMarginLoss",
        "PoissonNLLLoss",
        "KLDivLoss",
        "GaussianNLLLoss",
    }
)

# Losses over class scores, ``(N, C)`` or ``(N, C, d1, ...)`` with a target of
# class indices ``(N, d1, ...)``: dim 0 is the minibatch, PyTorch's documentation says.
CLASS_LOSS_OPS = frozenset({"cross_entropy", "nll_loss"})
CLASS_LOSS_MODULES = frozenset({"CrossEntropyLoss", "NLLLoss"})

# ------------------------------------------------------- naming an op
# Calls that read metadata or data rather than compute a tensor: leaving them
# out makes the trace read like the code (``x.size(0)`` is not a step).
_BOOKKEEPING = frozenset(
    {
        "dim",
        "ndimension",
        "size",
        "numel",
        "nelement",
        "stride",
        "storage_offset",
        "is_contiguous",
        "element_size",
        "is_floating_point",
        "is_complex",
        "is_signed",
        "get_device",
        "data_ptr",
        "untyped_storage",
        "storage",
        "item",
        "tolist",
        "numpy",
        "__len__",
        "__repr__",
        "__str__",
        "__format__",
        "__hash__",
        "__bool__",
        "__index__",
        "__int__",
        "__float__",
        "__complex__",
        "__iter__",
        "__reversed__",
        "__contains__",
        "__reduce_ex__",
        "__deepcopy__",
        "__array__",
        "__dir__",
        "__sizeof__",
        "is_nonzero",
        "has_names",
        "is_shared",
        "is_pinned",
        "__setstate__",
        "_is_view",
        "dim_order",
    }
)
# The ops that pack padded sequences for an RNN and pad its packed output back
# (the public names and the private ones the functions call).
PACKING_OPS = frozenset({"pack_padded_sequence", "_pack_padded_sequence"})
UNPACKING_OPS = frozenset({"pad_packed_sequence", "_pad_packed_sequence"})

# Ops kept even though they return no tensor.
KEEP_WITHOUT_OUTPUT = frozenset({"__setitem__", "barrier", "send", "isend"})

# Tensor methods that change a tensor's metadata in place (shape, stride, dtype,
# device or requires_grad; PyTorch's in-place view and resize ops) and property
# assignment (``x.requires_grad = True``, ``x.data = y`` reach a torch function
# mode as a getset descriptor's ``__set__``): after one, no metadata read before
# it may be reused (core/meta_table.py).
CHANGES_METADATA = frozenset(
    {
        "__set__",
        "as_strided_",
        "detach_",
        "requires_grad_",
        "resize_",
        "resize_as_",
        "resize_as_sparse_",
        "set_",
        "sparse_resize_",
        "sparse_resize_and_clear_",
        "squeeze_",
        "swapaxes_",
        "swapdims_",
        "t_",
        "transpose_",
        "unsqueeze_",
    }
)

# torch.distributed collectives shapetrace records: name -> (the arguments the
# collective writes, what must agree across ranks). "all": every tensor's
# shape and dtype; "first": the first tensor's (gather/scatter pass their list
# on one rank only); "dtype": dtypes only (all_to_all's pieces may differ in
# size by design); "p2p": send/recv, paired between two ranks, not compared.
COLLECTIVES: dict[str, tuple[tuple[str, ...], str]] = {
    "all_reduce": (("tensor",), "all"),
    "all_gather": (("tensor_list",), "all"),
    "all_gather_into_tensor": (("output_tensor",), "all"),
    "all_gather_single": (("output_tensor",), "all"),  # all_gather_into_tensor's newer name
    "reduce_scatter_single": (("output",), "all"),
    "reduce_scatter": (("output",), "all"),
    "reduce_scatter_tensor": (("output",), "all"),
    "broadcast": (("tensor",), "all"),
    "reduce": (("tensor",), "all"),
    "all_to_all": (("output_tensor_list",), "dtype"),
    "all_to_all_single": (("output",), "dtype"),
    "gather": (("gather_list",), "first"),
    "scatter": (("tensor",), "first"),
    "send": ((), "p2p"),
    "recv": (("tensor",), "p2p"),
    "isend": ((), "p2p"),
    "irecv": (("tensor",), "p2p"),
    "barrier": ((), "all"),
}
# torch.distributed._functional_collectives: they return their result.
FUNCTIONAL_COLLECTIVES: dict[str, str] = {
    "all_reduce": "all",
    "all_gather_tensor": "all",
    "reduce_scatter_tensor": "all",
    "all_to_all_single": "dtype",
    "broadcast": "all",
}
COLLECTIVE_TYPES = ("dist.", "funcol.")  # the ``Call.type`` prefix of a recorded collective


def is_collective(call_type: str) -> bool:
    """Whether a call's ``type`` (``"dist.all_gather"``) names a collective."""
    return call_type.startswith(COLLECTIVE_TYPES)


# Functional losses: recorded wherever the user calls them, even where other
# ops are not (``shapetrace run`` records no op outside a model but these, the
# loss that compares a traced model's output with its target).
LOSS_OPS = ELEMENTWISE_LOSS_OPS | frozenset(
    {
        "cross_entropy",
        "nll_loss",
        "multilabel_soft_margin_loss",
        "multi_margin_loss",
        "multilabel_margin_loss",
        "hinge_embedding_loss",
        "cosine_embedding_loss",
        "margin_ranking_loss",
        "triplet_margin_loss",
        "ctc_loss",
    }
)

_NAMESPACES = {
    "torch": "torch",
    "torch.functional": "torch",
    "torch._C._VariableFunctions": "torch",
    "torch.nn.functional": "F",
    "torch._C._nn": "F",
    "torch._C._linalg": "torch.linalg",
    "torch._C._special": "torch.special",
    "torch._C._fft": "torch.fft",
    "torch._C._nested": "torch.nested",
}

_cache: dict[Any, tuple[str, str] | None] = {}


def _describe(func: Any) -> tuple[str, str] | None:
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # attribute read through a getset descriptor
        prop = getattr(getattr(func, "__self__", None), "__name__", "")
        return (prop, f"Tensor.{prop}") if prop in TENSOR_PROPERTIES else None
    if name in _BOOKKEEPING:
        return None
    qualname = getattr(func, "__qualname__", "") or ""
    if getattr(func, "__objclass__", None) is TensorBase or qualname.startswith(("Tensor.", "TensorBase.")):
        return name, f"Tensor.{name}"
    module = getattr(func, "__module__", None) or ""
    namespace = _NAMESPACES.get(module, module.replace("torch._C.", "torch."))
    return name, f"{namespace}.{name}" if namespace else name


def describe_op(func: Any) -> tuple[str, str] | None:
    """``(name, type)`` of a torch function, e.g. ``("view", "Tensor.view")``.

    None for bookkeeping calls that are not recorded. Cached per function.
    """
    try:
        return _cache[func]
    except KeyError:
        described = _cache[func] = _describe(func)
        return described
    except TypeError:  # an unhashable callable
        return _describe(func)


# PyTorch modules whose forward is Python composing child modules with ops
# (the residual adds of a transformer layer), and when tracing may record those
# ops. An active torch-function mode turns a fused inference path off
# (``has_torch_function`` is one of its checks), so the op mode runs inside only
# where no such path can run: the decoder side has none (torch 2.x source: no
# fast-path check in these forwards); the encoder side takes its fused path in
# eval mode only ("training is enabled" is a reason it gives for not taking it).
# tests/test_fast_paths.py spies on the fused kernel to hold this.
OPS_INSIDE_BUILTIN = {
    "Transformer": "always",
    "TransformerDecoder": "always",
    "TransformerDecoderLayer": "always",
    "TransformerEncoder": "training",
    "TransformerEncoderLayer": "training",
}
