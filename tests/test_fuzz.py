"""Property-based tests: on random module stacks, tracing records the real
shapes and never changes, breaks or leaks the user's program.

``SHAPETRACE_FUZZ_EXAMPLES`` sets the number of random models (default 25,
for CI); a nightly run uses more, e.g. ``SHAPETRACE_FUZZ_EXAMPLES=500``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import warnings
import weakref
from collections.abc import Iterator

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import shapetrace
from shapetrace.record.recorder import is_builtin_module
from tests.models import fuzz_models as fm
from tests.models.fault_models import hook_state

EXAMPLES = int(os.environ.get("SHAPETRACE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------ strategies
sizes = st.integers(1, 8)
op_names = st.lists(st.sampled_from(sorted(fm.OPS)), min_size=1, max_size=4)
leaves = st.one_of(
    st.tuples(st.just("linear"), sizes),
    st.tuples(st.just("layernorm")),
    st.tuples(st.just("dropout"), st.sampled_from([0.0, 0.5])),
    st.tuples(st.just("ops"), op_names),
    st.tuples(st.just("conv1d"), sizes, st.sampled_from([1, 3]), st.booleans()),
    st.tuples(st.just("conv2d"), st.integers(1, 2), st.sampled_from([1, 3])),
    st.tuples(st.just("rnn"), st.sampled_from(sorted(fm.RNNS)), sizes, st.integers(1, 2), st.booleans(),
              st.booleans(), st.booleans()),
    st.tuples(st.just("embedding"), st.integers(2, 12), sizes),
    st.tuples(st.just("attention"), st.integers(1, 2), st.booleans(), st.booleans()),
    st.tuples(st.just("encoder"), st.integers(1, 2), st.booleans()),
)
shape_keeping = st.one_of(
    st.tuples(st.just("layernorm")),
    st.tuples(st.just("ops"), st.lists(st.sampled_from(fm.SHAPE_KEEPING_OPS), min_size=1, max_size=3)),
)
blocks = st.recursive(leaves, lambda inner: st.one_of(
    st.tuples(st.sampled_from(["sequential", "modulelist", "moduledict"]), st.lists(inner, min_size=1, max_size=3)),
    st.tuples(st.just("reuse"), st.integers(2, 3), shape_keeping),
), max_leaves=6)


@dataclasses.dataclass(frozen=True)
class Case:
    plan: list
    batch: int
    time: int
    features: int
    ids: bool  # int64 token ids into an Embedding front, else float features
    scale: bool  # a keyword tensor argument
    output: str
    run: str  # how the forward runs: grad mode, train/eval, backward
    ops: bool | str
    whole: bool  # trace(model) rather than trace() of every module
    seed: int


cases = st.builds(
    Case, plan=st.lists(blocks, min_size=1, max_size=4), batch=st.integers(1, 3), time=st.integers(1, 5),
    features=sizes, ids=st.booleans(), scale=st.booleans(),
    output=st.sampled_from(["tensor", "tuple", "dict", "dataclass"]),
    run=st.sampled_from(["eval", "no_grad", "inference_mode", "autocast", "train_backward"]),
    ops=st.sampled_from([True, False, "all"]), whole=st.booleans(), seed=st.integers(0, 2**16),
)


# ------------------------------------------------------- the reference
@dataclasses.dataclass
class Seen:
    module: int
    parent: int | None
    inputs: list
    outputs: list | None = None
    objects: list = dataclasses.field(default_factory=list)  # id() of each input, then output


class Reference:
    """Our own hooks: the module calls as they really happened."""

    def __init__(self, model: nn.Module) -> None:
        self.calls: list[Seen] = []
        self.refs: list = []
        self.held: list = []  # every tensor seen, alive until remove(): id() stays unique
        self._open: list[Seen] = []
        self._handles = []
        for module in model.modules():
            self._handles.append(module.register_forward_pre_hook(self._pre, with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post, with_kwargs=True, always_call=True))

    def _pre(self, module, args, kwargs):
        seen = Seen(id(module), self._open[-1].module if self._open else None,
                    fm.signature(args) + fm.signature(kwargs))
        self._hold(seen, fm.tensors_in(args) + fm.tensors_in(kwargs))
        self.calls.append(seen)
        self._open.append(seen)

    def _post(self, module, args, kwargs, result):
        seen = self._open.pop()
        seen.outputs = fm.signature(result)
        self._hold(seen, fm.tensors_in(result))
        self.refs += [weakref.ref(t) for t in fm.tensors_in(result)]

    def _hold(self, seen: Seen, tensors: list) -> None:
        seen.objects += [id(t) for t in tensors]
        self.held += tensors

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self.held.clear()


def recorded(metas) -> list[tuple]:
    return [(m.shape, m.dtype, m.stride, m.contiguous, m.requires_grad) for m in metas]


@contextlib.contextmanager
def running(how: str) -> Iterator[None]:
    if how == "no_grad":
        with torch.no_grad():
            yield
    elif how == "inference_mode":
        with torch.inference_mode():
            yield
    elif how == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


def forward(model: fm.FuzzModel, case: Case, args: tuple, kwargs: dict, log: fm.OpLog):
    """One pass as the user runs it; with backward, the loss is an op of the user's too."""
    torch.manual_seed(case.seed)  # dropout draws the same numbers in both runs
    with running(case.run):
        result = model(*args, **kwargs)
        if case.run == "train_backward":
            loss = log(None, "sum", torch.sum, fm.tensors_in(result)[0])
            if loss.requires_grad:  # not for a model of plain ops on an input without grad
                loss.backward()
    return result


