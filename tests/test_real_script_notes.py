"""The ``data:`` lines under a real script's report: one line per fact, naming the
model, with lines written as the report writes them (a library's relative to its
site-packages). Script: tests/real_scripts/nf_small.py, NeuralForecast fitting an
LSTM and an NHITS through Lightning, which builds a DataLoader per fit."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from shapetrace.cli.app import main
from tests.case_support import REAL_SCRIPTS


@pytest.mark.slow
def test_neuralforecast_data_notes_once_each_naming_the_model(tmp_path, capsys) -> None:
    pytest.importorskip("neuralforecast")
    out = tmp_path / "nf.json"
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(REAL_SCRIPTS / "nf_small.py"), "-o", str(out), "--", "--workers", "1"])
    assert code == 0
    saved = json.loads(out.read_text())
    notes = saved["meta"]["data"]
    # Lightning iterated four loaders (a train and a validation loader per fit, two fits),
    # each of 2 series in batches of 32: one line says so for them all.
    loaders = saved["meta"]["loaders"]
    assert len([loader for loader in loaders if loader["last_batch"] == 2]) == 4
    # Their lines as the notes write them: Lightning's relative to its site-packages.
    assert all(re.fullmatch(r"pytorch_lightning/[\w/]+\.py:\d+", loader["location"]) for loader in loaders), loaders
    short = [note for note in notes if "samples in batches of" in note]
    assert len(short) == 1, notes
    # The model that ran on the batch of 2, not the padding module neuralforecast applies first.
    calls = {call["id"]: call for call in saved["calls"]}
    named = [call for call in calls.values() if call["parent"] is None and call["type"] == "LSTM"
             and call["inputs"][0]["shape"][0] == 2]
    assert named, "the LSTM ran on the short batch (its predict pass)"
    # Lightning iterated the loader, neuralforecast called the model: "a batch of 2", not "it".
    assert "and LSTM ran on a batch of 2 at neuralforecast/common/_base_model.py:" in short[0]
    assert f"with input {tuple(named[0]['inputs'][0]['shape'])}" in short[0]
    assert "ConstantPad1d" not in short[0]
    assert "its only batch has 2" in short[0] or "each only batch has 2" in short[0]
    workers = [note for note in notes if "DataLoader worker" in note]
    assert len(workers) == 1, notes
    lightning = r"pytorch_lightning/utilities/combined_loader\.py:\d+"
    assert re.fullmatch(rf"data loading \(the dataset, its transforms, collate\) ran in 1 DataLoader worker "
                        rf"\(the DataLoaders at {lightning} and "
                        rf"{lightning}\) and was not recorded; set num_workers=0 to trace it", workers[0]), workers
    # The text report shows each line once, too.
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for note in notes:
        assert text.count(f"data: {note}") == 1
    assert "site-packages" not in text
