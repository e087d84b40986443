"""ST003 under ``shapetrace run`` for a view in the user's own loop: the short last batch of a
DataLoader (new shapes) has the ops that made its pass's input recorded (``record/before_pass.py``),
its re-cut with the batch size written in among them; without them a model input whose dim 0 is
the DataLoader's batch size while it holds the elements of the short last batch tells it
(``analyze/checks/_loop_input.py``). The finding is on the view's line, its help applied makes
the script run clean."""

from __future__ import annotations

import ast
import textwrap

import pytest

from tests.case_support import VARIANTS, run_script, serious

pytestmark = pytest.mark.filterwarnings("ignore")
ST003_A = VARIANTS / "st003_a_batch_size_constant_in_loop_view.py"

SEQUENCES = textwrap.dedent("""
    import sys

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    BATCH_SIZE, STEPS, FEATURES = 32, 20, 8


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, 16, batch_first=True)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])


    torch.manual_seed(0)
    model = Tagger()
    data = TensorDataset(torch.randn(72, STEPS * FEATURES), torch.randint(0, 3, (72,)))
    for flat, labels in DataLoader(data, batch_size=BATCH_SIZE):
        if "--fixed" in sys.argv:
            x = flat.view(flat.size(0), STEPS, FEATURES)
        else:
            x = flat.view(BATCH_SIZE, -1, FEATURES)
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
""")


def st003(trace) -> list:
    return [f for f in serious(trace) if f.code == "ST003"]


def apply(path, found) -> str:
    """The source with the view on the finding's line written as its help says."""
    lines = path.read_text().splitlines()
    number = found.location.lineno - 1
    tree = ast.parse(lines[number].strip())
    view = next(
        node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "view"
    )
    old = ast.unparse(view)
    new = found.hint.removeprefix("use ")
    assert old in lines[number], (old, lines[number])
    lines[number] = lines[number].replace(old, new)
    return "\n".join(lines) + "\n"


def test_the_view_in_the_loop_is_found_under_run_and_its_help_fixes_it(tmp_path):
    done = run_script(ST003_A)
    assert done.exit_code == 1 and done.trace.error is not None
    [found] = st003(done.trace)
    assert found.location.lineno == 27 and found.location.code.startswith("images = images.view(batch_size, -1)")
    # the short last batch's view is recorded (record/before_pass.py: a batch of new shapes)
    assert "32 (batch_size) is the batch size of the DataLoader" in found.message, found.message
    assert "its short last one, has 4" in found.message, found.message
    assert found.hint == "use images.view(images.size(0), -1)"
    assert "ST003" in done.output.split("explained by:")[1]
    helped = tmp_path / "st003_a_helped.py"
    helped.write_text(apply(ST003_A, found))
    again = run_script(helped)
    assert again.exit_code == 0 and serious(again.trace) == [], again.output


def test_a_sequence_batch_re_cut_with_a_constant_is_found_and_the_fixed_loop_is_clean(tmp_path):
    script = tmp_path / "tagger_loop.py"
    script.write_text(SEQUENCES)
    done = run_script(script)
    [found] = st003(done.trace)
    assert found.location.code == "x = flat.view(BATCH_SIZE, -1, FEATURES)", found.message
    assert "32 (BATCH_SIZE) is the batch size of the DataLoader" in found.message
    assert "its short last one, has 8" in found.message
    assert found.hint == "use flat.view(flat.size(0), -1, FEATURES)"
    fixed = run_script(script, "--fixed")
    assert fixed.exit_code == 0 and serious(fixed.trace) == [], fixed.output
    helped = tmp_path / "tagger_helped.py"
    helped.write_text(apply(script, found))
    again = run_script(helped)
    assert again.exit_code == 0 and serious(again.trace) == [], again.output


def test_without_the_loops_ops_the_model_input_tells_the_re_cut(tmp_path):
    """With ops off (``--no-op-recording``) the view in the loop is not recorded: the model
    input, (32, 98) from a short last batch of 4 × 784 elements, tells it (``_loop_input.py``)."""
    import contextlib
    import io

    import shapetrace
    from shapetrace.cli import main

    saved = tmp_path / "trace.json"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(ST003_A), "--no-op-recording", "--fail-on", "warning", "-o", str(saved)])
    assert code == 1
    [found] = st003(shapetrace.load(saved))
    assert found.message == ("images.view(batch_size, -1) at line 27 makes the model input (32, 98) of line 28 from "
                             "the DataLoader's short last batch of 4 (4 × 784 elements): 32 (batch_size) is its "
                             "batch size baked in")
    assert found.hint == "use images.view(images.size(0), -1)"
