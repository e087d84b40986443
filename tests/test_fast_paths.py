"""What tracing must not cost: PyTorch's fast paths, warnings at the user's
line, hooks below a skipped pass, memory per event; and the shortcuts the
recorder takes to be cheap give the same answers as the long way.

No timings here (benchmarks/bench.py measures them); every test checks a
behaviour.
"""

from __future__ import annotations

import gc
import json
import textwrap
import tracemalloc
import warnings

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.record.module_info import module_config, parameter_count, parameter_counts
from shapetrace.record.script import run_script
from tests.models import core_models as zoo


def encoder(batch_first: bool = True) -> nn.TransformerEncoder:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=batch_first)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()


@pytest.fixture
def fused_calls(monkeypatch):
    """Each call of the fused encoder-layer kernel, as the depth of the
    torch-function mode stack inside it."""
    seen: list[int] = []
    fused = torch._transformer_encoder_layer_fwd

    def spy(*args, **kwargs):
        seen.append(torch._C._len_torch_function_stack())
        return fused(*args, **kwargs)

    monkeypatch.setattr(torch, "_transformer_encoder_layer_fwd", spy)
    return seen


@pytest.mark.parametrize("ops", [True, False])
def test_transformer_encoder_keeps_its_fused_path_and_gives_identical_output(fused_calls, ops):
    model, x = encoder(), torch.randn(3, 7, 32)
    with torch.inference_mode():
        plain = model(x)
        assert fused_calls == [0, 0]  # the fast path exists for this model, untraced
        with shapetrace.trace(model, ops=ops) as t:
            traced = model(x)
    assert fused_calls == [0, 0, 0, 0]  # and is taken traced, with no mode active inside
    assert torch.equal(plain, traced)
    assert [c.name for c in t.modules] == ["", "layers.0", "layers.1"]  # the fused layers run no submodule
    assert t["layers.1"].outputs[0].shape == (3, 7, 32)


def test_every_module_traced_keeps_the_fused_path_too(fused_calls):
    model, x = encoder(), torch.randn(3, 7, 32)
    with torch.inference_mode(), shapetrace.trace() as t:
        model(x)
    assert fused_calls == [0, 0]
    assert t.root.type == "TransformerEncoder"


def test_a_users_hook_on_a_layer_still_runs_after_the_users_own(fused_calls):
    model, x = encoder(), torch.randn(3, 7, 32)
    seen = []
    handle = model.layers[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    try:
        with torch.inference_mode(), shapetrace.trace(model) as t:
            model(x)
    finally:
        handle.remove()
    assert seen == [torch.Size([3, 7, 32])]
    assert fused_calls == [0]  # the user's hook turns layer 0's fast path off, as it does untraced
    assert t["layers.0.self_attn"].outputs[0].shape == (3, 7, 32)


# ------------------------------------------------------------ warnings
class Resizes(nn.Module):
    """An op whose C++ implementation warns (an out= tensor of the wrong size)."""

    def forward(self, x):
        out = torch.empty(2)
        torch.add(x, x, out=out)  # the warning's line
        return out


def warning_line() -> int:
    import inspect

    source, start = inspect.getsourcelines(Resizes.forward)
    return start + next(i for i, line in enumerate(source) if "the warning's line" in line)


def test_a_cpp_warning_names_the_users_line():
    model = Resizes()
    with pytest.warns(UserWarning, match="resized") as caught, shapetrace.trace(model):
        model(torch.randn(3))
    assert (caught[0].filename, caught[0].lineno) == (__file__, warning_line())


def test_an_error_filter_raises_at_the_op_as_untraced():
    model = Resizes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="resized"):
            model(torch.randn(3))
        with pytest.raises(UserWarning, match="resized"), shapetrace.trace(model) as t:
            model(torch.randn(3))
    add = next(c for c in t.ops if c.name == "add")
    assert add.error.startswith("UserWarning") and t.root.error.startswith("UserWarning")


def test_a_default_filter_shows_a_warning_once_per_user_line_as_untraced():
    model = Resizes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        with shapetrace.trace(model):
            for _ in range(3):
                model(torch.randn(3))
    assert len(caught) == 1 and caught[0].lineno == warning_line()


