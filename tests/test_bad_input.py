"""Bad input to every public function and to the command: a clear error that
names the problem (a ShapetraceError, or the documented exception), and
nothing else changed. The command exits 2 with one line on stderr."""

from __future__ import annotations

import copy
import io
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace import ShapetraceError
from shapetrace.cli.app import main
from shapetrace.errors import TraceFormatError, UnknownCallError
from tests.models import core_models as zoo
from tests.models.fault_models import hook_state


@pytest.fixture(scope="module")
def live() -> shapetrace.Trace:
    model = zoo.Nested()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 2, 2))
    return t


def fails(action: Callable[[], object], error: type[BaseException], match: str) -> None:
    with pytest.raises(error, match=match):
        action()


# ------------------------------------------------------------ trace()
@pytest.mark.parametrize("options, match", [
    (dict(model=3), "nn.Module or None, not int"),
    (dict(model=nn.Linear), "nn.Module or None, not type"),
    (dict(model=[nn.Linear(2, 2)]), "nn.Module or None, not list"),
    (dict(ops="ALL"), "True, False or 'all', not 'ALL'"),
    (dict(ops=None), "True, False or 'all', not None"),
    (dict(ignore=5), "finding codes, e.g. \\['ST006'\\] or 'ST006,ST003', not 5"),
    (dict(ignore=None), "finding codes.*not None"),
    (dict(ignore=[6]), "finding codes.*not \\[6\\]"),
    (dict(ignore=["ST999"]), "unknown finding code 'ST999' \\(the codes are ST001, "),
    (dict(ignore="ST01,ST006"), "unknown finding code 'ST01'"),
])
def test_trace_arguments(options, match):
    model = zoo.Nested()
    before = hook_state(model)
    options = {"model": model, **options}
    fails(lambda: shapetrace.trace(options.pop("model"), **options), ShapetraceError, match)
    assert hook_state(model) == before


def test_ignore_codes_are_normalised():
    model = nn.Linear(2, 2)
    with shapetrace.trace(model, ignore="st006, ST003") as t:
        model(torch.randn(1, 2))
    assert t.ignore == ("ST006", "ST003")
    assert shapetrace.load(t.to_json()).ignore == ("ST006", "ST003")


def test_ops_given_as_an_int_is_stored_as_a_bool():
    model = nn.Linear(2, 2)
    with shapetrace.trace(model, ops=1) as t:
        model(torch.randn(1, 2))
    assert t.ops_setting is True and json.loads(t.to_json())["ops"] is True


# ------------------------------------------------------- Trace queries
@pytest.mark.parametrize("query, error, match", [
    (lambda t: t["blocks.9"], UnknownCallError, "no module call named 'blocks.9' in this trace; did you mean"),
    (lambda t: t.calls_of("block"), KeyError, "did you mean 'blocks'"),
    (lambda t: t[0], ShapetraceError, "qualified name, a str such as 'lstm', not int; t.calls\\[0\\] is the call"),
    (lambda t: t[None], ShapetraceError, "not NoneType"),
    (lambda t: t.calls_of(["blocks"]), ShapetraceError, "not list"),
    (lambda t: t.table(depth=-1), ShapetraceError, "depth is None .* or an int >= 0"),
    (lambda t: t.table(depth="2"), ShapetraceError, "not '2'"),
    (lambda t: t.print(depth=1.5, file=io.StringIO()), ShapetraceError, "not 1.5"),
])
def test_trace_queries(live, query, error, match):
    before = live.to_json()
    fails(lambda: query(live), error, match)
    assert live.to_json() == before


def test_membership_of_a_non_name_is_false(live):
    assert ["blocks"] not in live and 0 not in live and "blocks" in live


# ------------------------------------------------------- assert_shapes
@pytest.mark.parametrize("target, spec, error, match", [
    (None, {"blocks": "B 4"}, ShapetraceError, "takes a Trace or a Call, not NoneType"),
    ("live", "blocks", ShapetraceError, "takes a dict from module names to shape specs, not str"),
    ("live", [("blocks", "B 4")], ShapetraceError, "not list"),
    ("live", {3: "B 4"}, ShapetraceError, "keys are str \\(a module's qualified name such as 'lstm'\\), not int 3"),
    ("live", {"blocks": {0: "B 4"}}, ShapetraceError, "keys are str \\(a tensor's name .*\\), not int 0"),
    ("live", {"blockz": "B 4"}, UnknownCallError, "did you mean 'blocks'"),
    ("live", {"blocks": {"outt": "B 4"}}, ShapetraceError, "no tensor 'outt' in call 'blocks'"),
    ("live", {"blocks": None}, ShapetraceError, "a shape spec is a string like 'B T 64' or a tuple of ints, not None"),
    ("live", {"blocks": {"out": {"x": 1}}}, ShapetraceError, "not dict"),
    ("live", {"blocks": ("B", 4)}, ShapetraceError, "a tuple spec holds ints >= 0 only"),
    ("live", {"blocks": (4, -1)}, ShapetraceError, "a tuple spec holds ints >= 0 only"),
])
def test_assert_shapes_arguments(live, target, spec, error, match):
    before = live.to_json()
    fails(lambda: shapetrace.assert_shapes(live if target == "live" else target, spec), error, match)
    assert live.to_json() == before


