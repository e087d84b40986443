"""What a trace reads from its model as it starts, kept for the next trace of the same model.

A user traces the same model again and again (a test suite, ``shapetrace
run`` per batch, a benchmark): every start walked ``named_modules()`` and
counted every module's parameters again (0.2 ms for NHITS's 38 modules,
0.8 ms for a small T5's 103: a third of NHITS's plain forward). Those facts
depend only on the module tree: each module's class, its children (names and
objects) and its parameters (objects and sizes). They are kept per model and
used again while a walk of that tree finds it unchanged (~1 us a module).

The facts hold no module and no parameter, only their ids and weak
references whose callbacks mark the facts stale when one is freed (so that
an id reused by a new object is never taken for the old one), and are
dropped with their model. A model whose tree changed between two traces (a
module added, replaced or removed, a parameter replaced or resized, its
class changed) gets its facts read again.
"""

from __future__ import annotations

import threading
import weakref
from itertools import chain
from operator import attrgetter, methodcaller
from typing import Any

from torch import nn
from torch.jit import ScriptModule
from torch.nn.parameter import is_lazy

from shapetrace.record.events import unwrapped_name
from shapetrace.record.hooks import _registers_plainly
from shapetrace.record.invisible import DictSet
from shapetrace.record.kept_info import KeptInfo
from shapetrace.record.module_info import parameter_counts

_ScriptModule = ScriptModule
_hook_dicts = attrgetter("_forward_hooks", "_forward_pre_hooks")
_children = attrgetter("_modules")
_parameters = attrgetter("_parameters")
_numel = methodcaller("numel")
_NONE = id(None)

# Trees (in ``named_modules()`` order) whose facts are kept, by id of the model.
_kept: dict[int, ModelFacts] = {}
_lock = threading.Lock()


class _Alive:
    """Set False by the callback of a weak reference to one of the tree's objects."""

    __slots__ = ("__weakref__", "alive")

    def __init__(self) -> None:
        self.alive = True

    def died(self, _ref: Any) -> None:
        self.alive = False


def _tree(modules: list[nn.Module]) -> tuple:
    """What the facts depend on, for modules in ``named_modules()`` order:
    their classes, their children's names and ids, their parameters' ids (the weak
    references make sure no id is reused while kept) and the parameters'
    sizes. Read with C-level iteration (~0.3 us a module)."""
    children = list(map(_children, modules))
    parameters = list(map(_parameters, modules))
    held = list(chain.from_iterable(map(dict.values, parameters)))
    held_ids = list(map(id, held))
    if _NONE in held_ids:  # a parameter set to None
        held = [p for p in held if p is not None]
    return (
        list(map(type, modules)),
        list(map(len, children)),
        list(chain.from_iterable(children)),
        list(map(id, chain.from_iterable(map(dict.values, children)))),
        list(map(len, parameters)),  # (their names count for nothing recorded)
        held_ids,
        list(map(_numel, held)),
    )


class ModelFacts:
    """A model's modules in ``named_modules()`` order with their names, their
    parameter counts and how the recorder hooks them, for as long as the tree
    is unchanged. Read-only once made: a trace copies what it changes. It
    holds no module (nor the model: it is kept as long as the model lives)."""

    __slots__ = (
        "_alive",
        "_refs",
        "_tree",
        "all_global",
        "counts",
        "global_ids",
        "infos",
        "kwargs_flags",
        "names",
        "script_ids",
    )

    def __init__(self, model: nn.Module, named: list[tuple[str, nn.Module]], *, keep: bool = True) -> None:
        modules = [module for _, module in named]
        self.names = {id(module): unwrapped_name(name, model) if "module" in name else name for name, module in named}
        self.counts = parameter_counts(modules)
        # The classes that register hooks their own way (hooks.py) and the
        # scripted modules, fixed by the classes; a module that has hooks of its
        # own is found as each trace starts.
        self.script_ids = frozenset(id(m) for m in modules if isinstance(m, _ScriptModule))
        # True: every module is hooked globally and told to pass its kwargs
        # (``global_ids``), unless one has hooks of its own when a trace starts.
        self.all_global = not self.script_ids and all(map(_registers_plainly, map(type, modules)))
        self.global_ids = frozenset(map(id, modules))
        self.kwargs_flags: DictSet | None = None  # their dicts for the global pre-hook's flag (hooks.py)
        # Each module's facts (config, count, forward) as its last trace read them.
        self.infos: dict[int, KeptInfo] | None = {} if keep else None
        self._alive = _Alive()
        self._tree: tuple = ()
        self._refs: list[weakref.ref[Any]] = []
        if keep:  # (what only a later trace needs)
            self._tree = _tree(modules)
            died = self._alive.died
            refs: list[weakref.ref[Any]] = [weakref.ref(module, died) for module in modules]
            for module in modules:
                refs += [weakref.ref(p, died) for p in module._parameters.values() if p is not None]
            self._refs = refs

    def modules(self) -> list[nn.Module] | None:
        """The model's modules, if its tree is the one these facts describe."""
        if not self._alive.alive:
            return None
        modules = [ref() for ref in self._refs[: len(self._tree[0])]]
        if None in modules:  # (being freed)
            return None
        try:
            if _tree(modules) != self._tree:  # type: ignore[arg-type]
                return None
        except (TypeError, AttributeError):  # a module's dicts replaced by something else
            return None
        return modules  # type: ignore[return-value]


def model_facts(model: nn.Module) -> tuple[ModelFacts, list[nn.Module]]:
    """The facts of ``model``'s tree and its modules (``named_modules()``'s),
    read again when the tree changed. Not kept for a tree with a lazy
    parameter not initialized yet (its size will change) or a class that
    lists its modules its own way (``named_modules`` overridden)."""
    key = id(model)
    facts = _kept.get(key)
    if facts is not None and facts._refs[0]() is model:
        modules = facts.modules()
        if modules is not None:
            return facts, modules
    named = list(model.named_modules())
    modules = [module for _, module in named]
    keep = all(map(_plain_listing, map(type, modules))) and not any(
        is_lazy(p) for m in modules for p in m._parameters.values() if p is not None
    )
    try:
        facts = ModelFacts(model, named, keep=keep)
    except TypeError:  # an object that takes no weak reference
        facts, keep = ModelFacts(model, named, keep=False), False
    if keep:
        with _lock:
            if key not in _kept:
                # The facts go with their model (the callback holds no reference to it).
                weakref.finalize(model, _forget, key).atexit = False
            _kept[key] = facts
    return facts, modules


def _forget(key: int) -> None:
    with _lock:
        facts = _kept.get(key)
        if facts is not None and facts._refs[0]() is None:
            del _kept[key]


_plain_listings: dict[type[nn.Module], bool] = {}


def _plain_listing(kind: type[nn.Module]) -> bool:
    plain = _plain_listings.get(kind)
    if plain is None:
        plain = _plain_listings[kind] = kind.named_modules is nn.Module.named_modules
    return plain


def has_own_hooks(modules: list[nn.Module]) -> bool:
    """Whether any of the modules has forward hooks (of the user's) right now."""
    return any(map(any, map(_hook_dicts, modules)))
