"""A module whose parent's forward runs without hooks (``self.forward(x)``, as
pytorch/examples' mnist_forward_forward does in ``Layer.train``) is named as a
part of that parent (``relu``, ``layer.relu``), the name it has when the parent is
called later, not as a model of its own: it once showed as ``: ReLU`` (an empty
name) under one Layer and as a bare ``relu`` under the other
(tests/real_scripts/mnist_forward_forward_small.py)."""

from __future__ import annotations

import contextlib
import io

from shapetrace.record.script import run_script
from shapetrace.render.report import make_console, report
from tests.case_support import REAL_SCRIPTS


def test_parts_of_a_model_whose_forward_ran_directly_keep_their_names() -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_script(str(REAL_SCRIPTS / "mnist_forward_forward_small.py"))
    assert run.error is None and run.exit_code == 0
    calls = [call for call in run.trace.calls if call.kind == "module"]
    layers = [call for call in calls if call.type == "Layer"]
    assert len({call.name for call in layers}) == 2  # the two Layers, each its own name
    for call in calls:
        parent = call.parent
        if parent is not None:
            assert call.name, f"{call.type} under {parent.name or parent.type} has no name"
            assert call.name == (f"{parent.name}.relu" if parent.name else "relu")
    # The ReLU run by Layer.forward called directly is named as the one inside that Layer.
    inside = {call.name for call in calls if call.type == "ReLU" and call.parent is not None}
    alone = {call.name for call in calls if call.type == "ReLU" and call.parent is None}
    assert alone == inside and len(inside) == 2
    out = io.StringIO()
    make_console(out, width=160, color=False).print(report(run.trace))
    assert "└─ : ReLU" not in out.getvalue()