def assert_same(plain: list, traced: list, exact: bool) -> None:
    assert len(plain) == len(traced)
    for a, b in zip(plain, traced):
        if a is None or b is None:
            assert a is b
        elif exact:
            assert torch.equal(a, b)
        else:  # ops="all" turns PyTorch's fast paths off: equal up to rounding, as documented
            torch.testing.assert_close(a, b)


def traced_forward(model: fm.FuzzModel, case: Case, args: tuple, kwargs: dict, log: fm.OpLog):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", shapetrace.ShapetraceWarning)  # ops="all" warns of slower fast paths
        with shapetrace.trace(model if case.whole else None, ops=case.ops) as t:
            result = forward(model, case, args, kwargs, log)
    assert t.error is None
    return t, result


def check_case(case: Case) -> tuple[shapetrace.Trace, list]:
    """Run the model untraced, traced, and traced under our own hooks; check all
    but liveness; return the last trace and weak references to every tensor made."""
    log = fm.OpLog()
    model = fm.build_model(case.plan, time=case.time, features=case.features, ids=case.ids,
                           output=case.output, seed=case.seed, log=log)
    model.train(case.run == "train_backward")
    args, kwargs = fm.make_inputs(batch=case.batch, time=case.time, features=case.features, ids=case.ids,
                                  scale=case.scale, seed=case.seed)

    # Without hooks of ours, since any forward hook turns PyTorch's fused paths off:
    # the traced results are those of the untraced run, and nothing is left behind.
    plain = forward(model, case, args, kwargs, log)
    plain_grads = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    before = hook_state(model)
    _, traced = traced_forward(model, case, args, kwargs, log)
    assert hook_state(model) == before
    exact = case.ops != "all"
    assert_same(fm.tensors_in(plain), fm.tensors_in(traced), exact)
    assert_same(plain_grads, [p.grad for p in model.parameters()], exact)
    model.zero_grad(set_to_none=True)
    refs = log.refs

    # Under our own hooks: the recorded calls are those that really happened.
    reference = Reference(model)
    log.reset()
    t, _ = traced_forward(model, case, args, kwargs, log)
    reference.remove()
    names = {id(m): name for name, m in model.named_modules()}
    expected = [(names[c.module], names.get(c.parent), c.inputs, c.outputs) for c in reference.calls]
    got = [(c.name, c.parent.name if c.parent else None, recorded(c.inputs), recorded(c.outputs))
           for c in t.modules]
    assert got == expected
    # The same tensor object in two places has one identity, two objects two.
    assert same_tensors([c.objects for c in reference.calls]) == same_tensors([c.tensor_ids for c in t.modules])

    # ops of the user's own code, with the shapes they really saw
    user_ops = [c for c in t.ops if c.parent is None or not is_builtin_module(model.get_submodule(c.parent.name))]
    expected_ops = [(names.get(e.owner), e.name, e.inputs, e.outputs) for e in log.entries] if case.ops else []
    assert [(c.parent.name if c.parent else None, c.name, recorded(c.inputs), recorded(c.outputs))
            for c in user_ops] == expected_ops
    if not case.ops:
        assert t.ops == ()

    loaded = shapetrace.load(t.to_json())
    assert [call_fields(c) for c in loaded.calls] == [call_fields(c) for c in t.calls]
    return t, refs + log.refs + reference.refs + [weakref.ref(x) for x in fm.tensors_in((args, kwargs))]


@FUZZ
@given(cases)
def test_tracing_records_real_shapes_and_changes_nothing(case):
    t, refs = check_case(case)
    gc.collect()
    assert [ref() for ref in refs if ref() is not None] == []  # the trace keeps no tensor alive
    assert len(t.calls) > 0


def same_tensors(keys_per_call: list) -> list[list[int]]:
    """Each tensor slot (inputs then outputs, call after call) as the number
    of the first slot holding the same tensor: the partition, not the keys."""
    first: dict = {}
    return [[first.setdefault(key, len(first)) for key in keys] for keys in keys_per_call]


def call_fields(call: shapetrace.Call) -> tuple:
    return (call.id, call.kind, call.name, call.type, call.inputs, call.outputs, call.location, call.depth,
            call.index, call.parent_id, call.args, call.kwargs, call.config, call.params, call.error,
            call.defined_at, call.tensor_ids)
