"""ST024 unregistered-layer: a layer with parameters that the model calls but never registered.

``nn.Module.__setattr__`` registers a module assigned as an attribute, and
``nn.ModuleList``/``nn.ModuleDict``/``nn.Sequential`` register what they hold; a
plain Python list, tuple or dict registers nothing, nor does a layer built in
the forward. Such a layer runs and its output has the right shape, but
``model.parameters()`` leaves its weights out: an optimizer built from it never
updates them, ``model.to(device)`` does not move them (a device mismatch once
the model is on the GPU), ``state_dict()`` does not save them and
``train()``/``eval()`` do not switch them. Built in the forward, it also starts
from new random weights at every call.

The recorder names such a call ``<layers[0]>`` (where its caller keeps it) or
``<Linear>`` (no attribute of its caller holds it), and counts the parameters
that require grad (``config["trainable_params"]``): a frozen feature extractor
kept out of the optimizer on purpose has none, and is no finding; nor is one
run under ``torch.no_grad()`` (no output requires grad), as a teacher is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace
from shapetrace.record.events import unique_name

# ``<layers[0]>``, ``<heads['en']>``: the attribute and, for a dict, that it is one.
_HELD = re.compile(r"<(?P<attribute>\w+)\[(?P<key>'?)")
_NESTED = re.compile(r"<\w+\[\d+\]\[")  # ``<stages[1][0]>``
# ``<teacher>``: an attribute set through ``__dict__`` (``<Linear>``, its class, is none).
_ATTRIBUTE = re.compile(r"<(?P<attribute>\w+)>")


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
        if call.kind != "module" or call.parent is None or not call.config.get("trainable_params"):
            continue
        if call.error is None and not any(meta.requires_grad for meta in call.outputs):
            continue  # run under torch.no_grad(): a teacher or a feature extractor used, not trained
        last = _last_segment(call.name)
        if not last.startswith("<"):
            continue
        held = _HELD.match(last) or _attribute(call, last)
        # Layers of one container are one mistake; a layer built in the forward is one per line.
        key = held.group("attribute") if held else f"{call.type}@{call.location}"
        groups.setdefault((call.parent.name, key), []).append(call)
    for calls in groups.values():
        yield _finding(calls)


def _finding(calls: list[Call]) -> Finding:
    first = calls[0]
    owner = first.parent.type if first.parent is not None else "the model"
    layers = list({call.name: call for call in calls}.values())  # one per layer, not per call
    params = sum(call.num_params for call in layers)
    held = _HELD.match(_last_segment(first.name))
    cost = (
        "model.parameters() leaves them out: an optimizer built from it never updates them, model.to(device) "
        "does not move them and state_dict() does not save them"
    )
    if held is not None:
        attribute = held.group("attribute")
        kinds = ", ".join(dict.fromkeys(call.type for call in layers))
        count = f"{len(layers)} layer{'s' if len(layers) > 1 else ''}"
        if held.group("key"):
            container, hint = "dict", f"hold them in nn.ModuleDict: self.{attribute} = nn.ModuleDict({{...}})"
        elif _NESTED.match(_last_segment(first.name)):
            container = "list of lists"
            hint = (
                f"hold them in nested nn.ModuleLists: "
                f"self.{attribute} = nn.ModuleList(nn.ModuleList(inner) for inner in [...])"
            )
        else:
            container, hint = "list", f"hold them in nn.ModuleList: self.{attribute} = nn.ModuleList([...])"
        message = (
            f"{owner} keeps {count} ({kinds}, {params:,} parameters) in a plain {container} `self.{attribute}`: "
            f"they run {at_line(first)}, but a plain {container} registers nothing, so {cost}{_raised(calls)}"
        )
        return finding("ST024", first, message, hint)
    attribute = _attribute(first, _last_segment(first.name))
    if attribute is not None:  # set through __dict__, past nn.Module's registration
        name = attribute.group("attribute")
        message = (
            f"{owner} keeps `self.{name}` ({first.type}, {params:,} parameters) through `__dict__`, past "
            f"nn.Module's registration: it runs {at_line(first)} with its weights requiring grad, but "
            f"{cost.replace('them', 'it')}{_raised(calls)}"
        )
        hint = (
            f"register it (self.{name} = ..., not through __dict__); or, if it is not to be trained, "
            f"freeze it: self.{name}.requires_grad_(False)"
        )
        return finding("ST024", first, message, hint)
    name = unique_name(first.type, {})
    message = (
        f"{first.type} {at_line(first)} ({params:,} parameters) is built in the forward or held outside {owner}: "
        f"it is no registered submodule, so {cost.replace('them', 'it')}; built in the forward, it also starts "
        f"from new random weights at every call{_raised(calls)}"
    )
    hint = f"build it once in __init__ (self.{name} = nn.{first.type}(...)) and call self.{name} in the forward"
    return finding("ST024", first, message, hint)


def _attribute(call: Call, label: str) -> re.Match | None:
    """``<teacher>``: the attribute a module is set as through ``__dict__``; None for
    ``<Linear>``, a call named by its class."""
    found = _ATTRIBUTE.fullmatch(label)
    return found if found is not None and found.group("attribute") != call.type else None


def _raised(calls: list[Call]) -> str:
    """The end of the message where one of the calls raised PyTorch's device error."""
    failed = next((call for call in calls if call.error is not None and "device" in call.error), None)
    if failed is None:
        return ""
    return f"; that is PyTorch's device error {at_line(failed)}: model.to(device) moved the registered layers only"


def _last_segment(name: str) -> str:
    """The last part of a dotted module name; ``<heads['a.b']>`` is one part."""
    start = name.rfind(".<")
    return name[start + 1 :] if start >= 0 else name.rsplit(".", 1)[-1]
