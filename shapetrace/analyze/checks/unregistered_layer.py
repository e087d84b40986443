"""ST024 unregistered-layer: a layer with parameters that the model calls but never registered.

``nn.Module.__setattr__`` registers a module assigned as an attribute, and
``nn.ModuleList``/``nn.ModuleDict``/``nn.Sequential`` register what they hold; a
plain Python list, tuple or dict registers nothing, nor does a layer built in
the forward. Such a layer runs and its output has the right shape, but
``model.parameters()`` leaves its weights out: an optimizer built from it never
updates them, ``model.to(device)`` does not move them (a device mismatch once
the model is on the GPU), ``state_dict()`` does not save them and
``train()``/``eval()`` do not switch them. Built in the forward, its weights are
also initialized anew at every call.

The recorder names such a call ``<layers[0]>`` (where its caller keeps it) or
``<Linear>`` (no attribute of its caller holds it), says how it is held
(``config["held_in"]``, ``config["held_as"]``: ``record/module_owners.py``) and
counts the parameters that require grad (``config["trainable_params"]``): a
frozen feature extractor kept out of the optimizer on purpose has none, and is no
finding; nor is one run under ``torch.no_grad()`` (no output requires grad), as a
teacher is, nor a module passed to the forward as an argument (its owner's to
register). Tracing one submodule of a model, a sibling it reaches through a plain
list is outside what is traced, and reported as held there.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace
from shapetrace.record.events import unique_name

_COST = (
    "model.parameters() leaves {them} out: an optimizer built from it never updates {them}, "
    "model.to(device) does not move {them} and state_dict() does not save {them}"
)
# The help for each kind of plain container: the container of nn that registers what it holds.
_CONTAINERS = {
    "list": "hold them in nn.ModuleList: self.{a} = nn.ModuleList([...])",
    "tuple": "hold them in nn.ModuleList: self.{a} = nn.ModuleList([...])",
    "list of lists": (
        "hold them in nested nn.ModuleLists: self.{a} = nn.ModuleList(nn.ModuleList(inner) for inner in [...])"
    ),
    "dict": "hold them in nn.ModuleDict: self.{a} = nn.ModuleDict({{...}})",
    # nn.ModuleDict takes string keys only (PyTorch's ModuleDict.__setitem__ calls add_module).
    "dict with non-string keys": (
        "hold them in nn.ModuleDict, whose keys are strings: "
        "self.{a} = nn.ModuleDict({{str(key): layer for key, layer in {{...}}.items()}}), read as self.{a}[str(key)]"
    ),
}


@register(
    "ST024",
    "unregistered-layer",
    "warning",
    "a layer with parameters called by the model but never registered (a plain list, or built in the forward): "
    "model.parameters() leaves it out, so the optimizer never trains it",
)
def check_unregistered_layer(trace: Trace) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[Call]] = {}
    for call in trace.calls:
        config = call.config
        if call.kind != "module" or call.parent is None or not config.get("trainable_params"):
            continue
        if call.error is None and not any(meta.requires_grad for meta in call.outputs):
            continue  # run under torch.no_grad(): a teacher or a feature extractor used, not trained
        # Layers of one container are one mistake; a layer built in the forward is one per line.
        held_as = config.get("held_as") or f"{call.type}@{call.location}"
        groups.setdefault((call.parent.name, held_as), []).append(call)
    for calls in groups.values():
        yield _finding(calls)


def _finding(calls: list[Call]) -> Finding:
    first = calls[0]
    owner = first.parent.type if first.parent is not None else "the model"
    layers = list({call.name: call for call in calls}.values())  # one per layer, not per call
    params = sum(call.num_params for call in layers)
    kind, attribute = first.config.get("held_in", "forward"), first.config.get("held_as", "")
    raised = _raised(calls)
    if kind in _CONTAINERS:
        kinds = ", ".join(dict.fromkeys(call.type for call in layers))
        # (the layers recorded: under `shapetrace run`, a pass like one recorded is only counted)
        some = f"{len(layers)} layers" if len(layers) > 1 else "a layer"
        container = kind.removesuffix(" with non-string keys")
        message = (
            f"{owner} calls {some} ({kinds}, {params:,} parameters) {at_line(first)} that it keeps in a plain "
            f"{container} `self.{attribute}`, which registers nothing, so "
            f"{_COST.format(them='them' if len(layers) > 1 else 'it')}{raised}"
        )
        return finding("ST024", first, message, _CONTAINERS[kind].format(a=attribute))
    cost = _COST.format(them="it")
    if kind == "attribute":  # set through __dict__, past nn.Module's registration
        message = (
            f"{owner} keeps `self.{attribute}` ({first.type}, {params:,} parameters) through `__dict__`, past "
            f"nn.Module's registration: it runs {at_line(first)} with its weights requiring grad, but {cost}{raised}"
        )
        hint = (
            f"register it (self.{attribute} = ..., not through __dict__); or, if it is not to be trained, "
            f"freeze it: self.{attribute}.requires_grad_(False)"
        )
        return finding("ST024", first, message, hint)
    name = unique_name(first.type, {})
    built = f"nn.{first.type}" if first.defined_at is None else first.type  # (PyTorch's own layers have none)
    message = (
        f"{first.type} {at_line(first)} ({params:,} parameters) is built in the forward or held outside {owner}: "
        f"it is no registered submodule, so {cost}; built in the forward, its weights are also initialized "
        f"anew at every call{raised}"
    )
    hint = f"build it once in __init__ (self.{name} = {built}(...)) and call self.{name} in the forward"
    return finding("ST024", first, message, hint)


def _raised(calls: list[Call]) -> str:
    """The end of the message where one of the calls raised PyTorch's device error."""
    failed = next((call for call in calls if call.error is not None and "device" in call.error), None)
    if failed is None:
        return ""
    return f"; that is PyTorch's device error {at_line(failed)}: model.to(device) moved the registered layers only"
