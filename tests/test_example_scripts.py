"""pytorch/examples' scripts not tested before, re-written small (synthetic data,
one epoch or a few steps, nothing downloaded): vae, regression, mnist_rnn,
super_resolution, fast_neural_style's TransformerNet, time_sequence_prediction and
reinforcement_learning's actor_critic and gat (tests/real_scripts/).
Under ``shapetrace run`` each prints what it prints untraced and exits 0; its
report has one section per model, titled by it; its graph has an edge for every
call input; the HTML page is titled by the model."""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import sys

import pytest

from shapetrace.cli.app import main
from shapetrace.record.script import run_script
from shapetrace.render.report import make_console, report
from shapetrace.render.sections import split_sections
from tests.case_support import REAL_SCRIPTS
from tests.graph_check import check_graph
from tests.render_support import cut_text

pytestmark = pytest.mark.slow

# script: the models' section titles, most parameters first
SCRIPTS = {
    "vae_small": ["VAE"],
    "regression_small": ["Linear"],
    "mnist_rnn_small": ["Net"],
    "super_resolution_small": ["Net"],
    "fast_neural_style_small": ["TransformerNet"],
    "time_sequence_prediction_small": ["Sequence"],
    "actor_critic_small": ["Policy"],
    "gat_small": ["GAT"],
}


def _plain_output(path: str) -> str:
    out, argv = io.StringIO(), sys.argv
    sys.argv = [path]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = argv
    return out.getvalue()


def _traced(path: str):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        run = run_script(path)
    return run, out.getvalue()


def _text(trace) -> str:
    out = io.StringIO()
    make_console(out, width=300, color=False).print(report(trace))
    return out.getvalue()


@pytest.fixture(scope="module", params=sorted(SCRIPTS))
def script(request):
    path = str(REAL_SCRIPTS / f"{request.param}.py")
    run, printed = _traced(path)
    return request.param, path, run, printed


def test_runs_as_untraced_with_one_section_per_model(script) -> None:
    name, path, run, printed = script
    assert run.error is None and run.exit_code == 0
    assert printed == _plain_output(path)  # the same losses: tracing changed nothing
    trace = run.trace
    assert [section.title for section in split_sections(trace).models] == SCRIPTS[name]
    text = _text(trace)
    assert text.startswith(f"shapetrace {SCRIPTS[name][0]}:")
    assert "Traceback" not in text
    page = trace.html(graph=False)
    assert f"<title>shapetrace: {SCRIPTS[name][0]}</title>" in page


def test_every_call_input_has_its_own_edge(script) -> None:
    name, _, run, _ = script
    for show_ops in (False, True):
        check_graph(run.trace, run.trace.graph(show_ops=show_ops).source, what=f"{name} show_ops={show_ops}")


def test_vae_decode_called_alone_is_part_of_the_vae() -> None:
    """``model.decode(sample)`` after training calls the VAE's fc3 and fc4 from the
    script: they are the VAE's parts in its section, not two more models."""
    run, _ = _traced(str(REAL_SCRIPTS / "vae_small.py"))
    parts = split_sections(run.trace)
    assert [section.title for section in parts.models] == ["VAE"]
    alone = [call for call in parts.models[0].roots if call.kind == "module" and call.type == "Linear"]
    assert [(call.name, call.inputs[0].shape) for call in alone] == [("fc3", (64, 20)), ("fc4", (64, 400))]
    text = _text(run.trace)
    assert text.splitlines()[0].startswith("shapetrace VAE: ")  # no "(also Linear ×2)"
    # F.binary_cross_entropy's tensors are named as the other losses' are; its calls on the
    # batches of 16, 8 and the last 4 share one row (render/passes.py)
    row = text.splitlines().index(next(line for line in text.splitlines() if line.startswith("binary_cross_entropy")))
    assert "input (16|8|4, 784)" in text.splitlines()[row] and "target (16|8|4, 784)" in text.splitlines()[row + 1]


