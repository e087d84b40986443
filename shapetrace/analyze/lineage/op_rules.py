"""How each tensor operation carries atoms from its inputs to its outputs.

A rule sees the op call (its argument summaries and output shapes) and the
lineage of each input tensor; it returns one lineage per output, or None to
let the generic fallback decide. Reading the arguments is ``op_args.py``'s job;
which ops are which is ``core/torch_facts.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shapetrace.analyze.lineage.atoms import (
    COPIES,
    DimAtoms,
    Lineage,
    PackedAtom,
    fresh,
    fresh_dim,
    packed_dim,
    regroup,
    resize,
)
from shapetrace.analyze.lineage.einsum import einsum_terms
from shapetrace.analyze.lineage.join_rules import concatenate
from shapetrace.analyze.lineage.op_args import (
    argument,
    axis_of,
    index_items,
    output_shapes,
    permutation,
    raw_argument,
    reduced_axes,
    size_args,
)
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import (
    CREATION_OPS,
    LIKE_CREATION_OPS,
    PACKING_OPS,
    PERMUTE_OPS,
    REDUCTION_OPS,
    RESHAPE_OPS,
    SPATIAL_OPS,
    UNPACKING_OPS,
)

OpRule = Callable[[Call, list[Lineage]], "list[Lineage] | None"]


# ------------------------------------------------------------------ rules
def _reshape(call: Call, ins: list[Lineage]) -> list[Lineage]:
    return [regroup(ins[0], shape, f"{call.name}#{call.id}").lineage for shape in output_shapes(call)]


def _permute(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    order = permutation(call, len(ins[0]))
    if order is None or sorted(order) != list(range(len(ins[0]))):
        return None
    return [tuple(ins[0][i] for i in order)]


def _getitem(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    items = index_items(call)
    if items is None or call.output is None:
        return None
    source = ins[0]
    if any(isinstance(item, dict) and ("tensor" in item or "object" in item) for item in items):
        return None  # advanced indexing gathers: no simple rule
    consumed = sum(1 for item in items if item is not None and item != {"ellipsis": True})
    out: list[DimAtoms] = []
    position = 0
    for item in items:
        if item == {"ellipsis": True}:
            for _ in range(len(source) - consumed):
                out.append(source[position])
                position += 1
        elif item is None:
            out.append(())
        elif isinstance(item, int) and not isinstance(item, bool):
            position += 1  # an integer index removes the dim
        elif isinstance(item, dict) and "slice" in item:
            out.append(source[position])
            position += 1
        else:
            return None
    out.extend(source[position:])
    return [resize(tuple(out), call.output.shape)]


def _reduce(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    axes = reduced_axes(call, len(ins[0]))
    if axes is None:
        whole = argument(call, 0, "dim") is None and not any(meta.shape for meta in call.outputs)
        return [() for _ in call.outputs] if whole else None
    keep = bool(argument(call, 1, "keepdim", False))
    kept = tuple(() if i in axes else dim for i, dim in enumerate(ins[0]) if keep or i not in axes)
    return [kept for _ in call.outputs]


def _matmul(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if call.output is None or len(ins) < 2 or not ins[0] or not ins[1]:
        return None
    shape = call.output.shape
    if call.name == "linear":  # F.linear(x, weight): the weight's rows are new features
        return [(*ins[0][:-1], fresh_dim(f"linear#{call.id}", shape[-1]))] if shape else None
    return _product(shape, ins[0], ins[1], (call.inputs[0].shape, call.inputs[1].shape), f"{call.name}#{call.id}")


def _product(
    shape: Sequence[int], left: Lineage, right: Lineage, sizes: tuple[Sequence[int], Sequence[int]], origin: str
) -> list[Lineage] | None:
    """(..., n, k) @ (..., k, m) -> (..., n, m); a 1-d right operand drops m. The batch dims
    broadcast as elementwise ops' do (``sizes``: the operands' shapes): learned queries
    (1, h, Q, d) meet keys (B, h, d, T) in (B, h, Q, T), the batch the keys'."""
    if len(left) < 2 or len(right) < 2:
        out = left[:-1] + ((right[-1],) if len(right) >= 2 else ())
        return [out] if len(out) == len(shape) else None
    matrices = [(left[:-2], sizes[0][:-2]), (right[:-2], sizes[1][:-2])]
    batch = _broadcast([lin for lin, _ in matrices], [size for _, size in matrices], shape[:-2], origin)
    return [(*batch, left[-2], right[-1])]


