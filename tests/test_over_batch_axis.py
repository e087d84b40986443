"""ST019: a softmax or a reduction along the batch axis.

Each buggy model here runs; its output for one sample depends on the samples
batched with it, which is what the finding says. Each help is applied to the
model's source: the finding goes, and each sample's output no longer depends on
its batch (the first sample's output is the same alone and in the batch)."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import torch

import shapetrace

pytestmark = pytest.mark.filterwarnings("ignore")

HEADER = """
import torch
import torch.nn.functional as F
from torch import nn
"""

SOFTMAX_MODULE = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 4)
        self.softmax = nn.Softmax(dim=0)

    def forward(self, x):
        return self.softmax(self.fc(x))


def batch():
    return torch.randn(8, 5), torch.randint(0, 4, (8,))


def loss_of(out, y):
    return F.nll_loss(torch.log(out), y)
"""

# The module built in the forward itself: under trace(model) it is no module of the
# model's, and it was not recorded at all (nor its softmax checked).
SOFTMAX_BUILT_IN_FORWARD = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        return nn.Softmax(dim=0)(self.fc(x))


def batch():
    return torch.randn(8, 5), torch.randint(0, 4, (8,))


def loss_of(out, y):
    return F.nll_loss(torch.log(out), y)
"""

ATTENTION_POOLING = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.att = nn.Linear(32, 1)
        self.out = nn.Linear(32, 3)

    def forward(self, tokens):
        h, _ = self.lstm(self.emb(tokens))
        scores = self.att(h).squeeze(-1)
        w = torch.softmax(scores, dim=0)
        return self.out((w.unsqueeze(-1) * h).sum(dim=1))


def batch():
    return torch.randint(0, 50, (6, 12)), torch.randint(0, 3, (6,))


def loss_of(out, y):
    return nn.CrossEntropyLoss()(out, y)
"""

# No dim: PyTorch picks dim 0 of a 3-d input (and warns, a warning scripts print and users skip).
IMPLICIT_DIM = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(10, 20, batch_first=True)
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        logits = self.fc(out)
        return F.log_softmax(logits)


def batch():
    return torch.randn(4, 7, 10), torch.randint(0, 5, (4, 7))


def loss_of(out, y):
    return F.nll_loss(out.reshape(-1, 5), y.reshape(-1))
"""

METHOD_SOFTMAX = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 6)

    def forward(self, image):
        scores = self.fc(self.conv(image).mean(dim=(2, 3)))
        return scores.softmax(0)


def batch():
    return torch.randn(6, 3, 8, 8), torch.randint(0, 6, (6,))


def loss_of(out, y):
    return F.nll_loss(out.log(), y)
"""

# Batch and time are both 10: it runs, and only the layer's flag says which is the batch.
MEAN_EQUAL_SIZES = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, t):
        out, _ = self.lstm(self.emb(t))
        pooled = out.mean(dim=0)
        return self.fc(pooled)


def batch():
    return torch.randint(0, 30, (10, 10)), torch.randint(0, 2, (10,))


def loss_of(out, y):
    return F.cross_entropy(out, y)
"""

# Batch 5, 9 steps: the loss raises, and the note says why.
SUM_LOUD = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out.sum(0))


def batch():
    return torch.randn(5, 9, 4), torch.randn(5, 1)


def loss_of(out, y):
    return nn.MSELoss()(out, y)
"""

# A seq-first GRU's (time, batch) attention scores, normalised over the batch, the last dim.
SEQ_FIRST_OVER_BATCH = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8)
        self.att = nn.Linear(8, 1)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h, _ = self.gru(x)
        scores = self.att(h).squeeze(-1)
        w = F.softmax(scores, dim=1)
        return self.out((w.unsqueeze(-1) * h).sum(dim=0))


def batch():
    return torch.randn(7, 3, 4), torch.randint(0, 2, (3,))


def first_sample(x):
    return x[:, :1]


def loss_of(out, y):
    return F.cross_entropy(out, y)
