"""The public-report cases of the axis family (issue 16): 01, 05, 08, 09, 10, 12.

Each buggy case gets a warning or error finding on the culprit line, through
``shapetrace.trace(model)`` and through ``shapetrace run``; each fixed version
gets none (``--fail-on warning`` exits 0). The ``help:`` of each view/axis finding
is applied: the culprit line is rewritten as the hint says, and the rewritten case
must compute what the fixed version does, with no finding left.
"""

from __future__ import annotations

import ast
import re

import pytest
import torch
from torch.utils._pytree import tree_leaves

from tests.case_support import (
    at_line,
    case_path,
    culprit_line,
    load_case,
    load_file,
    model_outputs,
    run_case,
    run_case_subprocess,
    serious,
    traced_case,
    traced_module,
)
from tests.check_support import traced
from tests.models.axis_models import CORRECT_ARCHITECTURES

pytestmark = pytest.mark.filterwarnings("ignore")

# case -> (a piece of the culprit line, the code that names it)
CULPRITS = {
    "01": ("out, state = self.lstm(emb, state)", "ST001"),
    "05": ("last = output[:, -1, :] if self.fixed else output[:, :, -1]", "ST013"),
    "08": ("merged = heads.view(batch, length, -1)", "ST012"),
    "09": ("out = out.view(self.h, b, -1, self.d)", "ST002"),
    "10": ("attn = attn.view(b, length, self.e)", "ST012"),
    "12": ("x = x.view(x.size(0), -1) if self.fixed else torch.squeeze(x)", "ST014"),
}
AXIS_CASES = sorted(CULPRITS)
FOUND = AXIS_CASES
# Findings whose help is an expression to put in place of the op: "use EXPR[: why]".
HINTED = ["05", "08", "09", "10", "12"]


def _culprit_findings(findings, name):
    text, code = CULPRITS[name]
    line = culprit_line(name, text)
    return [f for f in at_line(findings, line, name) if f.code == code]


@pytest.mark.parametrize("name", FOUND)
def test_buggy_case_is_found_on_its_line_through_the_api(name):
    t = traced_case(name)
    assert _culprit_findings(serious(t), name), [(f.code, f.location, f.message) for f in t.findings]


@pytest.mark.parametrize("name", FOUND)
def test_buggy_case_is_found_on_its_line_through_the_command(name):
    run = run_case(name)
    assert run.caught, (run.exit_code, run.output)
    assert _culprit_findings(serious(run.trace), name), run.output


@pytest.mark.parametrize("name", AXIS_CASES)
def test_fixed_case_is_clean_through_the_api(name):
    assert serious(traced_case(name, fixed=True)) == []


@pytest.mark.parametrize("name", AXIS_CASES)
def test_fixed_case_is_clean_through_the_command(name):
    run = run_case(name, fixed=True)
    assert run.exit_code == 0, run.output
    assert serious(run.trace) == []


# ------------------------------------------------------------------ hints, applied
def _expression(hint: str) -> str:
    """``EXPR`` of ``use EXPR`` or ``use EXPR: why``."""
    match = re.match(r"use (.+?)(?:: [a-z].*)?$", hint)
    assert match, hint
    return match.group(1)


_COMPARED = {"ge": ast.GtE, "gt": ast.Gt, "le": ast.LtE, "lt": ast.Lt, "eq": ast.Eq, "ne": ast.NotEq}


def _span(line_source: str, trace, found) -> tuple[int, int]:
    """Where, in the culprit line, the op the finding is about was written."""
    call = next(c for c in trace.calls if c.id == found.call_id)
    stripped = line_source.lstrip()
    indent = len(line_source) - len(stripped)
    text = stripped.split("  #")[0]
    tree = ast.parse(text.rstrip(":") if text.endswith(":") else text)
    for node in ast.walk(tree):
        if call.name == "__getitem__" and isinstance(node, ast.Subscript):
            if ast.unparse(node) == found.message.split(" at line")[0]:
                break
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == call.name:
                break
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], _COMPARED.get(call.name, ())):
            break  # ``a >= b`` runs Tensor.ge
    else:
        raise AssertionError(f"no {call.name} on {line_source!r}")
    return indent + node.col_offset, indent + node.end_col_offset


def apply_hint(name: str, tmp_path):
    """The case with the culprit line rewritten as the finding's help says, loaded."""
    text = CULPRITS[name][0]
    t = traced_case(name)
    found = _culprit_findings(serious(t), name)[0]
    source = case_path(name).read_text().splitlines()
    line = culprit_line(name, text) - 1
    start, end = _span(source[line], t, found)
    source[line] = source[line][:start] + _expression(found.hint) + source[line][end:]
    patched = tmp_path / f"patched_{case_path(name).name}"
    patched.write_text("\n".join(source) + "\n")
    return load_file(patched), source[line]


def _same(got, want):
    got, want = tree_leaves(got), tree_leaves(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", HINTED)
def test_applied_help_gives_the_fixed_model_and_no_finding(name, tmp_path):
    module, rewritten = apply_hint(name, tmp_path)
    got, want = model_outputs(module), model_outputs(load_case(name), fixed=True)
    assert len(got) == len(want), rewritten
    for a, b in zip(got, want):
        _same(a, b)
    assert serious(traced_module(module)) == [], rewritten


@pytest.mark.parametrize("name", sorted(CORRECT_ARCHITECTURES))
def test_correct_architectures_have_no_findings(name):
    t = traced(CORRECT_ARCHITECTURES[name]())
    assert t.error is None
    assert t.findings == []


def test_no_advice_loop_after_half_of_the_batch_first_help(tmp_path):
    """Case 01 with batch_first=True but the state still sized for the window: PyTorch
    raises, and the cause is the state (ST007), not the layout ST001 just advised."""
    source = case_path("01").read_text()
    assert source.count("batch_first=fixed)") == 1
    patched = tmp_path / "case01_half_fixed.py"
    patched.write_text(source.replace("batch_first=fixed)", "batch_first=True)"))
    t = traced_module(load_file(patched))
    assert t.error is not None
    assert [f.code for f in serious(t)] == ["ST007"], [f.message for f in t.findings]
    run = run_case("01")  # while the unfixed case gets ST001's advice, state included
    st001 = [f for f in run.trace.findings if f.code == "ST001"]
    assert st001 and "batch_first=True" in st001[0].hint and "initial state" in st001[0].hint


def test_seq_first_code_on_batch_first_data_still_gets_st001_from_h0():
    """The h_0 clue still counts when nothing says the layout is right."""
    from tests.models import buggy_models as buggy

    assert "ST001" in {f.code for f in traced(buggy.batch_first_data_by_hidden_size()).findings}


def test_an_attribute_forward_sets_from_the_data_is_not_baked_in():
    from tests.models import axis_models as axis

    assert "ST003" not in {f.code for f in traced(axis.state_from_reset_attribute()).findings}
    assert "ST003" in {f.code for f in traced(axis.state_from_fixed_attribute()).findings}


def test_the_note_of_the_later_error_names_the_squeeze():
    t = traced_case("12")
    assert isinstance(t.error, ValueError)  # BatchNorm1d: expected 2D or 3D input
    note = "\n".join(t.error.__notes__)
    explained = note.split("explained by:", 1)[1].lstrip()
    line = culprit_line("12", CULPRITS["12"][0])
    assert explained.startswith("ST014") and f"at line {line}" in explained.splitlines()[0]


def test_the_installed_command_in_a_fresh_interpreter():
    buggy = run_case_subprocess("10")  # the fixed versions run in-process above
    assert buggy.caught and _culprit_findings(serious(buggy.trace), "10"), buggy.output
