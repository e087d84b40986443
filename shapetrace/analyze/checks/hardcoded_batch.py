"""ST003 hardcoded-batch-size: a size written for one batch size only.

``x.view(self.batch_size, seq_len, 1)`` and ``torch.zeros(1, 32, 64)`` work
until a batch of another size comes (the short last batch of an epoch).
Evidence, strongest first:

- the call failed, and this pass's batch size in place of one size argument
  would have made it valid (other passes of the model, in a script trace,
  tell the batch size the code was written for);
- before any failure: the source line writes the size at the batch position
  as something fixed, ``self.batch_size`` or a literal, not ``x.size(0)``.
  A literal counts only where lineage shows the dim is the batch, or where
  the tensor becomes an RNN's h_0 (batch in dim 1). An attribute is not
  baked in when it held the batch size of passes of different sizes, or when
  the module's source assigns it from the data (``self.batch_size =
  x.size(0)`` in forward, for the short last batch).

A ``view(-1, N)`` whose N is a whole batch's values (``x.view(-1, 4 * 8 * 2 * 6 *
6)`` for batches of 4) folds the batch into ONE row, the next layer sized to match:
found when the short batch fails, and before, where a DataLoader of that batch size
tells dim 0 is the batch (an unbatched window viewed as one row is not).

The batch axis of a pass is the one its RNNs batch over, else the model
input axis that survives as dim 0 of the output, else input dim 0. When a
literal batch size equals another size of the same call, the finding says it
cannot tell which of the two is the batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._axes import batch_view
from shapetrace.analyze.checks._batch_tensors import batch_sized_tensors
from shapetrace.analyze.checks._common import at_line, call_label, op_text, receiver_text
from shapetrace.analyze.checks._flatten_rows import wrong_row_length
from shapetrace.analyze.checks._loop_input import baked_loop_view, loader_sizes, unrecorded_loop_views
from shapetrace.analyze.checks._rnn import first_layouts, is_rnn
from shapetrace.analyze.checks._same_cause import Made, grouped, made_subject
from shapetrace.analyze.checks._source import SourceCall, assigned_from_data, batch_factor, find_call, is_fixed
from shapetrace.analyze.checks.variation import failures_at_other_sizes
from shapetrace.analyze.lineage.atoms import Atom, origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.op_args import reshape_fits, size_args
from shapetrace.core.finding import Finding, Severity
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.torch_facts import PASS_THROUGH_OPS, SIZE_ARGUMENT_OPS, SIZED_CREATION_OPS
from shapetrace.core.trace import Trace


def batch_axis(flow: TraceLineage, root: Call) -> Atom | None:
    """The atom that is the batch in this forward pass (see the module docstring)."""
    lay = next(first_layouts(flow, list(root.walk())), None)
    if lay is not None:
        return lay.batch[0]
    if root.kind != "module" or not root.inputs or not root.inputs[0].shape:
        return None
    given = flow.input_lineage(root, 0)
    if root.outputs and root.outputs[0].shape:
        first = flow.output_lineage(root, 0)[0]
        if len(first) == 1 and first in given:
            return first[0]
    return given[0][0] if len(given[0]) == 1 else None


def _source(call: Call, count: int) -> SourceCall | None:
    found = find_call(call.location, {call.name}, count, call.index)
    return found if found is not None and len(found.args) == count else None


def _written(text: str, size: int) -> str:
    """`` (self.batch_size)``: how the size was written, when not as itself."""
    return f" ({text})" if text and text != str(size) else ""


def _hint(written: str) -> str:
    return f"read the batch size from the data in forward (batch_size = x.size(0)) and use it instead of {written}"


class _Pass:
    """One forward pass: its batch axis, and the batch sizes of the others."""

    def __init__(self, flow: TraceLineage, root: Call, batch: Atom, others: set[int]) -> None:
        self.flow, self.root, self.batch, self.others = flow, root, batch, others

    # ------------------------------------------------------------ failed
    def failed(self) -> Iterator[Finding]:
        for call in self.root.walk():
            if call.error is None:
                continue
            if call.kind == "op" and call.name in SIZE_ARGUMENT_OPS and call.inputs:
                found = self._failed_reshape(call)
                if found is not None:
                    yield found
            elif call.kind == "module" and not call.children:
                yield from self._failed_with_made_tensor(call)
                yield from self._failed_after_reshape(call)

    def _failed_reshape(self, call: Call) -> Finding | None:
        """A failed view/reshape that this batch size in one place would have fixed."""
        sizes, meta = size_args(call), call.inputs[0]
        numel, now = math.prod(meta.shape), self.batch.size
        holds_batch = any(self.batch.origin in origins(dim) for dim in self.flow.input_lineage(call, 0))
        if not holds_batch or reshape_fits(sizes, numel) or wrong_row_length(self.flow, call, self.others) is not None:
            return None  # (a row of the wrong length is no batch size: ST012)
        texts = source.args if (source := _source(call, len(sizes))) is not None else ("",) * len(sizes)
        if any(size == now and text and not is_fixed(text) for size, text in zip(sizes, texts)):
            return None  # the batch is read from the data (x.size(0)): a literal is the wrong feature size
        folded = self._folded_batch(call, sizes, texts)
        if folded is not None:
            return folded
        fixable = [
            i
            for i, size in enumerate(sizes)
            if size > 0 and size != now and reshape_fits([*sizes[:i], now, *sizes[i + 1 :]], numel)
        ]
        named = [i for i, text in enumerate(texts) if batch_factor(text)]
        chosen = (
            [i for i in fixable if i in named] or named or [i for i in fixable if sizes[i] in self.others] or fixable
        )
        if not chosen:
            return None
        i = chosen[0]
        message = (
            f"{op_text(call)} {at_line(call)} asks for {format_dims(sizes)} from "
            f"{format_shape(meta)}: {sizes[i]}{_written(texts[i], sizes[i])} is a batch size baked in, "
            f"and this batch has {now}"
        )
        if len(chosen) > 1:
            message += f"; the sizes of dims {' and '.join(map(str, chosen))} would each fit, so it cannot tell which"
        elif i not in named and meta.shape.count(now) > 1:
            message += (
                f"; {now} is also the size of another dim of {format_shape(meta)}, so it cannot "
                f"tell for sure that dim {i} is the batch"
            )
        return finding("ST003", call, message, self._reshape_fix(call, source, i))

    def _folded_batch(self, call: Call, sizes: list[int], texts: tuple[str, ...] | list[str]) -> Finding | None:
        """A ``view(-1, N)`` whose N is k samples' worth of values, k another pass's
        batch size: ``x.view(-1, 4 * 8 * 2 * 6 * 6)`` written for batches of 4 turns
        a batch of 4 into ONE row (the layer after it sized to match) and fails on the
        short last batch. The fix puts the batch in dim 0 and infers the rest."""
        numel, now = math.prod(call.inputs[0].shape), self.batch.size
        if len(sizes) != 2 or sizes[0] != -1 or numel % now:
            return None
        i = 1
        per_sample = numel // now
        k, rest = divmod(sizes[i], per_sample)
        if rest or k < 2 or k == now or k not in self.others | {int(t) for t in _literals(texts[i])}:
            return None
        if self.flow.input_lineage(call, 0)[0] != (self.batch,):
            return None
        return _folded_finding(call, texts[i], k, per_sample, f"; this batch has {now}", "error")

    def folded_rows(self, loader_batches: set[int]) -> Iterator[Finding]:
        """Before any failure: a ``view(-1, N)`` that makes one row of a whole batch,
        N being the batch's size (a DataLoader's ``batch_size``) times the values of
        one sample. The DataLoader is the evidence that dim 0 is a batch: an
        unbatched ``(T, F).view(-1, T * F)`` makes one row of one sample."""
        now = self.batch.size
        if now < 2 or now not in loader_batches:
            return
        for call in self.root.walk():
            if call.kind != "op" or call.name not in SIZE_ARGUMENT_OPS or call.error is not None:
                continue
            sizes = size_args(call)
            if not call.inputs or len(sizes) != 2 or sizes[0] != -1 or call.output is None:
                continue
            per_sample = math.prod(call.inputs[0].shape) // now
            if call.output.shape[0] != 1 or per_sample * now != sizes[1]:
                continue
            if self.flow.input_lineage(call, 0)[0] != (self.batch,):
                continue
            source = _source(call, 2)
            text = source.args[1] if source is not None else ""
            yield _folded_finding(call, text, now, per_sample, "", "warning")

    def _reshape_fix(self, call: Call, source: SourceCall | None, index: int) -> str:
        tensor = receiver_text(call)
        lineage = self.flow.input_lineage(call, 0)
        position = next((d for d, dim in enumerate(lineage) if dim == (self.batch,)), None)
        if source is None or position is None:
            factor = batch_factor(source.args[index]) if source is not None else None
            return _hint(factor or "the fixed size")
        sizes = [*size_args(call)[:index], self.batch.size, *size_args(call)[index + 1 :]]
        return batch_view(call, tensor, list(source.args), index, (sizes, position)) or _hint("the fixed size")

    def _failed_after_reshape(self, failed: Call) -> Iterator[Finding]:
        """A view/reshape sized for another pass's batch that ran before a failed module:
        ``x.reshape(BATCH, -1)`` makes (32, 25) of a short batch (4, 4, 50); the Linear raises."""
        for index in range(len(failed.inputs)):
            made = next(
                (source.call for source in self.flow.producers(failed, index) if source.call.name in SIZE_ARGUMENT_OPS),
                None,
            )
            if made is None or made.error is not None or not made.inputs or made.name.startswith("expand"):
                continue
            sizes, meta, now = size_args(made), made.inputs[0], self.batch.size
            holds_batch = any(self.batch.origin in origins(dim) for dim in self.flow.input_lineage(made, 0))
            suspects = [i for i, size in enumerate(sizes) if size != now and size in self.others]
            if not holds_batch or len(suspects) != 1:
                continue
            i = suspects[0]
            source = _source(made, len(sizes))
            texts = source.args if source is not None else ("",) * len(sizes)
            message = (
                f"{op_text(made)} {at_line(made)} asks for {format_dims(sizes)} from {format_shape(meta)}: "
                f"{sizes[i]}{_written(texts[i], sizes[i])} is a batch size baked in, and this batch has {now}; "
                f"the sizes fit, and {call_label(failed)} {at_line(failed)} then failed on what they made"
            )
            yield finding("ST003", made, message, self._reshape_fix(made, source, i))

    def _failed_with_made_tensor(self, failed: Call) -> Iterator[Finding]:
        """Tensors made for another batch size that a failed call received (``_same_cause``)."""
        sites: list[Made] = []
        for index in range(len(failed.inputs)):
            made = next(
                (
                    source.call
                    for source in self.flow.producers(failed, index)
                    if source.call.name in SIZED_CREATION_OPS
                ),
                None,
            )
            if made is None or made.output is None:
                continue
            sizes = size_args(made)
            source = _source(made, len(sizes))
            texts = source.args if source is not None else ("",) * len(sizes)
            suspects = [
                i
                for i, size in enumerate(sizes)
                if size != self.batch.size and (size in self.others or batch_factor(texts[i]))
            ]
            if suspects:
                sites.append(Made(index, made, made.output, suspects[0], sizes, tuple(texts)))
        for group in grouped(sites, lambda site: (site.sizes[site.dim], site.texts[site.dim])):
            _, made, _, i, sizes, texts = group[0]
            message = (
                f"{made_subject(failed, group)} for a batch of {sizes[i]}{_written(texts[i], sizes[i])}; "
                f"{call_label(failed)} {at_line(failed)} then failed on a batch of {self.batch.size}"
            )
            yield finding("ST003", made, message, _hint(batch_factor(texts[i]) or str(sizes[i])))

    # ------------------------------------------------------------ latent
    def fixed_sizes(self) -> Iterator[tuple[Call, int, str]]:
        """``(call, dim, how it is written)`` for each fixed size at a batch position."""
        for call in self.root.walk():
            if call.kind != "op" or call.error is not None or call.output is None:
                continue
            sizes = size_args(call)
            source = _source(call, len(sizes))
            if source is None:
                continue
            if call.name in SIZE_ARGUMENT_OPS and call.inputs and len(sizes) == call.output.ndim:
                yield from self._fixed_in_reshape(call, source)
            elif call.name in SIZED_CREATION_OPS:
                yield from self._fixed_in_creation(call, sizes, source)

    def _fixed_in_reshape(self, call: Call, source: SourceCall) -> Iterator[tuple[Call, int, str]]:
        lineage = self.flow.output_lineage(call, 0)
        for i, text in enumerate(source.args):
            factor = batch_factor(text)
            if self.batch.origin not in origins(lineage[i]):
                continue
            if factor:
                yield call, i, factor
            elif text.isdigit() and lineage[i] == (self.batch,):
                yield call, i, text

    def _fixed_in_creation(self, call: Call, sizes: list[int], source: SourceCall) -> Iterator[tuple[Call, int, str]]:
        as_hidden = self.state_receiver(call) is not None
        for i, (size, text) in enumerate(zip(sizes, source.args)):
            if size != self.batch.size or not is_fixed(text):
                continue
            factor = batch_factor(text)
            if factor or (as_hidden and i == 1):
                yield call, i, factor or text

    def state_receiver(self, call: Call) -> Call | None:
        """The RNN whose h_0 or c_0 the tensor is (maybe after ``.to(device)``), or None."""
        frontier = [(call, 0)]
        while frontier:
            producer, index = frontier.pop()
            for consumer, k in self.flow.consumers(producer, index):
                if consumer.kind == "op" and consumer.name in PASS_THROUGH_OPS:
                    frontier.append((consumer, 0))
                elif is_rnn(consumer) and consumer.inputs[k].path not in ("0", "input"):
                    return consumer
        return None


def _folded_finding(call: Call, text: str, k: int, per_sample: int, tail: str, severity: Severity) -> Finding:
    """ST003 for a ``view(-1, k * per_sample)`` of batches of k (see ``_Pass.folded_rows``)."""
    tensor, size = receiver_text(call), size_args(call)[1]
    message = (
        f"{op_text(call)} {at_line(call)} asks for {format_dims(size_args(call))} from "
        f"{format_shape(call.inputs[0])}: {size}{_written(text, size)} is {k} samples of {per_sample} "
        f"values, a batch size of {k} written into the feature size, so a batch of {k} becomes one row{tail}"
    )
    hint = (
        f"use {tensor}.{call.name}({tensor}.size(0), -1): one row per sample, and size the layer that "
        f"takes it for {per_sample} values"
    )
    return finding("ST003", call, message, hint, severity)


def _literals(text: str) -> list[str]:
    """The integer literals of a size expression (``4 * 8 * 2`` -> 4, 8, 2)."""
    return re.findall(r"(?<![\w.])\d+(?![\w.])", text)


def _collision(call: Call, index: int, batch: Atom, written: str) -> str:
    """For a literal: another dim of the same size it might have been meant for."""
    others = [i for i, size in enumerate(size_args(call)) if size == batch.size and i != index]
    if not written.isdigit() or not others:
        return ""
    return f"; {written} is also the size of dim {others[0]}, so it cannot tell which of the two is the batch"


def _follows_data(uses: list[tuple[Call, int, _Pass]], written: str) -> bool:
    """True when a size written as ``self.batch_size`` is not baked in after all:
    it held the batch size of passes of different sizes (forward resets it), or
    the module's source assigns that attribute from the data."""
    if len({one.batch.size for _, _, one in uses}) > 1:
        return True
    call = uses[0][0]
    return call.location is not None and assigned_from_data(call.location, written)


