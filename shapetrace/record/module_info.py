"""What the recorder reads from a module once per trace: its hyperparameters,
its parameter count, and whether its forward is PyTorch's own code.

These run for every module of a traced model (4,000 times for a 4,000-module
MLP), so they read the module's dicts directly instead of going through
``parameters()`` and its three nested generators.
"""

from __future__ import annotations

from typing import Any

import torch.jit
from torch import nn
from torch.nn.parameter import is_lazy

from shapetrace.core.records import Location
from shapetrace.core.torch_facts import OPS_INSIDE_BUILTIN
from shapetrace.record import frames

# config, parameter count (None: not known yet), forward's definition
ModuleInfo = tuple[dict[str, Any], int | None, Location | None]

_CONFIG_TYPES = (bool, int, float, str, type(None))
_EXACT_CONFIG_TYPES = frozenset(_CONFIG_TYPES)
_standard_class: dict[type, bool] = {}  # (see _claimed_class)
# What nn.Module.__init__ puts in every module's __dict__: never configuration.
_MODULE_STATE = frozenset(vars(nn.Module())) | {"training"}
_ScriptModule = torch.jit.ScriptModule
_builtin_forward: dict[type, bool] = {}
_public_names: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_plain_traversal: dict[type, bool] = {}
# The methods ``parameters()`` goes through: a class overriding one of them
# is counted by ``parameters()`` itself.
_TRAVERSAL = ("parameters", "named_parameters", "_named_members", "named_modules")


def is_builtin_module(module: nn.Module) -> bool:
    """True when the module's forward is PyTorch's own code (cached per type)."""
    kind = type(module)
    builtin = _builtin_forward.get(kind)
    if builtin is None:
        if issubclass(kind, _ScriptModule):  # runs outside Python; its class refuses ``forward``
            builtin = _builtin_forward[kind] = True
            return True
        # a forward decorated by torch (``@torch.no_grad()``) is still the user's code
        code = getattr(frames.unwrapped(kind.forward), "__code__", None)
        builtin = _builtin_forward[kind] = code is None or frames.is_internal(code)
    return builtin


def records_ops_inside(module: nn.Module) -> bool:
    """True for a PyTorch composite whose own ops (a transformer layer's residual
    adds) can be recorded without turning a fused path off (``OPS_INSIDE_BUILTIN``)."""
    kind = type(module)
    when = OPS_INSIDE_BUILTIN.get(kind.__name__)
    if when is None or getattr(nn, kind.__name__, None) is not kind:
        return False
    return when == "always" or module.training


def _composite_codes() -> frozenset:
    """The code of every method of the ``OPS_INSIDE_BUILTIN`` classes (``forward``,
    ``_sa_block``, ``_ff_block``...): the op mode records ops they call."""
    codes = set()
    for name in OPS_INSIDE_BUILTIN:
        for attribute in vars(getattr(nn, name)).values():
            code = getattr(attribute, "__code__", None)
            if code is not None:
                codes.add(code)
    return frozenset(codes)


COMPOSITE_CODES = _composite_codes()


def module_info(module: nn.Module, params: int | None = None) -> ModuleInfo:
    """``params``: the count when known already (``parameter_counts``)."""
    defined_at = None if is_builtin_module(module) else frames.definition_of(type(module).forward)
    return module_config(module), parameter_count(module) if params is None else params, defined_at


def module_config(module: nn.Module) -> dict[str, Any]:
    """A module's hyperparameters: public plain attributes (``batch_first``...).
    PyTorch's transformer layers keep ``batch_first`` on their attention only
    (``self_attn``, or the first of ``layers``): it is copied to the layer's config,
    since their fused inference path never calls that attention."""
    attributes = vars(module)
    candidates = _public_attributes(type(module), attributes)
    config: dict[str, Any] = {}
    if type(module).__name__ in _ATTENTION_HOLDERS:
        flag = _attention_flag(module)
        if flag is not None:
            config["batch_first"] = flag
    if not candidates:
        return config
    for key in candidates:
        value = attributes[key]
        if type(value) in _EXACT_CONFIG_TYPES or _is_config_value(value):
            config[key] = value
    return config


