"""The table of one trace's tensor metadata: equal records shared, tensors numbered,
and a tensor met again not read again.

The recorder asks it for every tensor of every event (``meta``), which makes it
the hottest code of a trace: each step below is there because it was measured.
"""

from __future__ import annotations

import weakref

import torch

from shapetrace.core.tensor_meta import TensorMeta, make_meta, tensor_meta
from shapetrace.core.torch_private import DisableTorchFunctionSubclass

_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_STRIDED = torch.strided
# Dead tensors are dropped from the identity table once it holds this many
# entries, then once it holds twice what survived the last sweep.
_FIRST_SWEEP = 4096
# (shape, stride, dtype, device, requires_grad) -> {path: TensorMeta}, shared by
# every trace of the process: TensorMetas are frozen values, and a model traced
# again meets the same ones (making one costs ~3 us, ~7% of a small GPT-2's
# traced forward). Emptied when it grows past _SHARED_LIMIT distinct fields.
_SHARED: dict[tuple, dict[str, TensorMeta]] = {}
_SHARED_LIMIT = 50_000
# id(TensorMeta) -> (that TensorMeta,): the outputs of an op returning one
# tensor (most ops), one object for every such record. The tuple holds its
# TensorMeta, so the id is not reused while it is here. Holds at most
# _SHARED_LIMIT; emptied with _SHARED.
_SINGLES: dict[int, tuple[TensorMeta]] = {}
# An entry's epoch for a tensor whose metadata is never reused (nested,
# sparse, an inference tensor, a subclass): no epoch equals it.
_NOT_KEPT = -1


class _Entry(weakref.ref):
    """A tensor met by the table: a weak reference to it, with its number, and
    the epoch, fields (``{path: TensorMeta}``, None when not kept) and version
    counter of its last read; updated in place when it is read again.

    One object per tensor, where a reference and a tuple were two: the
    recorder makes one for nearly every tensor an op returns (see ``single``).
    """

    __slots__ = ("epoch", "number", "paths", "version")
    number: int
    epoch: int
    paths: dict[str, TensorMeta] | None
    version: int


