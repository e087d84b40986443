"""Shared by the renderer tests: tracing a model, golden files, quiet checks.

Golden files live in tests/golden/; regenerate them, after looking at the
difference, with ``python -m pytest --update-goldens tests/test_render_*.py tests/test_goldens.py``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from rich.console import Console, RenderableType

import shapetrace

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = False  # set from pytest's --update-goldens option (tests/conftest.py)


def silence_checks(monkeypatch: pytest.MonkeyPatch, findings: list | None = None) -> None:
    """Fix the findings (none by default): detectors belong to other tests,
    and a new one must not change what these renderers are checked against."""
    monkeypatch.setattr("shapetrace.analyze.checks.run_checks", lambda trace, ignore=(): list(findings or []))


def fixed_findings_at_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """No findings, and headers naming files relative to the repository
    (each test module makes it an autouse fixture)."""
    silence_checks(monkeypatch)
    monkeypatch.chdir(REPO)


def forecaster_trace() -> shapetrace.Trace:
    """The article's forecaster on a (5, 30) batch."""
    from tests.models.render_models import forecaster

    return trace_of(forecaster(), torch.randn(5, 30))


def trace_of(model: torch.nn.Module, *inputs: torch.Tensor, **options) -> shapetrace.Trace:
    with shapetrace.trace(model, **options) as t:
        model(*inputs)
    return t


def plain_text(renderable: RenderableType, width: int = 60) -> str:
    """What a terminal ``width`` columns wide shows, without colour."""
    console = Console(file=io.StringIO(), width=width, no_color=True, record=True, highlight=False)
    console.print(renderable)
    return console.export_text(styles=False)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; create it with pytest --update-goldens"
    assert text == path.read_text(encoding="utf-8"), (
        f"the output differs from {path.relative_to(REPO)}; if the change is meant, rewrite it with "
        "pytest --update-goldens and review `git diff tests/golden`")


def cut_text(text: str) -> bool:
    """Whether rich cut something in a rendered report (a ``…`` it put in):
    a file's name giving way from the left (a line starting ``…``) and an op
    operand's head written with ``(…)`` or ``[…]`` (``x.view(…)``,
    analyze/operand_text.py) are whole text, not cuts."""
    return "…" in text.replace("\n…", "\n").replace("(…)", "").replace("[…]", "")
