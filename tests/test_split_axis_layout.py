"""The two pieces of a split axis are two axes (``lineage/atoms.py``'s ``axes``, by stride):
word_language_model's ``data.view(bsz, -1).t()`` inside the traced block makes the batch
and the time axis of one tensor's one axis, and ST001 must not take the one for the other
(tests/models/split_axis_models.py: an evaluation loop whose only clue is how the code
reads the RNN's output). Before, a correct seq-first ``out[-1]`` was "the last step of
the batch axis" (a false error) and the batch-first ``out[:, -1]`` of the buggy model
was no clue (missed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import shapetrace
from shapetrace.analyze.lineage.atoms import Atom, axes, dim_of, regroup
from tests.case_support import load_file, run_script, serious
from tests.models import split_axis_models as variants
from tests.test_batch_first import _outputs, _same_outputs, apply_help

pytestmark = pytest.mark.filterwarnings("ignore")
SCRIPT = Path(variants.__file__)


def traced_variant(name: str, fixed: bool = False) -> shapetrace.Trace:
    model, work = variants.make(name, fixed)
    with shapetrace.trace(model) as t:
        work()
    return t


def test_the_pieces_of_a_split_axis_are_two_axes():
    stream = Atom("stream", 200)
    (batch,), (time,) = regroup(((stream,),), (4, 50), "v").lineage  # data.view(bsz, -1)
    assert batch.origin == time.origin and axes((batch,)) != axes((time,))
    transposed = ((time,), (batch,))  # .t()
    assert (dim_of(transposed, batch), dim_of(transposed, time)) == (1, 0)


def test_a_seq_first_model_on_batchified_data_is_clean():
    t = traced_variant("seq_first_stream")
    assert t.findings == [], [(f.code, f.message) for f in t.findings]
    done = run_script(SCRIPT, "seq_first_stream")
    assert done.exit_code == 0 and done.trace.findings == [], done.output


def test_batch_first_rows_into_a_seq_first_rnn_are_found():
    [found] = [f for f in serious(traced_variant("batch_first_stream")) if f.code == "ST001"]
    assert "out[:, -1] at line 44 takes the last step of the batch axis" in found.message
    done = run_script(SCRIPT, "batch_first_stream")
    assert done.exit_code == 1 and [f for f in done.trace.findings if f.code == "ST001"], done.output


def test_the_fixed_model_is_clean_and_the_help_applied_gives_it(tmp_path):
    t = traced_variant("batch_first_stream", fixed=True)
    assert t.findings == [], [(f.code, f.message) for f in t.findings]
    [found] = [f for f in serious(traced_variant("batch_first_stream")) if f.code == "ST001"]
    patched = tmp_path / "helped_split_axis_models.py"
    patched.write_text(apply_help(SCRIPT, found, "rnn"))
    module = load_file(patched)
    for got, want in zip(_outputs(module, "batch_first_stream", False),
                         _outputs(variants, "batch_first_stream", True), strict=True):
        _same_outputs(got, want)
    model, work = module.make("batch_first_stream", False)
    with shapetrace.trace(model) as helped:
        work()
    assert helped.findings == [], found.hint
