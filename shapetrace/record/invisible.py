"""Keeping what the recorder puts on a module out of its pickles and copies.

The recorder hooks modules through PyTorch's global hooks, which live in
``torch.nn.modules.module`` and never on a module. A few entries still go
into a module's own hook dicts for as long as they are needed (hooks.py says
which and why): the hooks of a module that had hooks of its own, a watcher on
a top-level call the script runner does not record, and the flag that passes
kwargs to the global pre-hook. A program may pickle (``torch.save``) or copy
(``copy.deepcopy``) its model at any moment, also while such an entry sits on
it; it must get the model as if untraced: no bound method of the recorder
(which holds weak references: unpicklable), no shapetrace state on the copy,
no hook left behind on it.

Every one of those entries lives in an ``OrderedDict`` of the module
(``_forward_hooks``, ``_forward_pre_hooks_with_kwargs``...). While any is
hidden, ``copyreg.dispatch_table`` holds a reducer for ``OrderedDict``, which
both ``pickle`` (and so ``torch.save``) and ``copy.deepcopy`` consult: it
leaves out the hidden keys of the dicts that have some, and reduces every
other ``OrderedDict`` as ``OrderedDict.__reduce__`` does (or as the reducer
registered before it does). This covers every module class, including those
that write their own ``__getstate__`` (``nn.LSTM``) or ``__deepcopy__``
(``fx.GraphModule``), at the cost of one lookup per pickled ``OrderedDict``
while tracing. A module's ``__dict__`` itself still shows the entries:
only the module's own code could look there, and it sees them untraced as
well when its hooks are its own.
"""

from __future__ import annotations

import copyreg
import operator
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from torch.utils.hooks import RemovableHandle

# id(dict) -> (the dict, weakly; its hidden keys)
_hidden: dict[int, tuple[weakref.ref, set[Hashable]]] = {}
# Keys hidden in many dicts at once: (the dicts, a key hidden in each)
_batches: list[tuple[DictSet, Hashable]] = []
_lock = threading.Lock()
_previous: list[Callable[[Any], Any] | None] = []  # the reducer of OrderedDict before ours, while ours is in


def hide_key(hooks: dict, key: Hashable) -> None:
    """Leave ``key`` out of ``hooks`` (a module's hook dict) when it is pickled or copied."""
    hide_keys([(hooks, key)])


def hide_keys(pairs: Sequence[tuple[dict, Hashable]]) -> None:
    """``hide_key`` for each ``(hooks, key)``, under one lock: a trace hides a
    flag on each of its model's modules as it starts (hooks.py ``pass_kwargs``)."""
    with _lock:
        for hooks, key in pairs:
            if type(hooks) is not OrderedDict:
                continue  # not a module's hook dict as torch makes them: nothing of ours can sit there unseen
            entry = _hidden.get(id(hooks))
            if entry is None or entry[0]() is not hooks:
                entry = _hidden[id(hooks)] = (weakref.ref(hooks), set())
            entry[1].add(key)
        _use_reducer()


def _use_reducer() -> None:
    if (_hidden or _batches) and not _previous:
        _previous.append(copyreg.dispatch_table.get(OrderedDict))
        copyreg.dispatch_table[OrderedDict] = _reduce


def _drop_reducer() -> None:
    if not _hidden and not _batches and _previous:
        previous = _previous.pop()
        if copyreg.dispatch_table.get(OrderedDict) is _reduce:
            if previous is None:
                del copyreg.dispatch_table[OrderedDict]
            else:
                copyreg.dispatch_table[OrderedDict] = previous


class DictSet:
    """Some of the modules' hook dicts, by id and weakly, in which a trace
    hides one key at once (``hide_in``): made once per model and used by its
    later traces while ``holds`` their dicts (a model's 100 modules: 3 us
    instead of 60 us to hide and unhide one key in each)."""

    __slots__ = ("_ids", "_list", "refs")

    def __init__(self, dicts: list[dict]) -> None:
        self._list = [weakref.ref(hooks) for hooks in dicts]
        self._ids = list(map(id, dicts))
        self.refs = dict(zip(self._ids, self._list))

    def holds(self, dicts: list[dict]) -> bool:
        """Whether these are exactly the dicts of the set, in order."""
        return list(map(id, dicts)) == self._ids and all(map(_is, map(_call, self._list), dicts))


_is = operator.is_
_call = operator.methodcaller("__call__")


def hide_in(dicts: DictSet, key: Hashable) -> tuple[DictSet, Hashable]:
    """Leave ``key`` out of each of ``dicts`` when pickled or copied, until ``unhide_in``."""
    token = (dicts, key)
    with _lock:
        _batches.append(token)
        _use_reducer()
    return token


def unhide_in(token: tuple[DictSet, Hashable]) -> None:
    """Undo a ``hide_in`` (after the key was removed from the dicts)."""
    with _lock:
        for i, batch in enumerate(_batches):
            if batch is token:
                del _batches[i]
                break
        _drop_reducer()


def unhide_key(hooks: dict, key: Hashable) -> None:
    """Undo ``hide_key`` (after the key was removed from ``hooks``)."""
    unhide_keys([(hooks, key)])


def unhide_keys(pairs: Sequence[tuple[dict, Hashable]]) -> None:
    """``unhide_key`` for each ``(hooks, key)``, looking for dead dicts once
    (once per key, the end of a trace cost the square of the model's modules)."""
    with _lock:
        for hooks, key in pairs:
            entry = _hidden.get(id(hooks))
            if entry is not None and entry[0]() is hooks:
                entry[1].discard(key)
                if not entry[1]:
                    del _hidden[id(hooks)]
        _drop_dead()
        _drop_reducer()


def hide_handle(handle: RemovableHandle) -> None:
    """Hide a hook registered on a module: its id in every dict its handle removes it from."""
    for hooks in _dicts_of(handle):
        hide_key(hooks, handle.id)


def remove_handle(handle: RemovableHandle) -> None:
    """Remove a hidden hook from its module, and forget it."""
    handle.remove()
    for hooks in _dicts_of(handle):
        unhide_key(hooks, handle.id)


def _dicts_of(handle: RemovableHandle) -> list[dict]:
    refs = (handle.hooks_dict_ref, *getattr(handle, "extra_dict_ref", ()))
    return [hooks for hooks in (ref() for ref in refs) if hooks is not None]


def _drop_dead() -> None:
    for address in [address for address, (ref, _) in _hidden.items() if ref() is None]:
        del _hidden[address]


def _hidden_keys(value: OrderedDict) -> set[Hashable]:
    entry = _hidden.get(id(value))
    hidden = set(entry[1]) if entry is not None and entry[0]() is value else set()
    for dicts, key in _batches:
        ref = dicts.refs.get(id(value))
        if ref is not None and ref() is value:
            hidden.add(key)
    return hidden


def _reduce(value: OrderedDict) -> Any:
    hidden = _hidden_keys(value)
    if not hidden:
        previous = _previous[0] if _previous else None
        return previous(value) if previous is not None else value.__reduce__()
    state = value.__reduce__()[2]  # the instance's own attributes, if any (as OrderedDict.__reduce__)
    return OrderedDict, (), state, None, iter([(key, item) for key, item in value.items() if key not in hidden])
