"""Recording behaviour: nesting, reuse, odd values, cleanup and fidelity."""

from __future__ import annotations

import gc
import threading
import warnings
import weakref

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace import ShapetraceError
from tests.models import core_models as zoo


def hook_counts(module: nn.Module) -> tuple[int, ...]:
    return tuple(len(getattr(m, attr)) for m in module.modules()
                 for attr in ("_forward_pre_hooks", "_forward_hooks"))


def global_hook_counts() -> tuple[int, int]:
    module = nn.modules.module
    return len(module._global_forward_pre_hooks), len(module._global_forward_hooks)


def test_module_reused_in_a_loop_gives_one_call_per_call():
    model = zoo.LoopedLinear(steps=3)
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 4))
    calls = t.calls_of("cell")
    assert [c.index for c in calls] == [0, 1, 2]
    assert t["cell"] is calls[0]
    tanh = [c for c in t.ops if c.name == "tanh"]
    assert [c.index for c in tanh] == [0, 1, 2]  # the same line, run three times


def test_kwargs_inputs_and_dict_outputs():
    model = zoo.KwargsAndDict()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 3), mask=torch.ones(4, 2), scale=3.0)
    root = t.root
    assert [(m.path, m.shape) for m in root.inputs] == [("0", (4, 3)), ("mask", (4, 2))]
    assert [(m.path, m.shape) for m in root.outputs] == [("logits", (4, 2)), ("pair.0", (4,))]


def test_dataclass_outputs_are_flattened():
    model = zoo.DataclassOutput()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    assert [(m.path, m.shape) for m in t.root.outputs] == [("mean", (2, 1))]


def test_packed_sequence_is_flattened_by_field():
    model = zoo.PackedGRU()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 4, 3), torch.tensor([4, 2, 3]))
    gru = t["gru"]
    paths = {m.path: m.shape for m in gru.inputs}
    assert paths["0.data"] == (9, 3)
    assert paths["0.batch_sizes"] == (4,)
    assert {m.path for m in gru.outputs} >= {"0.data", "1"}
    assert gru.output_at("1").shape == (1, 3, 5)


def test_ops_inside_user_modules_in_builtin_containers_are_recorded():
    model = zoo.Nested()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 2, 2))
    assert t.module_names() == ["", "blocks", "blocks.0", "blocks.0.fc", "blocks.1", "blocks.1.fc"]
    relus = [c for c in t.ops if c.name == "relu"]
    assert [c.parent.name for c in relus] == ["blocks.0", "blocks.1"]
    assert t["blocks.0.fc"].location.code == "return self.fc(x).relu()"
    assert t["blocks"].location.code == "return self.blocks(x.flatten(1))"


def test_ops_false_records_modules_only():
    model = zoo.article_model()
    with shapetrace.trace(model, ops=False) as t:
        model(torch.randn(5, 30))
    assert t.ops == ()
    assert t.module_names() == ["", "lstm", "linear"]


def test_ops_all_records_inside_builtin_modules_and_warns():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pytest.warns(shapetrace.ShapetraceWarning, match="fast paths"), shapetrace.trace(model, ops="all") as t:
        model(torch.randn(2, 3))
    inside = [c for c in t.ops if c.parent is not None and c.parent.name == "0"]
    assert [c.name for c in inside] == ["linear"]
    assert inside[0].location.code == "model(torch.randn(2, 3))"


def test_default_ops_skip_builtin_internals():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    assert [c.name for c in t.ops] == ["randn"]


def test_ops_outside_the_model_are_recorded_at_top_level():
    model = nn.Linear(3, 1)
    with shapetrace.trace(model) as t:
        pred = model(torch.randn(4, 3))
        torch.nn.functional.mse_loss(pred, torch.zeros(4))
    loss = [c for c in t.ops if c.name == "mse_loss"]
    assert len(loss) == 1 and loss[0].parent is None and loss[0].depth == 0
    assert [m.shape for m in loss[0].inputs] == [(4, 1), (4,)]


def test_without_model_every_module_is_recorded_and_named():
    model = zoo.article_model()
    criterion = nn.MSELoss()
    with shapetrace.trace() as t:
        loss = criterion(model(torch.randn(5, 30)), torch.zeros(5, 1))
        loss.backward()
    assert t.root.type == "LSTM"
    assert t.module_names() == ["", "lstm", "linear", "criterion"]  # a loss by the variable holding it
    assert t["criterion"].parent is None
    assert global_hook_counts() == (0, 0)


