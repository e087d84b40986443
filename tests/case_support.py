"""Running the public-report cases of ``tests/cases/`` through both entry points.

Each ``tests/cases/caseNN_<slug>.py`` is a copy of a re-written public bug report
(``/work/shared/cases``): ``make(fixed) -> (model, work)``, and ``--fixed`` on its
command line. A test runs a case

- through the API: ``with shapetrace.trace(model) as t: work()`` (``traced_case``);
- through the command, in this process: ``shapetrace run CASE --fail-on warning
  -o trace.json [-- --fixed]`` (``run_case``), or in a subprocess (``run_case_subprocess``),

and reads the findings (``serious``, ``at_line``). ``culprit_line`` finds the line the
docstring's diagnosis names, by a unique piece of its text.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import shapetrace
from shapetrace.analyze.checks import Finding, at_least
from shapetrace.cli import main
from shapetrace.cli.exit_codes import EXIT_FINDINGS, EXIT_RAISED

CASES = Path(__file__).resolve().parent / "cases"
REAL_SCRIPTS = Path(__file__).resolve().parent / "real_scripts"
ROOT = CASES.parent.parent
# The variants import their shared work loops (``variant_work``) from their own folder,
# as python lets a script do; the tests import them from other folders (a variant with
# a line rewritten lies in a temporary one), so that folder is importable here too.
VARIANTS = CASES / "variants"


def case_path(name: str) -> Path:
    """The file of a case by number or prefix: ``"05"``, ``"case05"``, or the full stem."""
    stem = name if name.startswith("case") else f"case{name}"
    found = sorted(CASES.glob(f"{stem}*.py"))
    if len(found) != 1:
        raise LookupError(f"no single case matches {name!r}: {[p.name for p in found]}")
    return found[0]


def load_file(path: Path, name: str | None = None) -> ModuleType:
    """A case-like module imported from any file (a case with a line rewritten)."""
    if str(VARIANTS) not in sys.path:
        sys.path.append(str(VARIANTS))
    spec = importlib.util.spec_from_file_location(name or f"case_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def load_case(name: str) -> ModuleType:
    """The case's module, imported from its file (once per test session)."""
    path = case_path(name)
    return load_file(path, f"tests.cases.{path.stem}")


def traced_case(name: str, fixed: bool = False, **options) -> shapetrace.Trace:
    """The trace of the case's whole ``work()`` (every pass, the loss, the backward)
    under ``shapetrace.trace(model, **options)``; the case's own error is kept in
    ``t.error``, its prints are swallowed."""
    return traced_module(load_case(name), fixed, **options)


def traced_module(module: ModuleType, fixed: bool = False, **options) -> shapetrace.Trace:
    """``traced_case`` for a module already loaded (``load_file``)."""
    model, work = module.make(fixed)
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            with shapetrace.trace(model, **options) as t:
                work()
        except Exception:  # the trace keeps it
            pass
    return t


@dataclass
class CaseRun:
    exit_code: int
    trace: shapetrace.Trace
    output: str  # what the command and the script printed

    @property
    def caught(self) -> bool:
        """The buggy run failed as it should: exit 1 where PyTorch raised (as ``python``
        exits), else 1 because a finding reached ``--fail-on`` (the same code: the contract)."""
        return self.exit_code == (EXIT_RAISED if self.trace.error is not None else EXIT_FINDINGS)


def _arguments(path: Path, fixed: bool, saved: Path, fail_on: str) -> list[str]:
    return ["run", str(path), "--fail-on", fail_on, "-o", str(saved), *(["--", "--fixed"] if fixed else [])]


def run_script(path: Path, *script_arguments: str, fail_on: str = "warning") -> CaseRun:
    """``shapetrace run PATH --fail-on warning -- ARGS`` in this process (``shapetrace.cli.main``),
    with the trace it saved and what it printed."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "trace.json"
        out, err = io.StringIO(), io.StringIO()
        arguments = ["run", str(path), "--fail-on", fail_on, "-o", str(saved)]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*arguments, *(["--", *script_arguments] if script_arguments else [])])
        return CaseRun(code, shapetrace.load(saved), out.getvalue() + err.getvalue())


def run_case(name: str, fixed: bool = False, fail_on: str = "warning") -> CaseRun:
    """``shapetrace run CASE --fail-on warning`` in this process (``shapetrace.cli.main``)."""
    return run_script(case_path(name), *(["--fixed"] if fixed else []), fail_on=fail_on)


def run_case_subprocess(name: str, fixed: bool = False, fail_on: str = "warning",
                        timeout: float = 300) -> CaseRun:
    """``python -m shapetrace run CASE --fail-on warning`` in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "trace.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", "shapetrace", *_arguments(case_path(name), fixed, saved, fail_on)],
                              capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
        return CaseRun(done.returncode, shapetrace.load(saved), done.stdout + done.stderr)


def serious(trace: shapetrace.Trace) -> list[Finding]:
    """The warning and error findings of a trace."""
    return at_least(trace.findings, "warning")


def at_line(findings: list[Finding], line: int, name: str | None = None) -> list[Finding]:
    """The findings on ``line`` of the case file (``name``: its number, to check the file too)."""
    path = case_path(name).resolve() if name is not None else None
    return [f for f in findings if f.location is not None and f.location.lineno == line
            and (path is None or Path(f.location.filename).resolve() == path)]


def culprit_line(name: str, text: str) -> int:
    """The number of the one line of the case's file that contains ``text``."""
    lines = [n for n, line in enumerate(case_path(name).read_text().splitlines(), 1) if text in line]
    if len(lines) != 1:
        raise LookupError(f"{text!r} is on lines {lines} of {case_path(name).name}, not on one")
    return lines[0]


def model_outputs(module: ModuleType, fixed: bool = False) -> list:
    """What the model's forward returned in each pass of ``work()``, untraced: the
    way to tell that a rewritten line computes what the fixed version does."""
    model, work = module.make(fixed)
    outputs: list = []
    handle = model.register_forward_hook(lambda _module, _args, out: outputs.append(out))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            work()
    finally:
        handle.remove()
    return outputs


__all__ = ["CASES", "VARIANTS", "CaseRun", "at_line", "case_path", "culprit_line", "load_case", "load_file",
           "model_outputs", "run_case", "run_case_subprocess", "serious", "traced_case", "traced_module"]


def traced_real_script(name: str) -> shapetrace.Trace:
    """``tests/real_scripts/NAME.py`` run as ``shapetrace run`` runs it (its output
    silenced); it must finish with exit code 0."""
    from shapetrace.record.script import run_script as run_traced_script

    with contextlib.redirect_stdout(io.StringIO()):
        run = run_traced_script(str(REAL_SCRIPTS / f"{name}.py"))
    assert run.error is None and run.exit_code == 0
    return run.trace
