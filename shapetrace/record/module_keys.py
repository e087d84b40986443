"""Which module a call is of, when modules die and their ids come back.

The recorder keeps what it knows of a module (its name, its module facts,
whether it belongs to the model, the script runner's pass filters) by
``id(module)``. CPython gives a freed object's id to the next object of a
like size, and a training loop that builds its loss each step
(``nn.CrossEntropyLoss()(out, y)``) frees a module every step: the next
module built at that address (a ``Softmax``) was taken for the dead one and
shown under its name, and a module of its own was filtered away as a pass
already recorded. So every module the recorder keys by id is watched by a
weak reference whose callback notes the id as freed (``freed``), and the
recorder forgets those ids before the next call.

The same loop also rebuilds "the same" module each step: to its reader, a
module without parameters called at the line where another of its class, with
the same settings, was called before, now freed, is that module again (one name, ``cross_entropy_loss``
not ``cross_entropy_loss_49``; one pass filter: its later calls are counted,
not recorded again). Its key (``key``) is then shared; a module with
parameters, or one whose predecessor at that line is alive, keeps its own.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Any

from torch import nn
from torch.nn.modules.loss import _Loss

from shapetrace.record.module_info import module_config


class _Watch(weakref.ref):
    """A weak reference to a module that remembers the module's id."""

    __slots__ = ("address",)
    address: int


class ModuleKeys:
    """The weak references behind the recorder's id-keyed facts, and each
    top-level module's key (its id, or one shared by rebuilds; see the module's
    docstring). ``freed`` holds the ids of watched modules that died since
    ``take_freed`` last ran."""

    def __init__(self) -> None:
        self.freed: list[int] = []
        self._watches: dict[int, _Watch] = {}
        self._keys: dict[int, int] = {}  # id of a top-level module -> its key
        # (class, id(location), settings) -> (shared key, the watch of the module that has it now)
        self._by_line: dict[tuple[type, int, str], tuple[int, _Watch]] = {}
        self.names: dict[int, str] = {}  # a shared key's name, given to each rebuild
        self._last_model: int | None = None  # the key of the last top-level call that is no loss

    def watch(self, module: nn.Module) -> None:
        """Note ``id(module)`` in ``freed`` once ``module`` is freed."""
        address = id(module)
        if address in self._watches:
            return
        freed = self.freed  # (the callback holds the list, not this object: no cycle)
        try:
            watch = _Watch(module, lambda ref: freed.append(ref.address))  # type: ignore[attr-defined]
        except TypeError:  # a module class with __slots__ and no __weakref__: never forgotten
            return
        watch.address = address
        self._watches[address] = watch

    def key(self, module: nn.Module, location: Any) -> int:
        """The key of a top-level call of ``module`` made at ``location`` (a
        ``Location``, one object per line: see ``frames.location_of``)."""
        address = id(module)
        key = self._keys.get(address)
        if key is not None:
            return key
        self.watch(module)
        key = address
        watch = self._watches.get(address)
        if watch is not None and has_no_parameters(module):
            line = (type(module), id(location), _settings(module))
            held = self._by_line.get(line)
            if held is None:
                key = -(len(self._by_line) + 1)  # (ids are never negative)
                self._by_line[line] = (key, watch)
            elif held[1]() is None:  # its predecessor at this line is gone: this is its rebuild
                key = held[0]
                self._by_line[line] = (key, watch)
        self._keys[address] = key
        return key

    def pass_key(self, module: nn.Module, location: Any, model: nn.Module | None) -> Hashable:
        """What the pass filters know a top-level call by: its module's ``key`` (the
        traced ``model``'s id for the model), and for a loss also the key of the
        module whose top-level call came before it (the model whose pass it
        follows), so that each model a script trains (k-fold, a sweep) keeps its
        loss's row, while the loss of the same model's later passes is counted."""
        key = self.key(module, location) if module is not model else id(module)
        if isinstance(module, _Loss):
            return (key, self._last_model)
        self._last_model = key
        return key

    def known_key(self, module: nn.Module) -> int | None:
        """The key ``key`` gave ``module``, if it was called at the top level."""
        return self._keys.get(id(module))

    def take_freed(self) -> list[tuple[int, bool]]:
        """``(id, own_key)`` of each watched module freed since the last call,
        ``own_key`` when its key was its id (then forget that key too)."""
        freed = []
        for address in self.freed:
            self._watches.pop(address, None)
            freed.append((address, self._keys.pop(address, None) == address))
        self.freed.clear()
        return freed

    def clear(self) -> None:
        """Stop watching (recording is over): no callback runs any more."""
        self._watches.clear()
        self._keys.clear()
        self._by_line.clear()
        self.freed.clear()
        self._last_model = None


def has_no_parameters(module: nn.Module) -> bool:
    """Whether ``module`` (its submodules included) holds no parameter."""
    return next(iter(module.parameters()), None) is None


def made_with(known: Hashable, key: int) -> bool:
    """Whether a pass filter's ``known`` key is ``key`` or a loss's ``(key, model key)``
    made with it (``ModuleKeys.pass_key``): what goes when the module of ``key`` is freed."""
    return known == key or (type(known) is tuple and key in known)


def _settings(module: nn.Module) -> str:
    """What tells two modules of one class apart without reading tensor data: their
    settings (``module_config``: ``dim``, ``reduction``, ``label_smoothing``) and their
    buffers' shapes (a loss's class ``weight``). ``nn.Softmax(dim=d)`` rebuilt with
    another ``d`` is another module: its later calls are checked, not only counted."""
    buffers = [(name, tuple(buffer.shape)) for name, buffer in module.named_buffers()]
    return repr((sorted(module_config(module).items()), buffers))
