"""A module's facts kept across traces of its model (model_facts.py), and the
check that they still hold (module_calls.py asks it)."""

from __future__ import annotations

import operator
import weakref
from typing import Any

from torch import nn

from shapetrace.record.module_info import (
    _ATTENTION_HOLDERS,
    ModuleInfo,
    _claimed_class,
    _public_attributes,
    _standard_class,
    module_info,
)

# What a module's facts were read from, kept across traces of its model
# (model_facts.py): (the facts; the names in its __dict__, in order; its config's names
# and values; the names, and classes, of its other public attributes; those
# whose class may claim another one, weakly; its class's forward).
KeptInfo = tuple[ModuleInfo, tuple, tuple, tuple, tuple, tuple, tuple, tuple, Any]  # or _READ_AGAIN


def kept_module_info(module: nn.Module, params: int, kept: dict[int, KeptInfo]) -> ModuleInfo:
    """``module_info(module, params)``, taken from ``kept`` (a model's facts from
    its last trace, by module id) while every attribute it was read from is
    unchanged: the config's values the same objects, the other public
    attributes of the same classes (a value's class decides whether it is
    config; a proxy's claim is checked on the same object), no attribute
    added or removed. 9 us a module for NHITS's (53 attributes at its root,
    a Hugging Face config's ``__class__`` read in Python) instead of 1 us.
    ``params``: its parameter count, already checked by the model's facts."""
    entry = kept.get(id(module))
    if entry is _READ_AGAIN:
        return module_info(module, params)
    if entry is not None:
        info, names, config_names, config_values, other_names, other_classes, claim_names, claims, forward = entry
        attributes = vars(module)
        get = attributes.__getitem__
        try:
            if (
                type(module).forward is forward
                and tuple(attributes) == names  # (in order: pointers compared, see _public_attributes)
                and all(map(_is, map(get, config_names), config_values))
                and tuple(map(type, map(get, other_names))) == other_classes
                and all(map(_is, map(get, claim_names), map(_call, claims)))
            ):
                return info
        except KeyError:
            pass
    info = module_info(module, params)
    kept[id(module)] = _kept_entry(module, info) or _READ_AGAIN
    return info


def _kept_entry(module: nn.Module, info: ModuleInfo) -> KeptInfo | None:
    kind = type(module)
    if kind.__name__ in _ATTENTION_HOLDERS:
        return None  # (a child's attribute is copied into the config)
    attributes = vars(module)
    config = info[0]
    other_names, other_classes, claim_names, claims = [], [], [], []
    candidates = _public_attributes(kind, attributes)
    for key in candidates:
        if key in config:
            continue
        value = attributes[key]
        value_class = type(value)
        if issubclass(value_class, tuple):
            return None  # config or not by its items: not checked here
        if _claimed_class(value, value_class) is value_class and (
            _standard_class.get(value_class, False) or not value_class.__flags__ & _HEAP_TYPE
        ):  # its class alone tells (a built-in class: no instance claims another)
            other_names.append(key)
            other_classes.append(value_class)
        else:
            try:
                claims.append(weakref.ref(value))
            except TypeError:
                return None
            claim_names.append(key)
    if len(candidates) < _WORTH_KEEPING and not claims:
        return None  # read again faster than checked
    return (
        info,
        tuple(attributes),
        tuple(config),
        tuple(config.values()),
        tuple(other_names),
        tuple(other_classes),
        tuple(claim_names),
        tuple(claims),
        kind.forward,
    )


_is = operator.is_
_call = operator.methodcaller("__call__")
# A module with fewer public attributes and no value that may claim a class is
# read again: the check costs more (Linear: 4.6 us checked, 2.9 us read).
_WORTH_KEEPING = 8
_READ_AGAIN: Any = ()  # (kept's entry for such a module)
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement, not built in
