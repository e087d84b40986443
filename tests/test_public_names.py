"""The public names: exceptions under ``shapetrace.``, old names kept working, short reprs."""

from __future__ import annotations

import json
import traceback

import pytest
import torch

import shapetrace
from tests.render_support import forecaster_trace

PUBLIC_ERRORS = ["CollectiveMismatchError", "RecordedError", "ShapetraceError", "ShapetraceWarning",
                 "SourceNotFoundError", "SpecSyntaxError", "TraceFormatError", "UnknownCallError", "UnknownTensorError"]


@pytest.fixture(scope="module")
def live():
    return forecaster_trace()


@pytest.mark.parametrize("name", PUBLIC_ERRORS)
def test_every_public_exception_is_exported_and_reports_as_shapetrace(name):
    cls = getattr(shapetrace, name)
    assert name in shapetrace.__all__
    assert cls.__module__ == "shapetrace" and f"shapetrace.{name}" == f"{cls.__module__}.{cls.__qualname__}"
    if name not in ("RecordedError", "ShapetraceWarning", "ShapetraceError"):
        assert issubclass(cls, shapetrace.ShapetraceError)


def test_a_traceback_names_the_public_class(live):
    try:
        live["lstmm"]
    except shapetrace.UnknownCallError:
        text = traceback.format_exc()
    assert "shapetrace.UnknownCallError: no module call named 'lstmm'" in text
    with pytest.raises(shapetrace.SpecSyntaxError) as caught:
        shapetrace.assert_shapes(live, {"lstm": "B T 6x4"})
    assert "".join(traceback.format_exception_only(caught.value)).startswith("shapetrace.SpecSyntaxError: ")


def test_moved_exceptions_keep_their_old_import_paths():
    from shapetrace.record.tracing import ShapetraceWarning
    from shapetrace.render.source.annotate import SourceNotFoundError
    from shapetrace.testing.assertions import UnknownTensorError
    from shapetrace.testing.spec import SpecSyntaxError

    assert (SourceNotFoundError, ShapetraceWarning, UnknownTensorError, SpecSyntaxError) == (
        shapetrace.SourceNotFoundError, shapetrace.ShapetraceWarning, shapetrace.UnknownTensorError,
        shapetrace.SpecSyntaxError)


def test_num_params_with_params_as_its_former_name(live):
    lstm = live["lstm"]
    # nn.LSTM(1, 64, num_layers=5): 4*64 rows of (1 + 64) then (64 + 64) weights, two biases each layer
    assert lstm.num_params == 4 * 64 * (1 + 64 + 2) + 4 * 4 * 64 * (64 + 64 + 2) == 150_272
    assert lstm.params == lstm.num_params


def test_json_keeps_num_params_readable_by_old_and_new_readers(live):
    document = json.loads(live.to_json())
    first = document["calls"][0]
    assert first["num_params"] == first["params"] == live.root.num_params  # "params": what earlier readers read
    for call in document["calls"]:  # a trace written before the rename has "params" only
        del call["num_params"]
    assert shapetrace.load(json.dumps(document)).root.num_params == live.root.num_params
    document["calls"][0]["num_params"] = live.root.num_params + 1
    with pytest.raises(shapetrace.TraceFormatError, match=r"calls\[0\]\.num_params and .*params differ"):
        shapetrace.load(json.dumps(document))


def test_run_info_with_meta_as_its_former_name(live):
    assert live.run_info["torch"] == torch.__version__
    assert live.meta == live.run_info
    assert shapetrace.load(live.to_json()).run_info == live.run_info


def test_reprs_are_short_and_say_what_a_call_saw(live):
    lstm = live["lstm"]
    assert repr(lstm) == ("<Call module 'lstm' LSTM (5, 30, 1), (5, 5, 64), (5, 5, 64) -> (5, 30, 64), "
                          "(5, 5, 64), (5, 5, 64) at lstm_forecaster.py:38>")
    # batch_first=True: the LSTM's output is a transposed view
    assert repr(lstm.outputs[0]) == "<TensorMeta '0' (5, 30, 64) float32 cpu non-contiguous requires_grad>"
    view = next(call for call in live.ops if call.name == "view")
    assert repr(view) == "<Call op view Tensor.view (5, 30) -> (5, 30, 1) at lstm_forecaster.py:36>"
    assert repr(live.root.outputs[0]).endswith("non-contiguous requires_grad>")