def _latent(passes: list[_Pass]) -> Iterator[Finding]:
    """One finding per way of writing the batch size: one mistake, however often used."""
    groups: dict[str, list[tuple[Call, int, _Pass]]] = {}
    for one in passes:
        for call, index, written in one.fixed_sizes():
            key = written if not written.isdigit() else f"{written}@{_literal_site(one, call)}"
            groups.setdefault(key, []).append((call, index, one))
    for key, uses in groups.items():
        if not key.partition("@")[0].isdigit() and _follows_data(uses, key):
            continue
        call, index, one = uses[0]
        written = key.partition("@")[0]
        lines = sorted(
            {c.location.lineno for c, _, _ in uses if c.location is not None}
            - {call.location.lineno if call.location else -1}
        )
        elsewhere = f", as do line{'s' * (len(lines) > 1)} {', '.join(map(str, lines))}" if lines else ""
        how = f"the literal {written}" if written.isdigit() else f"{written} ({one.batch.size})"
        message = (
            f"{op_text(call)} {at_line(call)} sizes the batch with {how}"
            f"{elsewhere}: a batch of another size, like a short last one, will not fit"
            f"{_collision(call, index, one.batch, written)}"
        )
        yield finding("ST003", call, message, _hint(written), "warning")


def _loop_views(trace: Trace) -> Iterator[Finding]:
    """ST003 on a view in the user's loop that writes the loader's batch size (see ``baked_loop_view``)."""
    for call in trace.calls:
        found = baked_loop_view(trace, call)
        if found is None:
            continue
        info, size = found
        sizes = size_args(call)
        source = _source(call, len(sizes))
        written = source.args[0] if source is not None else ""
        tensor = receiver_text(call)
        where = f" at {str(info['location']).rpartition('/')[2]}" if info.get("location") else ""
        message = (
            f"{op_text(call)} {at_line(call)} asks for {format_dims(sizes)} from {format_shape(call.inputs[0])}: "
            f"{size}{_written(written, size)} is the batch size of the DataLoader{where} baked in, and this "
            f"batch, its short last one, has {call.inputs[0].shape[0]}"
        )
        hint = (
            f"use {tensor}.{call.name}({', '.join([f'{tensor}.size(0)', *source.args[1:]])})"
            if source is not None
            else _hint(written or str(size))
        )
        yield finding("ST003", call, message, hint)


