"""An op's text is the call as the user wrote it: a Python-level torch function
(``F.relu``, ``F.softmax``, ``F.max_pool2d``) hands every parameter to
``__torch_function__``, so the recorded kwargs hold its defaults
(``inplace=False``) and private ones (``_stacklevel=3``); the text leaves those
out and keeps what differs from the default. On pytorch/examples'
actor_critic.py (tests/real_scripts/actor_critic_small.py)."""

from __future__ import annotations

import contextlib
import io

import torch
import torch.nn.functional as F
from torch import nn

import shapetrace
from shapetrace.core.text import format_op
from shapetrace.record.script import run_script
from shapetrace.render.report import make_console, report
from tests.case_support import REAL_SCRIPTS


def test_actor_critic_rows_read_as_the_script_writes_them() -> None:
    path = REAL_SCRIPTS / "actor_critic_small.py"
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_script(str(path))
    assert run.error is None and run.exit_code == 0
    ops = [format_op(call) for call in run.trace.calls if call.kind == "op" and call.parent is not None]
    assert ops == ["relu(T)", "softmax(T, dim=-1)"]  # F.relu(self.affine1(x)), F.softmax(..., dim=-1)
    out = io.StringIO()
    make_console(out, width=200, color=False).print(report(run.trace))
    text = out.getvalue()
    assert "└─ relu(T) " in text and "└─ softmax(T, dim=-1) " in text
    assert "inplace" not in text and "_stacklevel" not in text


class _Pools(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(x, 2, ceil_mode=True)  # a boolean-dispatch wrapper
        x = F.interpolate(x, scale_factor=2)
        x = F.dropout(x, 0.2, training=False)
        x = F.leaky_relu(x, 0.01)
        return F.normalize(x, p=1.0, dim=1)


def test_defaults_are_left_out_and_what_differs_is_kept() -> None:
    model, x = _Pools(), torch.randn(2, 3, 5, 5)
    with shapetrace.trace(model) as trace:
        model(x)
    assert [format_op(call) for call in trace.calls if call.kind == "op"] == [
        "max_pool2d(T, 2, ceil_mode=True)",
        "interpolate(T, scale_factor=2)",
        "dropout(T, p=0.2, training=False)",
        "leaky_relu(T)",  # 0.01 is F.leaky_relu's default
        "normalize(T, p=1.0)",
    ]


class _LongView(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1280).view(1280)


def test_a_long_op_leaves_out_whole_arguments_never_part_of_a_number() -> None:
    model, x = _LongView(), torch.randn(1280)
    with shapetrace.trace(model) as trace:
        model(x)
    reshape, view = [format_op(call) for call in trace.calls if call.kind == "op"]
    assert view == ".view(1280)"
    assert len(reshape) <= 49 and reshape.endswith(", …)")
    assert reshape.startswith(".reshape(1, 1, 1") and "128" not in reshape  # 1280 is left out whole
    assert format_op(next(c for c in trace.calls if c.name == "reshape"), max_width=12) == ".reshape(…)"
