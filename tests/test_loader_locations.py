"""The DataLoaders a run iterated, as the saved trace lists them (``meta.loaders``):
each one's line is written as the report and the run's notes write lines (relative to
the working directory, a library's to its site-packages; ``core/text.format_location``),
never as an absolute path of the machine that ran it, and loads and saves back unchanged.
Script: tests/real_scripts/mnist_small.py (pytorch/examples' mnist, small)."""

from __future__ import annotations

import contextlib
import io
import json
import os

import shapetrace
from shapetrace.cli.app import main
from tests.case_support import REAL_SCRIPTS, traced_real_script

SCRIPT = REAL_SCRIPTS / "mnist_small.py"


def _iterating_lines() -> list[int]:
    """The lines of the script that iterate a DataLoader (``for images, labels in loader:``)."""
    lines = SCRIPT.read_text().splitlines()
    return [n for n, text in enumerate(lines, start=1) if text.strip().startswith("for ") and "loader" in text]


def test_run_writes_the_loaders_lines_relative_and_they_load_back(tmp_path):
    saved = tmp_path / "trace.json"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(SCRIPT), "-o", str(saved)]) == 0
    document = json.loads(saved.read_text())
    where = [loader["location"] for loader in document["meta"]["loaders"]]
    shown = os.path.relpath(SCRIPT)
    assert sorted(where) == sorted(f"{shown}:{n}" for n in _iterating_lines()), where
    assert not any(os.path.isabs(place) or "site-packages" in place for place in where)
    # load, save, load: the same loaders
    again = tmp_path / "again.json"
    again.write_text(shapetrace.load(saved).to_json())
    assert json.loads(again.read_text())["meta"]["loaders"] == document["meta"]["loaders"]
    assert shapetrace.load(again).run_info["loaders"] == shapetrace.load(saved).run_info["loaders"]


def test_trace_lists_the_loaders_lines_as_run_does():
    t = traced_real_script("mnist_small")
    where = [loader["location"] for loader in t.run_info["loaders"]]
    assert sorted(where) == sorted(f"{os.path.relpath(SCRIPT)}:{n}" for n in _iterating_lines()), where
    assert json.loads(t.to_json())["meta"]["loaders"] == t.run_info["loaders"]
