"""Faults: whatever the traced program does, tracing never breaks it, changes
its results or leaves anything behind."""

from __future__ import annotations

import contextlib
import copy
import copyreg
import io
import pickle
import re
import subprocess
import sys
import threading
import warnings
from collections import OrderedDict

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace import ShapetraceError
from shapetrace.core.text import format_shape
from shapetrace.record.script import run_script
from tests.models import fault_models as fm
from tests.models import saving_script


def traced(model: nn.Module | None, *args, run=None, **options):
    """``(trace, result)`` of ``run()`` (default: ``model(*args)``) in a trace block."""
    with shapetrace.trace(model, **options) as t:
        result = run() if run is not None else model(*args)
    return t, result


# ------------------------------------------------------------- exceptions
def user_hook_raising(level: fm.Level, kind: str) -> None:
    def hook(*args):
        raise ValueError("the user's hook failed")

    if kind == "pre_hook":
        level.fc.register_forward_pre_hook(hook)
    else:
        level.fc.register_forward_hook(hook)


@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("kind, error, message", [
    ("op", RuntimeError, "shape '\\[-1, 7\\]' is invalid"),
    ("module", RuntimeError, "mat1 and mat2 shapes cannot be multiplied"),
    ("raise", ValueError, "level failed on purpose"),
    ("pre_hook", ValueError, "the user's hook failed"),
    ("post_hook", ValueError, "the user's hook failed"),
])
def test_an_error_at_any_depth_comes_through_and_leaves_nothing(depth, kind, error, message):
    levels = fm.chain()
    model, failing = levels[0], levels[depth]
    x = torch.randn(2, 4)
    expected = model(x)
    if kind.endswith("hook"):
        user_hook_raising(failing, kind)
    else:
        failing.fail = kind
    before = fm.hook_state(model)

    with pytest.raises(error, match=message) as raised, shapetrace.trace(model) as t:
        model(x)

    assert t.error is raised.value
    assert any(note.startswith("shapetrace: raised by") for note in raised.value.__notes__)
    assert fm.hook_state(model) == before
    # the failing level's call and every call around it say so
    for outer in range(depth + 1):
        assert re.search(message, t[".".join(["child"] * outer)].error)
    # the model works as before, traced or not
    failing.fail = None
    for hooks in (failing.fc._forward_pre_hooks, failing.fc._forward_hooks):
        hooks.clear()
    again, result = traced(model, x)
    assert torch.equal(result, expected) and torch.equal(model(x), expected)
    assert again.error is None and len(again.calls_of("fc")) == 1


def test_keyboard_interrupt_in_a_builtin_module_closes_every_open_call():
    model = fm.Interrupting()
    before = fm.hook_state(model)
    with pytest.raises(KeyboardInterrupt), shapetrace.trace(model) as t:
        model(torch.randn(3, 2))
    assert fm.hook_state(model) == before
    assert [(c.name, c.error) for c in t.modules] == [
        ("", "KeyboardInterrupt"), ("body", "KeyboardInterrupt"), ("body.0", None)]
    assert isinstance(t.error, KeyboardInterrupt)


def test_a_pass_after_a_caught_keyboard_interrupt_is_recorded_at_top_level():
    model = fm.Interrupting()
    with shapetrace.trace(model) as t:
        try:
            model(torch.randn(3, 2))
        except KeyboardInterrupt:
            pass  # a training loop that stops one epoch early and goes on
        model(torch.randn(5, 2))
    first, second = t.calls_of("")
    assert second.parent is None and second.depth == 0
    assert [c.name for c in t.ops if c.parent is second] == ["sum"]  # the op mode came back too
    # the interrupted pass's calls were closed when the next one started
    assert [(c.name, c.error) for c in first.walk() if c.is_module] == [
        ("", "interrupted"), ("body", "interrupted"), ("body.0", None)]
    assert [c.inputs[0].shape for c in t.calls_of("body")] == [(3, 2), (5, 2)]


