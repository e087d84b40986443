"""ST024: a layer with parameters that the model calls but never registered.

Each buggy model here trains and runs with the right shapes; the layers it keeps
in a plain list or dict, or builds in its forward, are missing from
``model.parameters()``, so an optimizer built from it leaves their weights as
they were: each test checks that first. Each help is applied to the model's
source: the finding goes, and the optimizer then updates those weights."""

from __future__ import annotations

import importlib.util
import re
import textwrap

import pytest
import torch

import shapetrace

HEADER = """
import torch
from torch import nn
"""

IN_A_LIST = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 16), nn.Linear(16, 16)]
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.out(x)


def trained_layers(model):
    return list(model.layers)
"""

IN_NESTED_LISTS = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = [[nn.Linear(6, 16), nn.Linear(16, 16)], [nn.Linear(16, 16)]]
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        for stage in self.stages:
            for layer in stage:
                x = torch.relu(layer(x))
        return self.head(x)


def trained_layers(model):
    return [layer for stage in model.stages for layer in stage]
"""

IN_A_DICT = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 16)
        self.heads = {"price": nn.Linear(16, 1), "volume": nn.Linear(16, 1)}

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.heads["price"](h) + self.heads["volume"](h)


def trained_layers(model):
    return list(model.heads.values())
"""

BUILT_IN_FORWARD = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 16)

    def forward(self, x):
        return nn.Linear(16, 1)(torch.relu(self.body(x)))
"""


