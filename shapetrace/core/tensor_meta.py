"""Tensor metadata and the flattening of nested values into it.

Nothing here reads tensor data: shape, stride, dtype and device are
metadata, so everything works on the ``meta`` device and never syncs a GPU.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.nn.utils.rnn import PackedSequence

from shapetrace.core.fast_init import fast_constructor
from shapetrace.core.torch_private import PYTREE_NODES, DisableTorchFunction, DisableTorchFunctionSubclass

_NOT_WALKED = (torch.nn.Module, type, types.ModuleType, types.FunctionType, types.MethodType)

# Nested containers deeper than this are cut off rather than followed.
_MAX_DEPTH = 24
# Below a plain object (one walked by its attributes) at most this many more levels
# are followed: ``ImageList.tensors``, ``obj.pair.0``; never a walk through an object
# graph (Hugging Face's KV cache, passed to every attention call, holds its tensors
# three levels down: walking it cost generate ~25% more).
_OBJECT_LEVELS = 2
_SCALARS = (bool, int, float, str, bytes, complex)
_PLAIN_ARGS = frozenset({int, bool, str, type(None)})
_DEVICE_NAMES: dict[torch.device, str] = {}
_DTYPE_NAMES: dict[torch.dtype, str] = {}
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_Size = torch.Size
_dtype = torch.dtype
_device = torch.device
_INF = float("inf")
_STRIDED = torch.strided


@dataclasses.dataclass(frozen=True)
class TensorMeta:
    """What shapetrace knows of one tensor: everything but its values.

    >>> meta = t["lstm"].outputs[0]          # batch_first=True: a transposed view
    >>> meta
    <TensorMeta '0' (5, 30, 64) float32 cpu non-contiguous requires_grad>
    >>> meta.shape, meta.stride, meta.contiguous
    ((5, 30, 64), (64, 320, 1), False)

    Attributes:
        path: the tensor's position in the nested value it came from, the
            keys joined by dots: ``"0"`` is an LSTM's output, ``"1.0"`` its
            h_n, ``"1.1"`` its c_n, ``""`` a bare tensor, ``"logits"`` a dict entry.
        shape: ``tuple(tensor.shape)``; ``()`` for a scalar. For a nested
            tensor, which has no single shape, the shape it would have padded:
            its number of components, then each dim's largest size among them.
        dtype: ``tensor.dtype``, a ``torch.dtype`` (``torch.float32``).
        device: ``str(tensor.device)``: ``"cpu"``, ``"cuda:0"``, ``"meta"``.
        contiguous: ``tensor.is_contiguous()``; True for non-strided layouts.
        stride: ``tensor.stride()`` in elements; ``()`` for non-strided
            layouts (sparse), and in a TensorMeta made by hand.
        requires_grad: ``tensor.requires_grad``.
        nbytes: ``numel() * element_size()``, in bytes (the logical size,
            not the storage's).
        symbolic: each dim as a name (``"B"``), an int or an expression
            (``"B*T"``) once symbolic dimensions were inferred by
            :func:`shapetrace.vary`; None for a trace of one run.
        layout: ``"strided"`` (a plain tensor), ``"nested"``, ``"sparse_coo"``,
            ``"sparse_csr"``, ``"mkldnn"``... (``tensor.layout``'s name); where
            it is not ``"strided"``, ``stride`` is ``()``.
    """

    path: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    device: str
    contiguous: bool = True
    stride: tuple[int, ...] = ()
    requires_grad: bool = False
    nbytes: int = 0
    symbolic: tuple[int | str, ...] | None = None
    layout: str = "strided"

    @property
    def ndim(self) -> int:
        """The number of dims, ``len(shape)``."""
        return len(self.shape)

    def __repr__(self) -> str:
        dims = self.symbolic if self.symbolic is not None else self.shape
        shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(str(d) for d in dims)})"
        flags = "" if self.contiguous else " non-contiguous"
        if self.layout != "strided":
            flags += f" {self.layout}"
        grad = " requires_grad" if self.requires_grad else ""
        return f"<TensorMeta {self.path!r} {shape} {dtype_name(self.dtype)} {self.device}{flags}{grad}>"


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"`` (cached: renderers ask once per tensor)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


def dtype_from_name(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype


def _device_name(device: torch.device) -> str:
    name = _DEVICE_NAMES.get(device)
    if name is None:
        name = _DEVICE_NAMES[device] = str(device)
    return name


def tensor_meta(tensor: torch.Tensor, path: str) -> TensorMeta:
    """Metadata of one tensor, of any layout (sparse, nested, mkldnn...).

    Only metadata is read: a nested tensor's component sizes are metadata
    PyTorch keeps on the CPU (a jagged one's offsets are read only there).
    A subclass's ``__torch_function__`` does not see the reads.
    """
    kind = type(tensor)
    if kind is not _Tensor and kind is not _Parameter:
        with DisableTorchFunctionSubclass():
            return _read_meta(tensor, path)
    return _read_meta(tensor, path)


def _read_meta(tensor: torch.Tensor, path: str) -> TensorMeta:
    if tensor.is_nested:
        shape, layout = _nested_shape(tensor), "nested"
    else:
        shape, layout = tuple(tensor.shape), _layout_name(tensor.layout)
    if layout == "strided":
        contiguous, stride = tensor.is_contiguous(), tuple(tensor.stride())
    else:
        contiguous, stride = True, ()
    nbytes = tensor.numel() * tensor.element_size()  # of the values stored (sparse: of the dense equivalent)
    return make_meta(
        path,
        shape,
        tensor.dtype,
        _device_name(tensor.device),
        contiguous,
        stride,
        tensor.requires_grad,
        nbytes,
        None,
        layout,
    )


_LAYOUT_NAMES: dict[torch.layout, str] = {}


def _layout_name(layout: torch.layout) -> str:
    """``torch.sparse_coo`` -> ``"sparse_coo"``, ``torch._mkldnn`` -> ``"mkldnn"``."""
    name = _LAYOUT_NAMES.get(layout)
    if name is None:
        name = _LAYOUT_NAMES[layout] = str(layout).removeprefix("torch.").lstrip("_")
    return name


def _nested_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """A nested tensor's padded-equivalent shape: its number of components,
    then each dim's largest size among them."""
    with DisableTorchFunction():  # no mode or subclass sees these reads
        if tensor.layout is _STRIDED:  # NestedTensorImpl: the sizes, an (n, dim - 1) tensor on the CPU
            sizes = tensor._nested_tensor_size().tolist()
            largest = [max(column) for column in zip(*sizes)] if sizes else [0] * (tensor.dim() - 1)
            return (tensor.size(0), *largest)
        # jagged (torch.jagged): one ragged dim, a SymInt in its shape
        jagged: Any = tensor
        dims = list(jagged.shape)
        ragged = next(i for i, dim in enumerate(dims) if not isinstance(dim, int))
        longest = getattr(jagged, "_maybe_max_seqlen", None)
        if longest is None:
            offsets = jagged.offsets()
            if offsets.device.type == "cpu":
                bounds = offsets.tolist()
                longest = max((b - a for a, b in itertools.pairwise(bounds)), default=0)
            else:  # no read of a device's memory: the total length bounds the longest
                longest = jagged.values().shape[ragged - 1]
        dims[ragged] = longest
        return tuple(int(dim) for dim in dims)


make_meta = fast_constructor(TensorMeta)  # one per new tensor layout: see fast_init


MetaOf = Callable[[torch.Tensor, str], TensorMeta]
INDEX_PATHS = tuple(str(i) for i in range(16))  # index_path's, for hot loops to read inline
# (kind, value) -> ``{kind: value}``: the stand-ins ``summarize_arg`` gives
# tensors (by path), plain slices, dtypes, devices and ``...``, one object
# for equal ones. An op's record keeps its arguments' stand-ins, and every
# object a record keeps brings Python's next garbage collection nearer
# (core/meta_table.py, ``MetaTable.single``): a Mamba step's
# ``x[:, :, i, :]`` kept seven. Records are values: no code changes them.
_STANDINS: dict[tuple[str, Any], dict[str, Any]] = {}
_STANDINS_LIMIT = 10_000  # past it (a loop's ever-new slice bounds), stand-ins are made anew


def standin(kind: str, value: Any) -> dict[str, Any]:
    """``{kind: value}``, the same dict for equal arguments (``value`` hashable)."""
    key = (kind, value)
    made = _STANDINS.get(key)
    if made is None:
        made = {kind: value}
        if len(_STANDINS) < _STANDINS_LIMIT:
            _STANDINS[key] = made
    return made


# ``{"tensor": path}`` of the first positional arguments, for hot loops to read inline.
TENSOR_ARGS = tuple(standin("tensor", path) for path in INDEX_PATHS)
# The stand-ins of an op whose positional arguments are all tensors (``a + b``,
# ``torch.matmul(a, b)``): ``TENSOR_ARGS[:n]``, one tuple for each ``n``.
ALL_TENSOR_ARGS = tuple(TENSOR_ARGS[:n] for n in range(len(TENSOR_ARGS) + 1))


def index_path(index: int) -> str:
    """``str(index)``, made once for the small indices every call has."""
    return INDEX_PATHS[index] if index < 16 else str(index)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _children(value: Any) -> list[tuple[object, Any]] | None:
    """(key, child) pairs of a container, or None for a leaf."""
    kind = type(value)
    if kind is tuple or kind is list:
        return list(enumerate(value))
    if kind is dict:
        return list(value.items())
    if isinstance(value, PackedSequence):
        return [(field, getattr(value, field)) for field in value._fields]
    if isinstance(value, Mapping):  # OrderedDict, Hugging Face ModelOutput
        return list(value.items())
    node = PYTREE_NODES.get(kind)
    if node is not None:
        children, _ = node.flatten_fn(value)
        return list(enumerate(children))
    if isinstance(value, (tuple, list)):  # named tuples, torch.return_types
        return list(enumerate(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    return None


def _attributes(value: Any) -> list[tuple[object, Any]] | None:
    """A plain object's public instance attributes (torchvision's ``ImageList``:
    ``tensors``, ``image_sizes``), or None for anything else.

    Only the instance ``__dict__`` is read: no property or ``__getattr__`` runs.
    Modules are never walked (their parameters are not a value they hold), nor
    classes, functions or Python modules.
    """
    try:
        attributes = value.__dict__
    except AttributeError:
        return None
    if type(attributes) is not dict or isinstance(value, _NOT_WALKED):
        return None
    return [
        (key, child)
        for key, child in attributes.items()
        if type(key) is str and not key.startswith("_") and child is not None and not callable(child)
    ]


def collect_metas(
    value: Any, path: str = "", out: list[TensorMeta] | None = None, depth: int = 0, meta_of: MetaOf = tensor_meta
) -> list[TensorMeta]:
    """Every tensor in a nested value, in order, with its path.

    Containers are followed (tuples, lists, dicts, pytree nodes, named tuples,
    dataclasses), then plain objects by their public attributes, a bounded depth
    (``0.tensors`` for an ``ImageList`` returned first). ``None`` and other
    non-tensor leaves are skipped, never an error.
    ``meta_of`` makes each TensorMeta (a ``MetaTable``'s ``meta`` shares them).
    """
    if out is None:
        out = []
    if isinstance(value, _Tensor):
        out.append(meta_of(value, path))
        return out
    kind = type(value)
    if kind is tuple or kind is list:
        # A module's args and most outputs: walked here rather than through
        # _children and one recursive call per tensor (saves ~1 us a call).
        if depth < _MAX_DEPTH:
            for index, child in enumerate(value):
                child_path = f"{path}.{index}" if path else index_path(index)
                if isinstance(child, _Tensor):
                    out.append(meta_of(child, child_path))
                elif child is not None:
                    collect_metas(child, child_path, out, depth + 1, meta_of)
        return out
    if kind is dict:
        # A module's kwargs (Hugging Face passes a dozen, most None or flags):
        # a leaf is told apart before its path is made or a call is spent on it.
        if depth < _MAX_DEPTH:
            for key, child in value.items():
                if isinstance(child, _Tensor):
                    out.append(meta_of(child, f"{path}.{key}" if path else str(key)))
                elif child is not None and type(child) not in _PLAIN_ARGS:
                    collect_metas(child, f"{path}.{key}" if path else str(key), out, depth + 1, meta_of)
        return out
    if value is None or isinstance(value, _SCALARS) or depth >= _MAX_DEPTH:
        return out
    children = _children(value)
    if children is None:
        children = _attributes(value)
        if children:
            depth = max(depth, _MAX_DEPTH - _OBJECT_LEVELS)
    if children:
        for key, child in children:
            if child is not None and type(child) not in _PLAIN_ARGS:
                collect_metas(child, _join(path, key), out, depth + 1, meta_of)
    return out


def summarize_arg(value: Any, path: str, metas: list[TensorMeta], depth: int = 0, meta_of: MetaOf = tensor_meta) -> Any:
    """A JSON-ready stand-in for one argument of an op; tensors go to ``metas``.

    Tensors become ``{"tensor": path}`` (their metadata is in ``metas``),
    slices ``{"slice": (start, stop, step)}``; other objects are named by type
    only, because ``repr`` of an unknown object may read tensor data.
    Equal stand-ins of tensors, plain slices, dtypes and devices are one
    object (``standin``).
    """
    kind = type(value)
    if kind in _PLAIN_ARGS:  # most arguments (sizes, dims): the quickest test first
        return value
    # The other common arguments by their exact class, before the isinstance
    # chain below (an isinstance of torch.Tensor asks its metaclass): a size
    # (``view``'s), a float (``x * 0.5``), a dtype or a device cost 1-2 us through it.
    if kind is tuple or kind is _Size or kind is list:
        if depth < _MAX_DEPTH:
            return _summarize_sequence(value, path, metas, depth, meta_of)
    elif kind is float:
        return value if value == value and abs(value) != _INF else str(value)
    elif kind is _dtype:
        return standin("dtype", dtype_name(value))
    elif kind is _device:
        return standin("device", _device_name(value))
    if isinstance(value, _Tensor):
        metas.append(meta_of(value, path))
        return standin("tensor", path)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != _INF else str(value)
    if isinstance(value, slice):
        parts = (value.start, value.stop, value.step)
        if type(parts[0]) in _PLAIN_ARGS and type(parts[1]) in _PLAIN_ARGS and type(parts[2]) in _PLAIN_ARGS:
            return standin("slice", parts)  # ``x[:, :-1]``: no part to walk (the indexing models do, per step)
        return {
            "slice": tuple(
                summarize_arg(part, _join(path, name), metas, depth + 1, meta_of)
                for name, part in (("start", parts[0]), ("stop", parts[1]), ("step", parts[2]))
            )
        }
    if value is Ellipsis:
        return standin("ellipsis", True)
    if isinstance(value, torch.dtype):
        return standin("dtype", dtype_name(value))
    if isinstance(value, torch.device):
        return standin("device", _device_name(value))
    if depth < _MAX_DEPTH and isinstance(value, (tuple, list)):
        return _summarize_sequence(value, path, metas, depth, meta_of)
    if depth < _MAX_DEPTH and type(value) is dict:
        return {str(k): summarize_arg(v, _join(path, k), metas, depth + 1, meta_of) for k, v in value.items()}
    collect_metas(value, path, metas, depth, meta_of)
    return {"object": type(value).__name__}


def _summarize_sequence(
    value: tuple | list, path: str, metas: list[TensorMeta], depth: int, meta_of: MetaOf
) -> tuple[Any, ...]:
    """``summarize_arg`` of a tuple or list, ``depth`` below ``_MAX_DEPTH``."""
    # A size or an index (``x[:, t]``), met once per step where a model
    # loops over time, or the tensors ``torch.cat`` joins: plain parts,
    # slices of them and tensors without a call each.
    summary = []
    for index, part in enumerate(value):
        kind = type(part)
        if kind in _PLAIN_ARGS:
            summary.append(part)
        elif kind is _Tensor or kind is _Parameter:
            part_path = f"{path}.{index}" if path else index_path(index)
            metas.append(meta_of(part, part_path))
            summary.append(standin("tensor", part_path))
        elif (
            kind is slice
            and type(part.start) in _PLAIN_ARGS
            and type(part.stop) in _PLAIN_ARGS
            and type(part.step) in _PLAIN_ARGS
        ):
            summary.append(standin("slice", (part.start, part.stop, part.step)))
        else:
            summary.append(summarize_arg(part, _join(path, index), metas, depth + 1, meta_of))
    return tuple(summary)
