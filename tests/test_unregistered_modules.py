"""Modules a model calls that are not its own: built in the forward
(``nn.MaxPool1d(2)(h)``, ``nn.Flatten()(x)``) or held where ``nn.Module`` does not
register them (a plain list of layers). Under ``trace(model)`` they were neither
recorded nor their ops: the table jumped from ``unsqueeze`` to ``squeeze``, the
graph drew that as one edge, and no check saw them. They are recorded as the
script runner records them, ``<MaxPool1d>`` or ``<layers[0]>`` under their caller, with the same
results as untraced and the graph's edges running through them."""

from __future__ import annotations

import torch
from torch import nn

import shapetrace
from tests.graph_check import check_graph


class BuiltInForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        h = nn.MaxPool1d(2)(torch.relu(self.conv(x)))
        return self.fc(nn.Flatten()(h))


class LayersInAList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = [nn.Linear(8, 8), nn.Linear(8, 4)]  # not registered: the classic mistake
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.out(x)


def _modules(trace: shapetrace.Trace) -> list[tuple[str, str, list, list]]:
    return [
        (c.name, c.type, [m.shape for m in c.inputs], [m.shape for m in c.outputs])
        for c in trace.calls
        if c.kind == "module"
    ]


def test_modules_built_in_the_forward_are_recorded_with_their_shapes() -> None:
    torch.manual_seed(0)
    model, x = BuiltInForward(), torch.randn(5, 2, 10)
    expected = model(x)
    with shapetrace.trace(model) as t:
        got = model(x)
    assert torch.equal(got, expected)
    assert _modules(t) == [
        ("", "BuiltInForward", [(5, 2, 10)], [(5, 3)]),
        ("conv", "Conv1d", [(5, 2, 10)], [(5, 4, 8)]),
        ("<MaxPool1d>", "MaxPool1d", [(5, 4, 8)], [(5, 4, 4)]),
        ("<Flatten>", "Flatten", [(5, 4, 4)], [(5, 16)]),
        ("fc", "Linear", [(5, 16)], [(5, 3)]),
    ]


def test_the_graph_runs_through_modules_built_in_the_forward() -> None:
    model = BuiltInForward()
    with shapetrace.trace(model) as t:
        model(torch.randn(5, 2, 10))
    graph = check_graph(t, t.graph().source, what="built in forward")
    pool = next(c for c in t.calls if c.type == "MaxPool1d")
    conv = next(c for c in t.calls if c.type == "Conv1d")
    flatten = next(c for c in t.calls if c.type == "Flatten")
    edges = {(tail, head) for tail, head, _, _ in graph.edges}
    assert (f"c{conv.id}", f"c{pool.id}") in edges  # (through the relu, drawn on the edge)
    assert (f"c{pool.id}", f"c{flatten.id}") in edges


def test_layers_held_in_a_plain_list_show_with_their_parameters() -> None:
    model, x = LayersInAList(), torch.randn(3, 8)
    with shapetrace.trace(model) as t:
        model(x)
    calls = [c for c in t.calls if c.kind == "module"]
    assert [(c.name, c.type) for c in calls] == [
        ("", "LayersInAList"),
        ("<layers[0]>", "Linear"),
        ("<layers[1]>", "Linear"),
        ("out", "Linear"),
    ]
    # The model's count is what model.parameters() holds (its optimizer's); the two
    # layers it never registered show theirs, 72 and 36, on their own rows.
    assert calls[0].num_params == sum(p.numel() for p in model.parameters()) == 10
    assert [c.num_params for c in calls[1:3]] == [72, 36]


def test_a_built_in_layer_built_in_the_forward_keeps_its_fast_path() -> None:
    """An ``nn.TransformerEncoderLayer`` built in an eval forward under inference
    mode runs PyTorch's fused kernel (its results differ from the Python path in the
    last bits): traced, the results are the same bits."""

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True).eval()

        def forward(self, x):
            borrowed = nn.Identity()  # a module the model does not own, called on the way
            return self.layer(borrowed(x))

    model, x = Encoder().eval(), torch.randn(2, 5, 16)
    with torch.inference_mode():
        expected = model(x)
        with shapetrace.trace(model) as t:
            got = model(x)
    assert torch.equal(got, expected)
    assert [c.type for c in t.calls if c.kind == "module"][:3] == ["Encoder", "Identity", "TransformerEncoderLayer"]


def test_a_layer_of_the_model_with_a_hook_of_the_users_is_recorded_once() -> None:
    """Such a layer is recorded by hooks of its own (run after the user's), not by the
    global ones: it is no module "the model does not own", recorded a second time."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    seen = []
    model[1].register_forward_hook(lambda module, args, output: seen.append(output.shape))
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 2))
    names = [(c.name, c.type) for c in t.modules]
    assert names == [("", "Sequential"), ("0", "Linear"), ("1", "ReLU"), ("2", "Linear")]
    assert seen == [(3, 2)]


def test_a_parameterless_module_on_the_models_output_is_recorded_as_its_function_is() -> None:
    """At the top level of the traced block, ``nn.Softmax(dim=0)(out)`` is recorded as
    ``F.softmax(out, dim=0)`` is, and checked alike (ST019: over the batch); another
    model, with parameters of its own, is not the one traced and stays out."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    critic = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())  # not traced, nor its parts
    found = {}
    for form in ("module", "function"):
        with shapetrace.trace(model) as t:
            for step in range(4):
                out = model(torch.randn(5, 4))
                dim = 1 if step < 2 else 0
                p = nn.Softmax(dim=dim)(out) if form == "module" else torch.softmax(out, dim=dim)
                critic(p)
                nn.NLLLoss()(torch.log(p), torch.randint(0, 3, (5,)))
        found[form] = [(f.code, t.calls[f.call_id].location.lineno) for f in t.findings if f.severity != "info"]
        roots = [c.type for c in t.calls if c.kind == "module" and c.parent is None]
        assert roots == (["Sequential", "Softmax", "NLLLoss"] if form == "module" else ["Sequential", "NLLLoss"]) * 4
        assert not {"Tanh", "Sigmoid"} & {c.type for c in t.calls}
    assert found["module"] == found["function"] == [("ST019", found["function"][0][1])]


def test_a_parameterless_model_with_a_hook_of_the_users_is_recorded_once() -> None:
    """The traced model itself, without parameters and with a hook of the user's, is
    recorded by hooks of its own: not adopted at the top level as a module "without
    parameters the user's code calls" (the fuzz run's reused block of ops)."""

    class Ops(nn.Module):
        def forward(self, x):
            return torch.relu(x) + 1

    model = Ops()
    model.register_forward_pre_hook(lambda module, args: None)
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    assert [c.name for c in t.modules] == [""]