def _is_config_value(value: Any) -> bool:
    """``isinstance(value, _CONFIG_TYPES)``, or a tuple of such values.

    ``isinstance`` asks an object of another class for its ``__class__``
    once per class it is tested against: six times for a Hugging Face
    config (``GPT2Config``), whose ``__getattribute__`` is Python code, 13 us
    per module holding one. Asked once here, with the same answer."""
    kind = type(value)
    if kind is tuple:
        return all(isinstance(v, _CONFIG_TYPES) for v in value)
    if issubclass(kind, _CONFIG_TYPES):
        return True
    claimed = _claimed_class(value, kind)
    if claimed is not kind and issubclass(claimed, _CONFIG_TYPES):
        return True
    return (issubclass(kind, tuple) or (claimed is not kind and issubclass(claimed, tuple))) and all(
        isinstance(v, _CONFIG_TYPES) for v in value
    )


def _claimed_class(value: Any, kind: type) -> type:
    """``value.__class__`` as ``isinstance`` reads it (``kind``: its type): looked
    up only where a class could answer differently (a ``__getattribute__`` or
    ``__class__`` of its own: proxies, Hugging Face's configs)."""
    standard = _standard_class.get(kind)
    if standard is None:
        standard = _standard_class[kind] = kind.__getattribute__ is object.__getattribute__ and all(
            "__class__" not in vars(base) for base in kind.__mro__[:-1]
        )
    if standard:
        return kind
    try:
        claimed = value.__class__
    except AttributeError:
        return kind
    return claimed if isinstance(claimed, type) else kind


# Where a transformer layer's ``batch_first`` lives: a path of child modules.
_ATTENTION_HOLDERS = {
    "TransformerEncoderLayer": ("self_attn",),
    "TransformerDecoderLayer": ("self_attn",),
    "TransformerEncoder": ("layers", "0", "self_attn"),
    "TransformerDecoder": ("layers", "0", "self_attn"),
}


def _attention_flag(module: nn.Module) -> bool | None:
    if getattr(nn, type(module).__name__, None) is not type(module):
        return None  # a user's class of the same name
    node: Any = module
    for name in _ATTENTION_HOLDERS[type(module).__name__]:
        node = node._modules.get(name) if isinstance(node, nn.Module) else None
    flag = getattr(node, "batch_first", None) if isinstance(node, nn.MultiheadAttention) else None
    return flag if isinstance(flag, bool) else None


def _public_attributes(kind: type, attributes: dict[str, Any]) -> tuple[str, ...]:
    """The public names among a module's attributes, in order. Instances of a
    class share their attribute names: they are found once per class and
    checked by comparing the names, in order, with the last instance's.

    A tuple comparison, not a set's: the names are the same objects, so it
    compares pointers, where a set looks each name up by its hash (1.7% of a
    T5's traced forward, with ops, was that comparison: py-spy, in the trace,
    where the names' objects are out of the CPU's cache). An instance whose
    names come in another order is read as if its class were new."""
    names = tuple(attributes)
    known = _public_names.get(kind)
    if known is None or names != known[0]:
        known = _public_names[kind] = (
            names,
            tuple(key for key in names if key not in _MODULE_STATE and key[:1] != "_"),
        )
    return known[1]


def parameter_count(module: nn.Module) -> int | None:
    """``sum(p.numel() for p in module.parameters())``: shared modules and
    parameters counted once, as ``parameters()`` does. None while a lazy
    module's parameters are not initialized (their size is not known).

    Walks ``_modules`` and ``_parameters`` itself: 0.5 us per module instead
    of 2.5 us (12% of tracing a 4,000-module MLP went to counting its root).
    """
    if not module._modules:
        return _own_count(module, set()) if _plain(type(module)) else _counted_by_torch(module)
    seen_modules: set[int] = set()
    seen_parameters: set[int] = set()
    total = 0
    pending = [module]
    while pending:
        current = pending.pop()
        if id(current) in seen_modules:
            continue
        if not _plain(type(current)):
            return _counted_by_torch(module)
        seen_modules.add(id(current))
        own = _own_count(current, seen_parameters)
        if own is None:
            return None
        total += own
        pending.extend(child for child in current._modules.values() if child is not None)
    return total


