"""ST005 on losses written out by hand (``((pred - y) ** 2).mean()``,
``torch.mean(torch.abs(target - out))``, a BCE of products): the comparison of a
(B, 1) prediction with a (B,) target broadcasts to (B, B) and is reduced to one
number. Variants st005_h/i/j (tests/cases/variants/) hold the trigger through
``trace()`` and ``shapetrace run``; here: the help applied, the same loss inside a
model's forward, and the all-pairs comparisons people write on purpose, which
must stay clean."""

from __future__ import annotations

import ast
import contextlib
import io
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shapetrace
from tests.case_support import VARIANTS, load_file, serious, traced_module

pytestmark = pytest.mark.filterwarnings("ignore")


def st005(t: shapetrace.Trace) -> list:
    return [f for f in serious(t) if f.code == "ST005"]


def printed(module, fixed: bool = False) -> str:
    """What ``work()`` prints: the loss of its step."""
    _model, work = module.make(fixed)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        work()
    return out.getvalue()


@pytest.mark.parametrize(
    "name, expected_help",
    [
        ("st005_h_mse_written_out_column_prediction", "use pred.squeeze(-1) - y"),
        ("st005_i_l1_written_out_target_first", "use target - out.squeeze(-1)"),
        ("st005_q_written_out_weights_times_unreduced_loss", "use per_sample.squeeze(-1) * w"),
    ],
)
def test_the_applied_help_gives_the_fixed_loss_and_no_finding(name, expected_help, tmp_path):
    module = load_file(VARIANTS / f"{name}.py", f"tests.cases.variants.{name}")
    found = st005(traced_module(module))
    assert len(found) == 1 and found[0].severity == "error", found
    assert found[0].hint.startswith(expected_help + ":"), found[0].hint
    expression = found[0].hint.removeprefix("use ").split(": ")[0]
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    line = found[0].location.lineno - 1
    # the culprit's subtraction (or product), as written, replaced by the help's expression
    tree = ast.parse(source[line].strip())
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Sub, ast.Mult)))
    written = ast.get_source_segment(source[line].strip(), node)
    assert source[line].count(written) == 1
    source[line] = source[line].replace(written, expression)
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    rewritten = load_file(patched, f"patched_{name}")
    assert printed(rewritten) == printed(module, fixed=True) != printed(module)
    assert st005(traced_module(rewritten)) == [], source[line]


def test_the_product_of_a_written_out_bce_has_a_help_that_names_the_shapes():
    name = "st005_j_bce_written_out_labels_1d"
    module = load_file(VARIANTS / f"{name}.py", f"tests.cases.variants.{name}")
    found = st005(traced_module(module))
    assert len(found) == 1, found  # two products on the line: one finding
    assert found[0].message.startswith("the product at line 19 broadcasts (9,) and (9, 1) to (9, 9)")
    assert found[0].hint == ("give both operands of * one shape: squeeze(-1) the (9, 1) one, "
                             "or unsqueeze(-1) the (9,) one")


class Regressor(nn.Module):
    """A Hugging Face-style model: the loss is computed in forward when labels are given."""

    def __init__(self, fixed: bool) -> None:
        super().__init__()
        self.fixed = fixed
        self.body = nn.Sequential(nn.Linear(5, 12), nn.GELU())
        self.head = nn.Linear(12, 1)

    def forward(self, x, labels=None):
        out = self.head(self.body(x))
        if labels is None:
            return out
        if self.fixed:
            labels = labels.unsqueeze(-1)
        loss = (out - labels).pow(2).mean()
        return loss, out


@pytest.mark.parametrize("fixed", [False, True])
def test_a_loss_written_out_inside_forward_is_found_and_its_fixed_form_is_not(fixed):
    torch.manual_seed(0)
    model = Regressor(fixed)
    with shapetrace.trace(model) as t:
        model(torch.randn(6, 5), labels=torch.randn(6))
    found = st005(t)
    if fixed:
        assert found == []
    else:
        assert len(found) == 1 and found[0].location.code == "loss = (out - labels).pow(2).mean()"
        assert "(6, 1) and (6,) to (6, 6)" in found[0].message


