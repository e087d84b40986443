"""ST021 where the normalised axis is kept by the product, and the forms between the
softmax and the product that it follows: a mask multiplied in, ``torch.where`` on the
scores, a mean as the pooling, and a softmax over a dim of size 1.

Routing and soft assignment keep the normalised axis on purpose: each weight scales a
vector (a capsule's vote, a position's residual) sent to a slot the output keeps
(capsules, clusters), and the product sums over the inputs. Attention over the heads
keeps the heads too, but its scores are a product of queries and keys: it stays found.
Each buggy model's help, applied to its source, gives the weights the product needs
(attention: ``F.scaled_dot_product_attention`` on the same q, k, v)."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import torch
import torch.nn.functional as F

import shapetrace
from tests.test_softmax_summed_by_hand import POOL_FEATURES

pytestmark = pytest.mark.filterwarnings("ignore")

HEADER = """
import torch
import torch.nn.functional as F
from torch import nn
"""


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
    assert t.error is None
    return t, out


def st021(t):
    return [f for f in t.findings if f.code in ("ST019", "ST021")]


def applied(hint, written, body):
    fixed = hint.removeprefix("use ")
    assert written in body and fixed != written
    return body.replace(written, fixed)


# Sabour et al. 2017, dynamic routing as the common PyTorch ports write it: coupling
# coefficients normalised over the output capsules, the votes summed over the input ones.
CAPSULES = """
def squash(s, dim=-1):
    n2 = (s ** 2).sum(dim=dim, keepdim=True)
    return n2 / (1 + n2) * s / torch.sqrt(n2 + 1e-8)


class Model(nn.Module):
    def __init__(self, in_caps=12, out_caps=5, in_dim=8, out_dim=6):
        super().__init__()
        self.conv = nn.Conv2d(1, 3 * in_dim, 5, stride=2)
        self.W = nn.Parameter(0.1 * torch.randn(1, in_caps, out_caps, out_dim, in_dim))
        self.out_caps, self.in_dim = out_caps, in_dim

    def forward(self, x):
        u = self.conv(x).view(x.size(0), 3, self.in_dim, -1).permute(0, 1, 3, 2).reshape(x.size(0), -1, self.in_dim)
        u_hat = (self.W @ squash(u)[:, :, None, :, None]).squeeze(-1)
        b = torch.zeros(u_hat.shape[:3])
        couplings = []
        for i in range(3):
            c = F.softmax(b, dim=2)
            s = (c.unsqueeze(-1) * u_hat).sum(dim=1)
            v = squash(s)
            couplings.append(c)
            b = b + (u_hat * v.unsqueeze(1)).sum(dim=-1)
        return v, u_hat, couplings


def inputs():
    return (torch.randn(2, 1, 7, 7),)
"""

# NetVLAD (Arandjelovic et al. 2016) vectorised by hand: a soft assignment of each
# position to the clusters, each residual to a centroid summed over the positions.
NETVLAD = """
class Model(nn.Module):
    def __init__(self, dim=8, clusters=4):
        super().__init__()
        self.conv = nn.Conv2d(dim, clusters, 1)
        self.centroids = nn.Parameter(torch.rand(clusters, dim))
        self.clusters = clusters

    def forward(self, x):
        n, c = x.shape[:2]
        a = F.softmax(self.conv(x).view(n, self.clusters, -1), dim=1)
        flat = x.view(n, c, -1)
        residual = flat.unsqueeze(1) - self.centroids.unsqueeze(0).unsqueeze(-1)
        return (residual * a.unsqueeze(2)).sum(dim=-1), a, flat, self.centroids


def inputs():
    return (torch.randn(2, 8, 3, 3),)