@pytest.mark.parametrize("spec, token, position", [
    ("B (4", "(4", 2),
    ("B 4)", "4)", 2),
    ("B ** 4", "**", 2),
    ("B ... ...", "...", 6),
    ("B -4", "-4", 2),
    ("B 4.0", "4.0", 2),
    ("(B*)", "(B*)", 0),
    ("()", "()", 0),
    ("B, 4", "B,", 0),
    ("[B 4]", "[B", 0),
    ("(B+T)", "(B+T)", 0),
    ("B*T", "B*T", 0),
    ("é 4", "é", 0),
])
def test_malformed_spec_strings_name_the_token(live, spec, token, position):
    from shapetrace.testing.spec import SpecSyntaxError

    with pytest.raises(SpecSyntaxError) as raised:
        shapetrace.assert_shapes(live, {"blocks": spec})
    assert (raised.value.token, raised.value.position) == (token, position)
    assert f"shape spec {spec!r}" in str(raised.value)


# ---------------------------------------------------------------- vary
def inputs(B: int) -> torch.Tensor:
    return torch.randn(B, 2, 2)


@pytest.mark.parametrize("args, sizes, match", [
    ((nn.Linear, inputs), {"B": (2, 3)}, "takes an nn.Module, not type"),
    ((None, 5), {"B": (2, 3)}, "needs make_inputs, a function of the sizes"),
    ((None, inputs), {}, "at least one size to vary"),
    ((None, inputs), {"B": (2, 2)}, "two or more different sizes, got \\(2, 2\\)"),
    ((None, inputs), {"B": (3,)}, "two or more different sizes"),
    ((None, inputs), {"B": (0, 3)}, "positive integer sizes.*not \\(0, 3\\)"),
    ((None, inputs), {"B": (True, 3)}, "not \\(True, 3\\)"),
    ((None, inputs), {"B": (2.0, 3.0)}, "not \\(2.0, 3.0\\)"),
    ((None, inputs), {"B": None}, "not None"),
    ((None, inputs), {"B": "23"}, "not '23'"),
    ((None, inputs), {"B": {2, 3}}, "not \\{2, 3\\}"),
    ((None, inputs), {"B": iter((2, 3))}, "not <tuple_iterator"),
    ((None, inputs), {"T": (2, 3)}, "make_inputs must take the sizes T as keyword arguments"),
])
def test_vary_arguments(args, sizes, match):
    model = zoo.Nested()
    before = hook_state(model)
    fails(lambda: shapetrace.vary(args[0] or model, args[1], **sizes), ShapetraceError, match)
    assert hook_state(model) == before


# ----------------------------------------------------------- load: types
@pytest.mark.parametrize("source, match", [
    (b"{}", "takes a JSON string or a path, not bytes"),
    (None, "not NoneType"),
    (5, "not int"),
    ({"format": "shapetrace-trace"}, "not dict"),
    ("", "empty string, neither JSON nor a path"),
    ("  \n", "empty string"),
    ("no/such/trace.json", "no such trace file: no/such/trace.json"),
    ("bad\x00name.json", "cannot read bad\\\\x00name.json: embedded null byte"),
    ("x" * 5000, "cannot read x{200}\\.\\.\\.: File name too long"),
])
def test_load_source_types(source, match):
    fails(lambda: shapetrace.load(source), TraceFormatError, match)


def test_load_a_directory_or_a_binary_file(tmp_path):
    fails(lambda: shapetrace.load(tmp_path), TraceFormatError, "cannot read .*: Is a directory")
    pickled = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, pickled)  # a pickle: never unpickled, only refused
    fails(lambda: shapetrace.load(pickled), TraceFormatError, "cannot read .*model.pt|not valid JSON")


