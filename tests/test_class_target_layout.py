"""ST023 class-target-layout: labels (N, 1), one-hot integer labels, or scores (N, 1, C)
given to a cross-entropy/NLL loss that takes class indices (N,).

The variants (``tests/cases/variants/st023_*``, a user Dataset that makes the labels)
are found on the Dataset's ``return`` by ``tests/test_case_variants.py``; here each help
is applied (the loss then runs and nothing is found), the forms without a user Dataset
(a TensorDataset of a label column, a collate that stacks (1, F) rows) are found on the
loss, and correct layouts that look alike (float class probabilities, (N, C, T) scores,
segmentation maps) stay quiet.
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shapetrace
from tests.case_support import VARIANTS, load_file, model_outputs, serious, traced_module

pytestmark = pytest.mark.filterwarnings("ignore")

LOSS_LINE = {"st023_a_dataset_label_one_element_tensor_raises": 35, "st023_b_dataset_one_hot_labels_raises": 38}


@pytest.mark.parametrize("name, helped", [("st023_a_dataset_label_one_element_tensor_raises", "y.squeeze(1)"),
                                          ("st023_b_dataset_one_hot_labels_raises", "y.argmax(1)")])
def test_the_help_applied_at_the_loss_makes_the_loss_run_with_no_finding(name, helped, tmp_path):
    t = traced_module(load_file(VARIANTS / f"{name}.py", f"target_{name}"))
    [found] = [f for f in serious(t) if f.code == "ST023"]
    assert t.error is not None and "__getitem__ returns them" in found.message
    assert re.search(r"return each label as a class index .* from \w+\.__getitem__, or pass " + re.escape(helped),
                     found.hint), found.hint
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    line = LOSS_LINE[name] - 1
    assert source[line].strip() == "loss = criterion(model(x), y)"
    source[line] = source[line].replace("criterion(model(x), y)", f"criterion(model(x), {helped})")
    patched = tmp_path / f"helped_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    again = traced_module(load_file(patched, f"helped_{name}"))
    assert again.error is None and serious(again) == [], [(f.code, f.message) for f in again.findings]


def _trace(model, loader, step):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(RuntimeError, ValueError), \
            shapetrace.trace(model) as t:
        for batch in loader:
            step(*batch)
    return t


def test_a_label_column_in_a_tensor_dataset_is_found_on_the_loss_and_squeezed():
    model = nn.Sequential(nn.Linear(8, 4), nn.LogSoftmax(dim=1))
    labels = torch.randint(0, 4, (20, 1))  # a one-column table
    loader = DataLoader(TensorDataset(torch.randn(20, 8), labels), batch_size=8)
    t = _trace(model, loader, lambda x, y: nn.functional.nll_loss(model(x), y).backward())
    [found] = [f for f in serious(t) if f.code == "ST023"]
    assert t.error is not None and found.location.filename == __file__
    assert "target (8, 1): the target has a dim of size 1 (dim 1)" in found.message
    assert found.hint == "pass y.squeeze(1)"
    helped = _trace(model, loader, lambda x, y: nn.functional.nll_loss(model(x), y.squeeze(1)).backward())
    assert helped.error is None and serious(helped) == []


def test_scores_with_a_unit_axis_from_stacked_rows_are_found_and_squeezed():
    """A collate that stacks samples already (1, F): scores (B, 1, C) against labels (B,)."""
    rows = [(torch.randn(1, 7), torch.tensor(i % 3)) for i in range(12)]
    loader = DataLoader(rows, batch_size=6, collate_fn=lambda b: (torch.stack([x for x, _ in b]),
                                                                  torch.stack([y for _, y in b])))
    model = nn.Linear(7, 3)
    t = _trace(model, loader, lambda x, y: nn.functional.cross_entropy(model(x), y).backward())
    [found] = [f for f in serious(t) if f.code == "ST023"]
    assert "input (6, 1, 3) and target (6,): the input has a dim of size 1 in dim 1" in found.message
    assert found.hint == "pass model(x).squeeze(1)"
    helped = _trace(model, loader, lambda x, y: nn.functional.cross_entropy(model(x).squeeze(1), y).backward())
    assert helped.error is None and serious(helped) == []


@pytest.mark.parametrize("scores, target", [
    ((8, 5), torch.nn.functional.one_hot(torch.randint(0, 5, (8,)), 5).float()),  # probabilities: float
    ((8, 5, 12), torch.randint(0, 5, (8, 12))),  # (N, C, T) with (N, T)
    ((2, 4, 6, 6), torch.randint(0, 4, (2, 6, 6))),  # segmentation
    ((8, 1, 12), torch.randint(0, 1, (8, 12))),  # one class over time: odd, but the layout PyTorch takes
    ((8, 1), torch.zeros(8, dtype=torch.long)),
])
def test_class_losses_in_the_layouts_pytorch_takes_are_quiet(scores, target):
    prediction = torch.randn(*scores, requires_grad=True)
    model = nn.Identity()
    with shapetrace.trace(model) as t:
        nn.functional.cross_entropy(model(prediction), target).backward()
    assert t.error is None and [f for f in t.findings if f.code == "ST023"] == []


@pytest.mark.parametrize("name, old, new", [
    ("st023_c_collate_stacks_row_samples_raises", "return join(xs),", "return torch.cat(xs),"),
    ("st023_d_dataset_row_slice_default_collate_raises", "return row,", "return row.squeeze(0),"),
])
def test_a_unit_axis_from_the_loader_is_fixed_where_the_batch_is_made(name, old, new, tmp_path):
    """Scores (B, 1, C) from a model input (B, 1, F) as loaded: the finding is on the
    collate_fn's return (it stacked (1, F) rows; its help: torch.cat) or, with the default
    collate, on the Dataset's (its help: return the row without its leading 1)."""
    t = traced_module(load_file(VARIANTS / f"{name}.py", f"unit_{name}"))
    [found] = [f for f in serious(t) if f.code == "ST023"]
    assert found.hint.startswith("join the samples with torch.cat in collate" if "collate_stacks" in name
                                 else "return row.squeeze(0) from Table.__getitem__"), found.hint
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    line = found.location.lineno - 1
    assert old in source[line], source[line]
    source[line] = source[line].replace(old, new)
    patched = tmp_path / f"helped_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    helped = load_file(patched, f"helped_{name}")
    again = traced_module(helped)
    assert again.error is None and serious(again) == [], [(f.code, f.message) for f in again.findings]
    got = model_outputs(helped)
    want = model_outputs(load_file(VARIANTS / f"{name}.py", f"fixed_{name}"), fixed=True)
    assert len(got) == len(want) > 0 and all(torch.equal(a, b) for a, b in zip(got, want))


