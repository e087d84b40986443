"""Data transforms under ``with shapetrace.trace(model):`` (issue 18): a training
loop traced by the API iterates its DataLoader inside the block, and the dataset
calls nn.Module transforms (torchvision's Normalize is one) once per sample.
Those calls are told from the model by where they run (inside the DataLoader's
fetch), folded into one data-transform entry each with how many times they ran,
after the model, as ``shapetrace run`` shows them; the dataset's own indexing is
not recorded. With worker processes, the report says in one line that the
transforms ran there unrecorded, and the batches are recorded as always.
The loop: tests/real_scripts/mnist_small.py's model, dataset and transform."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

import shapetrace
from shapetrace.render.sections import split_sections
from tests.graph_check import check_graph

SCRIPT = Path(__file__).resolve().parent / "real_scripts" / "mnist_small.py"


def _mnist():
    spec = importlib.util.spec_from_file_location("real_script_mnist_small_api", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mnist = _mnist()


class Counting(nn.Module):
    """Counts its calls in a plain attribute (no hook: the count must not depend on tracing)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, image):
        self.calls += 1
        return self.inner(image)


def _train(*, traced: bool, model_arg: bool = True, num_workers: int = 0, images: int = 20, epochs: int = 2):
    """mnist_small's loop: batches of 8 (the last one short), Adadelta; returns the
    trace (or None), the losses, the trained weights and the transform."""
    torch.manual_seed(1)
    normalize = Counting(mnist.Normalize(0.1307, 0.3081))
    context = {"multiprocessing_context": "fork"} if num_workers else {}
    loader = DataLoader(mnist.Digits(images, normalize), batch_size=8, num_workers=num_workers, **context)
    model = mnist.Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    losses = []
    block = shapetrace.trace(model if model_arg else None) if traced else contextlib.nullcontext()
    with block as trace:
        for _ in range(epochs):
            for batch, labels in loader:
                optimizer.zero_grad()
                loss = F.nll_loss(model(batch), labels)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
    return trace, torch.stack(losses), model.state_dict(), normalize


def _walk(call):
    yield call
    for child in call.children:
        yield from _walk(child)


@pytest.mark.parametrize("model_arg", [True, False], ids=["trace(model)", "trace()"])
def test_a_transform_in_the_dataset_is_a_data_transform_after_the_model(model_arg) -> None:
    trace, losses, weights, normalize = _train(traced=True, model_arg=model_arg)
    _, plain_losses, plain_weights, _ = _train(traced=False)
    assert torch.equal(losses, plain_losses)  # tracing changed nothing the loop computed
    assert all(torch.equal(weights[k], plain_weights[k]) for k in weights)

    parts = split_sections(trace)
    assert [(s.model.type, s.num_params) for s in parts.models] == [
        ("Net", sum(p.numel() for p in mnist.Net().parameters()))
    ]
    # One entry, with the true number of calls (every image of both epochs), recorded once (one signature).
    assert normalize.calls == 40
    assert [(t.type, t.count, len(t.calls)) for t in parts.transforms] == [("Counting", 40, 1)]
    transform = parts.transforms[0].calls[0]
    assert transform.inputs[0].shape == (1, 12, 12) and transform.name == "counting"
    # The model keeps its name (the root's, with trace()), its passes and its loss in its section.
    net = parts.models[0]
    assert net.model.name == "" and [c.type for c in net.roots if c.kind == "module"] == ["Net"] * 6
    assert sum(c.type == "F.nll_loss" for c in net.roots) == 6
    # The dataset's own ops (self.images[index], per image) are loading, not the model: not recorded;
    # the transform's are, inside it.
    dataset_lines = {mnist.Digits.__getitem__.__code__.co_firstlineno + 1}
    assert not [c for c in trace.ops if c.location is not None and c.location.lineno in dataset_lines
                and c.location.filename == str(SCRIPT)]
    assert [c.name for c in _walk(transform)][1:] == ["counting.inner", "sub", "div"]
    # Every view folds it after the model, as under `shapetrace run`.
    first_line = _report_first_line(trace)
    assert first_line.startswith("shapetrace Net (also data transform Counting ×40): "), first_line


def _report_first_line(trace) -> str:
    from shapetrace.render.report import summary_line

    return summary_line(trace).plain


def test_the_views_and_json_fold_the_transform(tmp_path) -> None:
    import io

    from shapetrace.render.report import make_console, report

    trace = _train(traced=True)[0]
    out = io.StringIO()
    make_console(out, width=200, color=False).print(report(trace))
    lines = out.getvalue().splitlines()
    row = [i for i, line in enumerate(lines) if line.startswith("Counting ×40 (data transform)")]
    assert len(row) == 1 and "(1, 12, 12)" in lines[row[0]]
    assert max(i for i, line in enumerate(lines) if line.startswith("Net (root)")) < row[0]
    assert not any(".sub(" in line or ".div(" in line for line in lines)  # folded into its row
    graph = check_graph(trace, trace.graph(show_ops=True).source, what="trace() mnist loop")
    assert "Counting ×40 (data transform)" in graph.nodes.values()
    assert graph.labels.get("cluster_section_1") == "data transforms (in the DataLoader)"
    # A saved trace keeps what ran in the DataLoader.
    loaded = shapetrace.load(trace.to_json())
    assert [(t.type, t.count) for t in split_sections(loaded).transforms] == [("Counting", 40)]
    assert json.loads(trace.to_json())["meta"]["in_loader"].count(True) == 1


