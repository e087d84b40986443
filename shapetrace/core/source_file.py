"""A source file's lines as written, for the views and checks that read the
user's code back (a trace loaded from JSON has no live objects, only the
file names its calls were made from)."""

from __future__ import annotations

import linecache
import os
import tokenize

from shapetrace.errors import SourceNotFoundError


def read_lines(filename: str) -> list[str]:
    """The lines of ``filename``, without their line ends; a notebook cell,
    which has no file, is read from ``linecache``.

    Raises:
        SourceNotFoundError: the file is gone or cannot be decoded, and
            ``linecache`` does not hold it either.
    """
    if os.path.isfile(filename):
        try:
            with tokenize.open(filename) as handle:  # honours a coding cookie
                return handle.read().splitlines()
        except (OSError, SyntaxError, UnicodeDecodeError) as bad:
            raise SourceNotFoundError(f"cannot read {filename}: {bad}") from None
    cached = linecache.getlines(filename)
    if cached:
        return "".join(cached).splitlines()
    raise SourceNotFoundError(f"source file {filename} not found: the trace was recorded elsewhere or the file moved")