"""


def load(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(body))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traced(module, **options):
    torch.manual_seed(0)
    model = module.Model()
    x, y = module.batch()
    with shapetrace.trace(model, **options) as t:
        try:
            module.loss_of(model(*x) if isinstance(x, tuple) else model(x), y).backward()
        except RuntimeError:
            pass
    return model, x, t


def st019(t):
    return [f for f in t.findings if f.code == "ST019"]


def depends_on_batch(module, model, x) -> bool:
    """The first sample's output differs alone and in its batch (a module's
    ``first_sample(x)`` cuts it out where it is not ``x[:1]``)."""
    one = module.first_sample(x) if hasattr(module, "first_sample") else x[:1]
    with torch.no_grad():
        return not torch.allclose(model(x)[:1], model(one), atol=1e-6)


# (source, the written code, where the finding points, the help's first words)
CASES = {
    "softmax_module": (SOFTMAX_MODULE, "nn.Softmax(dim=0)", "return self.softmax(", "build it with nn.Softmax(dim=1)"),
    "softmax_built_in_forward": (
        SOFTMAX_BUILT_IN_FORWARD,
        "nn.Softmax(dim=0)",
        "return nn.Softmax(dim=0)",
        "build it with nn.Softmax(dim=1)",
    ),
    "attention_pooling": (ATTENTION_POOLING, "torch.softmax(scores, dim=0)", "w = torch.softmax", "use "),
    "implicit_dim": (IMPLICIT_DIM, "F.log_softmax(logits)", "return F.log_softmax", "use "),
    "method_softmax": (METHOD_SOFTMAX, "scores.softmax(0)", "return scores.softmax", "use "),
    "mean_equal_sizes": (MEAN_EQUAL_SIZES, "out.mean(dim=0)", "pooled = out.mean", "use "),
    "seq_first_batch_last": (SEQ_FIRST_OVER_BATCH, "F.softmax(scores, dim=1)", "w = F.softmax", "use "),
}


def applied(hint: str, written: str, source: str) -> str:
    """The source with the help's code change made (its first alternative)."""
    first = hint.split(";")[0]
    new = first.removeprefix("use ").removeprefix("build it with ")
    assert written in source and new != written
    return source.replace(written, new)


@pytest.mark.parametrize("name", sorted(CASES))
def test_found_on_its_line_and_the_help_fixes_it(tmp_path, name):
    body, written, line_text, hint_start = CASES[name]
    module = load(tmp_path, name, body)
    model, x, t = traced(module)
    assert depends_on_batch(module, model, x)  # the bug is real: samples mix
    [found] = st019(t)
    # weights summed over the time steps by hand as well: ST021's mistake too, one finding at its severity
    assert found.severity == ("error" if name in ("attention_pooling", "seq_first_batch_last") else "warning")
    assert ("sums them over (ST021)" in found.message) == (found.severity == "error")
    assert line_text in found.location.code
    assert found.hint.startswith(hint_start), found.hint
    fixed = load(tmp_path, f"{name}_fixed", applied(found.hint, written, textwrap.dedent(body)))
    model, x, t = traced(fixed)
    assert st019(t) == [] and not [f for f in t.findings if f.severity != "info"], t.findings
    assert not depends_on_batch(fixed, model, x)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("attention_pooling", "use torch.softmax(scores, dim=1)"),  # the time steps
        ("implicit_dim", "use F.log_softmax(logits, dim=-1)"),  # the classes
        ("method_softmax", "use scores.softmax(1)"),
        ("seq_first_batch_last", "use F.softmax(scores, dim=0)"),  # the time steps
        ("scores_of_one", "build it with nn.Softmax(dim=1)"),  # the steps, not the size-1 last dim
    ],
)
def test_the_help_names_the_axis_meant(tmp_path, name, hint):
    body = CASES[name][0] if name in CASES else SCORES_OF_ONE
    assert st019(traced(load(tmp_path, name, body))[2])[0].hint == hint


