"""``bench.py`` tells a package that is not installed from one that is installed and
fails to import (a CUDA torchvision wheel beside the CPU torch), and says the
import's error in one line: in the tools it skips, the models it cannot build and
the tables it writes."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from benchmarks import imports, real_bench, real_cases, real_report, report, tools

NEEDS_FORK = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the isolated import forks")
NMS = "operator torchvision::nms does not exist"
# A real run's header (date, command, machine...), for a section rendered here.
META = json.loads((Path(__file__).resolve().parent.parent / "benchmarks" / "results_real.json").read_text())["meta"]


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """A package on sys.path whose import raises as a CUDA torchvision does beside a CPU torch."""
    folder = tmp_path / "brokenvision"
    folder.mkdir()
    (folder / "__init__.py").write_text(f"raise RuntimeError({NMS!r} + '\\n  File ops.py, line 2')\n")
    needs_missing = tmp_path / "needsmissing"
    needs_missing.mkdir()
    (needs_missing / "__init__.py").write_text("import a_dependency_nobody_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield "brokenvision"
    for name in ("brokenvision", "needsmissing"):
        sys.modules.pop(name, None)


def test_a_package_that_is_not_installed_is_said_so():
    assert imports.import_problem("a_package_nobody_installed") == "not installed"
    assert imports.import_problem("json") is None and imports.import_problem("torch") is None


def test_an_installed_package_that_fails_to_import_gives_its_error_in_one_line(broken_package):
    assert imports.import_problem(broken_package) == f"does not import: RuntimeError: {NMS}"
    # its own dependency missing is an import error too, not "not installed"
    assert imports.import_problem("needsmissing") == (
        "does not import: ModuleNotFoundError: No module named 'a_dependency_nobody_installed'")


@NEEDS_FORK
def test_the_isolated_import_gives_the_same_reason_and_leaves_this_process_alone(broken_package):
    assert imports.import_problem(broken_package, isolated=True) == f"does not import: RuntimeError: {NMS}"
    assert imports.import_problem("json", isolated=True) is None
    assert broken_package not in sys.modules


def test_a_monkeypatched_import_that_raises_is_reported_with_its_reason(monkeypatch):
    """An installed package (find_spec finds it) whose import raises OSError, as a wheel
    whose compiled part cannot load."""
    def failing(name, *args, **kwargs):
        raise OSError("libcudart.so.12: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(imports.importlib, "import_module", failing)
    assert imports.import_problem("json") == (
        "does not import: OSError: libcudart.so.12: cannot open shared object file: No such file or directory")


@NEEDS_FORK
def test_a_peer_tool_that_fails_to_import_is_skipped_with_its_reason(broken_package, monkeypatch):
    monkeypatch.setitem(tools.TOOLS, "brokenview", (tools.run_hook_loop, broken_package))
    monkeypatch.setitem(tools.TOOLS, "absentview", (tools.run_hook_loop, "absentview_nobody_installed"))
    monkeypatch.setattr(tools, "_unavailable", {})
    assert not tools.available("brokenview") and tools.available("hook loop")
    assert tools.unavailable("brokenview") == f"does not import: RuntimeError: {NMS}"
    assert tools.unavailable("absentview") == "not installed"
    line = f"Skipped: brokenview (does not import: RuntimeError: {NMS}), absentview (not installed)."
    # the default table (bench.py), and the real-model table (bench.py --real)
    assert line in report._ratio_table({"hook loop": {}}, ["hook loop", "brokenview", "absentview"], [], {})
    data = {"meta": META, "tools": ["hook loop"], "rows": [], "skipped": {},
            "missing_tools": {tool: tools.unavailable(tool) for tool in ("brokenview", "absentview")}}
    assert line in real_report.section(data).splitlines()


def test_a_real_model_whose_library_fails_to_import_is_not_built_and_says_why(broken_package, monkeypatch):
    key = next(iter(real_cases.REAL_CASES))
    monkeypatch.setattr(real_cases, "library", lambda _key: broken_package)
    assert real_bench._unbuildable(key) == f"{broken_package} does not import: RuntimeError: {NMS}"
    monkeypatch.setattr(real_cases, "library", lambda _key: "absent_library_nobody_installed")
    assert real_bench._unbuildable(key) == "absent_library_nobody_installed not installed"


def test_a_real_case_built_without_its_library_raises_with_the_reason(broken_package, monkeypatch):
    import dataclasses

    entry_name = real_cases._INPUTS["hf-gpt2"][0]
    broken = dataclasses.replace(real_cases._ZOO[entry_name], library=broken_package)
    monkeypatch.setitem(real_cases._ZOO, entry_name, broken)
    with pytest.raises(ModuleNotFoundError, match=f"{broken_package} does not import: RuntimeError: {NMS}$"):
        real_cases.REAL_CASES["hf-gpt2"](True)


def test_old_results_without_reasons_still_render():
    data = {"meta": META, "tools": [], "rows": [], "skipped": {}, "missing_tools": ["torchlens"]}
    assert "Not installed, skipped: torchlens." in real_report.section(data).splitlines()
