"""A script's models of PyTorch's own modules, and models beside others.

They are named by the variables that hold them where the script calls them
(``record/module_owners.variable_name``): a GAN's two ``nn.Sequential`` are ``G``
and ``D``'s, not ``sequential`` and ``sequential_1``; a copy of the model kept for
evaluation is ``ema``, not ``net_1``. The first model to run stays the root ("",
its rows ``0: Linear``), as under ``trace(model)``. With no forward of the user's
to annotate, ``-f source`` annotates the script's lines that called them."""

from __future__ import annotations

from shapetrace.cli.app import main
from shapetrace.record.script import run_script
from shapetrace.render.report import summary_line
from shapetrace.render.sections import split_sections
from tests.render_support import plain_text

GAN = """
import torch
from torch import nn

torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 6))
D = nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Sigmoid())
criterion = nn.BCELoss()
for step in range(3):
    real = torch.rand(5, 6)
    d_real = criterion(D(real).view(-1), torch.ones(5))
    fake = G(torch.randn(5, 4))
    d_fake = criterion(D(fake.detach()).view(-1), torch.zeros(5))
"""

COPIES = """
import copy
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


class Trainer:
    def __init__(self, net):
        self.net = net
        self.ema = copy.deepcopy(net)

    def step(self, x):
        self.net(x)
        with torch.no_grad():
            return self.ema(x)


def build():
    return Net()


trainer = Trainer(Net())
trainer.step(torch.randn(4, 3))
build()(torch.randn(4, 3))
for model in [Net(), Net()]:
    model(torch.randn(2, 3))
"""


def _run(tmp_path, source: str):
    path = tmp_path / "script.py"
    path.write_text(source)
    run = run_script(str(path))
    assert run.exit_code == 0
    return run.trace


def _module_names(trace) -> list[tuple[str, str]]:
    return list(dict.fromkeys((c.name, c.type) for c in trace.modules if c.parent_id is None))


def test_a_gans_two_sequentials_are_named_by_their_variables(tmp_path) -> None:
    trace = _run(tmp_path, GAN)
    assert _module_names(trace) == [("", "Sequential"), ("criterion", "BCELoss"), ("G", "Sequential")]
    assert [c.name for c in trace.modules if c.name.startswith("G.")][:3] == ["G.0", "G.1", "G.2"]
    # G has more parameters: its section comes first, and the titles tell the two apart.
    assert [s.title for s in split_sections(trace).models] == ["G: Sequential", "Sequential"]
    assert summary_line(trace).plain.startswith("shapetrace G: Sequential (also Sequential): ")
    table = plain_text(trace.table(), width=120)
    assert "G: Sequential" in table and "G.0: Linear" in table
    assert "sequential:" not in table and "sequential." not in table


def test_copies_and_models_made_in_an_expression_are_named_as_the_script_holds_them(tmp_path) -> None:
    trace = _run(tmp_path, COPIES)
    # The trainer's model is the root; its EMA copy is named by the trainer's attribute;
    # a model called straight from `build()` has no name of the script's (its class's);
    # one variable bound to two models in turn names both, the second with a suffix.
    assert _module_names(trace) == [("", "Net"), ("ema", "Net"), ("net", "Net"), ("model", "Net"), ("model_1", "Net")]
    # Where one type has several models, the titles carry the names; the root has none.
    assert sorted(s.title for s in split_sections(trace).models) == [
        "Net", "ema: Net", "model: Net", "model_1: Net", "net: Net"
    ]


def test_source_of_a_script_whose_models_are_all_pytorchs_annotates_the_calling_lines(tmp_path, capsys) -> None:
    path = tmp_path / "gan.py"
    path.write_text(GAN + "raise SystemExit(4)\n")
    assert main(["run", "-f", "source", str(path)]) == 4  # the script's own exit code
    out = capsys.readouterr().out
    lines = GAN.splitlines()
    first = next(n for n, line in enumerate(lines, 1) if line.startswith("    d_real ="))
    assert f"# Sequential (root) and G, called from your code · {path.name}:{first}" in out.replace(
        str(tmp_path) + "/", ""
    ), out
    by_code = {line.split("#")[0].strip(): line.split("#", 1)[1].strip() for line in out.splitlines() if "  # " in line}
    assert by_code["d_real = criterion(D(real).view(-1), torch.ones(5))"] == "input (5,), target (5,) -> d_real ()"
    assert by_code["fake = G(torch.randn(5, 4))"] == "fake (5, 6)"


