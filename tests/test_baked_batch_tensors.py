"""ST003 on a tensor built once for one batch size and joined with the batch
(``analyze/checks/_batch_tensors.py``): a buffer, a parameter or a global made with the
training batch size in dim 0, or an ``expand(64, ...)``, then added to or concatenated
with the data where the batch axis lines up.

The variants (``tests/cases/variants/st003_[e-i]_*``) are found on the line that made
the size by ``tests/test_case_variants.py``; here their help is applied to the source
(the model then computes what the fixed version does, with no finding left), and
correct models alike them (the size read from the data, one row that broadcasts, a
table along another axis whose size equals the batch) stay quiet in a DataLoader loop
with a short last batch and a pass of one sample.
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
from tests.test_cases_axes import _same

pytestmark = pytest.mark.filterwarnings("ignore")


def _finding(name: str):
    t = traced_module(load_file(VARIANTS / f"{name}.py", f"baked_{name}"))
    found = [f for f in serious(t) if f.code == "ST003"]
    assert len(found) == 1, [(f.code, f.message) for f in t.findings]
    return found[0]


def _patched(name: str, tmp_path, edits: list[tuple[int, str, str]]):
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    for line, old, new in edits:
        assert source[line - 1].count(old) == 1, (source[line - 1], old)
        source[line - 1] = source[line - 1].replace(old, new)
    patched = tmp_path / f"helped_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    return load_file(patched, f"helped_{name}")


def _check_helped(name: str, module) -> None:
    got, want = model_outputs(module), model_outputs(load_file(VARIANTS / f"{name}.py", f"fixed_{name}"), fixed=True)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        _same(a, b)
    helped = traced_module(module)
    assert helped.error is None and serious(helped) == [], [(f.code, f.message) for f in helped.findings]


@pytest.mark.parametrize("name", ["st003_e_buffer_zeros_batch_added_raises", "st003_h_mask_buffer_full_batches_silent",
                                  "st003_i_offset_parameter_broadcasts_batch_of_one"])
def test_a_broadcast_join_is_fixed_by_building_the_tensor_with_one_row(name, tmp_path):
    found = _finding(name)
    match = re.fullmatch(r"build it as (.+): 1 in the batch dim broadcasts over any batch", found.hint)
    assert match, found.hint
    line = found.location.lineno
    source = (VARIANTS / f"{name}.py").read_text().splitlines()[line - 1]
    old = next(m.group(0) for m in re.finditer(r"torch\.\w+\(batch_size, [^()]*\)", source))
    assert old in found.message  # the message quotes the line that baked the size
    _check_helped(name, _patched(name, tmp_path, [(line, old, match.group(1))]))


def test_a_concatenated_global_is_fixed_by_one_row_expanded_where_it_is_joined(tmp_path):
    name = "st003_f_global_start_token_cat_raises"
    found = _finding(name)
    assert "raises" in found.message and found.location.lineno == 11
    match = re.fullmatch(r"build it as (.+) and join (\w+)(\.expand\(.+\)) at line (\d+)", found.hint)
    assert match, found.hint
    made, operand, expand, line = match.groups()
    module = _patched(name, tmp_path, [(11, "torch.zeros(BATCH, 1, D)", made),
                                       (int(line), f"[{operand}, x]", f"[{operand}{expand}, x]")])
    _check_helped(name, module)


def test_the_exception_note_names_the_line_that_baked_the_size():
    """The short last batch raises at the add; the note's "explained by" names the
    buffer's line in __init__, with its help."""
    from tests.case_support import run_script

    done = run_script(VARIANTS / "st003_e_buffer_zeros_batch_added_raises.py")
    assert done.exit_code == 1 and done.trace.error is not None
    explained = done.output.split("explained by:", 1)[1].split("shapetrace: wrote")[0]
    assert "ST003 hardcoded-batch-size: add at line 23" in explained, explained
    assert "the tensor made at line 17" in explained and "this batch of 6 raises" in explained
    assert "help: build it as torch.zeros(1, hidden)" in explained


# ------------------------------------------------------------------ correct look-alikes
class ClassToken(nn.Module):
    """ViT-style: the class token expanded to the data's batch, a (1, T, D) position table."""

    def __init__(self):
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, 16))
        self.pos = nn.Parameter(torch.zeros(1, 10, 16))
        self.register_buffer("scale", torch.ones(16))
        self.layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        cls = self.cls.expand(x.size(0), -1, -1)
        x = torch.cat([cls, x], 1) + self.pos
        return self.fc(self.layer(x * self.scale)[:, 0])


class NodeTable(nn.Module):
    """A learned table per node (N, D) added along the node axis; N == the loader's batch."""

    def __init__(self, nodes=4):
        super().__init__()
        self.node = nn.Parameter(torch.zeros(nodes, 8))
        self.fc = nn.Linear(8, 3)

    def forward(self, x):  # (B, N, 8)
        return self.fc(x + self.node).mean(1)


class StepTable(nn.Module):
    """A (T, D) table made in __init__ with a literal that equals the batch size, joined
    along time: torch.cat of a (B, T, D) batch with the table expanded from the data."""

    def __init__(self):
        super().__init__()
        self.register_buffer("steps", torch.zeros(4, 8))
        self.fc = nn.Linear(8, 3)

    def forward(self, x):  # (B, 4, 8)
        steps = self.steps.unsqueeze(0).expand(x.size(0), -1, -1)
        return self.fc(torch.cat([x, steps], dim=1) * 2.0).mean(1)


@pytest.mark.parametrize("make, shape", [(ClassToken, (10, 9, 16)), (NodeTable, (10, 4, 8)), (StepTable, (10, 4, 8))])
def test_tensors_made_for_one_sample_or_another_axis_are_not_a_batch_size(make, shape):
    torch.manual_seed(0)
    model, x = make(), torch.randn(*shape)
    loader = DataLoader(TensorDataset(x, torch.randint(0, 3, (shape[0],))), batch_size=4)  # 4, 4, 2
    with contextlib.redirect_stdout(io.StringIO()), shapetrace.trace(model) as t:
        for xb, yb in loader:
            nn.functional.cross_entropy(model(xb), yb).backward()
        with torch.no_grad():
            model(x[:1])
    assert t.error is None and len(t.calls) > 10
    assert serious(t) == [], [(f.code, f.message) for f in t.findings]


@pytest.mark.slow
@pytest.mark.parametrize("model_type, sizes", [
    ("bert", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}),
    ("xlnet", {"d_model": 32, "n_layer": 2, "n_head": 4, "d_inner": 37}),  # heads == batch == 4
])
def test_hugging_face_models_in_a_loader_loop_are_quiet(model_type, sizes):
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model(model_type, vocab_size=99, num_labels=3, **sizes)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    torch.manual_seed(0)
    ids, labels = torch.randint(1, 99, (10, 7)), torch.randint(0, 3, (10,))
    loader = DataLoader(TensorDataset(ids, labels), batch_size=4)
    with contextlib.redirect_stdout(io.StringIO()), shapetrace.trace(model) as t:
        for xb, yb in loader:
            model(input_ids=xb, labels=yb).loss.backward()
        with torch.no_grad():
            model(input_ids=ids[:1])
    assert t.error is None and len(t.calls) > 100
    assert serious(t) == [], [(f.code, f.message) for f in t.findings]
