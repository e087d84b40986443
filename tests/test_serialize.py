"""JSON round trip: a loaded trace answers every query like the live one."""

from __future__ import annotations

import json

import pytest
import torch

import shapetrace
from shapetrace.errors import TraceFormatError
from tests.models import core_models as zoo


@pytest.fixture(scope="module")
def live():
    model = zoo.article_model()
    x = torch.randn(5, 30)
    with shapetrace.trace(model) as t:
        model(x)
    return t


def fields(call):
    return (call.id, call.kind, call.name, call.type, call.inputs, call.outputs, call.location,
            call.depth, call.index, call.parent_id, call.args, call.kwargs, call.config,
            call.params, call.error, call.defined_at)


def test_round_trip_keeps_every_call(live):
    loaded = shapetrace.load(live.to_json())
    assert [fields(c) for c in loaded.calls] == [fields(c) for c in live.calls]
    assert loaded["lstm"].outputs[0].shape == (5, 30, 64)
    assert loaded["lstm"].outputs[0].dtype is torch.float32
    assert loaded["lstm"].parent is loaded.root
    assert [c.name for c in loaded.root.children] == [c.name for c in live.root.children]
    assert loaded.to_json() == live.to_json()


def test_load_from_a_file(live, tmp_path):
    path = tmp_path / "trace.json"
    path.write_text(live.to_json(indent=1))
    assert len(shapetrace.load(path).calls) == len(live.calls)
    assert len(shapetrace.load(str(path)).calls) == len(live.calls)


def test_a_loaded_trace_renders_like_the_live_one(live):
    from rich.console import Console

    def render(trace):
        console = Console(width=200, record=True, color_system=None)
        console.print(trace.table())
        return console.export_text()

    assert render(shapetrace.load(live.to_json())) == render(live)


def test_errors_survive_as_recorded_errors():
    model = zoo.Failing()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
    loaded = shapetrace.load(t.to_json())
    assert loaded.error.type_name == "RuntimeError"
    assert "mat1 and mat2" in str(loaded.error)
    assert loaded["fc"].error == t["fc"].error


def corrupt(document: dict, path: list, value) -> str:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(document)


@pytest.mark.parametrize("mutation, message", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: json.dumps([1, 2]), "not a shapetrace trace"),
    (lambda d: corrupt(d, ["version"], 99), "version 99 is not supported"),
    (lambda d: corrupt(d, ["calls"], "x"), "calls should be list"),
    (lambda d: corrupt(d, ["calls", 1, "kind"], "layer"), "kind should be 'module' or 'op'"),
    (lambda d: corrupt(d, ["calls", 1, "parent"], 7), "parent should name an earlier call"),
    (lambda d: corrupt(d, ["calls", 1, "outputs", 0, "shape"], [5, "x"]), "shape should be int"),
    (lambda d: corrupt(d, ["calls", 1, "outputs", 0, "dtype"], "float99"), "unknown dtype"),
    (lambda d: corrupt(d, ["calls", 1, "outputs", 0], {"path": "0"}), "lacks the field"),
    (lambda d: corrupt(d, ["calls", 1, "outputs", 0, "layout"], "<nested>"), "is not a layout name"),
    (lambda d: corrupt(d, ["calls", 1, "outputs", 0, "layout"], 3), "layout should be str"),
    (lambda d: "[" * 100000 + "]" * 100000, "not valid JSON"),
])
def test_bad_json_gives_a_clear_error(live, mutation, message):
    text = mutation(json.loads(live.to_json()))
    with pytest.raises(TraceFormatError, match=message):
        shapetrace.load(text)


def test_a_tensor_layout_survives_json_and_traces_without_the_field_load_as_strided(live):
    nested = torch.nested.as_nested_tensor([torch.randn(2, 4), torch.randn(3, 4)])
    with shapetrace.trace() as t:
        nested.relu()
    assert shapetrace.load(t.to_json()).ops[0].outputs == t.ops[0].outputs
    assert (t.ops[0].outputs[0].shape, t.ops[0].outputs[0].layout) == ((2, 3, 4), "nested")
    document = json.loads(live.to_json())  # a strided trace: no "layout" written, as before the field
    assert not any("layout" in meta for call in document["calls"] for meta in call["inputs"] + call["outputs"])
    assert {m.layout for c in shapetrace.load(json.dumps(document)).calls for m in c.inputs + c.outputs} == {"strided"}


def test_missing_file(tmp_path):
    with pytest.raises(TraceFormatError, match="no such trace file"):
        shapetrace.load(tmp_path / "nope.json")