class MetaTable:
    """Makes the TensorMetas of one trace, one object per distinct value, and
    numbers the tensors it meets.

    The layers of a model see the same shapes again and again; TensorMetas
    are frozen values, so equal ones are shared (by every trace of the
    process: a model traced again meets the same ones). That keeps a trace's size
    proportional to its distinct tensors rather than to its calls (a
    4,000-call MLP trace: 1.2 kB per call without sharing), and a repeated
    value costs a lookup instead of a dataclass (1 us).

    Metadata cannot tell two tensors alike apart (``x + f(x)`` where ``f``
    keeps the shape), so each tensor also gets an identity: a number that
    stays the same while the same tensor object is alive. The table holds
    tensors by weak reference only (``id()`` alone is reused once a tensor is
    freed). ``meta`` appends each identity to ``identities``, in the order of
    the TensorMetas it returns; the recorder takes them from there.

    A tensor met again (an op's output read as the next op's input, the
    weights every step passes) is not read again: its entry keeps the
    metadata it had (reading shape, stride, dtype, device and requires_grad
    and looking the five up cost ~1.7 us a tensor, an op's whole cost ~2 us).
    The entry holds while two things are unchanged: the tensor's version
    counter, which PyTorch bumps on every in-place op, those that change
    shape or strides included (``unsqueeze_``, ``t_``, ``resize_``,
    ``set_``, which no torch function mode sees), and ``epoch``, which the
    recorder bumps (``changed()``) after what changes metadata without a
    bump: ``requires_grad_()``, ``detach_()``, a ``requires_grad`` or
    ``.data`` assignment, and any code that ran while the op mode was off
    and could not see one. An inference tensor has no version counter: it
    is read every time.
    """

    def __init__(self) -> None:
        if len(_SHARED) > _SHARED_LIMIT or len(_SINGLES) > _SHARED_LIMIT:
            _SHARED.clear()
            _SINGLES.clear()
        self._by_fields = _SHARED
        self._numbers: dict[int, _Entry] = {}  # by id(tensor)
        self._next_number = 0
        self._sweep_at = _FIRST_SWEEP
        self.identities: list[int] = []
        self.epoch = 0

    def changed(self) -> None:
        """Any tensor's metadata may have changed unseen: read each again when next met."""
        self.epoch += 1

    def meta(self, tensor: torch.Tensor, path: str) -> TensorMeta:
        """The TensorMeta of ``tensor`` at ``path``; its number goes to ``identities``."""
        # Runs for every tensor of every event: identity and metadata lookups
        # are one function, the plain tensor's read inline (each Python call
        # saved is ~5% of this path).
        address = id(tensor)
        entry = self._numbers.get(address)
        if entry is not None and entry() is tensor:
            self.identities.append(entry.number)
            if entry.epoch == self.epoch and entry.version == tensor._version:
                paths = entry.paths
                meta = paths.get(path)  # type: ignore[union-attr]
                if meta is None:
                    meta = paths[path] = _at_path(paths, path)  # type: ignore[index, arg-type]
                return meta
        else:
            entry = self._new_entry(tensor, address)
            self.identities.append(entry.number)
        entry.epoch = _NOT_KEPT  # until read below
        kind = type(tensor)
        if kind is not _Tensor and kind is not _Parameter:
            # A subclass's __torch_function__ must not see shapetrace's metadata
            # reads. (nn.Parameter's is PyTorch's disabled one: no context
            # manager for the weights every layer passes, 1-2 us each.)
            # Never reused, nor shared: the reuse test reads the version
            # counter, which its __torch_function__ would see.
            with DisableTorchFunctionSubclass():
                return tensor_meta(tensor, path)
        if tensor.layout is not _STRIDED:  # sparse COO and mkldnn tensors have strides too
            return tensor_meta(tensor, path)
        try:
            # The fields that determine the others: contiguity follows from
            # shape and stride, the byte count from shape and dtype (the
            # torch.Size hashes as the tuple it equals).
            fields = (tensor.shape, tensor.stride(), tensor.dtype, tensor.device, tensor.requires_grad)
        except RuntimeError:  # a strided nested tensor refuses shape and strides; not shared
            return tensor_meta(tensor, path)
        paths = self._by_fields.get(fields)
        if paths is None:
            paths = self._by_fields[fields] = {}
        meta = paths.get(path)
        if meta is None:
            meta = paths[path] = tensor_meta(tensor, path)
        try:
            entry.version = tensor._version
        except RuntimeError:  # an inference tensor has no version counter: never reused
            return meta
        entry.paths = paths
        entry.epoch = self.epoch
        return meta

    @staticmethod
    def single(meta: TensorMeta) -> tuple[TensorMeta]:
        """``(meta,)``, the same tuple for the same TensorMeta.

        Every object a record keeps brings Python's next garbage collection
        nearer: an op's record kept nine (its Call, the Call's dict, four
        tuples, three dicts), and the collections they caused cost 0.15-0.45x
        of a real model's plain forward (GPT-2, RWKV; ``gc.callbacks``).
        """
        one = _SINGLES.get(id(meta))
        if one is None:
            one = (meta,)
            # (a trace of subclass tensors, whose TensorMetas are never shared,
            # would fill it: past the limit, tuples are made anew)
            if len(_SINGLES) < _SHARED_LIMIT:
                _SINGLES[id(meta)] = one
        return one

    def identity(self, tensor: torch.Tensor) -> int:
        """The tensor's number: the same for the same live object."""
        address = id(tensor)
        entry = self._numbers.get(address)
        if entry is not None and entry() is tensor:
            return entry.number
        entry = self._new_entry(tensor, address)
        entry.epoch = _NOT_KEPT
        return entry.number

    def known_identity(self, tensor: torch.Tensor) -> int | None:
        """The tensor's number if the table has met this object, else None (no entry made)."""
        entry = self._numbers.get(id(tensor))
        return entry.number if entry is not None and entry() is tensor else None

    def _new_entry(self, tensor: torch.Tensor, address: int) -> _Entry:
        """The entry of a tensor met for the first time: the next number, no read kept yet."""
        number = self._next_number
        self._next_number = number + 1
        if len(self._numbers) >= self._sweep_at:
            self._sweep()
        entry = self._numbers[address] = _Entry(tensor)
        entry.number = number
        return entry

    def _sweep(self) -> None:
        """Forget dead tensors: the table stays proportional to live ones."""
        self._numbers = {address: known for address, known in self._numbers.items() if known() is not None}
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._numbers))


def _at_path(paths: dict[str, TensorMeta], path: str) -> TensorMeta:
    """The TensorMeta of ``paths``' fields at another path (made from one of them: no read)."""
    other = next(iter(paths.values()))
    return make_meta(
        path,
        other.shape,
        other.dtype,
        other.device,
        other.contiguous,
        other.stride,
        other.requires_grad,
        other.nbytes,
        None,
        other.layout,
    )
