"""A report's sections: one per top-level model, then the data transforms.

A training script calls several things at its top level: the model (or two,
a GAN's generator and discriminator), its loss, and, inside the DataLoader,
data transforms that are ``nn.Module``\\ s (torchvision's ``Normalize`` runs
once per image). The views show one section per model, the models with the
most parameters first; each section holds the model's passes and the
top-level calls that read its outputs (the loss) or make its inputs, and
its parts called on their own (``model.decode(z)`` calling ``fc3``). The
data transforms come last, folded: one entry each, with how many times it ran.

A top-level module call is a data transform when the script runner saw it
run inside a DataLoader's fetch (``trace.run_info["in_loader"]``, one flag
per recorded top-level module call, ``record/script.py``). Traces made by
the API have no such flags: every top-level module is then a model.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from shapetrace.core.records import Call
from shapetrace.core.text import short_path
from shapetrace.core.torch_facts import MODEL_WRAPPERS, WRAPPED_CHILD_NAMES, WRAPPED_MODEL_NAME
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class Section:
    """A top-level model and the top-level calls that go with it.

    ``roots``: the top-level calls of the section in the order they ran
    (the model's passes, a loss that reads its output, ops at the top level);
    ``model``: its first pass; ``num_params``: the model's parameter count.
    """

    model: Call
    roots: tuple[Call, ...]
    # Another section's model has this one's type: the title names it (``split_sections``).
    shares_type: bool = False

    @property
    def num_params(self) -> int:
        return self.model.num_params or 0

    @property
    def wrapped(self) -> Call | None:
        """The user's model inside a wrapper that calls it whole (DDP's ``.module``,
        DataParallel's, FSDP's, torch.compile's: ``core/torch_facts.MODEL_WRAPPERS``),
        else None."""
        return wrapped_model(self.model)

    @property
    def title(self) -> str:
        """What the views call the section: its model's type, a wrapped model's
        with its wrapper (``Net (in DistributedDataParallel)``); where another
        section's model has its type, with its name (the variable a script holds it
        by: a GAN's ``G: Sequential`` beside the root's ``Sequential``;
        ``record/module_owners.variable_name``)."""
        inner = self.wrapped
        model = self.model
        title = f"{inner.type} (in {model.type})" if inner is not None else model.type
        if self.shares_type and model.name:
            title = f"{model.name}: {title}"
        return title


@dataclasses.dataclass(frozen=True)
class DataTransform:
    """A module of one type called in the DataLoader: ``calls`` the recorded
    calls (the first of each input signature), ``count`` how many times it ran
    (a script records one call per signature and counts the others)."""

    type: str
    calls: tuple[Call, ...]
    count: int

    @property
    def label(self) -> str:
        """``Normalize ×48``."""
        return f"{self.type} ×{self.count}" if self.count > 1 else self.type


@dataclasses.dataclass(frozen=True)
class Sections:
    """``models``, most parameters first; ``transforms``; ``stands_for``: top-level call id
    -> how many calls it stands for where more than itself (a script records a model's
    first pass of each input signature and counts the others: ``record/script.py``)."""

    models: tuple[Section, ...]
    transforms: tuple[DataTransform, ...]
    stands_for: dict[int, int] = dataclasses.field(default_factory=dict)
    # Top-level ops of a script (a functional loss): the passes it did not record ran them
    # too, uncounted, so their rows claim no total.
    uncounted: frozenset[int] = frozenset()

    def ordered_roots(self) -> list[Call]:
        """Every top-level call, section by section, the transforms' calls last."""
        return [call for section in self.models for call in section.roots] + [
            call for transform in self.transforms for call in transform.calls
        ]

    def transform_of(self, call: Call) -> DataTransform | None:
        """The data transform ``call`` (a top-level call) belongs to, or None."""
        for transform in self.transforms:
            if any(member is call for member in transform.calls):
                return transform
        return None


def wrapped_model(call: Call) -> Call | None:
    """The call of the model a wrapper module's call (``call``) holds: its child
    named ``module`` (``record/events.unwrapped_name``; ``ddp.module`` when the
    wrapper has a name itself), ``_orig_mod`` in ``torch.compile``'s wrapper;
    None for any other call."""
    if call.kind != "module" or call.type not in MODEL_WRAPPERS:
        return None
    child = WRAPPED_CHILD_NAMES.get(call.type, WRAPPED_MODEL_NAME)
    inner = (child, f"{call.name}.{child}")
    return next((child for child in call.children if child.kind == "module" and child.name in inner), None)


