"""``shapetrace.trace``: the context manager that records a block."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable
from types import TracebackType

import torch
from torch import nn

from shapetrace._version import __version__
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError, ShapetraceWarning
from shapetrace.record.data_hook import DataWatch
from shapetrace.record.distributed import DEFAULT_WINDOW, DistSession, rank_info
from shapetrace.record.frames import strip_recording_frames
from shapetrace.record.loader_facts import worker_notes
from shapetrace.record.loss_calls import losses_recorded
from shapetrace.record.recorder import OpsSetting, Recorder, RootFilter

_ScriptModule = torch.jit.ScriptModule


class _TraceBlock:
    """Records from ``__enter__`` to ``__exit__``; the Trace is complete after exit."""

    def __init__(
        self,
        model: nn.Module | None,
        ops: OpsSetting,
        ignore: Iterable[str],
        root_filter: RootFilter | None = None,
        ops_at_top: bool = True,
        *,
        dist_dir: str | None = None,
        dist_check: bool = False,
        dist_window: int = DEFAULT_WINDOW,
    ) -> None:
        if model is not None and not isinstance(model, nn.Module):
            raise ShapetraceError(f"trace() takes an nn.Module or None, not {type(model).__name__}")
        if ops not in (True, False, "all"):
            raise ShapetraceError(f"trace(ops=...) takes True, False or 'all', not {ops!r}")
        if ops != "all":
            ops = bool(ops)  # 1 and 0 pass the check above; the trace and its JSON say True/False
        if isinstance(model, _ScriptModule):  # a scripted child is recorded as one opaque call
            raise ShapetraceError(
                f"cannot trace {type(model).__name__}: the model is a TorchScript module "
                "(torch.jit.script or torch.jit.trace), which runs outside Python; trace the "
                "module before scripting it"
            )
        self._recorder = Recorder(model, ops, root_filter=root_filter, ops_at_top=ops_at_top)
        self.trace = Trace(
            ops=ops,
            ignore=ignore,
            run_info={
                "shapetrace": __version__,
                "torch": torch.__version__,
                "model": type(model).__name__ if model is not None else None,
            },
        )
        # Under torchrun (or an initialised process group): this rank's collectives too.
        info = rank_info()
        self.dist = (
            None
            if info is None
            else DistSession(info, self._recorder, self.trace, directory=dist_dir, check=dist_check, window=dist_window)
        )
        self._dist_patch: contextlib.AbstractContextManager | None = None
        # With ops off, the functional losses are still recorded (loss_calls.py).
        self._loss_patch: contextlib.AbstractContextManager | None = None
        # The DataLoaders iterated in the block, for the checks (a batch axis is evidence);
        # it only lists them: collate is left alone.
        self._loaders = DataWatch(None, on_fetch=self._recorder.data_fetch, on_collate=self._recorder.data_collate)

    def __enter__(self) -> Trace:
        if self._recorder.ops == "all":
            warnings.warn(
                "shapetrace: ops='all' records inside PyTorch's own modules; their "
                "fast paths (e.g. TransformerEncoderLayer inference) are off while "
                "tracing",
                ShapetraceWarning,
                stacklevel=2,
            )
        try:
            self._recorder.start()
            self._loaders.__enter__()
            if not self._recorder.ops or self._recorder.records_passes_once:
                self._loss_patch = losses_recorded(self._recorder)
                self._loss_patch.__enter__()
            if self.dist is not None:
                self._dist_patch = self.dist.installed()
                self._dist_patch.__enter__()
        except BaseException:
            self._recorder.stop()  # the hooks attached before the failure
            self._loaders.__exit__(None, None, None)
            self._end_loss_patch()
            raise
        self.trace._live = self._recorder.calls
        return self.trace

    def abandon(self) -> None:
        """Stop recording and drop what was recorded, without finishing the trace:
        in a forked child (``children.py``), which holds a copy of the parent's block."""
        self._recorder.stop()
        self._recorder._events = []
        self._loaders.__exit__(None, None, None)
        self._end_loss_patch()
        if self._dist_patch is not None:
            self._dist_patch.__exit__(None, None, None)
            self._dist_patch = None

    def _end_loss_patch(self) -> None:
        if self._loss_patch is not None:
            self._loss_patch.__exit__(None, None, None)
            self._loss_patch = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._recorder.stop(exc)
        self._loaders.__exit__(None, None, None)
        self._end_loss_patch()
        if self._loaders.loaders:
            self.trace._meta["loaders"] = [loader.as_info() for loader in self._loaders.loaders]
            notes = worker_notes(self._loaders.loaders)
            if notes:  # shown under the table, as "data: ..." (render/report.py, html_report.py)
                self.trace._meta["data"] = notes
        if self._dist_patch is not None:
            self._dist_patch.__exit__(None, None, None)
            self._dist_patch = None
        if exc is not None:
            strip_recording_frames(exc)
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            exc = None  # a script that ends normally through sys.exit()
        if self._recorder.backward_error is not None:  # for the note (analyze/backward_note.py)
            self.trace._meta["backward_error"] = self._recorder.backward_error
        calls = self._recorder.calls(last=True)
        fetched = _loader_inputs(calls, self._recorder.fetched_tensors)
        if fetched:  # the top-level calls' inputs a DataLoader yielded (a length per sample: padded_last_step.py)
            self.trace._meta["fetched_tensors"] = fetched
        stacked = self._recorder.loader_tensors
        fed = [number for number in fetched if number in stacked]
        if fed:  # the same, stacked along dim 0 by the default collate (checks/_size_clues.py)
            self.trace._meta["loader_tensors"] = fed
        self.trace._freeze(calls, exc)
        # The script runner's filter keeps its own; without a data transform
        # recorded there is nothing to say (and no walk of every call).
        if "in_loader" not in self.trace._meta and self._recorder.transforms.counts:
            roots = [call.id for call in self.trace.calls if call.parent_id is None and call.kind == "module"]
            self.trace._meta.update(self._recorder.transforms.run_info(roots))
        if exc is not None:
            from shapetrace.analyze.error_note import add_trace_note

            add_trace_note(exc, self.trace)
        if self.dist is not None:
            self.dist.save(self.trace)
        # never swallow the user's exception: returning None re-raises it