"""

ROUTING = {
    "capsules": CAPSULES,
    "capsules_einsum": CAPSULES.replace(
        "(c.unsqueeze(-1) * u_hat).sum(dim=1)", "torch.einsum('bio,biod->bod', c, u_hat)"
    ),
    "capsules_matmul": CAPSULES.replace(
        "(c.unsqueeze(-1) * u_hat).sum(dim=1)", "(c.transpose(1, 2).unsqueeze(2) @ u_hat.transpose(1, 2)).squeeze(2)"
    ),
    "capsules_mean": CAPSULES.replace(".sum(dim=1)", ".mean(dim=1)"),
    "netvlad": NETVLAD,
    "netvlad_where": NETVLAD.replace("a.unsqueeze(2)", "torch.where(a > 0, a, 0).unsqueeze(2)"),
}


@pytest.mark.parametrize("name", sorted(ROUTING))
def test_routing_and_soft_assignment_are_quiet(tmp_path, name):
    assert name in ("capsules", "netvlad") or ROUTING[name] not in (CAPSULES, NETVLAD)  # each variant is one
    t, _ = traced(load(tmp_path, name, ROUTING[name]))
    assert st021(t) == [], t.findings


def test_the_routing_is_the_published_one():
    """What the quiet models compute: each input capsule's couplings sum to 1 over the
    output capsules, and NetVLAD by hand is the einsum form of the paper's sum."""
    import types

    capsules = types.ModuleType("capsules")
    exec(HEADER + textwrap.dedent(CAPSULES), capsules.__dict__)
    torch.manual_seed(0)
    v, u_hat, couplings = capsules.Model()(*capsules.inputs())
    assert all(torch.allclose(c.sum(dim=2), torch.ones(())) for c in couplings)
    s = torch.einsum("bio,biod->bod", couplings[-1], u_hat)
    assert torch.allclose(v, capsules.squash(s), atol=1e-6)
    netvlad = types.ModuleType("netvlad")
    exec(HEADER + textwrap.dedent(NETVLAD), netvlad.__dict__)
    vlad, a, flat, centroids = netvlad.Model()(*netvlad.inputs())
    paper = torch.einsum("nkl,ncl->nkc", a, flat) - a.sum(-1).unsqueeze(-1) * centroids
    assert torch.allclose(vlad, paper, atol=1e-5)


# Attention with one query per head (a learned query pooling a sequence): the weights
# have no axis but the heads beside the keys, and scale value vectors as routing does;
# normalised over the heads, it is still attention's mistake: the scores are q @ k.
ONE_QUERY = """
class Model(nn.Module):
    def __init__(self, d=16, heads=4):
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.randn(1, heads, 1, d // heads))
        self.kv = nn.Linear(d, 2 * d)

    def forward(self, x):
        b, t, d = x.shape
        k, v = self.kv(x).view(b, t, 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q = self.query.expand(b, -1, -1, -1)
        scores = q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5
        weights = torch.softmax(scores, dim=1)
        return weights @ v, q, k, v


def inputs():
    return (torch.randn(2, 6, 16),)
"""

# Attention weights masked after the softmax (a padding mask of ones here, so the
# right result is attention's), or picked by torch.where, before the product.
MASKED = """
class Model(nn.Module):
    def forward(self, q, k, v):
        mask = torch.ones(q.shape[0], 1, k.shape[1])
        w = F.softmax(q @ k.transpose(1, 2) / 4 ** 0.5, dim=1) * mask
        return w @ v, q, k, v


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
"""

# Scores masked by torch.where before the softmax (a causal mask).
WHERE = """
class Model(nn.Module):
    def forward(self, q, k, v):
        keep = torch.ones(q.shape[1], k.shape[1], dtype=torch.bool).tril()
        scores = torch.where(keep, q @ k.transpose(-2, -1) / 4 ** 0.5, float("-inf"))
        attn = scores.softmax(dim=-2)
        return attn @ v, q, k, v


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
"""

ATTENTION = {
    "one_query_over_heads": (ONE_QUERY, "torch.softmax(scores, dim=1)", "use torch.softmax(scores, dim=-1)", None),
    "masked_after": (MASKED, "F.softmax(q @ k.transpose(1, 2) / 4 ** 0.5, dim=1)", None, None),
    "masked_where_after": (
        MASKED.replace("* mask", "").replace("return w @ v", "return torch.where(mask > 0, w, 0.0) @ v"),
        "F.softmax(q @ k.transpose(1, 2) / 4 ** 0.5, dim=1)", None, None,
    ),
    "where_before": (WHERE, "scores.softmax(dim=-2)", "use scores.softmax(dim=-1)", "causal"),
}


def is_attention(out, q, k, v, causal) -> bool:
    return torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal)), atol=1e-5)


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_is_found_and_the_help_gives_attention(tmp_path, name):
    body, written, hint, causal = ATTENTION[name]
    t, (out, q, k, v) = traced(load(tmp_path, name, body))
    assert not is_attention(out, q, k, v, causal)  # the bug is real
    [found] = st021(t)
    assert found.code == "ST021" and found.severity == "error"
    assert "@ v at line" in found.message and "sums the weights over their last dim" in found.message
    if hint is not None:
        assert found.hint == hint
    t, (out, q, k, v) = traced(load(tmp_path, f"{name}_fixed", applied(found.hint, written, textwrap.dedent(body))))
    assert t.findings == []
    assert is_attention(out, q, k, v, causal)


# Poolings by hand: forward returns (pooled, weights); SUMMED is the weights' dim pooled over.
# Attention pooling averaged over time, the softmax over the features.
MEAN_FEATURES = POOL_FEATURES.replace("(w * h).sum(dim=1)", "(w * h).mean(dim=1)")

