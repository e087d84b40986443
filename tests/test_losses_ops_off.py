"""Functional losses are recorded with ops off (``trace(ops=False)``, ``run --no-op-recording``).

A user turns op recording off on a big model for speed; the loss that compares its
output with the target is where the commonest silent bug sits (``F.mse_loss`` of
``(N, 1)`` and ``(N,)``). With ops off only the functional losses are wrapped
(record/loss_calls.py): every loss-class variant and handed case is found with ops off
as with ops on, through both entry points; correct models stay clean; the traced
program computes what it computes untraced; no torch function mode runs.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import shapetrace
from shapetrace.cli import main
from shapetrace.cli.exit_codes import EXIT_FINDINGS, EXIT_RAISED
from tests.case_support import VARIANTS, case_path, culprit_line, load_file, serious, traced_module

pytestmark = pytest.mark.filterwarnings("ignore")

# (A loss written out by hand, ``((pred - y) ** 2).mean()``, is ops: with ops off it is not
# recorded, as the README says; tests/test_hand_written_loss.py has it with ops on.)
LOSS_VARIANTS = sorted(path.stem for path in VARIANTS.glob("st0*.py")
                       if path.stem[:5] in ("st005", "st016") and "written_out" not in path.stem)
# Variants whose culprit is an op of the loop that made the target (its batch moved by
# ``unsqueeze(0)``, a collate's ``torch.stack(..., dim=1)``, labels resized by
# ``F.interpolate``): with ops off that op is not recorded, so the finding cannot be put
# there (nor, for the batch moved, be told from a loss over all pairs); their fixed
# versions are still clean with ops off.
NEEDS_OPS = {
    "st005_u_depth_target_unsqueezed_in_front_silog_loader",
    "st005_v_l1_module_mask_unsqueezed_in_front_loader",
    "st005_y_collate_stacks_multilabel_targets_on_dim_1",
    "st016_i_labels_interpolated_by_half_for_quarter_logits_raises",
    # (every size equal: only the one_hot op's class axis tells the layouts apart)
    "st005_z_bce_one_hot_target_classes_last_equal_sizes",
}
# The handed cases whose bug is in the loss: (case, culprit text, code).
LOSS_CASES = [("13", 'loss = F.smooth_l1_loss(pred, depth, reduction="sum")', "ST005"),
              ("15", "loss = criterion(output, density)", "ST016")]


def _culprit(path: Path) -> int:
    (line,) = [n for n, text in enumerate(path.read_text().splitlines(), 1) if text.rstrip().endswith("# culprit")]
    return line


def _loaded(path: Path):
    return load_file(path, f"ops_off_{path.stem}")


def _run_ops_off(path: Path, fixed: bool = False) -> tuple[int, shapetrace.Trace, str]:
    """``shapetrace run PATH --fail-on warning --no-op-recording [-- --fixed]``, in this process."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "trace.json"
        out = io.StringIO()
        arguments = ["run", str(path), "--fail-on", "warning", "--no-op-recording", "-o", str(saved)]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main([*arguments, *(["--", "--fixed"] if fixed else [])])
        return code, shapetrace.load(saved), out.getvalue()


def _on_line(findings, code: str, line: int) -> list:
    return [f for f in findings if f.code == code and f.severity in ("warning", "error")
            and f.location is not None and f.location.lineno == line]


def _loss_findings(trace: shapetrace.Trace) -> list[tuple]:
    return sorted((f.code, f.severity, f.message, f.hint) for f in trace.findings if f.code in ("ST005", "ST016"))


# ------------------------------------------------------------ every loss-class variant and case
@pytest.mark.parametrize("name", [name for name in LOSS_VARIANTS if name not in NEEDS_OPS])
def test_a_loss_variant_is_found_with_ops_off_as_with_ops_on(name):
    path = VARIANTS / f"{name}.py"
    line, code = _culprit(path), name[:5].upper()
    off = traced_module(_loaded(path), ops=False)
    assert _on_line(off.findings, code, line), [(f.code, f.message) for f in off.findings]
    # the same loss findings as with ops on; ST016 names the resizing modules, not the
    # resizing ops (F.max_pool2d), which were not recorded
    on = _loss_findings(traced_module(_loaded(path)))
    assert [(c, s, h) for c, s, _, h in _loss_findings(off)] == [(c, s, h) for c, s, _, h in on]
    assert all(full.startswith(part) for (_, _, part, _), (_, _, full, _) in zip(_loss_findings(off), on))
    exit_code, trace, output = _run_ops_off(path)
    assert exit_code == (EXIT_RAISED if trace.error is not None else EXIT_FINDINGS), output
    assert trace.ops_setting is False and _on_line(trace.findings, code, line), output


