"""A bug of shapetrace's own reaches the user as one line, not as a traceback that
reads like theirs; after a script ran, its exit code still wins (``cli/internal_error.py``).

The bug is simulated by a renderer that raises: no real one is known (each found is fixed).
"""

from __future__ import annotations

import pytest

from shapetrace.cli import run_command, show_command
from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_INTERNAL, EXIT_USAGE
from shapetrace.errors import SourceNotFoundError

SCRIPT = """
import sys
import torch
from torch import nn

model = nn.Linear(3, 2)
print(tuple(model(torch.randn(4, 3)).shape))
sys.exit({code})
"""


def _script(tmp_path, code: int) -> str:
    path = tmp_path / "train.py"
    path.write_text(SCRIPT.format(code=code))
    return str(path)


def _broken_renderer(error: Exception):
    def render(*args, **kwargs):
        raise error

    return render


@pytest.mark.parametrize(("script_code", "expected"), [(0, EXIT_INTERNAL), (4, 4)])
def test_a_bug_while_reporting_is_one_line_and_keeps_the_scripts_exit_code(
    tmp_path, capsys, monkeypatch, script_code, expected
) -> None:
    monkeypatch.delenv("SHAPETRACE_DEBUG", raising=False)
    monkeypatch.setattr(run_command, "render_and_judge", _broken_renderer(TypeError("unhashable type: 'Counter'")))
    assert main(["run", _script(tmp_path, script_code)]) == expected
    captured = capsys.readouterr()
    assert "(4, 2)" in captured.out  # the script ran as it does untraced
    assert "Traceback" not in captured.err
    [line] = [line for line in captured.err.splitlines() if line.startswith("shapetrace:")]
    assert line == (
        "shapetrace: internal error while writing the report: TypeError: unhashable type: 'Counter' "
        "(a bug in shapetrace; SHAPETRACE_DEBUG=1 shows its traceback for a report)"
    )


def test_shapetrace_debug_raises_the_bug_as_it_is(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHAPETRACE_DEBUG", "1")
    monkeypatch.setattr(run_command, "render_and_judge", _broken_renderer(TypeError("boom")))
    with pytest.raises(TypeError, match="boom"):
        main(["run", _script(tmp_path, 0)])


@pytest.mark.parametrize(("script_code", "expected"), [(0, EXIT_USAGE), (4, 4)])
def test_a_report_that_cannot_be_written_keeps_the_scripts_exit_code(
    tmp_path, capsys, monkeypatch, script_code, expected
) -> None:
    monkeypatch.setattr(run_command, "render_and_judge", _broken_renderer(SourceNotFoundError("nothing to annotate")))
    assert main(["run", "-f", "source", _script(tmp_path, script_code)]) == expected
    assert capsys.readouterr().err.splitlines()[-1] == "shapetrace: error: nothing to annotate"


def test_a_bug_in_any_command_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("SHAPETRACE_DEBUG", raising=False)
    monkeypatch.setattr(show_command, "execute", _broken_renderer(KeyError("calls")))
    assert main(["show", str(tmp_path / "trace.json")]) == EXIT_INTERNAL
    assert capsys.readouterr().err == (
        "shapetrace: internal error while running shapetrace show: KeyError: 'calls' "
        "(a bug in shapetrace; SHAPETRACE_DEBUG=1 shows its traceback for a report)\n"
    )
