"""Each benchmark script owns a section of ``benchmarks/results.md`` between two
markers (``<!-- NAME: begin -->`` ... ``<!-- NAME: end -->``) and replaces only
that one: ``bench.py`` (``bench``), ``bench.py --real`` (``bench-real``),
``loop_views.py`` (``loop-views``).
"""

from __future__ import annotations

from pathlib import Path

TITLE = "# shapetrace benchmarks"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def replace_section(path: Path, name: str, body: str) -> str:
    """Write ``body`` as section ``name`` of ``path``: in place of the old one, else
    appended (a new file starts with the title). Returns the file's new text."""
    begin, end = markers(name)
    section = f"{begin}\n{body.strip(chr(10))}\n{end}"
    old = path.read_text() if path.exists() else TITLE + "\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + section + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
    return new
