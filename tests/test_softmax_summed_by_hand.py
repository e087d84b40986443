"""ST021 through ``torch.einsum`` and hand-written weighted sums, and where ST019 meets it.

Each buggy attention runs and gives a result other than attention's; its help,
applied to the source, gives ``F.scaled_dot_product_attention`` on the same q, k,
v. Each buggy pooling's weights do not sum to 1 over the axis the sum runs over;
with the help applied, each sample's do."""

from __future__ import annotations

import importlib.util
import re
import textwrap

import pytest
import torch
import torch.nn.functional as F

import shapetrace

pytestmark = pytest.mark.filterwarnings("ignore")

HEADER = """
import torch
import torch.nn.functional as F
from torch import nn
"""

# Attention models: forward returns (output, q, k, v), output (batch, heads, queries, d) or (batch, queries, d).
EINSUM_HEADS = """
class Model(nn.Module):
    def __init__(self, d=16, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = torch.einsum('bhid,bhjd->bhij', q, k) * (d // self.heads) ** -0.5
        attn = scores.softmax(dim=-2)
        return torch.einsum('bhij,bhjd->bhid', attn, v), q, k, v


def inputs():
    return (torch.randn(2, 6, 16),)
"""

# 3-d scores, weights normalised over the queries, dropout between.
EINSUM_3D = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        w = F.softmax(torch.einsum('bid,bjd->bij', q, k) / 8 ** 0.5, dim=1)
        return torch.einsum('bij,bjd->bid', self.drop(w), v), q, k, v


def inputs():
    return (torch.randn(3, 5, 8),)
"""

# Ellipsis spelling, heads normalised (dim 1 of (b, h, i, j)).
EINSUM_ELLIPSIS = """
class Model(nn.Module):
    def forward(self, q, k, v):
        sim = torch.einsum('...id,...jd->...ij', q, k) / 4 ** 0.5
        attn = torch.softmax(sim, dim=1)
        return torch.einsum('...ij,...jd->...id', attn, v), q, k, v


def inputs():
    return torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
"""

# The weights as the second operand (as lucidrains-style code writes it), over the queries.
EINSUM_SECOND = """
class Model(nn.Module):
    def forward(self, q, k, v):
        dots = torch.einsum('bhid,bhjd->bhij', q, k) * 4 ** -0.5
        attn = dots.softmax(dim=2)
        return torch.einsum('bhjd,bhij->bhid', v, attn), q, k, v


def inputs():
    return torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4)
"""

ATTENTION = {
    "einsum_heads": (EINSUM_HEADS, "scores.softmax(dim=-2)", "use scores.softmax(dim=-1)", "'bhij,bhjd->bhid'"),
    "einsum_3d": (EINSUM_3D, "F.softmax(torch.einsum('bid,bjd->bij', q, k) / 8 ** 0.5, dim=1)", None, "'bij,bjd->bid'"),
    "einsum_ellipsis": (
        EINSUM_ELLIPSIS, "torch.softmax(sim, dim=1)", "use torch.softmax(sim, dim=-1)", "'...ij,...jd->...id'"
    ),
    "einsum_second": (EINSUM_SECOND, "dots.softmax(dim=2)", "use dots.softmax(dim=-1)", "'bhjd,bhij->bhid', v, attn"),
}


def load(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(body))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traced(module):
    torch.manual_seed(0)
    model, inputs = module.Model(), module.inputs()
    with shapetrace.trace(model) as t:
        out = model(*inputs)
    return t, out


def is_attention(out, q, k, v) -> bool:
    return torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5)


def findings(t, code):
    return [f for f in t.findings if f.code == code]


def applied(hint, written, body):
    fixed = hint.removeprefix("use ").removeprefix("build it with ")
    assert written in body and fixed != written
    return body.replace(written, fixed)


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_einsum_attention_is_found_and_the_help_gives_attention(tmp_path, name):
    body, written, hint, equation = ATTENTION[name]
    t, (out, q, k, v) = traced(load(tmp_path, name, body))
    assert not is_attention(out, q, k, v)  # the bug is real
    [found] = findings(t, "ST021")
    assert found.severity == "error" and written in found.location.code
    assert f"torch.einsum({equation}" in found.message and "sums the weights over j, their last dim" in found.message
    if hint is not None:
        assert found.hint == hint
    t, (out, q, k, v) = traced(load(tmp_path, f"{name}_fixed", applied(found.hint, written, textwrap.dedent(body))))
    assert t.findings == []
    assert is_attention(out, q, k, v)


# Poolings: forward returns (pooled, weights); SUMMED is the weights' dim the sum runs over.
# Attention pooling over time, the softmax over the features (a scorer per feature).
POOL_FEATURES = """
SUMMED = 1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.att = nn.Linear(8, 8)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        w = torch.softmax(self.att(h), dim=-1)
        return (w * h).sum(dim=1), w