class Pad(nn.Module):
    """Pads each sample of a batch to the longest, in a collate function."""

    def forward(self, samples):
        longest = max(s.shape[0] for s in samples)
        return torch.stack([F.pad(s, (0, longest - s.shape[0])) for s in samples])


def test_a_module_in_collate_and_in_an_iterable_dataset_are_data_transforms() -> None:
    pad = Pad()

    class Stream(IterableDataset):
        def __init__(self, scale: nn.Module) -> None:
            self.scale = scale

        def __iter__(self):
            for length in (3, 5, 4, 5, 2, 3):
                yield self.scale(torch.ones(length))

    class Scale(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Linear(5, 2)
    loader = DataLoader(Stream(Scale()), batch_size=3, collate_fn=pad)
    with shapetrace.trace(model) as t:
        outputs = [model(batch) for batch in loader]
    assert [o.shape for o in outputs] == [(3, 2), (3, 2)]
    parts = split_sections(t)
    assert [s.model.type for s in parts.models] == ["Linear"]
    # Scale: one recorded call per length (four lengths), six calls; Pad: two batches of other lengths.
    assert {(x.type, x.count, len(x.calls)) for x in parts.transforms} == {("Scale", 6, 4), ("Pad", 2, 2)}
    pads = next(x for x in parts.transforms if x.type == "Pad").calls
    assert [[m.shape for m in c.inputs] for c in pads] == [[(3,), (5,), (4,)], [(5,), (2,), (3,)]]


def test_a_module_called_in_the_loop_outside_the_loader_is_part_of_the_model_section() -> None:
    from torch.utils.data import TensorDataset

    model, normalize = nn.Linear(6, 2), mnist.Normalize(0.5, 0.25)
    with shapetrace.trace() as t:
        for (x,) in DataLoader(TensorDataset(torch.rand(8, 6)), batch_size=4):
            model(normalize(x))
    parts = split_sections(t)
    assert parts.transforms == ()
    assert [c.type for c in parts.models[0].roots if c.kind == "module"] == ["Normalize", "Linear"] * 2
    assert "in_loader" not in t.run_info  # nothing ran in the loader: the trace is as before


def test_with_workers_the_report_says_the_transforms_were_not_recorded() -> None:
    """num_workers=2 (fork): the dataset and its transform run in the workers, which
    the recorder does not reach; the batches the loader hands over are recorded."""
    import io

    from shapetrace.render.html_report import html_report
    from shapetrace.render.report import make_console, report

    trace, losses, weights, normalize = _train(traced=True, num_workers=2)
    _, plain_losses, plain_weights, _ = _train(traced=False, num_workers=2)
    assert torch.equal(losses, plain_losses)
    assert all(torch.equal(weights[k], plain_weights[k]) for k in weights)
    assert normalize.calls == 0  # in this process: every call ran in a worker
    lines, first = inspect.getsourcelines(_train)
    iterated = first + next(i for i, line in enumerate(lines) if "in loader:" in line)  # where it was iterated
    here = Path(__file__).resolve().relative_to(Path.cwd())  # a line below the working directory: relative
    note = ("data loading (the dataset, its transforms, collate) ran in 2 DataLoader workers (the DataLoader at "
            f"{here}:{iterated}) and was not recorded; "
            "set num_workers=0 to trace it")
    assert trace.run_info["data"] == [note]
    out = io.StringIO()
    make_console(out, width=400, color=False).print(report(trace))
    assert f"data: {note}" in out.getvalue().splitlines()
    assert note in html_report(trace, graph=False)
    assert json.loads(trace.to_json())["meta"]["data"] == [note]
    # The batches are recorded as without workers: the same passes, with the same shapes.
    in_process = _train(traced=True)[0]
    passes = [[m.shape for m in c.inputs] for c in trace.calls if c.parent_id is None and c.type == "Net"]
    assert passes == [[m.shape for m in c.inputs] for c in in_process.calls if c.parent_id is None
                      and c.type == "Net"]
    assert passes == [[(8, 1, 12, 12)], [(8, 1, 12, 12)], [(4, 1, 12, 12)]] * 2
    assert split_sections(trace).transforms == ()
    assert "data" not in in_process.run_info  # no workers, no note


@pytest.mark.slow
def test_run_says_so_too_in_text_and_json(tmp_path, capsys) -> None:
    """``shapetrace run`` on the MNIST script loading in 2 workers: the same line."""
    from shapetrace.cli.app import main

    script = tmp_path / "mnist_workers.py"
    source = SCRIPT.read_text()
    assert source.count("batch_size=8)") == 1
    script.write_text(source.replace("batch_size=8)", 'batch_size=8, num_workers=2, multiprocessing_context="fork")'))
    lines = script.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "for images, labels in train_loader" in text)
    note = (f"data loading (the dataset, its transforms, collate) ran in 2 DataLoader workers "
            f"(the DataLoader at {script}:{line}) and was not recorded; "
            "set num_workers=0 to trace it")
    assert main(["run", str(script)]) == 0
    assert f"data: {note}" in " ".join(capsys.readouterr().out.split())  # wrapped at the terminal's width
    out = tmp_path / "trace.json"
    assert main(["run", str(script), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["meta"]["data"] == [note]