def test_load_skips_a_byte_order_mark(live, tmp_path):
    path = tmp_path / "bom.json"
    path.write_text(live.to_json(), encoding="utf-8-sig")
    assert len(shapetrace.load(path).calls) == len(live.calls)
    assert len(shapetrace.load("\ufeff" + live.to_json()).calls) == len(live.calls)


# -------------------------------------------------------- load: documents
def edit(document: dict, path: list, value: object) -> dict:
    edited = copy.deepcopy(document)
    target = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return edited


def changed(*path_and_value: object) -> Callable[[str], str]:
    """A mutation of the live trace's document: the value at a path replaced."""
    *path, value = path_and_value
    return lambda text: json.dumps(edit(json.loads(text), path, value))


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


TENSOR = ["calls", 1, "outputs", 0]
CALL = ["calls", 2]
HOSTILE = {
    "truncated": (lambda text: text[: len(text) // 2], "not valid JSON: "),
    "not an object": (lambda text: "[1, 2]", "not a shapetrace trace"),
    "other format": (changed("format", "torchinfo"), "not a shapetrace trace"),
    "version 2": (changed("version", 2), "version 2 is not supported"),
    "version '1'": (changed("version", "1"), "version '1' is not supported"),
    "version 1.0": (changed("version", 1.0), "version 1.0 is not supported"),
    "version true": (changed("version", True), "version True is not supported"),
    "deep arrays": (lambda text: "[" * 100_000 + "]" * 100_000, "not valid JSON: maximum recursion depth"),
    "deep objects": (lambda text: '{"a":' * 100_000 + "1" + "}" * 100_000, "not valid JSON"),
    "deep kwargs": (changed(*CALL, "kwargs", {"a": nested(900)}),
                    "calls\\[2\\].kwargs is nested deeper than 64 levels"),
    "deep config": (changed(*CALL, "config", {"a": nested(900)}),
                    "calls\\[2\\].config is nested deeper than 64 levels"),
    "deep args": (changed(*CALL, "args", [nested(900)]), "nested deeper"),
    "bad slice": (changed(*CALL, "args", [{"slice": "x"}]),
                  "calls\\[2\\].args: a slice should hold \\[start, stop, step\\], got 'x'"),
    "huge int": (lambda text: text.replace('"params": 0', '"params": ' + "9" * 5000, 1),
                 "not valid JSON: Exceeds the limit \\(4300 digits\\)"),
    "huge float dim": (changed(*TENSOR, "shape", 0, 1e308), "calls\\[1\\].outputs\\[0\\].shape should be int"),
    "Infinity": (lambda text: text.replace('"params": 0', '"params": Infinity', 1), "params should be int"),
    "NaN dim": (changed(*TENSOR, "shape", 0, float("nan")), "should be int"),
    "negative dim": (changed(*TENSOR, "shape", 0, -3), "shape should be >= 0, got -3"),
    "negative nbytes": (changed(*TENSOR, "nbytes", -1), "nbytes should be >= 0"),
    "bool dim": (changed(*TENSOR, "shape", 0, True), "should be int, got bool"),
    "string dim": (changed(*TENSOR, "shape", "3x4"), "shape should be list"),
    "stride rank": (changed(*TENSOR, "stride", [3, 2, 1]), "stride has 3 dims, its shape 2"),
    "symbolic rank": (changed(*TENSOR, "symbolic", ["B"]), "symbolic has 1 dims, its shape 2"),
    "symbolic type": (changed(*TENSOR, "symbolic", ["B", 2.5]), "symbolic should be int or str, got float"),
    "dtype attribute": (changed(*TENSOR, "dtype", "load"), "unknown dtype 'load'"),
    "dtype dunder": (changed(*TENSOR, "dtype", "__class__"), "unknown dtype"),
    "missing field": (changed(*TENSOR, {"path": "0"}), "lacks the field 'dtype'"),
    "calls object": (changed("calls", {}), "calls should be list, got dict"),
    "call list": (changed("calls", 0, []), "calls\\[0\\] should be dict"),
    "id bool": (changed("calls", 0, "id", False), "id should be 0, got False"),
    "parent later": (changed(*CALL, "parent", 5), "parent should name an earlier"),
    "parent bool": (changed(*CALL, "parent", True), "got True"),
    "depth huge": (changed(*CALL, "depth", 10**9), "depth should be 1 \\(one below its parent\\), got 10+$"),
    "index negative": (changed(*CALL, "index", -1), "index should be >= 0"),
    "line negative": (changed(*CALL, "location", 1, -5), "should be >= 0"),
    "name int": (changed(*CALL, "name", 7), "name should be str, got int"),
    "kind": (changed(*CALL, "kind", "layer"), "kind should be 'module' or 'op'"),
    "meta list": (changed("meta", []), "meta should be dict"),
    "error text": (changed("error", "boom"), "error should be dict"),
    "ops": (changed("ops", [1]), "ops should be true, false or \"all\""),
    "ignore type": (changed("ignore", [6]), "ignore should be str, got int"),
    "ignore code": (changed("ignore", ["ST000"]), "unknown finding code 'ST000'"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_malformed_or_hostile_json_gives_a_clear_error(live, name):
    mutate, match = HOSTILE[name]
    text = live.to_json()
    with pytest.raises(ShapetraceError, match=match):
        shapetrace.load(mutate(text))


def test_odd_but_valid_documents_load_and_render(live):
    document = json.loads(live.to_json())
    document["meta"]["nested"] = {"a": [[{"b": None}]]}
    document["calls"][1]["outputs"][0].update(shape=[10**30, 0, 2**62], stride=[])
    document["calls"][2]["args"] = [{"tensor": 5}, {"slice": [None, "x", {"object": "A"}]}, {"unknown": [1, 2]}]
    document["calls"][3]["name"] = "[/bold][link=file:///etc]x"  # rich markup in a name is text
    loaded = shapetrace.load(json.dumps(document))
    assert loaded.calls[1].outputs[0].shape == (10**30, 0, 2**62)
    out = io.StringIO()
    loaded.print(file=out)
    assert "1000000000000000000000000000000" in out.getvalue()
    assert "[/bold][link=file:///etc]x" in out.getvalue()
    loaded.annotate(), loaded.graph().source, loaded.tree(), loaded.findings


def test_json_is_strict_even_for_infinite_module_settings():
    model = nn.Sequential(nn.Hardtanh(min_val=float("-inf"), max_val=float("inf")))
    with shapetrace.trace(model) as t:
        model(torch.randn(2))

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    json.loads(t.to_json(), parse_constant=no_constants)
    assert shapetrace.load(t.to_json())["0"].config == {"min_val": float("-inf"), "max_val": float("inf"),
                                                        "inplace": False}


# ------------------------------------------------------------ snapshots
@pytest.mark.parametrize("text", [
    "{not json",
    "[" * 100_000 + "]" * 100_000,
    '{"format": "shapetrace-snapshot", "version": 2, "calls": []}',
    '{"format": "shapetrace-snapshot", "version": 1, "calls": {}}',
    '{"format": "shapetrace-snapshot", "version": 1, "calls": [{"call": "x"}]}',
    '{"format": "shapetrace-snapshot", "version": 1, "calls": [{"call": "x", "type": "T", "depth": 1000000000, '
    '"inputs": [], "outputs": []}]}',
    '{"format": "shapetrace-snapshot", "version": 1, "calls": [{"call": "x", "type": "T", "depth": 0, '
    '"inputs": [["x", [2, "3"], "float32"]], "outputs": []}]}',
], ids=["not-json", "deep", "version", "calls-object", "fields", "depth", "shape"])
def test_a_broken_snapshot_says_to_rewrite_it(live, tmp_path, text):
    from shapetrace.testing.snapshot import SnapshotTarget, bound_to

    (tmp_path / "test_x.json").write_text(text)
    with bound_to(SnapshotTarget(tmp_path, "test_x")), pytest.raises(
            ShapetraceError, match="rewrite it with --shapetrace-update"):
        live.assert_snapshot()
    assert (tmp_path / "test_x.json").read_text() == text


# ------------------------------------------------------------- the command
FACTORIES = """\
    from torch import nn

    def linear():
        return nn.Linear(2, 2)

    def raises():
        raise ValueError("factory failed")

    def not_a_module():
        return 5

    def needs(width):
        return nn.Linear(width, 2)

    VALUE = 3
"""


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder of user modules, made the working directory and importable."""
    (tmp_path / "st_factories.py").write_text(textwrap.dedent(FACTORIES))
    (tmp_path / "st_syntax_error.py").write_text("def broken(:\n")
    (tmp_path / "st_import_fails.py").write_text("x = 1\nraise RuntimeError('fails at import')\n")
    (tmp_path / "script.py").write_text("print('hi')\n")
    (tmp_path / "trace.json").write_text('{"format": "shapetrace-trace", "version": 3, "calls": []}')
    (tmp_path / "truncated.json").write_text('{"format": "shapetrace-trace", "version": 1, "calls": [')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("st_factories", "st_syntax_error", "st_import_fails"):
        sys.modules.pop(name, None)


def written(folder: Path) -> list[Path]:
    """The files of the folder, byte-code caches aside."""
    return sorted(path for path in folder.rglob("*") if "__pycache__" not in path.parts)


USAGE_ERRORS = [
    (["show", "missing.json"], "no such trace file: missing.json"),
    (["show", "script.py"], "not valid JSON"),
    (["show", "truncated.json"], "not valid JSON"),
    (["show", "trace.json"], "version 3 is not supported"),
    (["show", "trace.json", "--depth", "x"], "argument --depth: expected a whole number of levels, 0 or more, got 'x'"),
    (["diff", "truncated.json", "missing.json"], "not valid JSON"),
    (["diff", "trace.json"], "required: B.json"),
    (["run", "missing.py"], "no such script: .*missing.py"),
    (["run", "script.py", "--max-calls", "0"], "--max-calls must be at least 1"),
    (["run", "script.py", "--input", "2x2"], "--input and --vary are for pkg.module:factory targets"),
    (["run", "script.py", "--ignore", "ST01"], "unknown finding code 'ST01'"),
    (["run", "st_missing:build", "--input", "2x2"], "cannot import st_missing: No module named 'st_missing'"),
    (["run", "st_syntax_error:broken", "--input", "2x2"], "cannot import st_syntax_error: SyntaxError: .*line 1"),
    (["run", "st_import_fails:x", "--input", "2x2"],
     "cannot import st_import_fails: RuntimeError: fails at import \\(at .*st_import_fails.py:2\\)"),
    (["run", "st_factories:raises", "--input", "2x2"],
     "st_factories:raises raised ValueError: factory failed \\(at .*st_factories.py:7\\)"),
    (["run", "st_factories:not_a_module", "--input", "2x2"], "returned a int, not an nn.Module"),
    (["run", "st_factories:needs", "--input", "2x2"], "needs arguments .*'width'"),
    (["run", "st_factories:VALUE", "--input", "2x2"], "is a int, not a function or class"),
    (["run", "st_factories:missing", "--input", "2x2"], "st_factories has no attribute 'missing'"),
    (["run", ":linear", "--input", "2x2"], "expected pkg.module:factory"),
    (["run", "st_factories:linear"], "a factory target needs --input"),
    (["run", "st_factories:linear", "--input", "2y2"], "--input '2y2': expected sizes joined by 'x'"),
    (["run", "st_factories:linear", "--input", "2x2:float99"], "unknown dtype 'float99'"),
    (["run", "st_factories:linear", "--input", "99999999999x99999999999"],
     "--input 99999999999x99999999999: cannot make this tensor on cpu"),
    (["run", "st_factories:linear", "--input", "Bx2", "--vary", "B=x"], "--vary 'B=x': expected NAME=SIZE,SIZE"),
    (["run", "st_factories:linear", "--input", "2x2", "--vary", "B=2,3"], "no --input uses the dimension B"),
    (["run", "st_factories:linear", "--input", "Bx2", "--vary", "B=2,2"], "two or more different sizes"),
    (["run", "st_factories:linear", "--input", "2x2", "--device", "tpu"], "--device 'tpu' is not a device"),
    (["run", "st_factories:linear", "--input", "2x2", "--format", "pdf"], "argument --format/-f: invalid choice"),
    (["run", "st_factories:linear", "--input", "2x2", "--fail-on", "info"], "argument --fail-on: invalid choice"),
    (["run", "st_factories:linear", "--input", "2x2", "-o", "missing/dir/out.json"],
     "cannot write missing/dir/out.json: No such file or directory"),
    (["bogus"], "unknown command 'bogus'"),
]


@pytest.mark.parametrize("argv, match", USAGE_ERRORS, ids=[" ".join(argv) for argv, _ in USAGE_ERRORS])
def test_command_usage_errors_exit_2_with_one_line(user_code, capsys, argv, match):
    files = written(user_code)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("shapetrace: error: "), err
    assert re.search(match, err), err
    assert "Traceback" not in out + err
    assert written(user_code) == files


def test_command_negative_depth_is_a_usage_error(user_code, capsys):
    assert main(["run", "st_factories:linear", "--input", "2x2", "--depth", "-1"]) == 2
    assert "--depth" in capsys.readouterr().err


def test_the_installed_command_prints_no_traceback_for_a_failing_factory(user_code):
    result = subprocess.run([sys.executable, "-m", "shapetrace", "run", "st_import_fails:x", "--input", "2x2"],
                            capture_output=True, text=True, timeout=120, cwd=user_code)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
