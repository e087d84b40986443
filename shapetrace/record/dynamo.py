"""Keeping ``torch.compile`` out of shapetrace's own code.

Dynamo compiles a compiled model's module hooks and torch function modes
along with its forward. Ours read frames and thread ids, which it cannot
trace: it broke the graph at each of them and compiled the pieces in
between (69 frames for a two-layer model, not 11). Marking shapetrace's files
as skipped makes it call the hooks and the mode as they are, as Python does.
"""

from __future__ import annotations

import sys

_skipped = False


def skip_in_dynamo() -> None:
    """Tell dynamo, once it is imported, not to trace shapetrace's files.

    Cheap when it is not imported: importing it here would cost a second on
    every trace, so the recorder asks again as each top-level call starts
    (``torch.compile`` imports it late, at a compiled model's first call).
    """
    global _skipped
    if _skipped:
        return
    trace_rules = sys.modules.get("torch._dynamo.trace_rules")
    if trace_rules is None:
        return
    _skipped = True
    add = getattr(trace_rules, "add", None)  # (torch 2.2 has it; a later one may not)
    if add is not None:
        add(__name__.partition(".")[0])