def test_without_model_kwargs_are_recorded_too():
    model = zoo.KwargsAndDict()
    with shapetrace.trace() as t:
        model(torch.randn(4, 3), mask=torch.ones(4, 2))
    assert [m.path for m in t.root.inputs] == ["0", "mask"]


def test_hooks_are_removed_after_exit_and_user_hooks_kept():
    model = zoo.article_model()
    seen = []
    user_handle = model.linear.register_forward_hook(lambda m, a, out: seen.append(out.shape))
    before = hook_counts(model)
    with shapetrace.trace(model):
        model(torch.randn(5, 30))
    assert hook_counts(model) == before
    model(torch.randn(5, 30))
    assert seen == [torch.Size([150, 1])] * 2
    user_handle.remove()


def test_exception_propagates_with_its_type_and_hooks_are_removed():
    model = zoo.Failing()
    before = hook_counts(model)
    with pytest.raises(RuntimeError, match="mat1 and mat2") as raised, shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
    assert t.error is raised.value
    assert hook_counts(model) == before
    assert torch._C._len_torch_function_stack() == 0
    failed = t["fc"]
    assert failed.error.startswith("RuntimeError: mat1 and mat2")
    assert failed.outputs == () and failed.inputs[0].shape == (3, 4)
    assert t.root.error is not None


def test_exception_gets_a_note_with_the_failing_call():
    model = zoo.article_model()
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        model(torch.randn(3, 30))  # a short last batch: view(5, 30, 1) fails
    note = "\n".join(raised.value.__notes__)
    assert "shapetrace: raised by .view(5, 30, 1)" in note
    assert "lstm_forecaster.py:" in note
    assert "operands: (3, 30)" in note


def test_keyboard_interrupt_closes_open_calls_and_cleans_up():
    class Interrupting(nn.Module):
        def forward(self, x):
            raise KeyboardInterrupt

    model = nn.Sequential(Interrupting())
    with pytest.raises(KeyboardInterrupt), shapetrace.trace(model) as t:
        model(torch.randn(2))
    assert hook_counts(model) == (0,) * 4
    assert torch._C._len_torch_function_stack() == 0
    assert t.root.error == "KeyboardInterrupt" and t["0"].error == "KeyboardInterrupt"


def test_no_tensor_is_kept_alive():
    model = zoo.article_model()
    x = torch.randn(5, 30)
    with shapetrace.trace(model) as t:
        out = model(x)
    refs = [weakref.ref(x), weakref.ref(out)]
    del x, out
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert len(t.calls) > 0


def test_results_are_bit_identical():
    model = zoo.article_model().eval()
    x = torch.randn(5, 30)
    torch.manual_seed(1)
    plain = model(x)
    torch.manual_seed(1)
    with shapetrace.trace(model):
        traced = model(x)
    assert torch.equal(plain, traced)


def test_a_transformer_encoder_with_a_users_hook_gives_identical_results():
    # (the user's hook turns the fused path off; tests/test_fast_paths.py checks it stays on without)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    x = torch.randn(3, 7, 32)
    modes_inside = []
    model.layers[0].register_forward_pre_hook(lambda m, a: modes_inside.append(torch._C._len_torch_function_stack()))
    with torch.inference_mode():
        plain = model(x)
        with shapetrace.trace(model) as t:
            traced = model(x)
    assert torch.equal(plain, traced)
    assert modes_inside == [0, 0]  # the user's hook runs before ours: no mode inside the encoder already
    assert t["layers.0"].outputs[0].shape == (3, 7, 32)


def test_no_mode_is_active_inside_builtin_modules():
    seen = []

    class Probe(nn.Linear):
        """A built-in Linear whose forward stays torch's own code."""

    model = nn.Sequential(zoo.Inner(), nn.Linear(4, 4))
    original = nn.functional.linear

    def spy(*args, **kwargs):
        seen.append(torch._C._len_torch_function_stack())
        return original(*args, **kwargs)

    nn.functional.linear = spy
    try:
        with shapetrace.trace(model):
            model(torch.randn(2, 4))
    finally:
        nn.functional.linear = original
    assert seen == [0, 0]