def load(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_step(model) -> None:
    """One step of the usual loop: the optimizer built from model.parameters()."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = (model(torch.randn(8, 6)) - 1).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def traced(model) -> shapetrace.Trace:
    with shapetrace.trace(model) as t:
        train_step(model)
    return t


def st024(t: shapetrace.Trace) -> list:
    return [f for f in t.findings if f.code == "ST024"]


def updated(model, layers) -> bool:
    """Whether one training step changes the weights of ``layers``."""
    before = [layer.weight.detach().clone() for layer in layers]
    train_step(model)
    return any(not torch.equal(old, layer.weight) for old, layer in zip(before, layers))


def with_container(help_text: str, source: str) -> str:
    """The source with the help's line written in, its ``[...]`` or ``{...}`` being what
    the plain container held (``self.layers = nn.ModuleList([...])``)."""
    code = help_text.split(": ", 1)[1]
    attribute = re.match(r"self\.(\w+) = ", code).group(1)
    line = re.search(rf"self\.{attribute} = (.*)\n", source)
    written = code.replace("[...]", line.group(1)).replace("{...}", line.group(1))
    return source.replace(line.group(0), written + "\n")


@pytest.mark.parametrize(
    ("name", "source", "hint", "words"),
    [
        (
            "in_nested_lists",
            IN_NESTED_LISTS,
            "hold them in nested nn.ModuleLists: self.stages = nn.ModuleList(nn.ModuleList(inner) for inner in [...])",
            "Model calls 3 layers (Linear, 656 parameters) at line 14 that it keeps in a plain list of lists "
            "`self.stages`",
        ),
        (
            "in_a_list",
            IN_A_LIST,
            "hold them in nn.ModuleList: self.layers = nn.ModuleList([...])",
            "Model calls 2 layers (Linear, 384 parameters) at line 13 that it keeps in a plain list `self.layers`",
        ),
        (
            "in_a_dict",
            IN_A_DICT,
            "hold them in nn.ModuleDict: self.heads = nn.ModuleDict({...})",
            "Model calls 2 layers (Linear, 34 parameters) at line 13 that it keeps in a plain dict `self.heads`",
        ),
    ],
)
def test_layers_in_a_plain_container_are_found_and_the_help_registers_them(tmp_path, name, source, hint, words):
    module = load(tmp_path, name, textwrap.dedent(source))
    torch.manual_seed(0)
    model = module.Model()
    assert not updated(model, module.trained_layers(model))  # the bug is real: never trained
    [found] = st024(traced(model))
    assert found.severity == "warning" and found.hint == hint
    assert found.message.startswith(words), found.message
    assert "model.parameters() leaves them out" in found.message
    fixed = load(tmp_path, f"{name}_fixed", with_container(found.hint, textwrap.dedent(source)))
    model = fixed.Model()
    assert not [f for f in traced(model).findings if f.severity != "info"]
    assert updated(model, fixed.trained_layers(model))


def test_a_layer_built_in_the_forward_is_found_and_the_help_builds_it_once(tmp_path):
    module = load(tmp_path, "built", textwrap.dedent(BUILT_IN_FORWARD))
    t = traced(module.Model())
    [found] = st024(t)
    assert found.message.startswith("Linear at line 11 (17 parameters) is built in the forward")
    assert "its weights are also initialized anew at every call" in found.message
    assert found.hint == "build it once in __init__ (self.linear = nn.Linear(...)) and call self.linear in the forward"
    # The help applied: the layer built once, as an attribute, with the arguments it was built with.
    source = textwrap.dedent(BUILT_IN_FORWARD).replace(
        "self.body = nn.Linear(6, 16)\n", "self.body = nn.Linear(6, 16)\n        self.linear = nn.Linear(16, 1)\n"
    )
    fixed = load(tmp_path, "built_fixed", source.replace("nn.Linear(16, 1)(torch", "self.linear(torch"))
    model = fixed.Model()
    assert not [f for f in traced(model).findings if f.severity != "info"]
    assert updated(model, [model.linear])


FROZEN_IN_A_LIST = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        extractor = nn.Linear(6, 16).requires_grad_(False)
        self._frozen = [extractor]  # kept out of parameters() on purpose
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self._frozen[0](x))
"""

TEACHER_UNDER_NO_GRAD = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = nn.Linear(6, 1)
        self.__dict__["teacher"] = nn.Linear(6, 1)  # not registered, on purpose

    def forward(self, x):
        with torch.no_grad():
            target = self.teacher(x)
        return self.student(x) - target
"""

REGISTERED_IN_THE_FORWARD = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 16)

    def forward(self, x):
        h = torch.relu(self.body(x))
        if not hasattr(self, "head"):
            self.head = nn.Linear(h.shape[-1], 1)  # registered: setattr of a module
        return self.head(h)
"""

PARAMETERLESS_IN_THE_FORWARD = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        h = nn.MaxPool1d(2)(nn.ReLU()(self.conv(x.unsqueeze(1))))
        return self.fc(nn.Flatten()(h))
"""


@pytest.mark.parametrize(
    "source", [FROZEN_IN_A_LIST, TEACHER_UNDER_NO_GRAD, REGISTERED_IN_THE_FORWARD, PARAMETERLESS_IN_THE_FORWARD]
)
def test_correct_models_are_not_flagged(tmp_path, source):
    module = load(tmp_path, "correct", textwrap.dedent(source))
    t = traced(module.Model())
    assert st024(t) == []
    assert not [f for f in t.findings if f.severity != "info"]


def test_a_layer_registered_in_the_forward_keeps_its_attribute_name(tmp_path):
    module = load(tmp_path, "lazy", textwrap.dedent(REGISTERED_IN_THE_FORWARD))
    t = traced(module.Model())
    assert [c.name for c in t.calls if c.kind == "module"] == ["", "body", "head"]


def test_the_table_names_a_layer_by_where_the_model_keeps_it(tmp_path):
    module = load(tmp_path, "listed", textwrap.dedent(IN_A_LIST))
    t = traced(module.Model())
    assert [(c.name, c.type, c.num_params) for c in t.calls if c.kind == "module"] == [
        ("", "Model", 17),
        ("<layers[0]>", "Linear", 112),
        ("<layers[1]>", "Linear", 272),
        ("out", "Linear", 17),
    ]


def test_the_device_error_it_causes_is_explained_by_it(tmp_path):
    """``model.to(device)`` moves the registered layers only: the first unregistered one
    raises PyTorch's device error, which the note explains by ST024, not by ST008's
    "move the model" (the model was moved). ``meta`` stands in for the GPU here."""
    module = load(tmp_path, "moved", textwrap.dedent(IN_A_LIST))
    model = module.Model().to("meta")
    with pytest.raises(RuntimeError, match="device") as raised, shapetrace.trace(model) as t:
        model(torch.randn(4, 6, device="meta"))
    assert [f.code for f in t.findings if f.severity != "info"] == ["ST024"]
    [note] = raised.value.__notes__
    assert "explained by:\n    ST024 unregistered-layer" in note
    assert "device error at line 13: model.to(device) moved the registered layers only" in " ".join(note.split())
    fixed = load(tmp_path, "moved_fixed", with_container(st024(t)[0].hint, textwrap.dedent(IN_A_LIST)))
    model = fixed.Model().to("meta")
    assert model(torch.randn(4, 6, device="meta")).shape == (4, 1)


THROUGH_DICT = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = nn.Linear(6, 1)
        self.__dict__["teacher"] = nn.Linear(6, 1)

    def forward(self, x):
        return self.student(x) - self.teacher(x)
"""


def test_a_layer_set_through_dict_is_found_and_either_help_ends_it(tmp_path):
    module = load(tmp_path, "through_dict", textwrap.dedent(THROUGH_DICT))
    model = module.Model()
    assert not updated(model, [model.teacher])
    [found] = st024(traced(model))
    assert found.message.startswith("Model keeps `self.teacher` (Linear, 7 parameters) through `__dict__`")
    assert found.hint == (
        "register it (self.teacher = ..., not through __dict__); or, if it is not to be trained, "
        "freeze it: self.teacher.requires_grad_(False)"
    )
    written = 'self.__dict__["teacher"] = nn.Linear(6, 1)'
    registered = textwrap.dedent(THROUGH_DICT).replace(written, "self.teacher = nn.Linear(6, 1)")
    frozen = textwrap.dedent(THROUGH_DICT).replace(written, f"{written}\n        self.teacher.requires_grad_(False)")
    for name, source in (("registered", registered), ("frozen", frozen)):
        model = load(tmp_path, name, source).Model()
        assert not [f for f in traced(model).findings if f.severity != "info"], name
    model = load(tmp_path, "registered_again", registered).Model()
    assert updated(model, [model.teacher])


IN_A_TUPLE = IN_A_LIST.replace("[nn.Linear(6, 16), nn.Linear(16, 16)]", "(nn.Linear(6, 16), nn.Linear(16, 16))")


def test_a_tuple_is_called_a_tuple_and_the_help_registers_it(tmp_path):
    module = load(tmp_path, "tupled", textwrap.dedent(IN_A_TUPLE))
    [found] = st024(traced(module.Model()))
    assert "at line 13 that it keeps in a plain tuple `self.layers`, which registers nothing" in found.message
    fixed = load(tmp_path, "tupled_fixed", with_container(found.hint, textwrap.dedent(IN_A_TUPLE)))
    model = fixed.Model()
    assert st024(traced(model)) == [] and updated(model, fixed.trained_layers(model))


INT_KEYS = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 16)
        self.heads = {3: nn.Linear(16, 1), 7: nn.Linear(16, 1)}

    def forward(self, x, task=3):
        return self.heads[task](torch.relu(self.body(x)))