class Scores(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


def pairwise_losses():
    """Comparisons of all pairs that their authors mean, each reduced to one number."""
    torch.manual_seed(0)
    model = Scores()
    x, other = torch.randn(5, 4), torch.randn(5, 4)
    centers = torch.randn(5, 8)
    embed = nn.Linear(4, 8)
    with shapetrace.trace(model) as t:
        s = model(x).squeeze(-1)
        # RankNet: every score against every other score of the same list
        ranknet = torch.sigmoid(s[:, None] - s).mean()
        # a margin ranking of positives against negatives, both size-1 dims written out
        pos, neg = model(x).squeeze(-1), model(other).squeeze(-1)
        margin = torch.relu(1 - (pos[:, None] - neg[None, :])).mean()
        # distances to prototypes (as many as the batch), reduced along the features first
        protos = ((embed(x)[:, None] - centers) ** 2).sum(-1).min(dim=1).values.mean()
        # a centred loss: a (5, 1) against a scalar
        pred = model(x)
        centred = ((pred - pred.mean()) ** 2).mean()
        # the right shapes
        mse = ((model(x).squeeze(-1) - torch.randn(5)) ** 2).mean()
        (ranknet + margin + protos + centred + mse).backward()
    return t


def test_comparisons_of_all_pairs_written_on_purpose_are_no_loss_broadcast():
    t = pairwise_losses()
    assert t.error is None
    # the ops are recorded (this is not a test of nothing): the broadcasting ones among them
    outer = [c for c in t.calls if c.kind == "op" and c.name == "sub" and c.outputs
             and math.prod(c.outputs[0].shape) > max(math.prod(meta.shape) for meta in c.inputs)]
    assert len(outer) == 3, [(c.inputs, c.outputs) for c in outer]
    assert [f for f in t.findings if f.code == "ST005"] == []


def test_comparisons_of_all_pairs_of_one_loader_batch_written_on_purpose_are_no_loss_broadcast():
    """The same all-pairs losses on a DataLoader's batch: the batch axis meets itself in
    each of them, on purpose (both sides shaped for the pairs, or one tensor against its
    own transpose); only the model's output as returned against a target moved off the
    batch's dim is a mistake (variants st005_u, st005_v, st005_w)."""
    torch.manual_seed(0)
    model = Scores()
    data = TensorDataset(torch.randn(10, 4), torch.randn(10, 4), torch.randn(10))
    with shapetrace.trace(model) as t:
        for x, augmented, y in DataLoader(data, batch_size=5):
            s = model(x)  # (5, 1), as returned
            ranknet = torch.sigmoid(s - s.t()).mean()  # every score against every other of the batch
            a, b = model(x), model(augmented)
            mmd = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1).mean()  # all pairs of two views
            pos, neg = model(x).squeeze(-1), model(augmented).squeeze(-1)
            margin = torch.relu(1 - (pos[:, None] - neg[None, :])).mean()
            listwise = torch.sigmoid(s.squeeze(-1)[:, None] - y[None, :]).mean()  # scores against all targets
            mse = ((model(x).squeeze(-1) - y) ** 2).mean()
            (ranknet + mmd + margin + listwise + mse).backward()
    assert t.error is None and t.run_info.get("loader_tensors")
    outer = [c for c in t.calls if c.kind == "op" and c.name == "sub" and c.outputs
             and math.prod(c.outputs[0].shape) > max(math.prod(meta.shape) for meta in c.inputs)]
    assert len(outer) == 8, [(c.inputs, c.outputs) for c in outer]  # four a batch, two batches
    assert [f for f in t.findings if f.code == "ST005"] == []


class _Depth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        return nn.functional.softplus(self.conv(x)) + 1e-3


@pytest.mark.parametrize("fixed", [False, True])
def test_a_difference_a_loss_reads_twice_is_found_with_the_help_of_its_missing_dim(fixed):
    """The scale-invariant log loss reads its difference twice, ``(d ** 2).mean() -
    lam * d.mean() ** 2``: a (B, 1, H, W) prediction against (B, H, W) depth maps from a
    DataLoader broadcasts to (B, B, H, W) and is found, with the help of the missing
    channel dim (not a move of the batch: both have it on dim 0)."""
    torch.manual_seed(0)
    model = _Depth()
    data = TensorDataset(torch.rand(8, 3, 6, 6), torch.rand(8, 6, 6) + 1)
    with shapetrace.trace(model) as t:
        for image, depth in DataLoader(data, batch_size=4):
            target = depth.unsqueeze(1) if fixed else depth
            d = torch.log(model(image)) - torch.log(target)
            torch.sqrt((d**2).mean() - 0.85 * d.mean() ** 2).backward()
    found = st005(t)
    if fixed:
        assert found == []
        return
    assert len(found) == 1 and found[0].location.code == "d = torch.log(model(image)) - torch.log(target)"
    assert "(4, 1, 6, 6) and (4, 6, 6) to (4, 4, 6, 6)" in found[0].message
    assert found[0].hint == (
        "use torch.log(model(image)).squeeze(1) - torch.log(target): each element then meets its own "
        "(or torch.log(model(image)) - torch.log(target).unsqueeze(1))"
    )


