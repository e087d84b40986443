"""Repeated structure folds in every view, unless something differs (render/passes.py,
render/structure.py).

- Identical blocks (a ``ModuleList`` of N alike layers) share one table row,
  ``transformer.h.0-2: GPT2Block ×3``, as the tree and the graph already drew them.
- Passes that differ only by batch size (a short last batch, an evaluation
  batch) share one entry with each differing size shown as its values:
  ``(16|8|20, 1, 28, 28)``.
- Passes that differ only by a length grown step by step (``generate()``'s
  decoding steps, each reading a cache one token longer) share one entry too.
- Never folded: blocks of other shapes, a block holding a finding or an error,
  passes whose other sizes differ (GPT-2's prompt against its decoding steps).

Every expectation is written by hand from the models' code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.render.table import call_label, table_rows
from tests.case_support import REAL_SCRIPTS, traced_real_script
from tests.render_support import plain_text, trace_of

MNIST = REAL_SCRIPTS / "mnist_eval_small.py"


def _script_line(text: str) -> int:
    """The line of mnist_eval_small.py holding ``text``."""
    lines = MNIST.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def _labels(t: shapetrace.Trace) -> list[str]:
    return [call_label(row[0], row).plain.strip(" └─") for row in table_rows(t)]


# ------------------------------------------------------------ passes of other batch sizes
@pytest.fixture(scope="module")
def mnist() -> shapetrace.Trace:
    return traced_real_script("mnist_eval_small")


def test_a_short_last_batch_and_an_eval_batch_fold_into_the_first_pass(mnist) -> None:
    rows = table_rows(mnist)
    # Net.forward: conv1 relu conv2 relu max_pool2d dropout1 flatten fc1 relu fc2 log_softmax (11),
    # under one Net row; then the training loss: 13 rows for 3 passes (batches 16, 8 and 20)
    assert len(rows) == 13
    net, loss = rows[0], rows[-1]
    assert [call.inputs[0].shape[0] for call in net.variants] == [16, 8, 20]
    assert [call.inputs[0].shape[0] for call in loss.variants] == [16, 8]
    # 2 epochs of batches of 16, 16 and 8, then one of 20: 7 calls, one row
    assert _labels(mnist)[0] == "Net (root) ×7" and "#2" not in " ".join(_labels(mnist))
    out = io.StringIO()
    mnist.print(file=out)
    text = out.getvalue()
    train, evaluate = _script_line("loss = F.nll_loss(model(data), target)"), _script_line("output = model(data)")
    place = rf"\S*mnist_eval_small\.py:{train}, {evaluate}"
    assert re.search(rf"Net \(root\) ×7 +{place} +\(16\|8\|20, 1, 28, 28\) +\(16\|8\|20, 10\)", text)
    assert re.search(r"fc1: Linear +\S+ +\(16\|8\|20, 2304\) +\(16\|8\|20, 32\)", text)
    assert "input (16|8, 10)" in text and "target (16|8,)" in text


def test_the_tree_the_source_and_the_html_fold_the_passes_too(mnist) -> None:
    tree = plain_text(mnist.tree(), width=100)
    assert tree.count("Net (root)") == 1
    assert "conv2: Conv2d  1,168 params\n│   (16|8|20, 8, 26, 26) → (16|8|20, 16, 24, 24)" in tree
    source = mnist.annotate()
    assert "x = torch.flatten(x, 1)                   # (16|8|20, 2304) ×3" in source
    assert "input (16|8, 10), target (16|8,) ×2 -> loss () ×2" in source
    page = mnist.html(graph=False)
    assert page.count("<b>Net</b> <span") == 1
    assert "(16|8|20, 1, 28, 28)" in page and "(16|8|20, 2304)" in page


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_script_prints_saves_and_exits_as_under_python(tmp_path) -> None:
    plain, traced = tmp_path / "python", tmp_path / "shapetrace"
    plain.mkdir()
    traced.mkdir()
    ran = _run([sys.executable, str(MNIST), "--save-model"], plain)
    run = _run([sys.executable, "-m", "shapetrace", "run", str(MNIST), "--", "--save-model"], traced)
    assert ran.returncode == run.returncode == 0, run.stderr
    assert run.stdout.startswith(ran.stdout) and "test " in ran.stdout
    report = run.stdout[len(ran.stdout) :]
    assert report.count("Net (root)") == 1
    # the DataLoader notes still name each batch size the folded row shows
    assert "its last batch has 8" in report and "its only batch has 20" in report
    saved, saved_traced = torch.load(plain / "mnist_cnn.pt"), torch.load(traced / "mnist_cnn.pt")
    assert saved.keys() == saved_traced.keys()
    assert all(torch.equal(saved[key], saved_traced[key]) for key in saved)


# ------------------------------------------------------------ identical blocks
transformers = pytest.importorskip("transformers")


def _gpt2(layers: int) -> shapetrace.Trace:
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=layers, n_head=2)
    model = transformers.GPT2LMHeadModel(config).train()
    ids = torch.randint(0, 64, (2, 12))
    with shapetrace.trace(model) as t:
        model(input_ids=ids, labels=ids).loss.backward()
    return t


def test_a_gpt2_stack_of_identical_blocks_is_one_block_with_its_count() -> None:
    one, three = _gpt2(1), _gpt2(3)
    # one block or three: the same rows, the three blocks in one
    assert len(table_rows(three)) == len(table_rows(one))
    block = next(row for row in table_rows(three) if row[0].name == "transformer.h.0")
    assert [call.name for call in block] == ["transformer.h.0", "transformer.h.1", "transformer.h.2"]
    assert "transformer.h.0-2: GPT2Block ×3" in _labels(three)
    # a part of the blocks: that part of each, named for all three
    assert "transformer.h.0-2.attn.c_attn: Conv1D ×3" in _labels(three)
    assert "h.0-2 ×3: GPT2Block" in plain_text(three.tree(), width=100)
    assert "<b>transformer.h.0-2</b>" in three.html(graph=False)


def test_bert_layers_fold_and_gpt2s_decoding_steps_fold_apart_from_its_prompt() -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32
    )
    bert = transformers.BertModel(config).eval()
    t = trace_of(bert, torch.randint(0, 64, (2, 10)))
    assert "encoder.layer.0-3: BertLayer ×4" in _labels(t)
    config = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    gpt2 = transformers.GPT2LMHeadModel(config).eval()
    with shapetrace.trace(gpt2) as t:
        gpt2.generate(torch.randint(0, 64, (1, 4)), max_new_tokens=4, do_sample=False, pad_token_id=0)
    roots = [row for row in table_rows(t) if row[0].parent_id is None and row[0].type == "GPT2LMHeadModel"]
    # The prompt (1, 4) keeps its rows: against a step, its length shrinks 4 -> 1 while the cache
    # grows. The three steps (1, 1) read a cache of 4, 5, then 6 tokens: one entry, each size that
    # grew shown as its values in order.
    assert [[call.inputs[0].shape for call in row.variants] for row in roots] == [[(1, 4)], [(1, 1), (1, 1), (1, 1)]]
    text = plain_text(t.table(), width=200)
    assert re.search(r"cat\(\(T, T\), dim=-2\) ×2 +self\.keys \(1, 2, 4\|5\|6, 8\) +\(1, 2, 5\|6\|7, 8\)", text)


# ------------------------------------------------------------ what never folds
class Attention(nn.Module):
    """demos/bugs/st021_softmax_not_summed_axis.py's attention, its softmax dim a setting."""

    def __init__(self, dim: int, d_model: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.dim, self.heads, self.d_head = dim, heads, d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:  # padding positions zeroed
            x = x * mask
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / self.d_head**0.5
        weights = torch.softmax(scores, dim=self.dim)
        return x + self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class Stack(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Attention(dim) for dim in dims)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        for k, block in enumerate(self.blocks):
            x = block(x, None if masks is None else masks[k])
        return x


def test_a_block_holding_a_finding_keeps_its_row_and_its_finding_points_at_it() -> None:
    torch.manual_seed(0)
    correct = trace_of(Stack([-1, -1, -1, -1]), torch.randn(2, 4, 32))
    assert "blocks.0-3: Attention ×4" in _labels(correct) and not correct.findings
    t = trace_of(Stack([-1, -1, 1, -1]), torch.randn(2, 4, 32))  # the third block normalises the heads
    labels = [label for row, label in zip(table_rows(t), _labels(t)) if row[0].depth == 1]
    assert labels == ["blocks.0-1: Attention ×2", "blocks.2: Attention", "blocks.3: Attention"]
    (finding,) = [f for f in t.findings if f.code == "ST021"]
    row = next(row for row in table_rows(t) if any(call.id == finding.call_id for call in row))
    assert row == [t.calls[finding.call_id]] and row[0].parent.name == "blocks.2"
    assert "ST021" in plain_text(t.tree(show_ops=True), width=120).split("blocks.2: Attention")[1].split("blocks.3")[0]
    # the help applied (softmax over the keys): the finding is gone and the blocks fold
    fixed = trace_of(Stack([-1, -1, -1, -1]), torch.randn(2, 4, 32))
    assert not [f for f in fixed.findings if f.code == "ST021"]


def test_an_error_in_the_third_block_shows_the_third_block() -> None:
    torch.manual_seed(0)
    model = Stack([-1, -1, -1, -1])
    masks = [torch.ones(2, 4, 1)] * 2 + [torch.ones(2, 5, 1), torch.ones(2, 4, 1)]  # one mask of a wrong length
    with pytest.raises(RuntimeError), contextlib.redirect_stderr(io.StringIO()), shapetrace.trace(model) as t:
        model(torch.randn(2, 4, 32), masks)
    blocks = [row for row in table_rows(t) if row[0].name.startswith("blocks.") and row[0].depth == 1]
    assert [[call.name for call in row] for row in blocks] == [["blocks.0", "blocks.1"], ["blocks.2"]]
    assert blocks[1][0].error is not None and blocks[0][0].error is None
    out = io.StringIO()
    t.print(file=out)
    assert re.search(r"blocks\.0-1: Attention ×2", out.getvalue())


def test_blocks_of_other_shapes_never_fold() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())
    t = trace_of(model, torch.randn(3, 8))
    # the two (8 -> 8) Linear-ReLU pairs are not consecutive alike calls: only identical neighbours fold
    assert _labels(t)[1:] == ["0: Linear", "1: ReLU", "2: Linear", "3: ReLU", "4: Linear", "5: ReLU"]
    stack = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 4))
    t = trace_of(stack, torch.randn(3, 8))
    assert _labels(t)[1:] == ["0-1: Linear ×2", "2: Linear"]
    small, large = torch.randn(3, 8), torch.randn(5, 8)
    with shapetrace.trace(stack) as t:
        stack(small)
        stack(small)  # the same batch again: a repeat
        stack(large)  # another batch size: folded beside it
    passes = [row for row in table_rows(t) if row[0].parent_id is None and row[0].kind == "module"]
    assert [[call.inputs[0].shape[0] for call in row.variants] for row in passes] == [[3, 5]]
    assert passes[0].starts == (0, 2) and _labels(t)[0] == "Sequential (root) ×3"  # every call it folds
    assert _labels(t)[1:] == ["0-1: Linear ×2", "2: Linear"]  # one pass's calls


