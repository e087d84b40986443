"""Reports of real training scripts in sections: one per top-level model (most
parameters first), with the loss that reads its output; data transforms that are
nn.Modules called in the DataLoader folded after the models, one entry each with
how many times they ran. Scripts: tests/real_scripts/ (pytorch/examples' mnist
and dcgan, re-written small with synthetic data)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.record.script import run_script
from shapetrace.render.report import make_console, report, summary_line
from shapetrace.render.sections import split_sections
from shapetrace.render.table import table_rows
from tests.case_support import REAL_SCRIPTS, traced_real_script

SCRIPTS = REAL_SCRIPTS


def _script_module(name: str):
    """The script imported as a module (its constants and classes; main() not run)."""
    spec = importlib.util.spec_from_file_location(f"real_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mnist() -> shapetrace.Trace:
    return traced_real_script("mnist_small")


@pytest.fixture(scope="module")
def gan() -> shapetrace.Trace:
    return traced_real_script("gan_small")


def _text(renderable, width: int = 200) -> str:
    out = io.StringIO()
    make_console(out, width=width, color=False).print(renderable)
    return out.getvalue()


def test_mnist_the_model_first_the_transform_folded_after_it(mnist) -> None:
    script = _script_module("mnist_small")
    ran = script.TRAIN_IMAGES * script.EPOCHS + script.TEST_IMAGES  # Normalize runs once per image loaded
    parts = split_sections(mnist)
    assert [(s.model.type, s.num_params) for s in parts.models] == [
        ("Net", sum(p.numel() for p in script.Net().parameters()))
    ]
    # Both passes of the model (train batches of 8, the test batch of 12) and the loss are its section.
    net = parts.models[0]
    assert [(c.kind, c.type) for c in net.roots] == [("module", "Net"), ("op", "F.nll_loss"), ("module", "Net")]
    assert [(t.type, t.count) for t in parts.transforms] == [("Normalize", ran)]

    text = _text(report(mnist))
    lines = text.splitlines()
    assert lines[0].startswith(f"shapetrace Net (also data transform Normalize ×{ran}): "), lines[0]
    row = [i for i, line in enumerate(lines) if line.startswith(f"Normalize ×{ran} (data transform)")]
    assert len(row) == 1 and "(1, 12, 12)" in lines[row[0]]
    model_rows = [i for i, line in enumerate(lines) if "model." in line or line.startswith("model: Net")]
    assert model_rows and max(model_rows) < row[0]  # not interleaved: every model row above it
    assert ".sub(" not in text and ".div(" not in text  # folded: the transform's own ops are not rows


def test_mnist_tree_source_and_json_follow_the_sections(mnist) -> None:
    ran = split_sections(mnist).transforms[0].count
    tree = _text(mnist.tree(ops=True)).splitlines()
    assert tree[0].startswith("model: Net")
    assert tree[-2] == f"Normalize ×{ran} (data transform)" and tree[-1].strip() == "(1, 12, 12) → (1, 12, 12)"
    source = str(mnist.annotate())
    headers = [line for line in source.splitlines() if line.startswith("# ")]
    assert headers[0].startswith("# Net.forward (model, 2 calls)")
    assert headers[-1].startswith(f"# Normalize.forward (data transform ×{ran})")
    # A saved trace keeps what a call ran in: loaded back, it has the same sections.
    loaded = shapetrace.load(mnist.to_json())
    again = split_sections(loaded)
    assert [(s.model.type, [c.id for c in s.roots]) for s in again.models] == [
        (s.model.type, [c.id for c in s.roots]) for s in split_sections(mnist).models
    ]
    assert [(t.type, t.count) for t in again.transforms] == [("Normalize", ran)]


def test_json_output_lists_the_sections(tmp_path) -> None:
    from shapetrace.cli.app import main

    out = tmp_path / "gan.json"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(SCRIPTS / "gan_small.py"), "-o", str(out)]) == 0
    document = json.loads(out.read_text())
    sections = document["sections"]
    calls = {call["id"]: call for call in document["calls"]}
    assert [m["type"] for m in sections["models"]] == ["Generator", "Discriminator"]
    assert [(t["type"], t["count"]) for t in sections["data_transforms"]] == [("Normalize", 12)]
    for model in sections["models"]:
        assert all(calls[i]["parent"] is None for i in model["calls"])
    listed = [i for m in sections["models"] for i in m["calls"]] + sections["data_transforms"][0]["calls"]
    assert sorted(listed) == sorted(i for i, call in calls.items() if call["parent"] is None)


def test_gan_two_models_by_parameters_the_loss_with_the_model_it_reads(gan) -> None:
    script = _script_module("gan_small")
    sizes = {kind: sum(p.numel() for p in getattr(script, kind)().parameters())
             for kind in ("Generator", "Discriminator")}
    assert sizes["Generator"] > sizes["Discriminator"]  # the generator ran second: order is by parameters
    parts = split_sections(gan)
    assert [(s.model.type, s.num_params) for s in parts.models] == [
        ("Generator", sizes["Generator"]), ("Discriminator", sizes["Discriminator"])
    ]
    # (the label, torch.full, made the loss's target outside the model: record/before_pass.py)
    assert [c.type for c in parts.models[1].roots] == ["Discriminator", "torch.full", "BCELoss"]
    assert [(t.type, t.count) for t in parts.transforms] == [("Normalize", 12)]  # 12 images, one epoch
    first = summary_line(gan).plain
    assert first.startswith("shapetrace Generator (also Discriminator; data transform Normalize ×12): "), first
    lines = _text(report(gan)).splitlines()
    starts = [next(i for i, line in enumerate(lines) if line.startswith(p))
              for p in ("generator: Generator", "discriminator: Discriminator", "criterion: BCELoss",
                        "Normalize ×12 (data transform)")]
    assert starts == sorted(starts)
    # One section per model: no generator row inside the discriminator's, nor the reverse.
    assert all("discriminator" not in line for line in lines[starts[0]:starts[1]])
    assert all("generator" not in line for line in lines[starts[1]:starts[3]])


TRANSFORM_IN_THE_LOOP = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Normalize(nn.Module):
    def forward(self, x):
        return (x - 0.5) / 0.25


model, normalize = nn.Linear(6, 2), Normalize()
for (x,) in DataLoader(TensorDataset(torch.rand(8, 6)), batch_size=4):
    model(normalize(x))
'''


def test_a_module_outside_the_loader_is_not_a_data_transform(tmp_path) -> None:
    script = tmp_path / "loop.py"
    script.write_text(TRANSFORM_IN_THE_LOOP)
    run = run_script(str(script))
    parts = split_sections(run.trace)
    assert parts.transforms == ()
    # It makes the model's input: the model's section holds it, before the model.
    assert [c.type for c in parts.models[0].roots] == ["Normalize", "Linear"]


def test_api_trace_sections_follow_the_tensors() -> None:
    class Normalize(nn.Module):
        def forward(self, image):
            return (image - 0.5) / 0.25

    net, normalize, loss = nn.Linear(12, 3), Normalize(), nn.MSELoss()
    other = nn.Linear(3, 3)
    with shapetrace.trace() as t:
        batch = torch.stack([normalize(image) for image in torch.rand(4, 12)])
        out = net(batch)
        loss(other(out.detach().clone()), out)
    parts = split_sections(t)
    # No DataLoader flags under the API: Normalize makes Linear's input, so it sits in its section.
    assert parts.transforms == ()
    assert [s.num_params for s in parts.models] == [39, 12]
    assert [c.type for c in parts.models[1].roots] == ["Linear", "MSELoss"]  # the loss reads other's output
    first = [c.type for c in parts.models[0].roots if c.kind == "module"]
    assert first[:4] == ["Normalize"] * 4 and first[4] == "Linear"


def test_the_html_report_shows_the_sections(mnist) -> None:
    from shapetrace.render.html_report import html_report

    page = html_report(mnist, graph=False)
    ran = split_sections(mnist).transforms[0].count
    assert f'<b>Normalize</b> <span class="dim">×{ran} (data transform)</span>' in page
    normalize = page.index("<b>Normalize</b>")
    # each pass of the model is in a row above: its own, or the first pass's that folds it
    row_of = {call.id: row[0].id for row in table_rows(mnist) for call in row}
    assert all(page.index(f'id="call-{row_of[call.id]}"') < normalize for call in split_sections(mnist).models[0].roots)
    assert f"also data transform Normalize ×{ran}" in page


def test_the_note_on_ops_outside_the_model_gives_each_files_lines(tmp_path, monkeypatch) -> None:
    """Ops outside the model that made a pass's input in two files (the script's, and a
    helper module's, as generate() runs its own in transformers' files): the note gives
    each file's lines, where it used to give one range across both ("lines 3-5"
    for lines 5 of one file and 3 of another)."""
    from shapetrace.render.sections import before_note

    (tmp_path / "prep.py").write_text("def windows(series):\n    return series.unfold(0, 4, 2)\n")
    script = tmp_path / "train.py"
    script.write_text(
        "import sys\nimport torch\nsys.path.insert(0, sys.argv[1])\nfrom prep import windows\n"
        "x = torch.arange(12.0)\nmodel = torch.nn.Linear(4, 2)\nmodel(windows(x * 2))\n"
    )
    monkeypatch.chdir(tmp_path)  # (the files are named relative to the working directory)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_script(str(script), [str(tmp_path)])
    assert run.error is None
    note = before_note(run.trace)
    assert note == (
        "3 ops at lines 5-7 of train.py, line 2 of prep.py made what the passes read (--format tree shows them)"
    )