def test_a_keyboard_interrupt_caught_inside_a_forward_closes_the_calls_it_ended():
    class Guarded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = fm.Interrupting()
            self.head = nn.Linear(2, 1)

        def forward(self, x):
            try:
                self.inner(x)
            except KeyboardInterrupt:
                pass
            return self.head(x)

    model = Guarded()
    x = torch.randn(3, 2)
    with shapetrace.trace(model) as t:
        out = model(x)
    assert torch.equal(out, model.head(x))
    assert t.root.error is None and t.root.outputs[0].shape == (3, 1)
    assert [(c.name, c.depth, c.error) for c in t.modules] == [
        ("", 0, None), ("inner", 1, "interrupted"), ("inner.body", 2, "interrupted"),
        ("inner.body.0", 3, None), ("head", 1, None)]


# ----------------------------------------------------------- odd values
def test_a_generator_forward_records_the_calls_made_while_iterating():
    model = fm.Generating()
    t, outputs = traced(model, torch.randn(4, 3), run=lambda: list(model(torch.randn(4, 3))))
    assert len(outputs) == 2
    assert t.root.outputs == ()  # a generator holds no tensor
    assert [(c.name, c.parent) for c in t.calls_of("fc")] == [("fc", None), ("fc", None)]
    assert [c.outputs[0].shape for c in t.calls_of("fc")] == [(4, 2), (4, 2)]


@pytest.mark.parametrize("kind, paths", [
    ("none", []),
    ("python", []),
    ("nested_dict", [("a.b.c", (5, 2)), ("d.0", ()), ("7", (2, 5))]),
    ("dataclass", [("inner.logits", (5, 2)), ("extras.mean", (2,)), ("extras.list.0", (1, 2))]),
])
def test_odd_outputs_are_flattened_with_paths_and_survive_json(kind, paths):
    model = fm.OddOutputs(kind)
    t, _ = traced(model, torch.randn(5, 3))
    assert [(m.path, m.shape) for m in t.root.outputs] == paths
    loaded = shapetrace.load(t.to_json())
    assert [(m.path, m.shape) for m in loaded.root.outputs] == paths
    t.print(file=io.StringIO())  # renders too


def test_parameters_as_inputs_keep_requires_grad():
    model = fm.Scaled()
    x = nn.Parameter(torch.randn(2, 4))
    t, out = traced(model, x)
    assert t["fc"].inputs[0].requires_grad and t.root.outputs[0].requires_grad
    mul = next(c for c in t.ops if c.name == "mul")
    assert [(m.shape, m.requires_grad) for m in mul.inputs] == [((2, 3), True), ((3,), True)]
    assert torch.equal(out, model(x))


def test_a_tensor_subclass_stays_itself_and_its_shapes_are_recorded():
    model = fm.Scaled()
    x = torch.randn(2, 4).as_subclass(fm.Tagged)
    t, out = traced(model, x)
    assert type(out) is fm.Tagged and torch.equal(out, model(x))
    assert t["fc"].outputs[0].shape == (2, 3)
    assert [c.name for c in t.ops] == ["mul"]


def test_a_tensor_subclass_sees_only_the_users_own_calls():
    model = fm.Scaled()
    x = torch.randn(2, 4).as_subclass(fm.Tagged)
    fm.Tagged.seen = []
    model(x)
    untraced = fm.Tagged.seen
    fm.Tagged.seen = []
    traced(model, x)
    assert fm.Tagged.seen == untraced


# -------------------------------------------------------- nested traces
def test_nested_traces_of_different_models_each_record_their_own():
    a, b = fm.chain(1)[0], fm.chain(1)[0]
    before = fm.hook_state(a), fm.hook_state(b)
    with shapetrace.trace(a) as outer:
        with shapetrace.trace(b, ops=False) as inner:
            a(torch.randn(2, 4))
            b(torch.randn(3, 4))
        a(torch.randn(5, 4))
    assert [(c.name, c.inputs[0].shape) for c in outer.modules] == [
        ("", (2, 4)), ("fc", (2, 4)), ("", (5, 4)), ("fc", (5, 4))]
    assert [(c.name, c.inputs[0].shape) for c in inner.calls] == [("", (3, 4)), ("fc", (3, 4))]
    assert (fm.hook_state(a), fm.hook_state(b)) == before