# ---------------------------------------------------------- script mode
SCRIPT = """\
    import torch
    from torch import nn

    class Probe(nn.Module):
        '''Notes how many global forward hooks exist while it runs.'''
        seen = []

        def forward(self, x):
            Probe.seen.append(len(nn.modules.module._global_forward_pre_hooks))
            return x

    enc = nn.Linear(4, 4)
    model = nn.Sequential(enc, Probe(), nn.ReLU())
    for step in range(30):
        model(torch.randn(5, 4))
    enc(torch.randn(5, 4))  # the nested module at top level: a model of its own
    for step in range(30):
        model(torch.randn(5, 4))
    model(torch.randn(2, 4))  # the short last batch
    SEEN = Probe.seen
"""


def test_script_mode_passes_after_the_recorded_ones_run_without_global_hooks(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    before = len(nn.modules.module._global_forward_pre_hooks)
    result = run_script(str(script))
    assert (result.exit_code, result.error) == (0, None)
    t = result.trace
    assert [c.inputs[0].shape for c in t.calls_of("")] == [(5, 4), (2, 4)]  # first pass, short batch
    assert [c.type for c in t.roots if c.kind == "module"] == ["Sequential", "Linear", "Sequential"]
    assert len(nn.modules.module._global_forward_pre_hooks) == before


def test_script_mode_hooks_are_off_inside_skipped_passes_and_back_after(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT) + "\nimport json, sys\njson.dump(SEEN, open(sys.argv[1], 'w'))\n")
    out = tmp_path / "seen.json"
    result = run_script(str(script), [str(out)])
    assert result.exit_code == 0, result.error
    seen = json.loads(out.read_text())
    assert len(seen) == 61
    assert seen[0] == 1 and seen[-1] == 1  # the recorded passes: our hooks on
    assert set(seen[1:-1]) == {0}  # the 59 skipped ones: no global hook at all


# --------------------------------------------------------------- memory
def test_a_trace_holds_and_peaks_under_a_kilobyte_per_event():
    """So 100,000 events stay under 100 MB, while tracing too (the events
    are dropped as they are frozen into calls)."""
    model, x = zoo.LoopedLinear(steps=10_000), torch.randn(2, 4)
    with shapetrace.trace(model):
        zoo.LoopedLinear(steps=2)(x)  # warm the caches of source lines
    gc.collect()
    tracemalloc.start()
    try:
        with shapetrace.trace(model) as t:
            model(x)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(t.calls) == 20_001
    assert held / len(t.calls) < 1_000 and peak / len(t.calls) < 1_000


def test_equal_metadata_is_shared_and_no_tensor_is_kept():
    model, x = zoo.LoopedLinear(steps=3), torch.randn(2, 4)
    with shapetrace.trace(model) as t:
        model(x)
    tanhs = [c for c in t.ops if c.name == "tanh"]
    assert tanhs[0].outputs[0] is tanhs[1].outputs[0]  # equal values, one object
    assert tanhs[0].outputs[0] == tanhs[2].outputs[0]
    assert not any(isinstance(v, torch.Tensor) for c in t.calls for v in vars(c).values())