class Masked(nn.Module):
    """Identical blocks with the mask applied before each, on the loop's line."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(4))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x * mask)
        return x


def test_identical_blocks_with_a_loop_op_between_them_fold_too() -> None:
    torch.manual_seed(0)
    t = trace_of(Masked(), torch.randn(3, 8), torch.ones(3, 8))
    # each .mul is a step of the loop, drawn with the first: the blocks are neighbours
    assert _labels(t)[1:] == [".mul(T) ×4", "blocks.0-3: Linear ×4"]
    assert "blocks.0-3 ×4: Linear" in plain_text(t.tree(), width=100)


STEPS = """
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
loss_fn = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def train():
    for batch in (4, 4, 4, 4, 4, 2):  # 22 samples in batches of 4: a short last batch
        loss = loss_fn(model(torch.randn(batch, 3)), torch.randn(batch, 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    train()
"""


def test_a_scripts_pass_shows_how_many_calls_it_stands_for_as_a_trace_does(tmp_path) -> None:
    """``shapetrace run`` records the first call of each input signature and counts the
    others; the pass's row says how many steps it stands for, every batch size's (5 of 4
    and 1 of 2), in the table and the tree, as a trace that records every step does."""
    from shapetrace.record.script import run_script

    path = tmp_path / "steps.py"
    path.write_text(STEPS)
    run = run_script(str(path))
    assert run.exit_code == 0 and len([c for c in run.trace.calls if c.type == "Sequential"]) == 2
    spec = importlib.util.spec_from_file_location("steps", path)
    steps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(steps)
    with shapetrace.trace(steps.model) as traced:
        steps.train()
    for t in (run.trace, traced):
        labels = _labels(t)
        assert next(label for label in labels if "(root)" in label) == "Sequential (root) ×6", labels
        assert "loss_fn: MSELoss ×6" in labels, labels
        assert "0: Linear" in labels  # once a pass, however many passes
        assert "Sequential (root) ×6" in plain_text(t.tree(), width=100)


def test_passes_whose_sizes_grow_by_unrelated_amounts_do_not_fold() -> None:
    """32 x 32 then 33 x 100: one size grows by 1, the other by 68, which is no multiple of a
    length that both sizes are made of; two entries, not ``(2, 3, 32|33, 32|100)``."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 5)).eval()
    with shapetrace.trace(net) as t:
        net(torch.randn(2, 3, 32, 32))
        net(torch.randn(2, 3, 33, 100))
    roots = [row for row in table_rows(t) if row[0].parent_id is None and row[0].type == "Sequential"]
    assert [[call.inputs[0].shape for call in row.variants] for row in roots] == [[(2, 3, 32, 32)], [(2, 3, 33, 100)]]
