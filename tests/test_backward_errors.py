"""An error raised in the backward pass gets a note naming the forward call
behind it, under ``trace()`` and under ``shapetrace run``: the call that made a
loss that is not one number, the tensor a passed gradient does not fit, the
forward call of a custom ``autograd.Function`` whose backward raised or
returned a gradient of the wrong shape. The user's exception keeps its type,
message and frames (compared with an untraced run)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

import shapetrace

ROOT = Path(__file__).resolve().parent.parent

NOT_SCALAR = """
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
x, y = torch.randn(3, 4), torch.randn(3, 1)
def step():
    loss = nn.functional.mse_loss(model(x), y, reduction="none")
    loss.backward()
"""

GRAD_SHAPE = """
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
x = torch.randn(2, 4)
def step():
    out = model(x)
    out.backward(torch.ones(2))
"""

FUNCTION_GRAD = """
import torch
from torch import nn
class RowSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sum(-1)
    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad @ x
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
    def forward(self, x):
        h = self.lin(x).relu()
        return RowSum.apply(h)
torch.manual_seed(0)
model = Net()
x = torch.randn(3, 4)
def step():
    model(x).sum().backward()
"""

FUNCTION_RAISES = """
import torch
from torch import nn
class Project(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w
    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad @ w, grad @ x
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 5))
    def forward(self, x):
        return Project.apply(x.relu(), self.w)
torch.manual_seed(0)
model = Net()
x = torch.randn(3, 4, requires_grad=True)
def step():
    model(x).sum().backward()
"""

# (source, the exception's first words, lines the note must hold, in order)
CASES = {
    "not_scalar": (NOT_SCALAR, "grad can be implicitly created only for scalar outputs", [
        "raised in the backward pass started at {file}:8",
        "    loss.backward()",
        "the tensor backward() was called on is (3, 1), not a single number:"
        " made by mse_loss(T, T, reduction='none') at {file}:7",
        "help: mse_loss has reduction='none': drop it",
    ]),
    "grad_shape": (GRAD_SHAPE, "Mismatch in shape: grad_output[0]", [
        "raised in the backward pass started at {file}:8",
        "    out.backward(torch.ones(2))",
        "gradient 0 is (2,); the tensor it is for is (2, 1), made by the root (Sequential) at {file}:7",
        "    out = model(x)",
        "help: backward(gradient) takes a gradient of its tensor's shape (2, 1)",
    ]),
    "function_grad": (FUNCTION_GRAD, "Function RowSumBackward returned an invalid gradient at index 0", [
        "raised in the backward pass started at {file}:23",
        "RowSum.backward returned a gradient of (4,) for input 0 of its forward, which is (3, 4)",
        "its forward: RowSum.apply((3, 4)) -> (3,) at {file}:18",
        "    return RowSum.apply(h)",
        "help: backward returns one gradient per input of forward",
    ]),
    "function_raises": (FUNCTION_RAISES, "mat1 and mat2 shapes cannot be multiplied", [
        "raised in the backward pass started at {file}:22",
        "in Project.backward at {file}:11 (a custom autograd.Function)",
        "    return grad @ w, grad @ x",
        "its gradients in: (3, 5)",
        "its forward: Project.apply((3, 4), (4, 5)) -> (3, 5) at {file}:17",
    ]),
}


def _load(name: str, tmp_path: Path) -> tuple[dict, Path]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(CASES[name][0]).lstrip("\n"))
    namespace: dict = {"__name__": name}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace, path


def _assert_lines_in_order(note: str, expected: list[str], path: Path) -> None:
    """Each of ``expected`` in ``note``, in order; ``{file}`` is the script's name."""
    note, file = note.replace(f"{path.parent}{os.sep}", ""), path.name
    position = 0
    for line in expected:
        found = note.find(line.format(file=file), position)
        assert found >= 0, f"{line.format(file=file)!r} not (in order) in:\n{note}"
        position = found + 1


def _frames_from_step(error: BaseException) -> list[tuple[str, str, int | None]]:
    frames = [(f.filename, f.name, f.lineno) for f in traceback.extract_tb(error.__traceback__)]
    names = [name for _, name, _ in frames]
    assert "step" in names and "backward" in names[names.index("step") :]
    return frames[names.index("step") :]


def _raised(run) -> BaseException:
    with pytest.raises(BaseException) as raised:
        run()
    return raised.value


@pytest.mark.parametrize("ops", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_under_trace_a_backward_error_is_noted_with_its_forward_call(name, ops, tmp_path) -> None:
    namespace, path = _load(name, tmp_path)
    plain = _raised(namespace["step"])
    assert str(plain).startswith(CASES[name][1])

    def traced():
        with shapetrace.trace(namespace["model"], ops=ops):
            namespace["step"]()

    namespace, _ = _load(name, tmp_path)  # a fresh model: the failed step left no state behind
    error = _raised(traced)
    assert type(error) is type(plain) and str(error) == str(plain)
    assert _frames_from_step(error) == _frames_from_step(plain)
    notes = getattr(error, "__notes__", [])
    assert len(notes) == 1
    _assert_lines_in_order(notes[0], ["shapetrace: " + CASES[name][2][0], *CASES[name][2][1:]], path)


def test_an_error_of_the_forward_is_noted_as_before(tmp_path) -> None:
    """A shape error raised in the forward (in torch/_tensor.py's code, too) is no backward error."""
    import torch
    from torch import nn

    model = nn.Linear(4, 3)
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        model(torch.randn(2, 4)).split([1, 1], dim=1)
    (note,) = raised.value.__notes__
    assert note.startswith("shapetrace: raised by .split(") and "backward pass" not in note


def test_a_custom_function_runs_as_untraced_and_its_apply_is_put_back() -> None:
    import torch

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    original = torch.autograd.Function.__dict__["apply"]
    x = torch.randn(3, requires_grad=True)
    with shapetrace.trace() as t:
        Double.apply(x).sum().backward()
    assert torch.autograd.Function.__dict__["apply"] is original
    assert torch.equal(x.grad, torch.full((3,), 2.0))
    assert any(call.name == "mul" for call in t.calls)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_under_shapetrace_run_a_backward_error_is_noted_with_its_forward_call(name, tmp_path) -> None:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(CASES[name][0]).lstrip("\n") + "step()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    plain = subprocess.run([sys.executable, path.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
    traced = subprocess.run([sys.executable, "-m", "shapetrace", "run", path.name], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert plain.returncode == traced.returncode == 1
    expected = plain.stderr.splitlines()
    assert expected[-1].startswith("RuntimeError: " + CASES[name][1])
    assert traced.stderr.splitlines()[: len(expected)] == expected  # its type, message and frames
    note = "\n".join(traced.stderr.splitlines()[len(expected) :])
    _assert_lines_in_order(note, ["shapetrace: " + CASES[name][2][0], *CASES[name][2][1:]], path)