def parameter_counts(modules: list[nn.Module]) -> dict[int, int]:
    """``parameter_count`` of each of a model's modules (``modules()``, in
    its order: parents first), by id; a module left out is counted as it runs.

    A module's count is its own parameters' plus its children's: 1 us per
    module, where counting each module's subtree on its own costs the depth
    of the model times that. A parameter held by several modules (tied
    embedding and output weights: GPT-2, T5) is counted in each, then taken
    off again, once per extra holder, from the modules above them that hold
    it more than once. When the modules are not a tree (a module used twice,
    which ``modules()`` lists once: neuralforecast's NHITS shares one ReLU
    among its blocks and one MAE as loss and valid_loss), ``_dag_counts``
    counts them instead. Left out: the modules holding a lazy parameter (its
    size is not known yet), and those above a class that finds its
    parameters its own way.
    """
    children = 0
    for module in modules:
        if not _plain(type(module)):
            return _dag_counts(modules)
        children += len(module._modules)  # (a None child is never listed: counted as used twice)
    if children != len(modules) - 1:
        return _dag_counts(modules)
    counts: dict[int, int] = {}
    # parameter id -> [its numel, the ids of the modules holding it...]
    holders: dict[int, list[int]] = {}
    parents: dict[int, int] = {}
    for module in reversed(modules):
        total = 0
        for parameter in module._parameters.values():
            if parameter is not None:
                if is_lazy(parameter):
                    return _dag_counts(modules)
                held = holders.get(id(parameter))
                if held is None:
                    held = holders[id(parameter)] = [parameter.numel(), id(module)]
                elif held[-1] == id(module):
                    continue  # one module holding it under two names: counted once
                else:
                    held.append(id(module))
                total += held[0]
        for child in module._modules.values():
            total += counts[id(child)]
            parents[id(child)] = id(module)
        counts[id(module)] = total
    for numel, *holding in holders.values():
        if len(holding) > 1:
            _uncount_shared(numel, holding, parents, counts)
    return counts


def _dag_counts(modules: list[nn.Module]) -> dict[int, int]:
    """``parameter_counts`` of modules that are not a tree: a module's
    parameters are the set of its own and its children's, each child's set
    made once (NHITS's 38 modules: 0.1 ms, where walking each module as it
    ran took 0.2 ms a trace; TFT's 92: 0.55 ms instead of 1.45 ms).
    Left out: a module above a lazy parameter or a class that finds its
    parameters its own way, and one on a cycle of modules."""
    numel: dict[int, int] = {}
    held: dict[int, set[int] | None] = {}  # module id -> the ids of its parameters (None: not counted here)

    def walk(module: nn.Module) -> set[int] | None:
        key = id(module)
        if key in held:
            return held[key]
        held[key] = None  # until done: a cycle back to it is not counted
        mine = _own_ids(module, numel) if _plain(type(module)) else None
        for child in module._modules.values():
            if child is not None:
                below = walk(child)
                if below is None:
                    mine = None
                elif mine is not None:
                    mine |= below
        held[key] = mine
        return mine

    counts: dict[int, int] = {}
    for module in modules:
        mine = walk(module)
        if mine is not None:
            counts[id(module)] = sum(map(numel.__getitem__, mine))
    return counts


def _own_ids(module: nn.Module, numel: dict[int, int]) -> set[int] | None:
    """The ids of a module's own parameters, their sizes put in ``numel``; None if one is lazy."""
    ids = set()
    for parameter in module._parameters.values():
        if parameter is not None:
            if is_lazy(parameter):
                return None
            if id(parameter) not in numel:
                numel[id(parameter)] = parameter.numel()
            ids.add(id(parameter))
    return ids


def _uncount_shared(numel: int, holding: list[int], parents: dict[int, int], counts: dict[int, int]) -> None:
    """Count a parameter held by several modules once in each module above them."""
    times: dict[int, int] = {}
    for holder in holding:
        current: int | None = holder
        while current is not None:
            times[current] = times.get(current, 0) + 1
            current = parents.get(current)
    for module_id, n in times.items():
        if n > 1:
            counts[module_id] -= (n - 1) * numel


def _own_count(module: nn.Module, seen: set[int]) -> int | None:
    total = 0
    for parameter in module._parameters.values():
        if parameter is not None and id(parameter) not in seen:
            if is_lazy(parameter):
                return None
            seen.add(id(parameter))
            total += parameter.numel()
    return total


def _counted_by_torch(module: nn.Module) -> int | None:
    parameters = list(module.parameters())
    return None if any(map(is_lazy, parameters)) else sum(p.numel() for p in parameters)


def _plain(kind: type) -> bool:
    """True when the class finds its parameters as nn.Module does (cached per class)."""
    plain = _plain_traversal.get(kind)
    if plain is None:
        plain = _plain_traversal[kind] = all(
            getattr(kind, name, None) is getattr(nn.Module, name) for name in _TRAVERSAL
        )
    return plain
