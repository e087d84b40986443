"""Ops that einops runs for the user's line (record/frames.py ``is_helper``,
analyze/checks/_einops.py).

``rearrange(y, "(h b) t d -> b t (h d)")`` runs a reshape and a permute inside einops: they
are recorded at the user's line, never at einops' own, and a scrambled split is told, and
fixed, in the pattern the user wrote. Expectations written by hand from einops' rule: a
group's names are read outermost first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import shapetrace
from tests.case_support import VARIANTS, load_file, model_outputs, serious, traced_module

pytest.importorskip("einops")

PATH = VARIANTS / "st002_q_einops_heads_merged_batch_major_split_heads_major.py"


def _culprit() -> int:
    return next(n for n, line in enumerate(PATH.read_text().splitlines(), 1) if line.endswith("# culprit"))


def test_einops_ops_are_at_the_users_line():
    t = traced_module(load_file(PATH))
    ops = [call for call in t.calls if call.kind == "op" and call.name in ("reshape", "permute")]
    assert ops
    assert {Path(call.location.filename).name for call in ops} == {PATH.name}


def test_a_split_in_the_wrong_order_is_fixed_in_the_pattern(tmp_path):
    t = traced_module(load_file(PATH))
    [found] = serious(t)
    assert found.code == "ST002" and found.location.lineno == _culprit()
    assert "reads dim 0 of (24, 10, 8) as (h b), sizes 4 x 6, but that dim holds 6 x 4 in memory, merged as (b h)" in (
        found.message
    )
    assert found.hint == "use rearrange(y, '(b h) t d -> b t (h d)', h=self.h)"
    # the help applied: the rearrange call on the culprit line replaced by the one it gives
    lines = PATH.read_text().splitlines()
    line = lines[_culprit() - 1]
    node = next(n for n in ast.walk(ast.parse(line.strip())) if isinstance(n, ast.Call))
    indent = len(line) - len(line.lstrip())
    lines[_culprit() - 1] = (
        line[: indent + node.col_offset] + found.hint.removeprefix("use ") + line[indent + node.end_col_offset :]
    )
    patched = tmp_path / "helped_einops.py"
    patched.write_text("\n".join(lines) + "\n")
    helped = load_file(patched)
    for got, want in zip(model_outputs(helped), model_outputs(load_file(PATH), fixed=True), strict=True):
        torch.testing.assert_close(got, want)
    assert serious(traced_module(helped)) == []


class Merged(torch.nn.Module):
    """Heads merged batch-major, split back with the group spaced, or with two rearranges on a line."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form, self.h = form, 4

    def forward(self, x):
        from einops import rearrange

        y = rearrange(x, "b t (h d) -> (b h) t d", h=self.h)
        if self.form == "spaced":
            return rearrange(y, "( h b ) t d->b t (h d)", h=self.h)
        return rearrange(y, "(h b) t d -> b t (h d)", h=self.h) + rearrange(y, "(b h) t d -> b t (h d)", h=self.h)


def _st002(form: str):
    model = Merged(form)
    with shapetrace.trace(model) as t:
        model(torch.randn(6, 10, 32))
    return [f for f in serious(t) if f.code == "ST002"]


def test_a_spaced_group_is_written_anew_keeping_the_rest_of_the_pattern():
    [found] = _st002("spaced")
    assert found.hint == "use rearrange(y, '(b h) t d->b t (h d)', h=self.h)"


def test_two_rearranges_on_one_line_get_a_help_on_the_pattern_not_on_einops_variables():
    """The op does not say which of the two ran it: no call is rewritten, and einops' own
    ``x.reshape(...)`` is not offered as the fix."""
    [found] = _st002("two")
    line = found.location.lineno
    wanted = f"in the einops pattern at line {line}, write the group's names in the order of its axes in memory"
    assert found.hint == wanted