def _literal_site(one: _Pass, call: Call) -> object:
    """Where a literal batch size counts as one mistake: its line; the RNN for the
    states of one RNN (``h_0`` and ``c_0`` made on two lines, one fix: ``_same_cause``)."""
    receiver = one.state_receiver(call)
    return call.location if receiver is None else f"state of {receiver.name}"


def _passes(trace: Trace, flow: TraceLineage) -> list[_Pass]:
    roots = [call for call in trace.calls if call.parent is None and call.kind == "module"]
    batches = {root.id: batch_axis(flow, root) for root in roots}
    sizes = {batch.size for batch in batches.values() if batch is not None}
    return [_Pass(flow, root, batch, sizes - {batch.size}) for root in roots if (batch := batches[root.id]) is not None]


_SUMMARY = "a view/reshape/expand/randn whose size is a constant that only fits one batch size"


@register("ST003", "hardcoded-batch-size", "error", _SUMMARY)
def check_hardcoded_batch(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    passes = _passes(trace, flow)
    roots = [call for call in trace.calls if call.parent is None and call.kind == "module"]
    failures = [
        *failures_at_other_sizes(trace),
        *(found for one in passes for found in one.failed()),
        *_loop_views(trace),
        *unrecorded_loop_views(flow, roots, loader_sizes(trace)),
        *batch_sized_tensors(trace, flow, [(one.root, one.batch) for one in passes]),
    ]
    yield from failures
    if not failures:  # the failure already names the baked-in size
        yield from _latent(passes)
        batches = {info["batch_size"] for info in loader_sizes(trace)}
        lines = {(found.location, found.message): found for one in passes for found in one.folded_rows(batches)}
        yield from lines.values()  # one finding per line and batch size, however many passes