def inputs():
    return (torch.randn(4, 7, 6),)
"""

# (batch, time) scores normalised over the batch, pooled by unsqueeze, multiply and sum;
# no sequence layer tells which axis is the batch, so ST019 cannot say it.
POOL_UNSQUEEZE = """
SUMMED = 1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.score = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        w = F.softmax(self.score(h).squeeze(-1), dim=0)
        return torch.sum(w.unsqueeze(-1) * h, 1), w


def inputs():
    return (torch.randn(4, 7, 6),)
"""

# Indexed with None, the product written the other way round, scores (batch, time, 1).
POOL_INDEXED = """
SUMMED = 1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.score = nn.Linear(8, 1)
        self.norm = nn.Softmax(dim=0)

    def forward(self, x):
        h = self.proj(x)
        w = self.norm(self.score(h)[..., 0])
        return (h * w[:, :, None]).sum(dim=1), w


def inputs():
    return (torch.randn(5, 9, 6),)
"""

POOLINGS = {
    "features": (POOL_FEATURES, "torch.softmax(self.att(h), dim=-1)", "use torch.softmax(self.att(h), dim=1)"),
    "unsqueeze": (POOL_UNSQUEEZE, "F.softmax(self.score(h).squeeze(-1), dim=0)", None),
    "indexed": (POOL_INDEXED, "nn.Softmax(dim=0)", "build it with nn.Softmax(dim=-1)"),
}


def sums_to_one(w, dim) -> bool:
    return torch.allclose(w.sum(dim), torch.ones(()), atol=1e-5)


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_pooling_by_hand_is_found_and_the_help_normalises_what_is_summed(tmp_path, name):
    body, written, hint = POOLINGS[name]
    module = load(tmp_path, name, body)
    t, (_, w) = traced(module)
    assert not sums_to_one(w, module.SUMMED)  # the bug is real
    [found] = findings(t, "ST021")
    assert found.severity == "error"
    assert ".sum(" in found.message and "sums the weights over" in found.message
    assert findings(t, "ST019") == []
    if hint is not None:
        assert found.hint == hint
    fixed = load(tmp_path, f"{name}_fixed", applied(found.hint, written, textwrap.dedent(body)))
    t, (_, w) = traced(fixed)
    assert t.findings == []
    assert sums_to_one(w, fixed.SUMMED)


# ST019 and ST021 on one softmax: attention pooling normalised over a batch-first GRU's
# batch and summed over its time steps by bmm (or by hand). One finding names it, ST019's
# (the batch is the worse half: each sample's weights depend on its batch), at ST021's
# severity, with the axis the product sums in its help.
BATCH_POOL_BMM = """
SUMMED = 1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.score = nn.Linear(8, 1)

    def forward(self, x):
        h, _ = self.gru(x)
        a = F.softmax(self.score(h).squeeze(-1), dim=0)
        return torch.bmm(a.unsqueeze(1), h).squeeze(1), a


def inputs():
    return (torch.randn(3, 6, 4),)