def trace(model: nn.Module | None = None, *, ops: OpsSetting = True, ignore: Iterable[str] = ()) -> _TraceBlock:
    """Record every module call and tensor op of a block.

    >>> with shapetrace.trace(model) as t:
    ...     pred = model(x)                  # x: (5, 30)
    >>> t["lstm"].outputs[0].shape
    (5, 30, 64)
    >>> t["linear"].outputs[0].shape
    (150, 1)

    Args:
        model: the ``nn.Module`` whose calls to record (and its submodules);
            default None, every module that runs in the block.
        ops: which tensor ops to record: True (the default) those of the
            user's own code (``view``, ``permute``, indexing, ...); ``"all"``
            also those inside PyTorch's modules (slower: their fast paths are
            off); False none, module calls only, but for the functional
            losses (``F.mse_loss``, ``F.cross_entropy``, ...), which the loss
            checks read (record/loss_calls.py: no other op is intercepted).
        ignore: finding codes to silence, ``["ST006"]`` or ``"ST006,ST003"``;
            default none.

    Returns:
        A context manager; ``with`` gives the :class:`~shapetrace.Trace`, which
        is complete when the block ends. An exception raised in the block
        keeps its type and gains shapetrace's note (``__notes__``).

    Raises:
        ShapetraceError: ``model`` is not an ``nn.Module`` (or holds a
            TorchScript module), a bad ``ops``, or an unknown code in ``ignore``.
    """
    return _TraceBlock(model, ops, ignore)


def _loader_inputs(calls: list[Call], yielded: set[int]) -> list[int]:
    """The numbers (``Call.tensor_ids``) of the input tensors of the top-level calls (a
    pass of the model, an op outside it) that are in ``yielded``: tensors a DataLoader
    yielded (with the default collate, their dim 0 is its batch)."""
    if not yielded:
        return []
    return sorted(
        {
            number
            for call in calls
            if call.parent_id is None
            for number in call.tensor_ids[: len(call.inputs)]
            if number in yielded
        }
    )