def test_other_threads_are_not_recorded():
    model = nn.Linear(3, 3)
    with shapetrace.trace(model) as t:
        worker = threading.Thread(target=lambda: model(torch.randn(7, 3)))
        worker.start()
        worker.join()
        model(torch.randn(2, 3))
    assert [c.inputs[0].shape for c in t.modules] == [(2, 3)]


def test_meta_device_needs_no_memory():
    with torch.device("meta"):
        model = zoo.article_model()
    with shapetrace.trace(model) as t:
        h0 = torch.zeros(5, 5, 64, device="meta")
        out, _ = model.lstm(torch.empty(5, 30, 1, device="meta"), (h0, h0))
    assert t["lstm"].outputs[0].shape == (5, 30, 64)
    assert t["lstm"].outputs[0].device == "meta"
    assert out.device.type == "meta"


def test_nn_transformer_attention_outputs():
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=32, batch_first=True)
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 5, 16), torch.randn(2, 3, 16))
    attention = t["encoder.layers.0.self_attn"]
    assert attention.type == "MultiheadAttention"
    assert attention.outputs[0].shape == (2, 5, 16)
    cross = t["decoder.layers.0.multihead_attn"]
    assert [m.shape for m in cross.inputs][:3] == [(2, 3, 16), (2, 5, 16), (2, 5, 16)]
    assert cross.outputs[0].shape == (2, 3, 16)
    assert t.root.outputs[0].shape == (2, 3, 16)


def test_live_queries_inside_the_block():
    model = nn.Linear(3, 3)
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
        assert t[""].outputs[0].shape == (2, 3)
        model(torch.randn(4, 3))
    assert len(t.calls_of("")) == 2


@pytest.mark.parametrize("bad, message", [
    (dict(model=3), "nn.Module or None, not int"),
    (dict(model=None, ops="some"), "True, False or 'all'"),
])
def test_bad_arguments_raise_a_clear_error(bad, message):
    with pytest.raises(ShapetraceError, match=message):
        shapetrace.trace(**bad)


def test_unknown_module_names_suggest_close_matches(seed_trace=None):
    model = zoo.article_model()
    with shapetrace.trace(model) as t:
        model(torch.randn(5, 30))
    with pytest.raises(KeyError, match="did you mean 'lstm'"):
        t["lstn"]
    with pytest.raises(ShapetraceError):
        t.calls_of("decoder")


def test_nested_traces_both_record():
    model = zoo.article_model()
    with shapetrace.trace(model) as outer, shapetrace.trace(model) as inner:
        model(torch.randn(5, 30))
    assert len(outer.calls) == len(inner.calls) > 0
    assert hook_counts(model) == (0,) * len(hook_counts(model))
    assert torch._C._len_torch_function_stack() == 0


