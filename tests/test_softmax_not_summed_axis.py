"""ST021: attention weights normalised over one dim and summed over another.

Each buggy attention here runs and gives a result other than attention's. Its
help, applied to the source, gives PyTorch's own attention
(``F.scaled_dot_product_attention`` on the same q, k, v)."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import torch
import torch.nn.functional as F

import shapetrace

pytestmark = pytest.mark.filterwarnings("ignore")

# Each module: ``Model`` whose forward returns (attention output, q, k, v), and ``inputs()``.
HEADS = """
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self, d=16, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5
        weights = torch.softmax(scores, dim=1)
        return weights @ v, q, k, v


def inputs():
    return (torch.randn(2, 4, 16),)
"""

QUERIES = """
import torch
import torch.nn.functional as F
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        w = F.softmax(torch.matmul(q, k.transpose(1, 2)) / 8 ** 0.5, dim=-2)
        return torch.matmul(self.drop(w), v), q, k, v


def inputs():
    return (torch.randn(3, 6, 8),)
"""

BMM = """
import torch
from torch import nn


class Model(nn.Module):
    def forward(self, q, k, v):
        attn = torch.bmm(q, k.transpose(1, 2)) / 4 ** 0.5
        attn = attn.softmax(1)
        return torch.bmm(attn, v), q, k, v


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
"""

MODULE = """
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.Softmax(dim=1)

    def forward(self, q, k, v):
        return torch.bmm(self.norm(torch.bmm(q, k.transpose(1, 2)) / 2), v), q, k, v


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
"""

CASES = {
    "softmax_module": (MODULE, "nn.Softmax(dim=1)", "build it with nn.Softmax(dim=-1)"),
    "over_heads": (HEADS, "torch.softmax(scores, dim=1)", "use torch.softmax(scores, dim=-1)"),
    "over_queries": (QUERIES, "F.softmax(torch.matmul(q, k.transpose(1, 2)) / 8 ** 0.5, dim=-2)", None),
    "bmm_method": (BMM, "attn.softmax(1)", "use attn.softmax(-1)"),
}


def load(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traced(module):
    torch.manual_seed(0)
    model, inputs = module.Model(), module.inputs()
    with shapetrace.trace(model) as t:
        out, q, k, v = model(*inputs)
    return t, out, (q, k, v)


def is_attention(out, qkv) -> bool:
    return torch.allclose(out, F.scaled_dot_product_attention(*qkv), atol=1e-5)


def st021(t):
    return [f for f in t.findings if f.code == "ST021"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_found_and_the_help_gives_attention(tmp_path, name):
    source, written, hint = CASES[name]
    t, out, qkv = traced(load(tmp_path, name, source))
    assert not is_attention(out, qkv)  # the bug is real
    [found] = st021(t)
    assert found.severity == "error"
    assert "sums the weights over their last dim" in found.message
    assert written in found.location.code or name == "softmax_module"
    if hint is not None:
        assert found.hint == hint
    fixed = found.hint.removeprefix("use ").removeprefix("build it with ")
    fixed_source = textwrap.dedent(source).replace(written, fixed)
    t, out, qkv = traced(load(tmp_path, f"{name}_fixed", fixed_source))
    assert t.findings == []
    assert is_attention(out, qkv)


# Softmaxes not over the summed dim, on purpose or not summed by a matmul.
EFFICIENT_ATTENTION = """
import torch
from torch import nn


class Model(nn.Module):
    # Shen et al., "Efficient Attention" (2021): keys normalised over positions, queries over features
    def forward(self, q, k, v):
        k = k.softmax(dim=-2)
        context = k.transpose(-2, -1) @ v
        q = q.softmax(dim=-1)
        return q @ context, q, k, v


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
"""

POOLING = """
import torch
import torch.nn.functional as F
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.score = nn.Linear(8, 1)

    def forward(self, x):
        h, _ = self.gru(x)
        a = F.softmax(self.score(h).squeeze(-1), dim=1)
        return torch.bmm(a.unsqueeze(1), h).squeeze(1), a, h, h


def inputs():
    return (torch.randn(3, 6, 4),)
"""


@pytest.mark.parametrize("source", [EFFICIENT_ATTENTION, POOLING], ids=["efficient_attention", "pooling"])
def test_correct_uses_are_quiet(tmp_path, source):
    t, _, _ = traced(load(tmp_path, "ok", source))
    assert st021(t) == []


def test_pooling_weights_over_the_batch_are_one_finding_through_unsqueeze(tmp_path):
    """Over a batch-first GRU's batch: ST019 names it (test_softmax_summed_by_hand.py), with the dim bmm sums."""
    source = POOLING.replace("dim=1)", "dim=0)")
    t, _, _ = traced(load(tmp_path, "pool", source))
    assert st021(t) == []
    [found] = [f for f in t.findings if f.code == "ST019"]
    assert "torch.bmm at line" in found.message and found.severity == "error" and found.hint.endswith("dim=1)")