# Attention scores (batch, time, 1) normalised by a module over the batch: a softmax over
# the size-1 last dim would make every weight 1, the steps were meant.
SCORES_OF_ONE = ATTENTION_POOLING.replace(
    "scores = self.att(h).squeeze(-1)\n        w = torch.softmax(scores, dim=0)\n        "
    "return self.out((w.unsqueeze(-1) * h).sum(dim=1))",
    "w = self.norm(self.att(h))\n        return self.out((w * h).sum(dim=1))",
).replace("self.out = nn.Linear(32, 3)", "self.out = nn.Linear(32, 3)\n        self.norm = nn.Softmax(dim=0)")


def test_equal_sizes_give_both_fixes(tmp_path):
    """Batch and time both 10: the flag may be the mistake, and the finding says so."""
    [found] = st019(traced(load(tmp_path, "m", MEAN_EQUAL_SIZES))[2])
    assert "Batch and time are both 10" in found.message
    seq_first = "or, if the data is seq-first, build it with nn.LSTM(..., batch_first=False)"
    assert found.hint == f"use out.mean(dim=1); {seq_first}"
    assert "the model's output (10, 2) has no batch axis left; its rows are the 10 time steps" in found.message


def test_a_loud_one_is_explained_and_the_layer_flag_not_blamed(tmp_path):
    module = load(tmp_path, "loud", SUM_LOUD)
    model, x, y = module.Model(), *module.batch()
    with pytest.raises(RuntimeError) as info, shapetrace.trace(model) as t:
        module.loss_of(model(x), y)
    note = "\n".join(getattr(info.value, "__notes__", []))
    assert "explained by" in note and "ST019" in note and "out.sum(0)" in note
    assert [f.code for f in t.findings if f.severity != "info"] == ["ST019"]  # not ST001: the target has 5 rows
    [found] = st019(t)
    assert found.hint == "use out.sum(1)"
    fixed = load(tmp_path, "loud_fixed", applied(found.hint, "out.sum(0)", textwrap.dedent(SUM_LOUD)))
    model, x, t = traced(fixed)
    assert t.error is None and t.findings == []


def test_a_softmax_module_is_found_with_ops_off(tmp_path):
    _, _, t = traced(load(tmp_path, "off", SOFTMAX_MODULE), ops=False)
    assert [f.code for f in t.findings] == ["ST019"]


# Correct models with a softmax or a reduction along dim 0 that is not the batch, or
# along the batch on purpose.
SEQ_FIRST_ATTENTION = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8)
        self.att = nn.Linear(8, 1)
        self.out = nn.Linear(8, 2)

    def forward(self, x):  # (time, batch, 4)
        h, _ = self.lstm(x)
        w = torch.softmax(self.att(h).squeeze(-1), dim=0)  # over time
        return self.out((w.unsqueeze(-1) * h).sum(dim=0))


def batch():
    return torch.randn(7, 3, 4), torch.randint(0, 2, (3,))


def loss_of(out, y):
    return F.cross_entropy(out, y)
"""

# CLIP-style: both axes of the similarity matrix are samples; a softmax over either is meant.
TWO_BATCH_SIMILARITY = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Conv2d(3, 8, 3)
        self.text = nn.GRU(6, 8, batch_first=True)

    def forward(self, images):
        a = self.image(images).mean(dim=(2, 3))
        _, h = self.text(torch.randn(images.size(0), 5, 6))
        sim = a @ h[-1].t()
        return torch.log_softmax(sim, dim=0)


def batch():
    return torch.randn(4, 3, 8, 8), torch.arange(4)


def loss_of(out, y):
    return F.nll_loss(out.t(), y)
"""

# A batch statistic broadcast back (the batch reaches the output), and a batch mean of a score.
BATCH_STATISTICS = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        h = self.conv(x)
        h = (h - h.mean(dim=0, keepdim=True)) / (h.std(dim=0, keepdim=True) + 1e-5)
        scores = h.max(dim=2).values
        return F.softmax(self.fc(scores), dim=1)


