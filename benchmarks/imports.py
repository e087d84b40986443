"""Whether a package the benchmark needs imports here, and if not, why, in one line.

A package can be installed and still fail to import: a CUDA torchvision wheel
beside the CPU torch raises ``RuntimeError: operator torchvision::nms does not
exist``, a wheel built for another torch fails to load its compiled part. The
tables say which ("not installed", or the import's own error), so that a
reader knows whether to install something or to fix what is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings

from benchmarks.isolate import first_line, run_isolated

NOT_INSTALLED = "not installed"
# Importing neuralforecast took ~20 s on a loaded machine: a child gets this long.
IMPORT_TIMEOUT_S = 180.0


def import_problem(package: str, *, isolated: bool = False) -> str | None:
    """None when ``package`` (a top-level name) imports here; else why not, in one line:
    ``"not installed"``, or ``"does not import: RuntimeError: <its first line>"``.

    ``isolated``: try the import in a child process (``isolate.run_isolated``), so
    that this process never imports it (the peers patch torch when imported).
    """
    if package == "torch":
        return None
    if importlib.util.find_spec(package) is None:
        return NOT_INSTALLED
    if not isolated:
        return _try_import(package)["problem"]
    result = run_isolated(_try_import, (package,), IMPORT_TIMEOUT_S)
    if "timeout" in result:
        return f"does not import: still importing after {IMPORT_TIMEOUT_S:g} s"
    if "error" in result:  # the child died (a crash in a compiled part)
        return f"does not import: {result['error']}"
    return result["problem"]


def _try_import(package: str) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(package)
    except Exception as exc:  # any: a broken wheel raises RuntimeError, OSError, ImportError...
        return {"problem": f"does not import: {type(exc).__name__}: {first_line(exc)}"}
    return {"problem": None}