# Bahdanau pooling: one score per step, (batch, time, 1), normalised over its last dim
# of size 1: every weight is 1 and the sum is unweighted.
ONE_SCORE = """
SUMMED = 1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.W = nn.Linear(8, 8)
        self.v = nn.Linear(8, 1, bias=False)

    def forward(self, h):
        scores = self.v(torch.tanh(self.W(h)))
        w = F.softmax(scores, dim=-1)
        return (w * h).sum(dim=1), w


def inputs():
    return (torch.randn(3, 6, 8),)
"""

ONE_SCORE_BMM = """
SUMMED = 1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.score = nn.Linear(8, 1)

    def forward(self, h):
        w = torch.softmax(self.score(h), dim=2)
        return torch.bmm(w.transpose(1, 2), h).squeeze(1), w


def inputs():
    return (torch.randn(3, 6, 8),)
"""

POOLINGS = {
    "mean_over_features": (MEAN_FEATURES, "torch.softmax(self.att(h), dim=-1)", "(w * h).mean(dim=1)", "dim 1 (7)"),
    "one_score": (ONE_SCORE, "F.softmax(scores, dim=-1)", "(w * h).sum(dim=1)", "of size 1"),
    "one_score_bmm": (ONE_SCORE_BMM, "torch.softmax(self.score(h), dim=2)", "torch.bmm", "of size 1"),
}


def sums_to_one(w, dim) -> bool:
    return torch.allclose(w.sum(dim), torch.ones(()), atol=1e-5)


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_pooling_is_found_and_the_help_normalises_what_is_pooled(tmp_path, name):
    body, written, product, said = POOLINGS[name]
    module = load(tmp_path, name, body)
    t, (_, w) = traced(module)
    assert not sums_to_one(w, module.SUMMED)
    [found] = st021(t)
    assert found.code == "ST021" and found.severity == "error"
    assert product in found.message and said in found.message and written in found.location.code
    assert found.hint.endswith("dim=1)")
    fixed = load(tmp_path, f"{name}_fixed", applied(found.hint, written, textwrap.dedent(body)))
    t, (_, w) = traced(fixed)
    assert t.findings == []
    assert sums_to_one(w, fixed.SUMMED)


# A softmax over a dim of size 1 that sums nothing else: one key (a first generated
# token attends to itself), or one expert; a mask multiplied in and then renormalised;
# the weights mixed by a parameter; a statistic; the correct forms of the found models.
QUIET = {
    "one_key": """
class Model(nn.Module):
    def forward(self, q, k, v):
        w = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        return w @ v


def inputs():
    return torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8)
""",
    "one_expert": """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(8, 1)
        self.experts = nn.ModuleList([nn.Linear(8, 8)])

    def forward(self, x):
        g = torch.softmax(self.gate(x), dim=-1)
        outs = torch.stack([e(x) for e in self.experts], dim=1)
        return (g.unsqueeze(-1) * outs).sum(dim=1)


def inputs():
    return (torch.randn(4, 8),)
""",
    "masked_and_renormalised": """
class Model(nn.Module):
    def forward(self, q, k, v, mask):
        w = F.softmax(q @ k.transpose(1, 2), dim=1) * mask
        w = w / w.sum(dim=-1, keepdim=True)
        return w @ v


def inputs():
    return torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.ones(5, 5)
""",
    # talking-heads attention (Shazeer et al. 2020): the weights mixed over the heads by a
    # learned matrix after the softmax are weights still, pooled over the keys after
    "talking_heads": """
class Model(nn.Module):
    def __init__(self, heads=4):
        super().__init__()
        self.post = nn.Parameter(torch.randn(heads, heads))

    def forward(self, q, k, v):
        attn = torch.einsum('bhid,bhjd->bhij', q, k).softmax(dim=-1)
        attn = torch.einsum('bhij,hk->bkij', attn, self.post)
        return torch.einsum('bhij,bhjd->bhid', attn, v)


def inputs():
    return torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
""",
    # class probabilities times a one-hot target, summed over the batch: a soft
    # confusion row, a statistic of two inputs, not weights pooling what they scored
    "class_mass": """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 5)

    def forward(self, x, onehot):
        probs = F.softmax(self.fc(x), dim=1)
        return (probs * onehot).sum(dim=0)


def inputs():
    return torch.randn(6, 8), F.one_hot(torch.randint(0, 5, (6,)), 5).float()
""",
    "masked_correct": MASKED.replace("dim=1)", "dim=-1)"),
    "where_correct": WHERE.replace("dim=-2)", "dim=-1)"),
}


@pytest.mark.parametrize("name", sorted(QUIET))
def test_correct_uses_are_quiet(tmp_path, name):
    assert QUIET[name] not in (MASKED, WHERE)
    t, _ = traced(load(tmp_path, name, QUIET[name]))
    assert st021(t) == [], t.findings
