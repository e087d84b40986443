"""How PyTorch's built-in modules carry atoms from input to output.

Their inner ops are not recorded, so each kind of module needs a rule:
a Linear keeps the leading dims, an RNN keeps batch and time where
``batch_first`` puts them, a convolution keeps the batch and its length axis.
"""

from __future__ import annotations

from collections.abc import Callable

from shapetrace.analyze.lineage.atoms import Lineage, fresh, fresh_dim, regroup, resize
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import CELL_TYPES, RNN_TYPES

ModuleRule = Callable[[Call, list[Lineage]], "list[Lineage] | None"]


def is_builtin(call: Call) -> bool:
    """A call of one of PyTorch's own modules: the recorder notes where a
    module's forward is defined only for the user's modules, so a user class
    named ``LSTM`` is not taken for ``nn.LSTM``."""
    return call.kind == "module" and call.defined_at is None


def hidden_origin(call: Call) -> str:
    """The origin of a recurrent module's features: one per module, not per call,
    so the state of an LSTMCell loop keeps its identity from step to step."""
    return f"{call.name}:hidden"


def _packed_rnn(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """An RNN run on a PackedSequence: its output's data keeps the packed dim."""
    from shapetrace.analyze.lineage.op_rules import unpacked_axes

    source = ins[0]
    if len(source) != 2:
        return None
    axes = unpacked_axes(source[0])
    given = {meta.path: lineage for meta, lineage in zip(call.inputs, ins)}
    out: list[Lineage] = []
    for meta in call.outputs:
        hidden = fresh_dim(hidden_origin(call), meta.shape[-1]) if meta.shape else ()
        if meta.path == "0.data" and len(meta.shape) == 2:
            out.append((source[0], hidden))
        elif meta.path in given and len(given[meta.path]) == len(meta.shape):
            out.append(given[meta.path])  # batch_sizes and the sorting indices pass through
        elif len(meta.shape) == 3 and axes is not None:  # h_n, c_n: (layers, batch, hidden)
            batch = resize((axes[0],), (meta.shape[1],))[0]
            out.append((fresh_dim(f"{call.name}:layers", meta.shape[0]), batch, hidden))
        else:
            out.append(fresh(f"{call.name}#{call.id}.{meta.path}", meta.shape))
    return out


def _rnn(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    source = ins[0] if ins else ()
    if call.inputs[0].path == "0.data":
        return _packed_rnn(call, ins)
    if call.inputs[0].path != "0" or len(source) not in (2, 3):
        return None  # an unusual call: no rule
    batch_first = bool(call.config.get("batch_first")) and len(source) == 3
    batch = source[0] if batch_first else source[1] if len(source) == 3 else None
    out = []
    for meta in call.outputs:
        hidden = fresh_dim(hidden_origin(call), meta.shape[-1]) if meta.shape else ()
        if meta.path == "0" and len(meta.shape) == len(source):
            out.append((*source[:-1], hidden))
        elif len(meta.shape) == 3 and batch is not None:  # h_n, c_n: (layers, batch, hidden)
            out.append((fresh_dim(f"{call.name}:layers", meta.shape[0]), batch, hidden))
        else:
            out.append(fresh(f"{call.name}#{call.id}.{meta.path}", meta.shape))
    return out


def _cell(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if not ins or not ins[0]:
        return None
    batch = ins[0][:-1]
    return [(*batch, fresh_dim(hidden_origin(call), meta.shape[-1])) if meta.shape else () for meta in call.outputs]


def _last_dim_new(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """Linear and friends: (*, in_features) -> (*, out_features)."""
    if not ins or not ins[0] or call.output is None or len(call.output.shape) != len(ins[0]):
        return None
    return [(*ins[0][:-1], fresh_dim(f"{call.name}:out", call.output.shape[-1]))]


def _embedding(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if not ins or call.output is None or len(call.output.shape) != len(ins[0]) + 1:
        return None
    return [(*ins[0], fresh_dim(f"{call.name}:out", call.output.shape[-1]))]


def _channels_first(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """Convolutions and pools: (N, C, *spatial); spatial axes keep their identity."""
    if not ins or call.output is None or len(call.output.shape) != len(ins[0]) or len(ins[0]) < 2:
        return None
    shape = call.output.shape
    channels = ins[0][1] if "Pool" in call.type else fresh_dim(f"{call.name}:channels", shape[1])
    return [(ins[0][0], channels, *resize(ins[0][2:], shape[2:]))]


def _flatten(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if not ins or call.output is None:
        return None
    return [regroup(ins[0], call.output.shape, f"{call.name}#{call.id}").lineage]


def _attention(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """MultiheadAttention: the output has the query's axes."""
    if not ins or call.output is None or call.output.shape != call.inputs[0].shape:
        return None
    return [
        ins[0] if k == 0 else fresh(f"{call.name}#{call.id}.{meta.path}", meta.shape)
        for k, meta in enumerate(call.outputs)
    ]


RULES: dict[str, ModuleRule] = {
    **dict.fromkeys(RNN_TYPES, _rnn),
    **dict.fromkeys(CELL_TYPES, _cell),
    **dict.fromkeys(("Linear", "LazyLinear", "Bilinear"), _last_dim_new),
    "Embedding": _embedding,
    **dict.fromkeys(
        (
            "Conv1d",
            "Conv2d",
            "Conv3d",
            "ConvTranspose1d",
            "ConvTranspose2d",
            "ConvTranspose3d",
            "LazyConv1d",
            "LazyConv2d",
            "MaxPool1d",
            "MaxPool2d",
            "AvgPool1d",
            "AvgPool2d",
            "AdaptiveAvgPool1d",
            "AdaptiveAvgPool2d",
            "AdaptiveMaxPool1d",
            "AdaptiveMaxPool2d",
        ),
        _channels_first,
    ),
    **dict.fromkeys(("Flatten", "Unflatten"), _flatten),
    "MultiheadAttention": _attention,
}


def module_lineage(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    """The lineage of each output of a built-in module, or None without a rule."""
    rule = RULES.get(call.type) if is_builtin(call) else None
    result = rule(call, ins) if rule is not None else None
    if (
        result is None
        or len(result) != len(call.outputs)
        or any(len(lin) != len(meta.shape) for lin, meta in zip(result, call.outputs))
    ):
        return None
    return result