@pytest.mark.parametrize("name", LOSS_VARIANTS)
def test_a_fixed_loss_variant_is_clean_with_ops_off(name):
    path = VARIANTS / f"{name}.py"
    off = traced_module(_loaded(path), fixed=True, ops=False)
    assert off.error is None and serious(off) == [], [(f.code, f.message) for f in off.findings]
    exit_code, trace, output = _run_ops_off(path, fixed=True)
    assert exit_code == 0 and serious(trace) == [], output


@pytest.mark.parametrize(("case", "text", "code"), LOSS_CASES)
def test_a_handed_loss_case_fails_with_ops_off_and_its_fixed_version_passes(case, text, code):
    line = culprit_line(case, text)
    exit_code, trace, output = _run_ops_off(case_path(case))
    assert exit_code == (EXIT_RAISED if trace.error is not None else EXIT_FINDINGS), output
    assert _on_line(trace.findings, code, line), output
    exit_code, trace, output = _run_ops_off(case_path(case), fixed=True)
    assert exit_code == 0 and serious(trace) == [], output


# ------------------------------------------------------------ the trace API, loss by loss
class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


def _regression():
    torch.manual_seed(0)
    return Regressor(), torch.randn(16, 4), torch.randn(16)


LOSSES = {
    "F.mse_loss": lambda pred, y: F.mse_loss(pred, y),
    "F.l1_loss": lambda pred, y: nn.functional.l1_loss(pred, y),
    "F.smooth_l1_loss": lambda pred, y: torch.nn.functional.smooth_l1_loss(pred, y, reduction="sum"),
    "F.huber_loss": lambda pred, y: F.huber_loss(pred, y),
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_broadcasting_functional_loss_outside_the_model_is_st005_with_ops_off(loss):
    model, x, y = _regression()
    plain = LOSSES[loss](model(x), y)
    with shapetrace.trace(model, ops=False) as t:
        value = LOSSES[loss](model(x), y)
    assert torch.equal(value, plain)  # the loss the program computes untraced
    (found,) = [f for f in t.findings if f.code == "ST005"]
    assert found.severity == "error" and "(16, 16)" in found.message
    # the loss is the only op recorded: nothing else with ops off
    assert [call.name for call in t.ops] == [LOSSES[loss].__code__.co_names[-1]]
    assert re.fullmatch(r"use pred\.squeeze\(-1\) as the input, or \w+\.unsqueeze\(-1\) as the target", found.hint)


def test_a_loss_module_is_recorded_once_with_ops_off():
    """``nn.MSELoss()`` is the module call; the ``F.mse_loss`` in its forward is PyTorch's, not recorded."""
    model, x, y = _regression()
    loss_fn = nn.MSELoss()
    with shapetrace.trace(model, ops=False) as t:
        loss_fn(model(x), y)
    assert [call.type for call in t.calls if call.parent_id is None] == ["Regressor", "MSELoss"]
    assert list(t.ops) == [] and [f.code for f in serious(t)] == ["ST005"]


def test_a_loss_inside_the_model_forward_is_recorded_with_ops_off():
    class WithLoss(Regressor):
        def forward(self, x, y):
            return F.mse_loss(self.net(x), y)

    torch.manual_seed(0)
    model = WithLoss()
    x, y = torch.randn(16, 4), torch.randn(16)
    with shapetrace.trace(model, ops=False) as t:
        model(x, y)
    (loss,) = t.ops
    assert loss.name == "mse_loss" and loss.parent_id == t.calls[0].id
    assert [f.code for f in serious(t)] == ["ST005"]
    with shapetrace.trace(model, ops=False) as t:
        model(x, y.unsqueeze(-1))
    assert serious(t) == []


def test_cross_entropy_on_a_pooled_prediction_raises_with_st016_explaining_it_with_ops_off():
    """A dense (N, C, H/2, W/2) prediction against (N, H, W) class indices: PyTorch raises;
    the loss is in the trace, ST016 names the pooling, and the error's note says so."""
    class Segmenter(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool(self.conv(x))

    torch.manual_seed(0)
    model = Segmenter()
    x, labels = torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8))
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model, ops=False) as t:
        F.cross_entropy(model(x), labels)
    assert t.ops[0].name == "cross_entropy" and t.ops[0].error is not None
    (found,) = [f for f in t.findings if f.code == "ST016"]
    assert "pool" in found.message
    assert "ST016" in "\n".join(getattr(raised.value, "__notes__", []))
    with shapetrace.trace(model, ops=False) as t:
        F.cross_entropy(model(x), labels[:, ::2, ::2])
    assert t.error is None and serious(t) == []