def _einsum(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """``einsum("bth,bt->bh", out, mask)``: each output dim is the axis its label
    names in an operand (one that is not broadcast there, the first if all are);
    the labels summed over are gone."""
    terms = einsum_terms(call)
    if terms is None or call.output is None or len(ins) != len(terms.labels):
        return None
    places: dict[str, DimAtoms] = {}
    sizes: dict[str, int] = {}
    for lineage, labels, meta in zip(ins, terms.labels, call.inputs):
        for label, dim, size in zip(labels, lineage, meta.shape):
            if label not in places or (size > 1 and sizes[label] == 1):
                places[label], sizes[label] = dim, size
    if any(label not in places for label in terms.output):
        return None
    return [resize(tuple(places[label] for label in terms.output), call.output.shape)]


def _added_product(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """``baddbmm``/``addmm(input, a, b)``: ``beta * input + alpha * (a @ b)``, the
    product's axes (``input``, a bias, broadcasts onto it: attention scores made with
    their mask in one call)."""
    if call.output is None or len(ins) < 3 or not ins[1] or not ins[2]:
        return None
    shapes = (call.inputs[1].shape, call.inputs[2].shape)
    return _product(call.output.shape, ins[1], ins[2], shapes, f"{call.name}#{call.id}")


def _pieces(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """chunk/split/narrow: the same axes, one of them shorter."""
    if any(len(meta.shape) != len(ins[0]) for meta in call.outputs):
        return None
    return [resize(ins[0], meta.shape) for meta in call.outputs]


def _drop_axis(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """select(dim, i) and unbind(dim): the outputs lose that axis."""
    axis = axis_of(argument(call, 0, "dim", 0), len(ins[0]))
    if axis is None:
        return None
    return [ins[0][:axis] + ins[0][axis + 1 :] for _ in call.outputs]


def _creation(call: Call, ins: list[Lineage]) -> list[Lineage]:
    if call.name.endswith("_like") and ins:
        return [ins[0] for _ in call.outputs]
    return [fresh(f"{call.name}#{call.id}", shape) for shape in output_shapes(call)]


def _expand(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if call.output is None:
        return None
    shape = call.output.shape
    source = ((),) * (len(shape) - len(ins[0])) + ins[0]
    if len(source) != len(shape):
        return None
    return [
        tuple(
            dim if dim or size == 1 else fresh_dim(f"expand#{call.id}:{i}", size)
            for i, (dim, size) in enumerate(zip(source, shape))
        )
    ]


def _repeat(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """``Tensor.repeat(*counts)`` (and ``tile``): each dim tiled ``count`` times, the copies its major
    piece (the whole dim, then the whole dim again: ``(B, L).repeat(H, 1)`` is H copies
    of the batch, row ``h * B + b``); extra leading counts are new dims of copies."""
    if not ins or call.output is None:
        return None
    counts, shape = size_args(call), call.output.shape
    if call.name == "tile":  # fewer counts than dims: the leading ones are 1
        counts = [1] * (len(shape) - len(counts)) + counts
    if len(counts) != len(shape) or len(counts) < len(ins[0]) or any(count < 1 for count in counts):
        return None
    source = ((),) * (len(shape) - len(ins[0])) + ins[0]
    return [
        tuple(
            dim if count == 1 else (*fresh_dim(f"{COPIES}{call.id}:{d}", count), *dim)
            for d, (dim, count) in enumerate(zip(source, counts))
        )
    ]


def _repeat_interleave(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """``repeat_interleave(count, dim)``: each element of ``dim`` repeated ``count``
    times in a row, the copies its minor piece (row ``b * count + h``)."""
    if not ins or call.output is None or len(call.output.shape) != len(ins[0]):
        return None
    count, axis = argument(call, 0, "repeats"), axis_of(argument(call, 1, "dim"), len(ins[0]))
    if isinstance(count, bool) or not isinstance(count, int) or axis is None:
        return None
    out = list(ins[0])
    out[axis] = (*ins[0][axis], *fresh_dim(f"{COPIES}{call.id}:{axis}", count))
    return [tuple(out)]


def _new_last_axis(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """The input's axes and a new one last: ``F.embedding``'s features, ``F.one_hot``'s classes."""
    if call.output is None or not ins:
        return None
    return [(*ins[0], fresh_dim(f"{call.name}#{call.id}", call.output.shape[-1]))]


def _pack(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """pack_padded_sequence: (B, T, *) or (T, B, *) -> data (N, *), batch_sizes (T,)."""
    if not ins or len(ins[0]) < 2 or len(call.outputs) < 2:
        return None
    batch_first = bool(raw_argument(call, 2, "batch_first", False))
    batch, time = (ins[0][0], ins[0][1]) if batch_first else (ins[0][1], ins[0][0])
    data, steps = call.outputs[0].shape, call.outputs[1].shape
    packed = packed_dim(batch, time, data[0], f"packed#{call.id}")
    return [(packed, *ins[0][2:]), resize((time,), steps)] + [
        fresh(f"packed#{call.id}.{meta.path}", meta.shape) for meta in call.outputs[2:]
    ]


def unpacked_axes(dim: DimAtoms) -> tuple[DimAtoms, DimAtoms] | None:
    """The batch and time axes of a packed dim, when known."""
    atom = dim[0] if len(dim) == 1 else None
    if not isinstance(atom, PackedAtom) or atom.batch is None or atom.time is None:
        return None
    return (atom.batch,), (atom.time,)


def _unpack(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """pad_packed_sequence: data (N, *) -> padded (B, T, *) or (T, B, *), lengths (B,)."""
    if not ins or not ins[0] or not call.outputs or len(call.outputs[0].shape) != len(ins[0]) + 1:
        return None
    axes = unpacked_axes(ins[0][0])
    shape = call.outputs[0].shape
    batch_first = bool(raw_argument(call, 2, "batch_first", False))
    b, t = (0, 1) if batch_first else (1, 0)
    if axes is None:
        origin = f"unpacked#{call.id}"
        batch, time = fresh_dim(f"{origin}:batch", shape[b]), fresh_dim(f"{origin}:time", shape[t])
    else:
        batch, time = resize((axes[0],), (shape[b],))[0], resize((axes[1],), (shape[t],))[0]
    padded = (batch, time, *ins[0][1:]) if batch_first else (time, batch, *ins[0][1:])
    rest = [
        (batch,) if len(meta.shape) == 1 and meta.shape[0] == shape[b] else fresh(f"unpacked#{call.id}", meta.shape)
        for meta in call.outputs[1:]
    ]
    return [padded, *rest]


def _pad_sequence(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """pad_sequence: L_i x (T_i, *) -> (B, T, *) or (T, B, *), new batch and time axes."""
    if not ins or call.output is None or len(call.output.shape) != len(ins[0]) + 1:
        return None
    shape = call.output.shape
    batch_first = bool(raw_argument(call, 1, "batch_first", False))
    b, t = (0, 1) if batch_first else (1, 0)
    origin = f"pad_sequence#{call.id}"
    batch, time = fresh_dim(f"{origin}:batch", shape[b]), fresh_dim(f"{origin}:time", shape[t])
    return [(batch, time, *ins[0][1:]) if batch_first else (time, batch, *ins[0][1:])]


def _gather(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """gather(input, dim, index): the input's axes but along ``dim``, where the index picks."""
    if len(ins) < 2 or call.output is None or len(ins[0]) != len(call.output.shape):
        return None
    axis = axis_of(raw_argument(call, 1, "dim"), len(ins[0]))
    if axis is None:
        return None
    shape, source = call.output.shape, call.inputs[0].shape
    out = []
    for d, (dim, size) in enumerate(zip(ins[0], shape)):
        if d == axis:
            out.append(fresh_dim(f"gather#{call.id}:{d}", size))
        else:
            out.append(dim if size == source[d] else fresh_dim(f"gather#{call.id}:{d}", size))
    return [tuple(out)]


def _spatial(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if not ins or len(ins[0]) < 3 or any(len(meta.shape) != len(ins[0]) for meta in call.outputs):
        return None
    out = []
    for meta in call.outputs:
        shape = meta.shape
        channels = (
            fresh_dim(f"{call.name}#{call.id}:channels", shape[1])
            if (call.name.startswith(("conv", "pixel")) or shape[1] != call.inputs[0].shape[1])
            else ins[0][1]
        )
        out.append((ins[0][0], channels, *resize(ins[0][2:], shape[2:])))
    return out


RULES: dict[str, OpRule] = {
    **dict.fromkeys(RESHAPE_OPS, _reshape),
    **dict.fromkeys(PERMUTE_OPS, _permute),
    **dict.fromkeys(REDUCTION_OPS, _reduce),
    # ``*_like`` ones copy their input's axes (see _creation).
    **dict.fromkeys(CREATION_OPS | LIKE_CREATION_OPS, _creation),
    **dict.fromkeys(("cat", "concat", "concatenate", "stack"), concatenate),
    **dict.fromkeys(("matmul", "__matmul__", "bmm", "mm", "linear"), _matmul),
    **dict.fromkeys(("baddbmm", "addmm"), _added_product),
    **dict.fromkeys(("expand", "expand_as", "broadcast_to"), _expand),
    "__getitem__": _getitem,
    "einsum": _einsum,
    "select": _drop_axis,
    **dict.fromkeys(("chunk", "split", "split_with_sizes", "tensor_split", "narrow"), _pieces),
    "unbind": _drop_axis,
    **dict.fromkeys(("embedding", "one_hot"), _new_last_axis),
    **dict.fromkeys(PACKING_OPS, _pack),
    **dict.fromkeys(UNPACKING_OPS, _unpack),
    "pad_sequence": _pad_sequence,
    "gather": _gather,
    **dict.fromkeys(("repeat", "tile"), _repeat),
    "repeat_interleave": _repeat_interleave,
    **dict.fromkeys(SPATIAL_OPS, _spatial),
}


def fallback(call: Call, ins: list[Lineage]) -> list[Lineage]:
    """Elementwise ops and the unknown: reuse an input's axes where sizes fit."""
    out = []
    for k, meta in enumerate(call.outputs):
        shape = meta.shape
        same = next((lin for lin, inp in zip(ins, call.inputs) if inp.shape == shape), None)
        shapes = [meta.shape for meta in call.inputs]
        out.append(same if same is not None else _broadcast(ins, shapes, shape, f"{call.name}#{call.id}.{k}"))
    return out


def _broadcast(ins: Sequence[Lineage], shapes: Sequence[Sequence[int]], shape: Sequence[int], origin: str) -> Lineage:
    """Each output dim (of ``shape``) from the first input (lineage and shape) whose
    right-aligned dim has its size."""
    dims: list[DimAtoms] = []
    for i, size in enumerate(shape):
        back = len(shape) - i
        dim = next(
            (
                lin[len(lin) - back]
                for lin, inp in zip(ins, shapes)
                if len(inp) >= back and inp[len(inp) - back] == size and size != 1
            ),
            None,
        )
        dims.append(dim if dim is not None else fresh_dim(f"{origin}:{i}", size))
    return tuple(dims)


def op_lineage(call: Call, ins: list[Lineage]) -> list[Lineage]:
    """The lineage of each output of an op call."""
    rule = RULES.get(call.name)
    result = rule(call, ins) if rule is not None and (ins or rule is _creation) else None
    if (
        result is None
        or len(result) != len(call.outputs)
        or any(len(lin) != len(meta.shape) for lin, meta in zip(result, call.outputs))
    ):
        result = fallback(call, ins)
    return result
