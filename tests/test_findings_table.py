"""The README's findings table lists every code of the catalogue, each with the
``shapetrace explain CODE`` that documents it, and that command works for each."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shapetrace.analyze.checks import load_detectors
from shapetrace.cli.app import main

ROOT = Path(__file__).resolve().parent.parent


def _table_rows() -> dict[str, list[str]]:
    """code -> its cells, from the table of the README's Findings section."""
    section = (ROOT / "README.md").read_text().split("\n## Findings\n")[1].split("\n## ")[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if re.fullmatch(r"ST\d{3}", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_every_catalogued_code_is_in_the_table_with_its_explain_command():
    catalogue, rows = load_detectors(), _table_rows()
    assert sorted(rows) == sorted(catalogue)  # none missing, none that the catalogue lacks
    for code, cells in rows.items():
        assert len(cells) == 4, cells
        assert cells[1] == catalogue[code].name
        assert cells[3] == f"`shapetrace explain {code}`"


@pytest.mark.parametrize("code", sorted(load_detectors()))
def test_explain_documents_each_code(code, capsys):
    info = load_detectors()[code]
    assert main(["explain", code.lower()]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{code} {info.name} ({info.severity})\n")
    for heading in ("What it finds:", "Why it matters:", "Wrong:", "Right:", f"--ignore {code}"):
        assert heading in out, f"{code}: no {heading!r}"
    from shapetrace.render.finding_docs import DOCS

    for example in (DOCS[code].wrong, DOCS[code].right):  # both are Python a user can paste
        compile(example, f"{code} example", "exec")


@pytest.mark.slow
def test_the_command_line_of_the_table_runs():
    done = subprocess.run([sys.executable, "-m", "shapetrace", "explain", "ST020"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("ST020 uneven-shard (error)") and "F.pad" in done.stdout