def test_a_users_mode_entered_inside_the_model_stays_on_top_and_sees_every_op():
    """The recorder takes its own mode off the stack around module calls: a
    user's mode above it is left on top, in place, and still sees the ops it
    saw untraced, in order."""
    from torch.overrides import TorchFunctionMode

    class Counting(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []
            self.on_top: list[bool] = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = zoo.Inner()
            self.out = nn.Linear(4, 3)

        def forward(self, x):
            with self.mode:
                y = self.out(self.inner(x).relu())
                self.mode.on_top.append(torch._C._len_torch_function_stack() > 0)
            return y.view(-1)

    torch.manual_seed(0)
    model, x = Model(), torch.randn(2, 4)
    model.mode = Counting()
    expected = model(x)
    untraced = model.mode.names
    model.mode = Counting()
    with shapetrace.trace(model) as t:
        got = model(x)
    assert torch.equal(got, expected)
    # (it sees the recorder's metadata reads too, between them)
    seen = iter(model.mode.names)
    assert "linear" in untraced and all(name in seen for name in untraced)
    assert model.mode.on_top == [True]
    assert [c.name for c in t.calls if c.kind == "module"] == ["", "inner", *_inner_children(t), "out"]
    assert t.calls[-1].name == "view"  # recorded again once the user's mode is gone
    assert torch._C._len_torch_function_stack() == 0


def _inner_children(t) -> list[str]:
    return [c.name for c in t.calls if c.kind == "module" and c.name.startswith("inner.")]


def test_no_warnings_by_default():
    model = zoo.article_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with shapetrace.trace(model):
            model(torch.randn(5, 30))


def test_torch_warnings_still_name_the_users_line():
    model = nn.Linear(3, 1)
    with pytest.warns(UserWarning, match="different to the input size") as caught, shapetrace.trace(model):
        pred = model(torch.randn(4, 3))
        torch.nn.functional.mse_loss(pred, torch.zeros(4))
    assert caught[0].filename == __file__


class _Tied(nn.Module):
    """An embedding and an output layer sharing one weight, and a block used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.block = nn.Linear(4, 4)
        self.stack = nn.Sequential(self.block, nn.ReLU(), self.block)
        self.out = nn.Linear(4, 10, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, ids):
        return self.out(self.stack(self.embed(ids)))


@pytest.mark.parametrize("make, make_input", [
    (_Tied, lambda: torch.randint(0, 10, (2, 3))),
    (lambda: nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.Linear(3, 2)), lambda: torch.randn(2, 6)),
    (zoo.article_model, lambda: torch.randn(5, 30)),
], ids=["tied-and-shared", "lazy", "article"])
def test_parameter_counts_are_those_of_parameters(make, make_input):
    model = make()
    with shapetrace.trace(model) as t:
        model(make_input())
    by_name = dict(model.named_modules())
    assert t.modules and all(call.params == sum(p.numel() for p in by_name[call.name].parameters())
                             for call in t.modules)


def test_make_call_builds_the_same_call_as_the_dataclass():
    import dataclasses

    from shapetrace.core.records import Call, Location, make_call

    fields = dict(id=3, kind="op", name="view", type="Tensor.view", inputs=(), outputs=(),
                  location=Location("f.py", 2, "x.view(2)", "forward"), depth=1, index=4, parent_id=0,
                  args=(2,), kwargs={"k": 1}, config={"a": True}, num_params=5, error="E", defined_at=None,
                  tensor_ids=(7, 8))
    made, declared = make_call(**fields), Call(**fields)
    names = [field.name for field in dataclasses.fields(Call)]
    assert list(vars(made)) == names  # a new field must be added to make_call too
    assert [getattr(made, name) for name in names] == [getattr(declared, name) for name in names]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("tensor", [torch.zeros(2, 3), torch.zeros(3, 4).t(), torch.zeros(2, requires_grad=True),
                                    torch.zeros(2, 3, dtype=torch.float16, device="meta"),
                                    torch.zeros(3, 3).to_sparse()])
def test_tensor_meta_builds_the_same_meta_as_the_dataclass(tensor):
    import dataclasses

    from shapetrace.core.tensor_meta import TensorMeta, tensor_meta

    made = tensor_meta(tensor, "0.1")
    strided = tensor.layout == torch.strided
    declared = TensorMeta("0.1", tuple(tensor.shape), tensor.dtype, str(tensor.device),
                          tensor.is_contiguous() if strided else True, tuple(tensor.stride()) if strided else (),
                          tensor.requires_grad, tensor.numel() * tensor.element_size(),
                          layout=str(tensor.layout).removeprefix("torch."))
    assert made == declared and hash(made) == hash(declared)
    assert list(vars(made)) == [field.name for field in dataclasses.fields(TensorMeta)]  # a new field: add it
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.shape = (1,)  # type: ignore[misc]


def test_op_arguments_are_summarized_by_kind():
    """An op's arguments as the trace keeps them: sizes and lists item by
    item, floats as numbers (or their text when not finite), dtypes and
    devices by name, tensors by path; a float subclass as a float."""

    class FloatLike(float):
        pass

    x = torch.randn(2, 8)
    with shapetrace.trace() as t:
        x * 0.5
        x * float("inf")
        x * FloatLike(2.0)
        x.view(torch.Size([4, 4]))
        x.view((16,))
        x.to(torch.float64)
        x.to(torch.device("cpu"))
        torch.cat([x, x[:, :2]], 1)
        torch.zeros(2, dtype=torch.float16, device="cpu")
    assert [call.args for call in t.calls if call.kind == "op" and call.name != "__getitem__"] == [
        ({"tensor": "0"}, 0.5),
        ({"tensor": "0"}, "inf"),
        ({"tensor": "0"}, 2.0),
        ({"tensor": "0"}, (4, 4)),
        ({"tensor": "0"}, (16,)),
        ({"tensor": "0"}, {"dtype": "float64"}),
        ({"tensor": "0"}, {"device": "cpu"}),
        (({"tensor": "0.0"}, {"tensor": "0.1"}), 1),
        (2,),
    ]
    assert t.calls[-1].kwargs == {"dtype": {"dtype": "float16"}, "device": "cpu"}