def test_traces_closed_out_of_order_both_clean_up():
    model = fm.chain(1)[0]
    before = fm.hook_state(model)
    first, second = shapetrace.trace(model), shapetrace.trace(model)
    t1, t2 = first.__enter__(), second.__enter__()
    model(torch.randn(2, 4))
    first.__exit__(None, None, None)
    model(torch.randn(3, 4))
    second.__exit__(None, None, None)
    assert fm.hook_state(model) == before
    assert [c.inputs[0].shape[0] for c in t1.modules] == [2, 2]
    assert [c.inputs[0].shape[0] for c in t2.modules] == [2, 2, 3, 3]
    assert [c.name for c in t2.ops] == ["randn", "relu", "randn", "relu"]


def test_a_module_outside_the_traced_model_keeps_its_fast_path():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    head = nn.Linear(32, 2)
    x = torch.randn(3, 7, 32)
    with torch.inference_mode():
        plain = head(encoder(x) * 2)
        t, result = traced(head, run=lambda: head(encoder(x) * 2))
    assert torch.equal(result, plain)
    # the op mode came back after the encoder: the user's op is recorded, none of the encoder's
    assert [(c.name, c.parent) for c in t.ops] == [("mul", None)]
    assert [c.name for c in t.modules] == [""]


def test_ops_after_a_builtin_module_with_the_users_hook_are_recorded():
    class Normed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(3)

        def forward(self, x):
            return self.norm(x).sum(-1)

    model = Normed()
    model.norm.register_forward_hook(lambda module, args, output: None)
    t, _ = traced(model, torch.randn(2, 3))
    assert [(c.name, c.parent.name) for c in t.ops] == [("sum", "")]
    assert [c.name for c in t.modules] == ["", "norm"]