def test_super_resolution_test_loaders_short_batch_is_not_said_to_be_the_training_call(tmp_path) -> None:
    """The test loader's last batch (5 = 1 × 3 + 2) has the size of the training
    loader's (10 = 2 × 4 + 2): the recorded call of that size is the training
    loop's, so the note does not say the model ran on the test batch there."""
    out = tmp_path / "sr.json"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(REAL_SCRIPTS / "super_resolution_small.py"), "-o", str(out)]) == 0
    notes = json.loads(out.read_text())["meta"]["data"]
    lines = {note.split(" gives ")[0].rsplit(":", 1)[1]: note for note in notes}
    source = (REAL_SCRIPTS / "super_resolution_small.py").read_text().splitlines()
    train_loop = next(k for k, line in enumerate(source, 1) if "enumerate(training_data_loader" in line)
    test_loop = next(k for k, line in enumerate(source, 1) if "in testing_data_loader" in line)
    model_call = next(k for k, line in enumerate(source, 1) if "criterion(model(input), target)" in line)
    assert "and Net ran on it at " in lines[str(train_loop)]
    assert lines[str(train_loop)].endswith(f"super_resolution_small.py:{model_call} with input (2, 1, 12, 12)")
    assert "and Net ran on a batch of 2 at " in lines[str(test_loop)]


def test_a_loops_outputs_into_cat_are_one_edge_that_counts_them() -> None:
    """time_sequence_prediction's Sequence runs LSTMCell, LSTMCell, Linear once per
    step and ``torch.cat(outputs, dim=1)``: the graph draws each cell once (``×39``)
    and the 39 Linear outputs into ``cat`` as one edge ``39 × (5, 1)``, not 39 edges
    side by side (a 10,000-pixel-wide picture); an LSTMCell's h and c into the next
    step stay an edge each."""
    run, _ = _traced(str(REAL_SCRIPTS / "time_sequence_prediction_small.py"))
    trace = run.trace
    # ops shown, as ``shapetrace run -o graph.svg`` draws it
    graph = check_graph(trace, trace.graph(show_ops=True).source, what="time_sequence_prediction")
    cats = [node for node, label in graph.nodes.items() if label.startswith("cat(")]
    linear = next(node for node, label in graph.nodes.items() if label.startswith("linear ×39"))
    first_cat = cats[0]
    into_cat = [(tail, label) for tail, head, label, _ in graph.edges if head == first_cat]
    assert into_cat == [(linear, "39 × (5, 1)")]
    cell = next(node for node, label in graph.nodes.items() if label.startswith("lstm1 ×39"))
    loops = sorted(label.split()[0] for tail, head, label, _ in graph.edges if tail == head == cell)
    assert loops == ["c_0", "h_0"]
    assert len(graph.edges) < 50  # two passes (train and predict), each a handful of nodes


@pytest.fixture(scope="module")
def gat():
    run, _ = _traced(str(REAL_SCRIPTS / "gat_small.py"))
    return run.trace


@pytest.mark.parametrize("width", [160, 125, 120, 100])
def test_a_table_with_a_dtype_column_fits_the_terminal_and_cuts_nothing(gat, width) -> None:
    """gat's trace has a dtype column (NLLLoss takes int64 targets) and a contig one:
    the table picks the layout it really fits in (rich measures a no_wrap column by
    its shortest word, but renders it whole or cut), so no line passes the width,
    no dtype is cut (``float32, int64 → float…``) and no parameter count (``1,``)."""
    out = io.StringIO()
    make_console(out, width=width, color=False).print(report(gat))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    header = next(line for line in lines if line.startswith("Call "))
    assert header.rstrip().endswith("Params")
    root = next(line for line in lines if line.startswith("GAT (root)"))
    assert root.rstrip().endswith("1,462")
    # The dtype whole, on the row's line or wrapped between its words onto the next
    # (where the inputs' names, ``h_transformed (4, 60, 16)``, take the width).
    row = next(index for index, line in enumerate(lines) if line.startswith("criterion: NLLLoss "))
    column = header.index("dtype")
    dtype = " ".join(" ".join(line[column:] for line in lines[row : row + 2]).split())
    assert dtype.startswith("float32, int64 → float32"), lines[row : row + 2]
    assert not cut_text(out.getvalue())