SPELLINGS = {
    "((p - y) ** 2).sum(dim=-1).mean()": lambda p, y: ((p - y) ** 2).sum(dim=-1).mean(),
    "torch.norm(p - y)": lambda p, y: torch.norm(p - y),
    "torch.sqrt(torch.mean(torch.square(p.sub(y))))": lambda p, y: torch.sqrt(torch.mean(torch.square(p.sub(y)))),
    "(p / y - 1).abs().mean()": lambda p, y: (p / y - 1).abs().mean(),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_other_spellings_of_a_written_out_loss_are_found(spelling):
    torch.manual_seed(0)
    model = Scores()
    x, y = torch.randn(6, 4), torch.rand(6) + 1
    with shapetrace.trace(model) as t:
        SPELLINGS[spelling](model(x), y).backward()
    found = st005(t)
    assert len(found) == 1 and "(6, 1) and (6,) to (6, 6)" in found[0].message, [f.message for f in t.findings]
    with shapetrace.trace(model) as t:
        SPELLINGS[spelling](model(x).squeeze(-1), y).backward()
    assert st005(t) == []


SCRIPT = """
import sys
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
for step in range(2):
    x, y = torch.randn(6, 3), torch.randn(6)
    out = model(x)
    pred = out.view(-1) if "--fixed" in sys.argv else out.view(-1, 1)
    loss = torch.mean((pred.float() - y) ** 2)
    loss.backward()
    logged = [loss.detach().clone(), (loss * 2).item()]
    hits = (out.argmax(0) == y.argmax()).float().mean()
    total = (x.sum() + y.sum()).mean()
print("ok")
"""


@pytest.mark.parametrize("fixed", [False, True])
def test_run_records_the_ops_a_loss_takes_from_the_output_and_not_the_loops_others(fixed, tmp_path):
    from tests.case_support import run_script

    script = tmp_path / "manual_loss.py"
    script.write_text(SCRIPT)
    done = run_script(script, *(["--fixed"] if fixed else []))
    ops = [(c.name, c.location.lineno) for c in done.trace.calls if c.kind == "op"]
    # the loss's steps, from the output (line 11: the view, line 12: float, sub, pow, mean),
    # once (one pass per input signature), with the ops outside the model that made the
    # pass's input and the loss's target (line 9, each as it is read: record/before_pass.py);
    # not what logs the loss (line 14), the accuracy (line 15) nor the sums of x and y (line 16)
    assert ops == [("randn", 9), ("view", 11), ("float", 12), ("randn", 9), ("sub", 12), ("pow", 12), ("mean", 12)]
    assert done.exit_code == (0 if fixed else 1), done.output
    assert [f.code for f in serious(done.trace)] == ([] if fixed else ["ST005"])


def test_a_similarity_loss_help_applied_gives_the_fixed_loss(tmp_path):
    """``F.cosine_similarity`` of (B, D) and (B, 1, D), reduced to one number: the help
    squeezes the target's extra dim inside the call as written."""
    name = "st005_r_written_out_cosine_target_extra_dim"
    module = load_file(VARIANTS / f"{name}.py", f"tests.cases.variants.{name}")
    [found] = st005(traced_module(module))
    assert found.hint == (
        "use F.cosine_similarity(model(x), target.squeeze(1), dim=-1): each prediction then meets its own target"
    )
    source = (VARIANTS / f"{name}.py").read_text()
    written = "F.cosine_similarity(model(x), target, dim=-1)"
    assert source.count(written) == 1
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text(source.replace(written, found.hint.removeprefix("use ").split(": ")[0]))
    rewritten = load_file(patched, f"patched_{name}")
    assert printed(rewritten) == printed(module, fixed=True) != printed(module)
    assert st005(traced_module(rewritten)) == []


@pytest.mark.parametrize(
    "similarity",
    [
        "F.cosine_similarity(a.unsqueeze(1), b.unsqueeze(0), dim=-1).mean()",  # a similarity matrix
        "F.cosine_similarity(a.unsqueeze(1), a.unsqueeze(0), dim=-1).mean()",  # one tensor against itself
        "F.cross_entropy(F.cosine_similarity(a.unsqueeze(1), b, dim=-1), torch.arange(4))",  # InfoNCE
        "(1 - F.cosine_similarity(a, b, dim=-1)).mean()",  # each with its own
        "F.pairwise_distance(a, b).mean()",
    ],
)
def test_similarities_of_all_pairs_meant_or_of_equal_shapes_are_no_loss_broadcast(similarity):
    import torch.nn.functional as F

    a, b = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8)
    with shapetrace.trace() as t:
        loss = eval(similarity, {"F": F, "torch": torch, "a": a, "b": b})
        loss.backward()
    assert st005(t) == [], t.findings