PARAMETRIZED = """
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

head = spectral_norm(nn.Linear(4, 3))  # computes its weight as it registers


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = weight_norm(nn.Linear(6, 4))  # the same, inside the model's __init__

    def forward(self, x):
        return self.fc(x).relu()


net = Net()
for _ in range(2):
    out = head(net(torch.randn(5, 6)))
    print(tuple(out.shape), head.weight.detach().norm().item() > 0)  # reading the weight runs it too
"""


def test_a_parametrization_computing_a_weight_outside_a_forward_is_no_model(tmp_path) -> None:
    """``spectral_norm``/``weight_norm`` compute the weight as they register it, before
    the layer is any model's part: that call took the root's name and its own section
    (``shapetrace Net (also ParametrizationList)``), and the model's later calls of it
    read ``: ParametrizationList #2``. Only the forwards' calls of it are recorded."""
    trace = _run(tmp_path, PARAMETRIZED)
    assert _module_names(trace) == [("", "Net"), ("head", "ParametrizedLinear")]
    assert [s.title for s in split_sections(trace).models] == ["Net", "ParametrizedLinear"]
    lists = [c.name for c in trace.modules if c.type == "ParametrizationList"]
    assert lists == ["fc.parametrizations.weight", "head.parametrizations.weight"]


def test_naming_a_model_keeps_none_of_the_callers_locals_alive() -> None:
    """The name is read from the calling line's source, not the caller's ``f_locals``:
    on Python 3.11 that snapshot holds every local of the frame (a batch the loop
    deletes) for as long as the frame runs."""
    import weakref

    import torch
    from torch import nn

    import shapetrace

    def train() -> tuple[bool, str]:
        first = nn.Linear(3, 2)
        first(torch.randn(2, 3))  # the root
        batch = torch.randn(2, 3)
        kept = weakref.ref(batch)
        second = nn.Linear(3, 2)
        second(batch)  # named here, while `batch` is a local
        del batch
        return kept() is None, t.module_names()[-1]

    with shapetrace.trace() as t:
        freed, name = train()
    assert name == "second"
    assert freed


TRAINER = """
import weakref
import torch
from torch import nn


class Trainer:
    def __init__(self, model):
        self.model = model

    def fit(self, batches):
        kept = []
        for step in range(batches):
            batch = torch.randn(4, 3)
            kept.append(weakref.ref(batch))
            self.model(batch)
            del batch
        return [ref() is None for ref in kept]


print(Trainer(nn.Linear(3, 2)).fit(3))
"""


def test_a_trainers_loop_keeps_no_batch_alive(tmp_path, capsys) -> None:
    """Naming the model its trainer calls reads no locals of the trainer's ``fit``
    (Python 3.11's ``f_locals`` snapshot kept its first batch alive to the end)."""
    path = tmp_path / "trainer.py"
    path.write_text(TRAINER)
    assert run_script(str(path)).exit_code == 0
    assert capsys.readouterr().out.strip() == "[True, True, True]"


PART_FIRST = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ConstantPad1d((0, 2), 0.0)
        self.fc = nn.Linear(5, 2)

    def windows(self, x):
        return self.pad(x)

    def forward(self, x):
        return self.fc(x)


def step(model, x):
    w = model.windows(x)  # a part runs first, through a method of the model that is no forward
    return model(w)


nn.Linear(3, 3)(torch.randn(1, 3))  # the root
step(Net(), torch.randn(4, 3))
"""


def test_a_model_named_for_its_part_is_not_named_after_the_method_that_ran_it(tmp_path) -> None:
    """neuralforecast's ``self._create_windows(batch)`` runs the model's padder before the
    model: the model, named as the part's owner, read ``_create_windows: TFT``."""
    trace = _run(tmp_path, PART_FIRST)
    assert _module_names(trace) == [("", "Linear"), ("net.pad", "ConstantPad1d"), ("net", "Net")]