def test_a_correct_training_loop_with_ops_off_has_no_finding_and_the_same_results():
    def train(traced: bool):
        torch.manual_seed(0)
        model = Regressor()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(16, 4), torch.randn(16, 1)
        losses = []
        with shapetrace.trace(model, ops=False) if traced else contextlib.nullcontext() as t:
            for _ in range(3):
                loss = F.mse_loss(model(x), y) + F.l1_loss(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
        return losses, [p.detach().clone() for p in model.parameters()], t

    plain, plain_params, _ = train(False)
    traced, traced_params, t = train(True)
    assert all(torch.equal(a, b) for a, b in zip(plain, traced))
    assert all(torch.equal(a, b) for a, b in zip(plain_params, traced_params))
    assert serious(t) == [] and [call.name for call in t.ops] == ["mse_loss", "l1_loss"] * 3


# ------------------------------------------------------------ cheap, and left as found
def test_ops_off_pushes_no_torch_function_mode_and_puts_the_losses_back():
    import inspect
    import pickle

    from torch.overrides import _get_current_function_mode_stack

    model, x, y = _regression()
    originals = {name: getattr(F, name) for name in ("mse_loss", "cross_entropy", "l1_loss")}
    codes = {name: function.__code__ for name, function in originals.items()}
    signatures = {name: inspect.signature(function) for name, function in originals.items()}
    with shapetrace.trace(model, ops=False):
        assert _get_current_function_mode_stack() == []
        # The same function objects (a name bound before the block is one of them), their code swapped
        assert {name: getattr(F, name) for name in originals} == originals
        assert F.mse_loss.__code__ is not codes["mse_loss"]
        assert {name: inspect.signature(getattr(F, name)) for name in originals} == signatures
        assert pickle.loads(pickle.dumps(F.mse_loss)) is F.mse_loss
        kept = F.mse_loss
    assert {name: getattr(F, name).__code__ for name in originals} == codes
    assert not any(hasattr(function, "__wrapped__") for function in originals.values())
    assert torch.equal(kept(model(x), y), F.mse_loss(model(x), y))
    with pytest.raises(ZeroDivisionError), shapetrace.trace(model, ops=False):
        raise ZeroDivisionError
    assert {name: getattr(F, name).__code__ for name in originals} == codes


def test_pytorchs_broadcast_warning_still_names_the_users_line_with_ops_off():
    model, x, y = _regression()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with shapetrace.trace(model, ops=False):
            F.mse_loss(model(x), y)  # the line the warning names
    (warned,) = [w for w in caught if "target size" in str(w.message)]
    assert warned.filename == __file__
    assert Path(warned.filename).read_text().splitlines()[warned.lineno - 1].strip().startswith("F.mse_loss(")


# ------------------------------------------------------------ the help, applied
FUNCTIONAL_ST005 = [name for name in LOSS_VARIANTS
                    if name.startswith("st005") and "F." in (VARIANTS / f"{name}.py").read_text().splitlines()[
                        _culprit(VARIANTS / f"{name}.py") - 1]]


@pytest.mark.parametrize("name", FUNCTIONAL_ST005)
def test_the_st005_help_found_with_ops_off_applied_leaves_no_finding(name, tmp_path):
    """Each alternative of the help (``use A as the input, or B as the target``; a squeeze,
    unsqueeze or permute of the operand), put in place of its operand on the culprit line:
    the loss then runs on equal shapes."""
    path = VARIANTS / f"{name}.py"
    line = _culprit(path)
    (found,) = _on_line(traced_module(_loaded(path), ops=False).findings, "ST005", line)
    for expression in re.findall(r"use (.+?) as the (?:input|target)", found.hint):
        operand = re.match(r"(.+)\.(?:(?:un)?squeeze\(-?\d+\)|permute\([\d, ]+\))$", expression).group(1)
        source = path.read_text().splitlines()
        assert operand in source[line - 1], (operand, source[line - 1])
        source[line - 1] = source[line - 1].replace(operand, expression, 1)
        patched = tmp_path / f"patched_{name}.py"
        patched.write_text("\n".join(source) + "\n")
        helped = traced_module(load_file(patched, f"patched_{name}_{len(expression)}"), ops=False)
        assert helped.error is None and serious(helped) == [], (expression, helped.findings)
        assert [call.name for call in helped.ops] != []  # the loss is recorded, and clean