def test_fake_tensors_trace_a_forward_that_makes_its_own_cpu_tensors():
    """The README's recipe where meta cannot serve: the article's forward makes
    h_0 with torch.randn on the CPU, which a meta model cannot take."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with torch.device("meta"):
        model = zoo.article_model()
    with pytest.raises(RuntimeError, match="same device"), shapetrace.trace(model):
        model(torch.empty(5, 30, device="meta"))
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = model.to_empty(device="cpu")  # fake CPU weights: no memory
        with shapetrace.trace(model) as t:
            pred = model(torch.randn(5, 30))
    assert type(pred).__name__ == "FakeTensor"
    assert (t["lstm"].outputs[0].shape, t["lstm"].outputs[0].device) == ((5, 30, 64), "cpu")
    assert t.root.outputs[0].shape == (5, 1) and t.root.params == 150_337


# ------------------------------------------------- module facts, shortcuts
class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied: one parameter in two modules
        self.shared = nn.Linear(4, 4)
        self.again = self.shared  # one module under two names
        self.twice = nn.Parameter(torch.zeros(3))
        self.register_parameter("alias", self.twice)  # one parameter under two names
        self.nothing = None


class Subset(nn.Linear):
    def parameters(self, recurse: bool = True):
        yield self.weight  # a class that reports only some of its parameters


@pytest.mark.parametrize("make", [Tied, lambda: Subset(3, 2), lambda: nn.LSTM(3, 4, 2),
                                  lambda: nn.Sequential(Tied(), Subset(4, 4)), nn.ReLU])
def test_parameter_count_is_what_parameters_gives(make):
    module = make()
    for each in module.modules():
        assert parameter_count(each) == sum(p.numel() for p in each.parameters())


class TiedTree(nn.Module):
    """Tied weights in a tree of modules (no module used twice): GPT-2's embedding and head,
    a weight shared by two blocks two levels down, a parameter under two names."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.blocks = nn.Sequential(nn.Sequential(nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
        self.blocks[1][0].weight = self.blocks[0][0].weight
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.register_parameter("alias", self.head.weight)


@pytest.mark.parametrize("make", [TiedTree, lambda: nn.Sequential(TiedTree(), nn.Linear(4, 4)),
                                  lambda: nn.LSTM(3, 4, 2)])
def test_parameter_counts_of_a_tree_are_what_parameters_gives(make):
    modules = list(make().modules())
    counts = parameter_counts(modules)
    assert counts, "a tree of plain modules is counted in one pass, tied weights or not"
    assert [counts[id(each)] for each in modules] == [sum(p.numel() for p in each.parameters()) for each in modules]


class SharedBlocks(nn.Module):
    """Modules that are not a tree, as neuralforecast's NHITS: one activation used by
    every block, one loss under two names, a module reached along two paths
    (a diamond), and a weight tied across blocks."""

    def __init__(self) -> None:
        super().__init__()
        act = nn.ReLU()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), act) for _ in range(3))
        self.loss = self.valid_loss = nn.L1Loss()
        shared = nn.Linear(4, 2)
        self.left, self.right = nn.Sequential(nn.Linear(4, 4), shared), nn.Sequential(shared, nn.Tanh())
        self.blocks[2][0].weight = self.blocks[0][0].weight


def _lazy_in_a_dag() -> nn.Module:
    model = SharedBlocks()
    model.lazy = nn.Sequential(nn.LazyLinear(3), model.blocks[0])  # a lazy module beside a shared one
    return model


def _cycle() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))
    model[1].add_module("back", model)  # a module containing its own parent
    return model


def _torch_counted(module: nn.Module) -> int | None:
    parameters = list(module.parameters())
    return None if any(isinstance(p, nn.parameter.UninitializedParameter) for p in parameters) else sum(
        p.numel() for p in parameters)


@pytest.mark.parametrize("make", [SharedBlocks, lambda: nn.Sequential(SharedBlocks(), Tied()), _lazy_in_a_dag,
                                  lambda: nn.Sequential(SharedBlocks(), Subset(4, 4)), _cycle],
                         ids=["shared", "shared-and-tied", "lazy", "own-traversal", "cycle"])
def test_parameter_counts_of_shared_modules_are_what_parameters_gives(make):
    """Every module ``modules()`` lists is counted as ``parameters()`` counts it, or
    left out (counted as it runs): only those holding a lazy parameter, those above a
    class that finds its parameters its own way, and those on a cycle."""
    model = make()
    modules = list(model.modules())
    counts = parameter_counts(modules)
    for each in modules:
        if id(each) in counts:
            assert counts[id(each)] == _torch_counted(each), type(each).__name__
    left_out = [each for each in modules if id(each) not in counts]
    assert all(_torch_counted(each) is None or any(isinstance(m, Subset) for m in each.modules())
               or model in list(each.modules()) for each in left_out)
    if make is SharedBlocks:
        assert not left_out