def batch():
    return torch.randn(5, 3, 11), torch.randint(0, 2, (5,))


def loss_of(out, y):
    return F.nll_loss(out.log(), y) + out.mean(dim=0).var()
"""

IMPLICIT_2D = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        return F.softmax(self.fc(x))  # dim 1 for a 2-d input


def batch():
    return torch.randn(8, 5), torch.randint(0, 4, (8,))


def loss_of(out, y):
    return F.nll_loss(out.log(), y)
"""


# ListNet: one query's candidates scored and normalised against each other, a 1-d softmax.
LISTWISE_SCORES = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.score = nn.Linear(6, 1)

    def forward(self, candidates):
        return F.log_softmax(self.score(candidates).squeeze(-1), dim=0)


def batch():
    return torch.randn(9, 6), torch.softmax(torch.randn(9), dim=0)


def loss_of(out, y):
    return -(y * out).sum()
"""

# Attention-based multiple-instance learning (Ilse et al., 2018): one bag per forward,
# its instances in a convolution's N, pooled with weights normalised over them.
MIL_BAG = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.att = nn.Linear(4, 1)
        self.cls = nn.Linear(4, 2)

    def forward(self, bag):
        h = self.features(bag)
        a = F.softmax(self.att(h), dim=0)
        return self.cls((a * h).sum(0, keepdim=True))


def batch():
    return torch.randn(5, 1, 8, 8), torch.tensor([1])


def loss_of(out, y):
    return F.cross_entropy(out, y)
"""

# A prototypical network: a support set whitened by its statistics, prototypes the
# means of each class's shots, stored shot-major.
PROTOTYPES = """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, support, query):
        s = self.enc(support)
        s = (s - s.mean(dim=0, keepdim=True)) / (s.std(dim=0, keepdim=True) + 1e-5)
        prototypes = s.view(4, 3, -1).mean(0)
        return -torch.cdist(self.enc(query), prototypes)


def batch():
    return (torch.randn(12, 1, 8, 8), torch.randn(6, 1, 8, 8)), torch.randint(0, 3, (6,))


def loss_of(out, y):
    return F.cross_entropy(out, y)
"""

QUIET = {
    "mil_bag": MIL_BAG,
    "prototypes": PROTOTYPES,
    "seq_first_attention": SEQ_FIRST_ATTENTION,
    "two_batch_similarity": TWO_BATCH_SIMILARITY,
    "batch_statistics": BATCH_STATISTICS,
    "implicit_2d": IMPLICIT_2D,
    "listwise_scores": LISTWISE_SCORES,
}


@pytest.mark.parametrize("body", QUIET.values(), ids=QUIET.keys())
def test_correct_models_are_quiet(tmp_path, body):
    _, _, t = traced(load(tmp_path, "ok", body))
    assert t.error is None
    assert st019(t) == [], st019(t)


# A softmax written in the training loop, between the model and the loss.
SOFTMAX_IN_LOOP = """
import sys
import torch
from torch import nn

dim = 1 if "--fixed" in sys.argv else 0
model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.NLLLoss()
for step in range(3):
    x, y = torch.randn(12, 6), torch.randint(0, 3, (12,))
    probs = torch.softmax(model(x), dim=dim)
    loss = criterion(torch.log(probs), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


@pytest.mark.parametrize("fixed", [False, True])
def test_run_records_a_softmax_between_the_model_and_its_loss(tmp_path, fixed):
    from tests.case_support import run_script

    script = tmp_path / "softmax_in_loop.py"
    script.write_text(SOFTMAX_IN_LOOP)
    done = run_script(script, *(["--fixed"] if fixed else []))
    assert ("softmax", 12) in [(c.name, c.location.lineno) for c in done.trace.calls if c.kind == "op"]
    assert done.exit_code == (0 if fixed else 1), done.output
    assert [f.code for f in done.trace.findings] == ([] if fixed else ["ST019"])
    if not fixed:
        assert st019(done.trace)[0].hint == "use torch.softmax(model(x), dim=1)"