def trained_layers(model):
    return [model.heads[key] for key in (3, 7)]
"""


def test_a_dict_with_int_keys_gets_string_keys_in_its_help(tmp_path):
    module = load(tmp_path, "int_keys", textwrap.dedent(INT_KEYS))
    [found] = st024(traced(module.Model()))
    assert found.message.startswith("Model calls a layer (Linear, 17 parameters) at line 12 that it keeps in a plain")
    assert "a plain dict `self.heads`, which registers nothing" in found.message
    assert found.hint == (
        "hold them in nn.ModuleDict, whose keys are strings: self.heads = nn.ModuleDict({str(key): layer for key, "
        "layer in {...}.items()}), read as self.heads[str(key)]"
    )
    code, read = found.hint.split(": ", 1)[1].split(", read as ")
    source = with_container(f"x: {code}", textwrap.dedent(INT_KEYS))
    source = source.replace("self.heads[task]", "self.heads[str(task)]")
    assert read == "self.heads[str(key)]"
    fixed = load(tmp_path, "int_keys_fixed", source.replace("model.heads[key]", "model.heads[str(key)]"))
    model = fixed.Model()
    assert st024(traced(model)) == [] and updated(model, fixed.trained_layers(model)[:1])


CUSTOM_BUILT_IN_FORWARD = """
class Gated(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.gate = nn.Linear(width, width)

    def forward(self, h):
        return h * torch.sigmoid(self.gate(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 16)
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        return self.out(Gated(16)(torch.relu(self.body(x))))
"""


def test_a_class_of_the_users_built_in_the_forward_is_helped_without_nn(tmp_path):
    module = load(tmp_path, "gated", textwrap.dedent(CUSTOM_BUILT_IN_FORWARD))
    [found] = st024(traced(module.Model()))
    assert found.hint == "build it once in __init__ (self.gated = Gated(...)) and call self.gated in the forward"
    source = (
        textwrap.dedent(CUSTOM_BUILT_IN_FORWARD)
        .replace("self.out = nn.Linear(16, 1)\n", "self.out = nn.Linear(16, 1)\n        self.gated = Gated(16)\n")
        .replace("Gated(16)(torch", "self.gated(torch")
    )
    model = load(tmp_path, "gated_fixed", source).Model()
    assert st024(traced(model)) == [] and updated(model, [model.gated.gate])


PASSED_IN = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 16)
        self.out = nn.Linear(16, 1)

    def forward(self, x, adapter):
        h = torch.relu(self.body(x))
        return self.out(h + adapter(h))
"""


def test_a_layer_passed_to_the_forward_is_its_owners_to_register(tmp_path):
    """Per-task adapters kept (and trained) outside the model, passed in: no finding."""
    model = load(tmp_path, "passed", textwrap.dedent(PASSED_IN)).Model()
    adapters = torch.nn.ModuleDict({"a": torch.nn.Linear(16, 16), "b": torch.nn.Linear(16, 16)})
    with shapetrace.trace(model) as t:
        for task in ("a", "b"):
            model(torch.randn(4, 6), adapters[task]).sum().backward()
    assert st024(t) == [] and not [f for f in t.findings if f.severity != "info"]
    assert [c.name for c in t.modules][:4] == ["", "body", "<adapter>", "out"]


SHARED_WITH_THE_MODEL = """
class Head(nn.Module):
    def __init__(self, shared):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.extra = [shared]  # the model's proj, kept out of the head's parameters on purpose

    def forward(self, x):
        return self.fc(self.extra[0](x))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.head = Head(self.proj)
        scale = nn.Linear(4, 4)
        self.scale = scale
        self.tail = lambda h: scale(h)  # reached through a closure: registered as scale

    def forward(self, x):
        return self.tail(self.head(torch.relu(self.proj(x))))
"""


def test_a_layer_the_traced_part_shares_with_its_model_is_not_flagged(tmp_path):
    """``trace(model.head)`` of a head that reaches a layer its model registers (through a
    list, or a closure): the model's optimizer trains it, so no finding; the same head
    traced with a layer that no enclosing module registers is still flagged."""
    module = load(tmp_path, "shared", textwrap.dedent(SHARED_WITH_THE_MODEL))
    model = module.Model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.proj.weight.detach().clone()
    with shapetrace.trace(model.head) as t:
        model(torch.randn(3, 8)).sum().backward()
    optimizer.step()
    assert not torch.equal(model.proj.weight, before)  # it is trained: sharing it is no bug
    assert st024(t) == []
    assert "<extra[0]>" in [c.name.split(".")[-1] for c in t.modules]

    alone = module.Head(torch.nn.Linear(8, 8))
    with shapetrace.trace(alone) as t:
        alone(torch.randn(3, 8)).sum().backward()
    assert [f.location.code for f in st024(t)] == ["return self.fc(self.extra[0](x))"]