def test_a_traced_model_with_shared_modules_records_parameters_counts():
    """NHITS's shape: each call's ``num_params`` is that of its module's ``parameters()``."""
    model = SharedBlocks()
    with shapetrace.trace(model) as t:
        for block in model.blocks:
            block(torch.randn(2, 4))
        model.left(torch.randn(2, 4))
        model.right(torch.randn(2, 4))
    by_name = dict(model.named_modules())
    assert len(t.modules) == 15
    assert all(call.params == sum(p.numel() for p in by_name[call.name].parameters()) for call in t.modules)


class _Proxy:
    """An object that says it is an int (``__class__``), as a proxy does, and one that
    answers through a ``__getattribute__`` of its own (Hugging Face's configs do)."""

    __class__ = int  # type: ignore[assignment]


class _Config:
    def __getattribute__(self, name):
        return object.__getattribute__(self, name)


class _Tuple(tuple):
    pass


def test_module_config_takes_what_isinstance_takes():
    """The config's filter answers as ``isinstance(value, (bool, int, float, str, None))``
    (or a tuple of those) for every kind of value, asking a class for ``__class__`` once."""
    module = nn.Linear(2, 2)
    values = {"flag": True, "size": 3, "rate": 0.5, "name": "x", "none": None, "sizes": (1, 2), "mixed": (1, [2]),
              "sub": _Tuple((1, 2)), "proxy": _Proxy(), "config": _Config(), "listed": [1], "enum": torch.float32}
    for key, value in values.items():
        setattr(module, key, value)
    config = module_config(module)
    plain = (bool, int, float, str, type(None))
    expected = {key for key, value in values.items() if isinstance(value, plain)
                or (isinstance(value, tuple) and all(isinstance(v, plain) for v in value))}
    assert {key for key in values if key in config} == expected == {
        "flag", "size", "rate", "name", "none", "sizes", "sub", "proxy"}


def test_module_config_keeps_public_plain_attributes_in_order():
    lstm = nn.LSTM(3, 4, batch_first=True)
    lstm.note = ("a", 1)
    lstm._private = 3
    lstm.table = {"a": 1}
    config = module_config(lstm)
    assert list(config)[:3] == ["mode", "input_size", "hidden_size"]
    assert config["batch_first"] is True and config["note"] == ("a", 1)
    assert "_private" not in config and "table" not in config and "training" not in config


# ------------------------------------------- ops inside PyTorch's transformer layers (issue 18)
def test_an_encoder_in_eval_mode_keeps_its_fused_path_inside_a_traced_transformer(fused_calls):
    """nn.Transformer's own forward has no fast path, so its ops are recorded;
    its encoder, in eval mode under inference_mode, still runs fused, with no
    mode active inside."""
    torch.manual_seed(0)
    model = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=1,
                           dim_feedforward=64, batch_first=True).eval()
    model.encoder.enable_nested_tensor = False
    src, tgt = torch.randn(3, 7, 32), torch.randn(3, 5, 32)
    with torch.inference_mode():
        plain = model(src, tgt)
        fused_untraced = len(fused_calls)
        with shapetrace.trace(model) as t:
            traced = model(src, tgt)
    assert fused_untraced == 2 and fused_calls == [0, 0, 0, 0]
    assert torch.equal(plain, traced)
    decoder_layer = t["decoder.layers.0"]
    assert [c.name for c in decoder_layer.children if c.kind == "op"].count("add") == 3  # the residuals


def test_a_transformer_layer_in_training_records_its_residual_adds(fused_calls):
    """Training mode rules the fused path out (PyTorch says "training is
    enabled"): the layer's adds are recorded, and the output is the same."""
    model, x = encoder(), torch.randn(3, 7, 32)
    model.train()
    torch.manual_seed(1)
    plain = model(x)
    torch.manual_seed(1)
    with shapetrace.trace(model) as t:
        traced = model(x)
    assert torch.equal(plain, traced) and fused_calls == []
    layer = t["layers.0"]
    assert [c.name for c in layer.children if c.kind == "op"].count("add") == 2
    norm1, norm2 = f"c{t['layers.0.norm1'].id}", f"c{t['layers.0.norm2'].id}"
    source = t.graph().source
    assert f"{norm1} -> {norm2}" in source  # the residual: norm1's output reaches norm2 through an add
    assert "matched by shape" not in source
