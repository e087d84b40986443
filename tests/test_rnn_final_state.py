"""An RNN's final state read the wrong way (ST006 one direction of a bidirectional h_n,
ST013 a sample of h_n's batch axis), batches cut by hand into a seq-first RNN (ST001),
a cell's state made for a constant batch (ST003): the helps applied to the variants of
``tests/cases/variants/`` (st006_h-l, st003_d), and correct models that read h_n or cut
their batches the same way stay quiet (``tests/models/rnn_state_models.py``).

The variants' findings on their culprit lines, their fixed versions and their exception
notes are tested with the others in ``tests/test_case_variants.py``.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import shapetrace
from tests.case_support import load_file, model_outputs, serious, traced_module
from tests.models import rnn_state_models
from tests.test_case_variants import culprit, module, on_culprit, path_of

pytestmark = pytest.mark.filterwarnings("ignore")

ONE_DIRECTION = ["st006_h_stacked_bigru_h_n_minus_one", "st006_i_bilstm_hidden_minus_one_sequential_head",
                 "st006_k_packed_bilstm_h_n_minus_one", "st006_l_bilstm_h_n_minus_one_head_two_hidden_raises",
                 "st006_m_bilstm_h_n_viewed_direction_major"]


def _patched(name: str, old: str, new: str, tmp_path):
    """The variant with ``old`` replaced by ``new`` on its culprit line, loaded."""
    source = path_of(name).read_text().splitlines()
    line = culprit(name) - 1
    assert source[line].count(old) == 1, (source[line], old)
    source[line] = source[line].replace(old, new)
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    return load_file(patched, f"patched_{name}")


def _resized_like(model: nn.Module, fixed: nn.Module, width: int) -> None:
    """Each Linear of ``model`` whose weight differs in shape from ``fixed``'s made as the
    help says (``width`` features in), then ``fixed``'s weights loaded: the outputs can
    then be compared with the fixed version's."""
    theirs = dict(fixed.named_modules())
    for name, layer in list(model.named_modules()):
        other = theirs.get(name)
        if isinstance(layer, nn.Linear) and isinstance(other, nn.Linear) and layer.weight.shape != other.weight.shape:
            assert other.in_features == width, (name, other)
            parent, _, attribute = name.rpartition(".")
            setattr(model.get_submodule(parent), attribute, nn.Linear(width, layer.out_features))
    model.load_state_dict(fixed.state_dict())


@pytest.mark.parametrize("name", ONE_DIRECTION)
def test_one_direction_of_a_bidirectional_state_is_found_and_its_help_fixes_it(name, tmp_path):
    """ST006 names the row h_n[-1] reads (the last layer's backward direction), or a row a
    view in the wrong order picks, and the one never read; the help's
    torch.cat((h_n[-2], h_n[-1]), dim=1), with the reading layer as wide as the help says,
    computes what the fixed version does and leaves no finding."""
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)
    assert [f.code for f in found] == ["ST006"], found
    assert "backward direction alone" in found[0].message and "forward direction" in found[0].message
    help_ = re.fullmatch(r"read both directions of the last layer: (torch\.cat\(\((\w+)\[-2\], \2\[-1\]\), "
                         r"dim=1\)), \(batch, 2 \* (\d+)\); the layer that reads it then takes (\d+) features",
                         found[0].hint)
    assert help_, found[0].hint
    expression, state, width = help_.group(1), help_.group(2), int(help_.group(4))
    line = path_of(name).read_text().splitlines()[culprit(name) - 1]
    # h_n[-1] itself, or the torch.cat of the rows a wrong view picked (st006_m)
    old = f"{state}[-1]" if f"{state}[-1]" in line else re.search(r"torch\.cat\(.*?\), dim=1\)", line).group(0)
    rewritten = _patched(name, old, expression, tmp_path)
    model, work = rewritten.make(False)
    fixed_model, _ = module(name).make(True)
    _resized_like(model, fixed_model, width)
    inputs: list = []
    handle = model.register_forward_hook(lambda _m, args, _out: inputs.append(args))
    with shapetrace.trace(model) as helped:
        work()
    handle.remove()
    assert helped.error is None and serious(helped) == [], [f.message for f in helped.findings]
    # the same weights (as trained by the work's optimizer, if any) on the same inputs,
    # dropout off: the fixed model's outputs
    fixed_model.load_state_dict(model.state_dict())
    model.eval(), fixed_model.eval()
    assert inputs
    with torch.no_grad():
        for args in inputs:
            torch.testing.assert_close(model(*args), fixed_model(*args))


def test_the_state_made_for_a_constant_batch_help_applied(tmp_path):
    """ST003 on a cell loop's h and c made for BATCH: its help (the batch read from the
    data, in place of the constant) runs the short last batch, as the fixed version does."""
    name = "st003_d_lstmcell_loop_state_batch_constant_raises"
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    help_ = re.fullmatch(r"read the batch size from the data in forward \(batch_size = (.+)\) and use it "
                         r"instead of (\w+)", found.hint)
    assert help_, found.hint
    source = path_of(name).read_text().splitlines()[culprit(name) - 1]
    rewritten = _patched(name, source.strip(), source.strip().replace(help_.group(2), help_.group(1)), tmp_path)
    got, want = model_outputs(rewritten), model_outputs(module(name), fixed=True)
    assert len(got) == len(want) == 4
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    helped = traced_module(rewritten)
    assert helped.error is None and serious(helped) == []


@pytest.mark.parametrize("name", rnn_state_models.NAMES)
def test_correct_models_reading_h_n_or_cutting_batches_by_hand_are_quiet(name):
    model, work = rnn_state_models.make(name)
    with shapetrace.trace(model) as t:
        work()
    assert t.error is None and serious(t) == [], [(f.code, f.message) for f in t.findings]
