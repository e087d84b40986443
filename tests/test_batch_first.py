"""ST001 batch-first-mismatch on variants of the class (tests/models/batch_first_models.py):
LSTM/GRU/RNN language models and classifiers, losses over (N, C, T) and (N*T, C), a
DataLoader, through ``shapetrace.trace(model)`` and ``shapetrace run --fail-on warning``."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest

import shapetrace
from shapetrace.cli import main
from tests.case_support import serious
from tests.models import batch_first_models as variants

pytestmark = pytest.mark.filterwarnings("ignore")
SCRIPT = Path(variants.__file__)


def traced_variant(name: str, fixed: bool = False) -> shapetrace.Trace:
    model, work = variants.make(name, fixed)
    with shapetrace.trace(model) as t:
        work()
    return t


def run_variant(name: str, fixed: bool = False) -> tuple[int, shapetrace.Trace, str]:
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "trace.json"
        out = io.StringIO()
        arguments = ["run", str(SCRIPT), "--fail-on", "warning", "-o", str(saved), "--", name]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main([*arguments, *(["--fixed"] if fixed else [])])
        return code, shapetrace.load(saved), out.getvalue()


def rnn_line() -> set[int]:
    source = SCRIPT.read_text().splitlines()
    return {n for n, line in enumerate(source, 1) if "= self.rnn(self.emb(tokens))" in line}


def st001(trace: shapetrace.Trace):
    return [f for f in serious(trace) if f.code == "ST001" and f.location is not None
            and f.location.lineno in rnn_line()]


@pytest.mark.parametrize("name", variants.BUGGY)
def test_buggy_variant_is_found_through_the_api(name):
    t = traced_variant(name)
    assert st001(t), [(f.code, f.message) for f in t.findings]


@pytest.mark.parametrize("name", variants.BUGGY)
def test_buggy_variant_is_found_through_the_command(name):
    code, t, output = run_variant(name)
    assert code == 1 and st001(t), output


@pytest.mark.parametrize("name", variants.BUGGY + variants.SILENT)
def test_fixed_variant_is_clean(name):
    assert serious(traced_variant(name, fixed=True)) == []
    code, t, output = run_variant(name, fixed=True)
    assert code == 0 and serious(t) == [], output


@pytest.mark.parametrize("name", variants.CORRECT)
def test_seq_first_on_purpose_is_clean(name):
    assert traced_variant(name).findings == []
    code, t, output = run_variant(name)
    assert code == 0 and t.findings == [], output


def test_a_loss_over_class_scores_names_its_batch_axis():
    found = st001(traced_variant("permuted_gru"))[0]
    assert "F.cross_entropy" in found.message
    assert "takes dim 0 of its input (8, 50, 5) as the batch (N)" in found.message
    # Alone it is a warning: a mean cross-entropy is the same whichever axis is N.
    assert found.severity == "warning"


def test_rows_merged_by_view_are_no_evidence():
    """(N*T, C) rows hold both axes, as in a seq-first LM: one pass of random tokens
    gives no clue (a known limit; a DataLoader or a short last batch does)."""
    assert serious(traced_variant("merged")) == []


def test_a_seq_first_model_taking_time_as_the_loss_batch_gets_a_warning_only():
    """Known limit: a correct seq-first model that hands cross_entropy (T, C, B) looks
    like the buggy one; with nothing else in the trace it is a warning, never an error."""
    t = traced_variant("seq_first_time_as_n")
    assert [f.severity for f in t.findings if f.code == "ST001"] == ["warning"]


def test_the_loaders_a_block_iterated_are_in_run_info_and_its_json(tmp_path):
    t = traced_variant("loader_short")
    [loader] = t.run_info["loaders"]
    assert (loader["batch_size"], loader["last_batch"], loader["num_samples"]) == (8, 4, 60)
    (tmp_path / "t.json").write_text(t.to_json())
    loaded = shapetrace.load(tmp_path / "t.json")
    assert loaded.run_info["loaders"] == t.run_info["loaders"] and loaded.findings == t.findings
    message = st001(t)[0].message
    assert "dim 0 of the model input (8, 5) is the batch of the DataLoader at batch_first_models.py" in message