def split_sections(trace: Trace) -> Sections:
    """The trace's top-level calls in sections (see the module's docstring).

    >>> [s.model.type for s in split_sections(t).models]  # a GAN's training step  # doctest: +SKIP
    ['Generator', 'Discriminator']
    >>> [x.label for x in split_sections(t).transforms]  # doctest: +SKIP
    ['Normalize ×24']
    """
    roots = [call for call in trace.calls if call.parent_id is None]
    loader, counts = _loader_flags(trace, roots)
    transforms: dict[str, list[Call]] = {}
    rest: list[Call] = []
    for call in roots:
        if loader.get(call.id):
            transforms.setdefault(call.type, []).append(call)
        else:
            rest.append(call)
    parts = _parts_called_alone(trace, rest)
    models = _model_groups([call for call in rest if call.id not in parts])
    owner = _owners(rest, models, {k: _key(root) for k, root in parts.items() if _key(root) in models})
    by_key: dict[tuple[str, str], list[Call]] = {key: [] for key in models}
    for call in rest:
        by_key[owner[call.id]].append(call)
    types = Counter(model.type for key, model in models.items() if by_key[key])
    sections = [Section(models[key], tuple(calls), types[key[1]] > 1) for key, calls in by_key.items() if calls]
    order = {id(section): position for position, section in enumerate(sections)}
    sections.sort(key=lambda section: (-section.num_params, order[id(section)]))
    folded = [
        DataTransform(kind, tuple(calls), sum(counts.get(call.id, 1) for call in calls))
        for kind, calls in transforms.items()
    ]
    uncounted = frozenset(call.id for call in roots if call.kind == "op") if "passes" in trace.run_info else frozenset()
    return Sections(tuple(sections), tuple(folded), {key: n for key, n in counts.items() if n > 1}, uncounted)


def made_before(trace: Trace) -> set[int]:
    """The ids of the ops outside the model that ``shapetrace run`` recorded for making a
    pass's inputs or a loss's target (record/before_pass.py): a data pipeline's chain,
    which the table leaves to the tree and the JSON trace (``before_note``)."""
    ids = trace.run_info.get("made_before")
    return set(ids) if isinstance(ids, list) else set()


def before_note(trace: Trace) -> str | None:
    """``14 ops at lines 49-61 made what the passes read (--format tree shows them)``:
    the ops of ``made_before``, which made the passes' inputs and the losses' targets."""
    before = made_before(trace)
    calls = [call for call in trace.calls if call.id in before]
    if not calls:
        return None
    files: dict[str, set[int]] = {}
    for call in calls:
        if call.location is not None:
            files.setdefault(call.location.filename, set()).add(call.location.lineno)
    # (a file's line range, the script's first: ops run by a library, as generate() runs
    # them, are at lines of the library's file, not of the script's)
    ranges = [_line_range(sorted(lines)) for lines in files.values()]
    named = [f"{lines} of {short_path(name)}" for name, lines in zip(files, ranges)]
    where = f" at {ranges[0]}" if len(ranges) == 1 else f" at {', '.join(named)}" if ranges else ""
    count = len(calls)
    return f"{count} op{'s' * (count != 1)}{where} made what the passes read (--format tree shows them)"


def _line_range(lines: list[int]) -> str:
    """``line 12``, ``lines 49-61``."""
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"


def left_out_notes(trace: Trace) -> list[str]:
    """A line per model whose input shapes outnumbered what ``shapetrace run`` records
    (``--max-calls``: the first N input signatures per model, ``record/script.py``):
    ``GPT (root) ran 169 more times, on 25 more input shapes than --max-calls 8
    records``; without it a generation loop whose shape grows each step reads as if
    it stopped at the last shape recorded."""
    info = trace.run_info
    entries, limit = info.get("beyond_max_calls"), info.get("max_calls")
    modules = [call for call in trace.calls if call.parent_id is None and call.kind == "module"]
    notes = []
    for entry in entries if isinstance(entries, list) else ():
        position, calls, shapes = entry
        if not 0 <= position < len(modules):
            continue
        call = modules[position]
        name = f"{call.name}: {call.type}" if call.name else f"{call.type} (root)"
        notes.append(
            f"{name} ran {calls} more time{'s' * (calls != 1)}, on {shapes} more input "
            f"shape{'s' * (shapes != 1)} than --max-calls {limit} records (a model's first {limit} "
            f"shapes); run with a larger --max-calls to see them"
        )
    return notes


def _loader_flags(trace: Trace, roots: Sequence[Call]) -> tuple[dict[int, bool], dict[int, int]]:
    """Call id -> ran in a DataLoader, and call id -> calls it stands for, of the
    top-level module calls (both lists in ``run_info`` follow their order)."""
    modules = [call for call in roots if call.kind == "module"]
    info = trace.run_info
    flags, passes = info.get("in_loader"), info.get("passes")
    loader: dict[int, bool] = {}
    if isinstance(flags, list) and len(flags) == len(modules):
        loader = {call.id: flag is True for call, flag in zip(modules, flags)}
    counts: dict[int, int] = {}
    if isinstance(passes, list) and len(passes) == len(modules):
        counts = {call.id: n for call, n in zip(modules, passes) if isinstance(n, int) and n > 0}
    return loader, counts