"""

BATCH_POOL_EINSUM = BATCH_POOL_BMM.replace(
    "torch.bmm(a.unsqueeze(1), h).squeeze(1)", "torch.einsum('bt,btd->bd', a, h)"
)


@pytest.mark.parametrize(("body", "product"), [(BATCH_POOL_BMM, "torch.bmm"), (BATCH_POOL_EINSUM, "torch.einsum")])
def test_over_the_batch_and_summed_over_time_is_one_finding(tmp_path, body, product):
    module = load(tmp_path, "both", body)
    t, (_, a) = traced(module)
    assert not sums_to_one(a, module.SUMMED)
    [found] = [f for f in t.findings if f.severity != "info"]
    assert found.code == "ST019" and found.severity == "error"
    assert "the batch axis of gru" in found.message and f"{product}" in found.message and "(ST021)" in found.message
    assert found.hint == "use F.softmax(self.score(h).squeeze(-1), dim=1)"
    written = "F.softmax(self.score(h).squeeze(-1), dim=0)"
    fixed = load(tmp_path, "both_fixed", applied(found.hint, written, textwrap.dedent(body)))
    t, (_, a) = traced(fixed)
    assert t.findings == []
    assert sums_to_one(a, fixed.SUMMED)


# Correct uses: softmax over the summed axis in several spellings, softmaxes summed over
# another axis on purpose, einsum contractions that are not attention.
QUIET = {
    "einsum_heads": EINSUM_HEADS.replace("softmax(dim=-2)", "softmax(dim=-1)"),
    "einsum_3d": EINSUM_3D.replace("dim=1)", "dim=-1)"),
    "einsum_ellipsis": EINSUM_ELLIPSIS.replace("dim=1)", "dim=-1)"),
    "einsum_second": EINSUM_SECOND.replace("dim=2)", "dim=3)"),
    "einsum_implicit_output": EINSUM_ELLIPSIS.replace("dim=1)", "dim=-1)").replace(
        "'...ij,...jd->...id'", "'...ij,...jd'"
    ),
    "einsum_list_operands": EINSUM_3D.replace("dim=1)", "dim=-1)").replace(
        "torch.einsum('bij,bjd->bid', self.drop(w), v)", "torch.einsum('bij,bjd->bid', [self.drop(w), v])"
    ),
    "pool_over_time": POOL_UNSQUEEZE.replace("dim=0)", "dim=1)"),
    "pool_indexed_over_time": POOL_INDEXED.replace("nn.Softmax(dim=0)", "nn.Softmax(dim=1)"),
    # Shen et al., "Efficient Attention": keys normalised over positions, queries over features
    "efficient_attention_einsum": """
class Model(nn.Module):
    def forward(self, q, k, v):
        k = k.softmax(dim=-2)
        context = torch.einsum('bnd,bne->bde', k, v)
        q = q.softmax(dim=-1)
        return torch.einsum('bnd,bde->bne', q, context)


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
""",
    # a bilinear form of two softmaxed inputs, each summed over its own normalised axis
    "bilinear": """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 5, 6))

    def forward(self, x, y):
        return torch.einsum('bi,oij,bj->bo', x.softmax(-1), self.w, y.softmax(-1))


def inputs():
    return torch.randn(4, 5), torch.randn(4, 6)
""",
    # a mixture of experts: the gate normalised over the experts, summed over them (by hand and by einsum)
    "gated_sum": """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(8, 3)
        self.experts = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))

    def forward(self, x):
        g = torch.softmax(self.gate(x), dim=-1)
        outs = torch.stack([e(x) for e in self.experts], dim=1)
        return (g.unsqueeze(-1) * outs).sum(dim=1) + torch.einsum('be,bed->bd', g.softmax(-1), outs)


def inputs():
    return (torch.randn(4, 8),)
""",
    # slot attention: normalised over the slots on purpose, then renormalised over the inputs
    "slot_attention": """
class Model(nn.Module):
    def forward(self, slots, k, v):
        dots = torch.einsum('bid,bjd->bij', slots, k) * 4 ** -0.5
        attn = dots.softmax(dim=1) + 1e-8
        attn = attn / attn.sum(dim=-1, keepdim=True)
        return torch.einsum('bjd,bij->bid', v, attn)