class _StepDecoder(nn.Module):
    """A teacher-forced GRU decoder whose per-step scores are (B, V) pieces, joined along the
    batch dim into (T * B, V): a time-major layout a seq-first pipeline may want."""

    def __init__(self):
        super().__init__()
        self.embed, self.cell, self.out = nn.Embedding(9, 8), nn.GRUCell(8, 8), nn.Linear(8, 9)

    def forward(self, target):
        state, token, outputs = None, torch.zeros(target.size(0), dtype=torch.long), []
        for step in range(target.size(1)):
            state = self.cell(self.embed(token), state)
            outputs.append(self.out(state))  # (B, V): no step dim to join along
            token = target[:, step]
        return torch.cat(outputs, dim=0)


def test_steps_joined_time_major_without_a_step_dim_get_the_help_on_the_target():
    """(B, V) pieces joined along dim 0 may be time-major on purpose: scored against the
    DataLoader's (B, T) tags flattened batch-major, the finding stays on the loss and its
    help transposes the target (the fix that keeps the model's layout), which applied
    gives the loss the decoder's rows were meant for."""
    torch.manual_seed(0)
    model = _StepDecoder()
    loader = DataLoader(TensorDataset(torch.randint(0, 9, (10, 6))), batch_size=5)
    with shapetrace.trace(model) as t:
        for (tgt,) in loader:
            loss = nn.functional.cross_entropy(model(tgt), tgt.reshape(-1))
    [found] = [f for f in serious(t) if f.code == "ST023"]
    assert found.location is not None and "loss = nn.functional.cross_entropy" in found.location.code
    assert "torch.cat at line" in found.message and found.hint.startswith("use tgt.transpose(0, 1).reshape(-1)")
    scores = model(tgt)
    wanted = nn.functional.cross_entropy(scores, tgt.transpose(0, 1).reshape(-1))
    per_step = torch.stack([nn.functional.cross_entropy(scores[k * 5 : (k + 1) * 5], tgt[:, k]) for k in range(6)])
    assert torch.allclose(wanted, per_step.mean()) and not torch.allclose(loss, wanted)
