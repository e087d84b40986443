"""``shapetrace run``: the reports of the child processes a script started.

mnist_hogwild trains in ``mp.Process`` children and ``torch.multiprocessing.spawn``
runs its function in each; ``record/children.py`` traces them. After the
script's own report comes one section per child, or one for several children
whose traces are the same (Hogwild's workers run the same passes), headed by
a line naming them. A file output gets a file per section
(``-o trace.json``: ``trace.proc1.json``); a machine format on stdout
(``--format json``) holds the script's trace only, and a line on stderr
says so. The children's findings count towards ``--fail-on``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from rich.text import Text

from shapetrace.cli.exit_codes import EXIT_OK
from shapetrace.cli.options import judge, view_of
from shapetrace.cli.outputs import MACHINE_FORMATS, Plan, write_outputs
from shapetrace.core.trace import Trace
from shapetrace.record.children import Children
from shapetrace.render.report import make_console


def report_children(children: Children, options: argparse.Namespace, plan: Plan, shown: str) -> int:
    """Write the children's sections after the script's report (``shown``: the
    script as typed); return ``EXIT_FINDINGS`` when their findings reach ``--fail-on``."""
    if children.untraced:
        names = ", ".join(children.untraced)
        print(
            f"shapetrace: {len(children.untraced)} child process(es) of {shown} left no trace ({names}): "
            "started with forkserver, ended by os._exit or a signal, or still running when the script "
            "ended; start them with fork or spawn and join them to trace what they run",
            file=sys.stderr,
        )
    code = EXIT_OK
    view = view_of(options)
    skipped = False
    traces = [trace for trace in children.traces if trace.calls]  # a child that ran no model says nothing
    for number, group in enumerate(_groups(traces), 1):
        trace = group[0]
        outputs: list[tuple[str, str | None]] = []
        for name, path in plan.outputs:
            if path is not None:
                outputs.append((name, _numbered(path, number)))
            elif name in MACHINE_FORMATS:
                skipped = True
            else:
                outputs.append((name, path))
        if any(path is None for _, path in outputs):
            make_console(color=view.color).print(Text(f"\n{_heading(group)}", "bold"))
        write_outputs(trace, Plan(tuple(outputs)), view)
        code = max(code, judge(trace.findings, options.fail_on))
    if skipped:
        print(
            f"shapetrace: the {len(traces)} child process trace(s) are not in stdout's output "
            "(it holds the script's trace); write them with -o FILE (one file each: FILE.proc1.json ...)",
            file=sys.stderr,
        )
    return code


def _groups(traces: list[Trace]) -> list[list[Trace]]:
    """The traces in start order, those recording the same calls together."""
    groups: dict[str, list[Trace]] = {}
    for trace in traces:
        document = json.loads(trace.to_json())
        for key in ("run_info", "meta"):
            if isinstance(document.get(key), dict):
                document[key].pop("process", None)
        groups.setdefault(json.dumps(document, sort_keys=True), []).append(trace)
    return list(groups.values())


def _heading(group: list[Trace]) -> str:
    processes = [trace.run_info.get("process") or {} for trace in group]
    target = processes[0].get("target", "?")
    names = ", ".join(f"{p.get('name', '?')} (pid {p.get('pid', '?')})" for p in processes)
    if len(group) == 1:
        return f"child process {names} ran {target}():"
    return f"{len(group)} child processes ran {target}() with the same calls: {names}"


def _numbered(path: str, number: int) -> str:
    stem, suffix = os.path.splitext(path)
    return f"{stem}.proc{number}{suffix}"