def inputs():
    return torch.randn(2, 3, 4), torch.randn(2, 7, 4), torch.randn(2, 7, 4)
""",
    # NetVLAD: a soft assignment to the clusters, from a convolution, aggregated over the
    # positions (by matmul, by einsum and by hand): the clusters are kept on purpose
    "netvlad": """
class Model(nn.Module):
    def __init__(self, c=8, clusters=4):
        super().__init__()
        self.conv = nn.Conv2d(c, clusters, 1)
        self.centroids = nn.Parameter(torch.randn(clusters, c))

    def forward(self, x):
        n, c = x.shape[:2]
        a = F.softmax(self.conv(x).view(n, 4, -1), dim=1)
        b = F.softmax(self.conv(x).view(n, 4, -1), dim=1)
        s = F.softmax(self.conv(x).view(n, 4, -1), dim=1)
        flat = x.view(n, c, -1)
        vlad = a @ flat.transpose(1, 2) - self.centroids
        by_einsum = torch.einsum('nkl,ncl->nkc', b, flat)
        by_hand = (s.unsqueeze(2) * flat.unsqueeze(1)).sum(dim=-1)
        return vlad + by_einsum + by_hand


def inputs():
    return (torch.randn(2, 8, 3, 3),)
""",
    # an outer product keeps both axes: nothing summed
    "outer_product": """
class Model(nn.Module):
    def forward(self, x, y):
        return torch.einsum('bi,bj->bij', x.softmax(0), y)


def inputs():
    return torch.randn(4, 5), torch.randn(4, 6)
""",
    # log-probabilities summed over time: a sequence's log-likelihood, not weights
    "log_likelihood": """
class Model(nn.Module):
    def forward(self, logits, onehot):
        logp = F.log_softmax(logits, dim=-1)
        return torch.einsum('btv,btv->bv', logp, onehot)


def inputs():
    return torch.randn(2, 5, 7), F.one_hot(torch.randint(0, 7, (2, 5)), 7).float()
""",
}


@pytest.mark.parametrize("name", sorted(QUIET))
def test_correct_uses_are_quiet(tmp_path, name):
    t, _ = traced(load(tmp_path, name, QUIET[name]))
    assert t.error is None
    assert findings(t, "ST021") == [] and findings(t, "ST019") == [], t.findings


@pytest.mark.parametrize("name", ["einsum_heads", "einsum_3d", "einsum_ellipsis", "einsum_second"])
def test_the_correct_einsum_spellings_give_attention(tmp_path, name):
    _, (out, q, k, v) = traced(load(tmp_path, name, QUIET[name]))
    assert is_attention(out, q, k, v)


# einops.einsum runs torch.einsum with its own letters, from its own file.
EINOPS = """
from einops import einsum


class Model(nn.Module):
    def forward(self, q, k, v):
        sim = einsum(q, k, 'b h i d, b h j d -> b h i j') * 4 ** -0.5
        attn = sim.softmax(dim=-2)
        return einsum(attn, v, 'b h i j, b h j d -> b h i d'), q, k, v


def inputs():
    return torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4)
"""


def test_einops_einsum_is_named_by_the_equation_it_ran(tmp_path):
    pytest.importorskip("einops")
    t, (out, q, k, v) = traced(load(tmp_path, "einops_attention", EINOPS))
    assert not is_attention(out, q, k, v)
    [found] = findings(t, "ST021")
    # einops runs torch.einsum for the user's line: named by the equation it ran, at that line
    at = re.search(r"torch\.einsum\('abcd,abde->abce', \.\.\.\) at line (\d+) ", found.message)
    assert at, found.message
    lines = (tmp_path / "einops_attention.py").read_text().splitlines()
    assert "einsum(attn, v, " in lines[int(at.group(1)) - 1]
    assert found.hint == "use sim.softmax(dim=-1)"
    t, (out, q, k, v) = traced(load(tmp_path, "einops_fixed", applied(found.hint, "sim.softmax(dim=-2)", EINOPS)))
    assert t.findings == [] and is_attention(out, q, k, v)