def _key(call: Call) -> tuple[str, str]:
    return (call.name, call.type)


def _parts_called_alone(trace: Trace, roots: Sequence[Call]) -> dict[int, Call]:
    """Top-level call id -> the first top-level pass of another module inside
    which the same module ran (same name, type and parameter count): a model's
    part called on its own (the VAE example's ``model.decode(z)`` calls ``fc3``
    and ``fc4`` from the script) is in that model's section, not a model."""
    inside: dict[tuple[str, str, int], Call] = {}
    root: Call | None = None
    for call in trace.calls:  # in the order they began: a call's top-level pass is the last one begun
        if call.parent_id is None:
            root = call
        elif call.kind == "module" and call.name and root is not None:
            inside.setdefault((call.name, call.type, call.num_params), root)
    parts = {}
    for call in roots:
        found = inside.get((call.name, call.type, call.num_params)) if call.kind == "module" and call.name else None
        if found is not None and found is not call and _key(found) != _key(call):
            parts[call.id] = found
    return parts


def _model_groups(calls: Sequence[Call]) -> dict[tuple[str, str], Call]:
    """The models: top-level module calls with parameters, one entry per module
    (name and type), first pass first. Where none has parameters, every
    top-level module is one; with no module at all, the first call stands in."""
    modules = [call for call in calls if call.kind == "module"]
    chosen = [call for call in modules if call.num_params] or modules or list(calls[:1])
    groups: dict[tuple[str, str], Call] = {}
    for call in chosen:
        groups.setdefault(_key(call), call)
    return groups


def _owners(
    calls: Sequence[Call], models: dict[tuple[str, str], Call], parts: dict[int, tuple[str, str]]
) -> dict[int, tuple[str, str]]:
    """Call id -> the model key whose section a top-level call joins: a model's
    own passes and its ``parts`` called alone (``_parts_called_alone``); else the
    model whose output it reads (a loss), else the model that reads its output
    (an input-making op), else the section before it. A loss reading two models'
    outputs joins the first's (its prediction's)."""
    owner = {call.id: _key(call) for call in calls if _key(call) in models} | parts
    _sweep(calls, owner, lambda call: call.input_ids, lambda call: call.output_ids)  # what reads a model's output
    _sweep(reversed(calls), owner, lambda call: call.output_ids, lambda call: call.input_ids)  # what makes its input
    previous: tuple[str, str] | None = None
    for call in calls:  # what no tensor ties to a model: the section before it (else the first)
        if call.id in owner:
            previous = owner[call.id]
        else:
            owner[call.id] = previous if previous is not None else next(iter(models))
    return owner


def _sweep(
    calls: Iterable[Call],
    owner: dict[int, tuple[str, str]],
    reads: Callable[[Call], Iterable[int]],
    passes: Callable[[Call], Iterable[int]],
) -> None:
    """Give each call without an owner the owner of the first tensor it ``reads``
    that an owned call earlier in ``calls`` ``passes`` on (forward: a loss reads
    a model's output; backward, in reverse: an op makes a model's input)."""
    tied: dict[int, tuple[str, str]] = {}  # tensor id -> the section of the call that passed it
    for call in calls:
        if call.id not in owner:
            for tensor in reads(call):  # the first such tensor: a loss's prediction, not its target
                if tensor in tied:
                    owner[call.id] = tied[tensor]
                    break
        if call.id in owner:
            for tensor in passes(call):
                tied[tensor] = owner[call.id]


def sections_data(trace: Trace) -> dict[str, list[dict]]:
    """The sections as JSON-ready data, as the views show them (``--format json``)::

        {"models": [{"name": "generator", "type": "Generator", "num_params": 4528,
                     "calls": [12, 13, ...]}, ...],
         "data_transforms": [{"type": "Normalize", "count": 12, "calls": [0]}]}

    ``calls``: the ids of the section's top-level calls, in the order they ran.
    A model a wrapper holds (DDP) is named by its own type, with ``"wrapper":
    "DistributedDataParallel"``.
    """
    parts = split_sections(trace)
    return {
        "models": [
            {
                "name": section.model.name,
                "type": (section.wrapped or section.model).type,
                **({"wrapper": section.model.type} if section.wrapped is not None else {}),
                "num_params": section.num_params,
                "calls": [call.id for call in section.roots],
            }
            for section in parts.models
        ],
        "data_transforms": [
            {"type": transform.type, "count": transform.count, "calls": [call.id for call in transform.calls]}
            for transform in parts.transforms
        ],
    }