def test_a_hand_written_loss_on_a_channels_last_target_gets_the_permute():
    """``((pred - y) ** 2).mean()`` with pred (B, 1, H, W) and y stored channels-last
    (B, H, W, 1), H == W: it broadcasts to (B, H, W, W); the help permutes the target, and
    applied it gives the loss on equal shapes, with no finding."""
    import torch
    from torch import nn

    import shapetrace

    torch.manual_seed(0)
    model = nn.Conv2d(3, 1, 3, padding=1)
    x, y = torch.randn(4, 3, 8, 8), torch.rand(4, 8, 8, 1)
    with shapetrace.trace(model) as t:
        pred = model(x)
        ((pred - y) ** 2).mean()
    (found,) = [f for f in t.findings if f.code == "ST005"]
    assert found.severity == "error" and "stored channels-last" in found.message
    assert found.hint == "use pred - y.permute(0, 3, 1, 2)"
    with shapetrace.trace(model) as helped:
        pred = model(x)
        loss = ((pred - y.permute(0, 3, 1, 2)) ** 2).mean()
    assert [f for f in helped.findings if f.severity != "info"] == []
    assert torch.equal(loss, ((pred - y.squeeze(-1).unsqueeze(1)) ** 2).mean())


class _Density(nn.Module):
    """A CSRNet-like density head: three 2x max-pools, the map at 1/8 of the image."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width_in, width_out in ((3, 8), (8, 8), (8, 8)):
            layers += [nn.Conv2d(width_in, width_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.frontend = nn.Sequential(*layers)
        self.output = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        return self.output(self.frontend(x))


@pytest.mark.parametrize("fixed", [False, True])
def test_a_loss_written_by_hand_at_another_resolution_is_st016(fixed):
    """``((et - gt) ** 2).sum()`` of a (B, 1, H/8, W/8) density map against the full-size
    target raises at the subtraction; ST016 explains it (the three pools) with the
    help's sum-keeping pooling, which, applied, runs clean."""
    import torch.nn.functional as F

    model = _Density()
    img, gt = torch.randn(2, 3, 32, 48), torch.rand(2, 1, 32, 48)
    if not fixed:
        with pytest.raises(RuntimeError) as raised, shapetrace.trace(model) as t:
            et = model(img)
            ((et - gt) ** 2).sum()
        [found] = [f for f in t.findings if f.code == "ST016"]
        assert found.message.startswith("et - gt at line")
        assert "by hand, compares (2, 1, 4, 6) with (2, 1, 32, 48): the prediction is 1/8" in found.message
        assert "downsampled by three MaxPool2d(2)" in found.message
        assert "F.avg_pool2d(gt, 8) * 64 keeps its sum" in found.hint
        assert "ST016 loss-resolution-mismatch" in "\n".join(raised.value.__notes__)
        return
    with shapetrace.trace(model) as t:
        et = model(img)
        loss = ((et - F.avg_pool2d(gt, 8) * 64) ** 2).sum()
    assert loss.shape == () and serious(t) == []


def test_a_loss_written_as_a_function_gets_its_fix_at_the_one_call(tmp_path):
    """smape(pred, target) reads pred twice (pred - target, pred.abs() + target.abs()): squeezing the
    culprit's operand alone would leave the other use broadcasting, so the help edits the call."""
    name = "st005_za_smape_written_out_as_a_function_channel_dim"
    module = load_file(VARIANTS / f"{name}.py", f"tests.cases.variants.{name}")
    [found] = st005(traced_module(module))
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if text.strip() == "step(smape(forecast, y))")
    assert found.hint == (f"use smape(forecast.squeeze(1), y) in place of smape(forecast, y) at line {line}: "
                          "pred then has the other operand's shape in every use inside smape")
    source[line - 1] = source[line - 1].replace("smape(forecast, y)", "smape(forecast.squeeze(1), y)")
    patched = tmp_path / "helped_smape.py"
    patched.write_text("\n".join(source) + "\n")
    helped = load_file(patched, "helped_smape")
    assert printed(helped) == printed(module, fixed=True) != printed(module)
    assert serious(traced_module(helped)) == []