# ---------------------------------------------------------------- threads
@pytest.mark.parametrize("whole", [True, False], ids=["model", "every-module"])
def test_two_threads_tracing_at_once_each_record_their_own_work(whole):
    model = fm.chain(2)[0]
    barrier = threading.Barrier(2)
    traces: dict[int, shapetrace.Trace] = {}
    failures: list[BaseException] = []

    def work(batch: int) -> None:
        try:
            barrier.wait()
            with shapetrace.trace(model if whole else None) as t:
                for _ in range(20):
                    model(torch.randn(batch, 4))
            traces[batch] = t
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    before = fm.hook_state(model)
    workers = [threading.Thread(target=work, args=(batch,)) for batch in (2, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    for batch, t in traces.items():
        assert len(t.calls_of("")) == 20 and len(t.calls_of("child.fc")) == 20
        assert {m.shape[0] for c in t.calls for m in (*c.inputs, *c.outputs)} == {batch}
    assert fm.hook_state(model) == before


# ------------------------------------------------------------ grad modes
@pytest.mark.parametrize("mode, dtype, grad", [
    (torch.no_grad, torch.float32, False),
    (torch.inference_mode, torch.float32, False),
    (lambda: torch.autocast("cpu", dtype=torch.bfloat16), torch.bfloat16, True),
])
def test_grad_and_autocast_modes_are_kept_and_recorded(mode, dtype, grad):
    model = fm.Scaled()
    x = torch.randn(2, 4)
    with mode():
        plain = model(x)
        t, out = traced(model, x)
    assert torch.equal(out, plain) and out.dtype == plain.dtype
    assert (t["fc"].outputs[0].dtype, t["fc"].outputs[0].requires_grad) == (dtype, grad)
    assert t["fc"].inputs[0].dtype == torch.float32


# -------------------------------------------------- TorchScript, compile
@pytest.mark.parametrize("make", [
    lambda: torch.jit.script(fm.Scriptable()),
    lambda: torch.jit.trace(fm.Scriptable(), torch.randn(1, 4)),
], ids=["scripted-model", "jit-traced-model"])
def test_a_torchscript_model_is_refused_with_one_clear_message_and_no_hook_left(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in favour of compile
        model = make()
    x = torch.randn(2, 4)
    expected = model(x)
    before = [fm.hook_state(m) for m in model.children() if not isinstance(m, torch.jit.ScriptModule)]
    with pytest.raises(ShapetraceError, match="the model is a TorchScript module"), shapetrace.trace(model):
        pytest.fail("the block must not run")
    assert [fm.hook_state(m) for m in model.children() if not isinstance(m, torch.jit.ScriptModule)] == before
    assert torch.equal(model(x), expected) and not getattr(model, "_forward_hooks", None)


def test_hooks_attached_before_a_failing_registration_are_removed():
    model = nn.Sequential(nn.Linear(4, 4), fm.RefusesHooks())
    before = fm.hook_state(model)
    with pytest.raises(RuntimeError, match="no hooks here"), shapetrace.trace(model):
        pytest.fail("the block must not run")
    assert fm.hook_state(model) == before


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("ops", [True, False, "all"])
@pytest.mark.parametrize("whole", [True, False])
def test_a_torchscript_child_is_one_opaque_call_in_a_trace_of_its_model(how, ops, whole):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of compile; ops="all" warns
        model = fm.WithScripted(how)
        x = torch.randn(2, 4)
        plain = model(x)
        before = fm.hook_state(model)
        t, out = traced(model if whole else None, x, run=lambda: model(x), ops=ops)
    assert torch.equal(out, plain) and fm.hook_state(model) == before
    assert [c.name for c in t.modules] == ["", "scripted", "head"]
    scripted = t["scripted"]
    assert (scripted.inputs[0].shape, scripted.outputs[0].shape, scripted.params, scripted.children) == (
        (2, 4), (2, 4), 20, ())
    assert t.root.params == 30 and t.error is None


def test_a_scripted_submodule_runs_under_a_trace_of_every_module():
    model = fm.WithScripted()
    x = torch.randn(2, 4)
    t, out = traced(None, x, run=lambda: model(x))
    assert torch.equal(out, model(x))
    assert t["head"].outputs[0].shape == (2, 2)
    # the scripted part is one opaque call, as a built-in module is
    scripted = t["scripted"]
    assert (scripted.outputs[0].shape, scripted.params, scripted.children) == ((2, 4), 20, ())


def test_a_compiled_model_is_traced():
    model = fm.Scriptable()
    compiled = torch.compile(model, backend="eager")  # dynamo is what meets shapetrace, not the backend
    batches = [torch.randn(2, 4), torch.randn(3, 4), torch.randn(5, 4)]
    try:
        plain = [compiled(x) for x in batches]
        torch._dynamo.utils.counters.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dynamo's warnings about graph breaks
            t, out = traced(compiled, run=lambda: [compiled(x) for x in batches])
        resumed = list(torch._dynamo.utils.counters["resumes"])
    finally:
        torch._dynamo.reset()
    assert all(torch.equal(a, b) for a, b in zip(plain, out))
    assert [c.outputs[0].shape for c in t.calls_of("_orig_mod.fc")] == [(2, 4), (3, 4), (5, 4)]
    # dynamo ran shapetrace's hooks and op mode as they are, not compiled in pieces
    assert not [name for name in resumed if "hook" in name or "_enter" in name or "torch_function" in name]


# ------------------------------ the model saved, copied, compiled midway
# A traced script must print what the plain one prints: its losses, each
# copy's loss and the hooks each copy carries (none of shapetrace's).
EVERY_COPY = ["deepcopy", "save", "state_dict", "inside"]


@contextlib.contextmanager
def quiet_dynamo():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dynamo's warnings about global hooks and graph breaks
            yield
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize(("kind", "actions"), [
    ("mlp", EVERY_COPY), ("rnn", EVERY_COPY), ("hooked-rnn", EVERY_COPY), ("hooked-mlp", ["compile", "save"]),
])
def test_a_script_that_saves_copies_and_compiles_its_model_runs_as_untraced(kind, actions, capsys):
    with quiet_dynamo():
        plain = saving_script.train(saving_script.build(kind), kind, actions)
        run = run_script(saving_script.__file__, [kind, *actions])
    assert (run.exit_code, run.error) == (0, None)
    assert capsys.readouterr().out.splitlines() == plain
    assert plain[-1] == "saved and loaded: hooks " + ("[]" if kind in ("mlp", "rnn") else
                                                      str(saving_script.hooks_of(saving_script.build(kind))))
    # the first pass and the short last batch, recorded
    assert len({c.inputs[0].shape for c in run.trace.modules if c.type in ("MLP", "RNNModel")}) == 2


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize(("kind", "actions"), [
    ("mlp", EVERY_COPY), ("hooked-rnn", EVERY_COPY), ("hooked-mlp", ["compile", "deepcopy"]),
])
def test_a_model_saved_copied_and_compiled_in_a_trace_block_behaves_as_untraced(kind, actions, whole):
    with quiet_dynamo():
        plain = saving_script.train(saving_script.build(kind), kind, actions)
        model = saving_script.build(kind)
        before = fm.hook_state(model)
        with shapetrace.trace(model if whole else None) as t:
            traced = saving_script.train(model, kind, actions)
    # The live model's own hook dicts (also under torch.compile's wrapper) show
    # shapetrace's while it traces; its copies must not.
    live = re.compile(r"^((model|compile): .*), hooks .*")
    assert [live.sub(r"\1", line) for line in traced] == [live.sub(r"\1", line) for line in plain]
    assert fm.hook_state(model) == before
    assert t.error is None and t.root.name == ""


def test_the_command_on_a_script_ending_in_torch_save_exits_as_the_plain_script():
    # pytorch/examples' word_language_model ends with torch.save(model, f): it exited 1 traced
    script = saving_script.__file__
    plain = subprocess.run([sys.executable, script, "rnn", "save"], capture_output=True, text=True, timeout=300)
    traced = subprocess.run([sys.executable, "-m", "shapetrace", "run", script, "--", "rnn", "save"],
                            capture_output=True, text=True, timeout=300)
    assert (plain.returncode, traced.returncode) == (0, 0), traced.stderr
    assert traced.stdout.startswith(plain.stdout) and "shapetrace RNNModel" in traced.stdout[len(plain.stdout):]


def test_a_model_pickled_while_a_trace_hooks_it_has_none_of_shapetraces_hooks():
    model = fm.SelfHooked()
    model.head.register_forward_pre_hook(saving_script.users_hook)  # picklable
    with shapetrace.trace(model):
        copied = pickle.loads(pickle.dumps(model.head))
        deep = copy.deepcopy(model.head)
        inner_state = fm.hook_state(model.head)[0]
    assert fm.hook_state(copied)[0] == fm.hook_state(deep)[0] == fm.hook_state(model.head)[0] != inner_state
    assert OrderedDict not in copyreg.dispatch_table  # the reducer that hides them is gone with the trace


# ----------------------------------------------------- every tensor kind
def dense(value):
    """A tensor of any kind as one to compare with ``torch.equal``."""
    if isinstance(value, fm.Wrapped):
        return dense(value.inner)
    if value.is_nested:
        return value.to_padded_tensor(0.0)
    if value.layout != torch.strided:
        return value.to_dense()
    if value.is_quantized:
        return value.int_repr()
    return value if value.device.type != "meta" else torch.zeros(value.shape)


@pytest.mark.parametrize("kind", sorted(fm.tensor_kinds()))
@pytest.mark.parametrize("ops", [True, False, "all"])
@pytest.mark.parametrize("whole", [True, False])
def test_every_tensor_kind_is_recorded_with_its_layout_in_inputs_outputs_and_ops(kind, ops, whole):
    x, shape, layout = fm.tensor_kinds()[kind]
    model = fm.KindPassing(fm.op_for(kind))
    plain = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", shapetrace.ShapetraceWarning)  # ops="all": slower fast paths
        t, out = traced(model if whole else None, x, run=lambda: model(x), ops=ops)
    assert t.error is None
    assert type(out[0]) is type(plain[0]) and torch.equal(dense(out[0]), dense(plain[0])) and out[1]["same"] is x
    recorded = [t["inner"].inputs[0], t["inner"].outputs[0], t.root.inputs[0], t.root.outputs[1]]
    if ops:
        recorded.append(t.ops[-1].outputs[0])
    else:
        assert t.ops == ()
    for meta in recorded:
        assert (meta.shape, meta.layout, meta.dtype, meta.device) == (shape, layout, x.dtype, str(x.device))
        assert len(meta.stride) == (len(shape) if layout == "strided" else 0)
    expected = f"({', '.join(map(str, shape))})" + ("" if layout == "strided" else f" {layout}")
    assert format_shape(t["inner"].outputs[0]) == expected
    loaded = shapetrace.load(t.to_json())
    assert [c.inputs + c.outputs for c in loaded.calls] == [c.inputs + c.outputs for c in t.calls]


def padding_mask(lengths: list[int], time: int) -> torch.Tensor:
    return torch.arange(time)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("ops", [True, False])
@pytest.mark.parametrize("whole", [True, False])
def test_an_encoder_with_a_padding_mask_in_inference_keeps_its_fast_path_and_shows_nested_shapes(mode, ops, whole):
    # PyTorch's fast path turns the padded batch into a nested tensor between the layers
    torch.manual_seed(0)
    model = fm.EncoderModel().eval()
    src, mask = torch.randn(3, 5, 16), padding_mask([4, 3, 2], 5)
    with mode():
        plain = model(src, src_key_padding_mask=mask)
        t, out = traced(model if whole else None, run=lambda: model(src, src_key_padding_mask=mask), ops=ops)
    assert torch.equal(out, plain) and t.error is None
    layer = t["body.layers.1"]
    nested = [(m.shape, m.layout, m.stride) for m in (layer.inputs[0], layer.outputs[0])]
    assert nested == [((3, 4, 16), "nested", ())] * 2
    assert format_shape(layer.outputs[0]) == "(3, 4, 16) nested"
    assert t["body"].outputs[0].shape == (3, 5, 16) and t["body"].outputs[0].layout == "strided"
    assert shapetrace.load(t.to_json())["body.layers.1"].outputs == layer.outputs


# ------------------------------------------------------ the user's hooks
def test_modules_with_their_own_hooks_behave_as_untraced():
    model = fm.SelfHooked()
    x = torch.randn(3, 4)
    plain = model(x)
    before = fm.hook_state(model)
    t, out = traced(model, x)
    assert torch.equal(out, plain)
    assert fm.hook_state(model) == before
    assert model.seen == [(3, 2), (3, 2)]  # the hook added in the forward ran both times, and is gone
    # the user's hooks ran before shapetrace's: it records what the forward received
    assert (t.root.inputs[0].shape, t["fc"].outputs[0].shape, t["head"].inputs[0].shape) == ((3, 4), (3, 8), (3, 8))


def test_a_users_global_hooks_stay_and_run():
    seen = []
    handle = nn.modules.module.register_module_forward_hook(lambda module, args, out: seen.append(type(module)))
    try:
        model = fm.chain(1)[0]
        t, _ = traced(None, torch.randn(2, 4), run=lambda: model(torch.randn(2, 4)))
        assert seen == [nn.Linear, fm.Level]
        assert [c.name for c in t.modules] == ["", "fc"]
    finally:
        handle.remove()


# ---------------------------------------------- in-place ops and views
def test_in_place_ops_and_views_of_views_record_the_shapes_before_and_after():
    model = fm.InPlace()
    x = torch.randn(2, 4)
    t, (out, view) = traced(model, x)
    assert torch.equal(out, fm.InPlace()(x)[0])
    assert [(c.name, [m.shape for m in c.inputs], [m.shape for m in c.outputs]) for c in t.ops] == [
        ("clone", [(2, 4)], [(2, 4)]),
        ("unsqueeze_", [(2, 4)], [(1, 2, 4)]),
        ("squeeze_", [(1, 2, 4)], [(2, 4)]),
        ("t_", [(2, 4)], [(4, 2)]),
        ("__setitem__", [(4, 2)], []),
        ("reshape", [(4, 2)], [(8,)]),
        ("view", [(8,)], [(2, 4)]),
        ("__getitem__", [(2, 4)], [(4,)]),
        ("unsqueeze", [(4,)], [(1, 4)]),
        ("view", [(1, 4)], [(4, 1)]),
        ("__getitem__", [(4, 1)], [(1,)]),
        ("clone", [(1,)], [(1,)]),
        ("add_", [(4, 2), (1,)], [(4, 2)]),
    ]
    t_ = next(c for c in t.ops if c.name == "t_")
    assert (t_.outputs[0].contiguous, t_.outputs[0].stride) == (False, (1, 4))
    assert [m.shape for m in t.root.outputs] == [tuple(out.shape), tuple(view.shape)]


def test_a_failing_view_in_a_chain_of_views_is_named_as_written():
    model = fm.ChainedViews()
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        model(torch.randn(4, 4))
    note = "\n".join(raised.value.__notes__)
    assert "ST004 non-contiguous-view: x.view(-1) at line" in note
    assert "help: use x.contiguous().view(-1) or x.reshape(-1)" in note
