"""Data pipeline: a collate error names the sample that breaks the batch; a census counts shapes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import traceback
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

import shapetrace
from shapetrace.analyze.census import take_census
from shapetrace.cli import main
from shapetrace.record import data_hook
from tests.models import data_models as dm

ROOT = Path(__file__).resolve().parent.parent


def collate_error(loader: DataLoader) -> BaseException:
    """The error iterating ``loader`` raises inside ``trace_data()``."""
    with shapetrace.trace_data(), pytest.raises(Exception) as caught:
        for _ in loader:
            pass
    return caught.value


def note_of(error: BaseException) -> str:
    """The note, wherever PyTorch put it: a note, or the worker's traceback text in the message."""
    return "\n".join([str(error), *getattr(error, "__notes__", [])])


@pytest.mark.parametrize("num_workers", [0, pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.parametrize("dataset, key", [(dm.DictImages(), "image"), (dm.TupleImages(), "[0]")])
def test_odd_sample_named_by_key_index_and_shapes(dataset, key, num_workers):
    error = collate_error(DataLoader(dataset, batch_size=8, num_workers=num_workers))
    assert isinstance(error, RuntimeError)  # the user's error keeps its type
    note = note_of(error)
    assert "collate failed on a batch of 8 samples (dataset indices 32-39)" in note
    assert f"{key}: dataset index 37 (batch position 5) is (1, 8, 8); the other 7 are (3, 8, 8)" in note
    if num_workers:  # PyTorch's own words say nothing of shapes here: the note is what names them
        assert "Trying to resize storage that is not resizable" in note


def test_grayscale_hint_fixes_the_batch():
    note = note_of(collate_error(DataLoader(dm.DictImages(), batch_size=8)))
    assert "image.expand(3, -1, -1)" in note

    class Fixed(dm.DictImages):  # the help applied in __getitem__
        def __getitem__(self, index):
            sample = super().__getitem__(index)
            sample["image"] = sample["image"].expand(3, -1, -1)
            return sample

    with shapetrace.trace_data():
        shapes = {batch["image"].shape for batch in DataLoader(Fixed(), batch_size=8)}
    assert shapes == {torch.Size([8, 3, 8, 8])}


def test_rgba_hint_fixes_the_batch():
    note = note_of(collate_error(DataLoader(dm.DictImages(odd_channels=4), batch_size=8)))
    assert "image: dataset index 37 (batch position 5) is (4, 8, 8)" in note
    assert "image[:3]" in note

    class Fixed(dm.DictImages):
        def __getitem__(self, index):
            sample = super().__getitem__(index)
            sample["image"] = sample["image"][:3]
            return sample

    with shapetrace.trace_data():
        assert len(list(DataLoader(Fixed(odd_channels=4), batch_size=8))) == 8


def test_dataclass_samples_with_a_users_stack_collate():
    error = collate_error(DataLoader(dm.DataclassImages(), batch_size=8, collate_fn=dm.collate_samples))
    assert "image: dataset index 37 (batch position 5) is (1, 8, 8)" in note_of(error)


def test_nested_samples_and_a_users_cat_collate():
    error = collate_error(DataLoader(dm.NestedImages(), batch_size=16))
    expected = "inputs.image: dataset index 37 (batch position 5) is (1, 8, 8); the other 15 are (3, 8, 8)"
    assert expected in note_of(error)
    error = collate_error(DataLoader(dm.TupleImages(), batch_size=8, collate_fn=dm.cat_collate))
    assert "[0]: dataset index 37" in note_of(error)


def test_iterable_dataset_gives_the_ordinal():
    error = collate_error(DataLoader(dm.StreamOfImages(), batch_size=8))
    note = note_of(error)
    assert "(samples 32-39 of the stream)" in note
    assert "image: sample 37 of the stream (batch position 5) is (1, 8, 8)" in note


def test_variable_length_gets_a_padding_hint_and_pad_sequence_collates_cleanly():
    note = note_of(collate_error(DataLoader(dm.Sentences(), batch_size=8)))
    assert "the sample: 7 different shapes in 8 samples: axis 0 from 3 to 9 varies" in note
    assert "pad_sequence" in note
    with shapetrace.trace_data():
        batches = list(DataLoader(dm.Sentences(), batch_size=8, collate_fn=dm.pad_collate))
    assert batches[0].shape == (8, 9)


def test_an_error_that_is_not_about_shapes_gets_no_note():
    class Broken(dm.DictImages):
        def __getitem__(self, index):
            raise KeyError(index)

    error = collate_error(DataLoader(Broken(), batch_size=8))
    assert isinstance(error, KeyError) and not getattr(error, "__notes__", None)


def test_traceback_has_no_shapetrace_frames():
    error = collate_error(DataLoader(dm.DictImages(), batch_size=8))
    files = [frame.filename for frame in traceback.extract_tb(error.__traceback__)]
    assert files and not [f for f in files if "/shapetrace/" in f.replace("\\", "/")]


def test_fallback_without_fetchers_names_batch_positions(monkeypatch):
    monkeypatch.setattr(data_hook, "dataset_fetchers", lambda: None)  # a PyTorch without the private fetchers
    note = note_of(collate_error(DataLoader(dm.DictImages(), batch_size=8)))
    assert "dataset indices unknown: this PyTorch has no torch.utils.data._utils.fetch fetchers" in note
    assert "image: batch position 5 is (1, 8, 8)" in note


def test_the_watch_leaves_torch_as_it_was():
    from torch.utils.data._utils import fetch

    before = (fetch._MapDatasetFetcher.fetch, fetch._IterableDatasetFetcher.fetch, DataLoader.__iter__)
    loader = DataLoader(dm.DictImages(odd_index=None), batch_size=8)
    plain = [batch["image"] for batch in loader]
    with shapetrace.trace_data() as watch, shapetrace.trace_data():  # nested blocks too
        watched = [batch["image"] for batch in loader]
    assert (fetch._MapDatasetFetcher.fetch, fetch._IterableDatasetFetcher.fetch, DataLoader.__iter__) == before
    assert all(torch.equal(a, b) for a, b in zip(plain, watched))
    assert [(f.num_samples, f.batch_size, f.drop_last, f.last_batch) for f in watch.loaders] == [(64, 8, False, None)]


# ------------------------------------------------------------------ census
def test_census_counts_equal_the_true_ones():
    dataset = dm.DictImages(1000)
    census = take_census(DataLoader(dataset, batch_size=32))
    truth = Counter(tuple(dataset[i]["image"].shape) for i in range(1000))
    image = next(key for key in census.keys if key.path == "image")
    assert {s.shape: s.count for s in image.shapes} == dict(truth)
    assert [(s.shape, s.first_index) for s in image.shapes] == [((3, 8, 8), 0), ((1, 8, 8), 37)]
    assert census.scanned == 1000 and census.batches is not None
    assert (census.batches.num_batches, census.batches.last_batch) == (32, 1000 % 32)


def test_census_of_variable_lengths_and_a_sample_limit():
    census = take_census(dm.Sentences(100), samples=50)
    (key,) = census.keys
    assert census.scanned == 50 and key.varying_axes == {0: (3, 9)}
    assert sum(s.count for s in key.shapes) == 50


def test_census_per_rank_split_matches_the_sampler():
    loader = dm.sharded_loader()
    census = take_census(loader)
    assert census.batches is not None
    for split in census.batches.ranks:
        sampler = DistributedSampler(loader.dataset, num_replicas=3, rank=split.rank, shuffle=False)
        indices = list(sampler)
        assert split.num_samples == len(indices)
        assert split.num_batches == len(list(DataLoader(loader.dataset, batch_size=8, sampler=sampler)))
    assert census.batches.padded == 3 * 34 - 100


def test_data_command_table_and_json(capsys, tmp_path):
    assert main(["data", "tests.models.data_models:odd_image_loader"]) == 0
    out = capsys.readouterr().out
    assert "(1, 8, 8)" in out and "37" in out
    assert "the last has 8, kept (drop_last=False)" in out
    path = tmp_path / "census.json"
    assert main(["data", "tests.models.data_models:sentence_dataset", "--format", "json", "-o", str(path)]) == 0
    document = json.loads(path.read_text())
    assert document["scanned"] == 100 and document["keys"][0]["varying_axes"] == {"0": [3, 9]}
    assert main(["data", "tests.models.data_models:stream", "--samples", "40"]) == 0
    assert "40 samples scanned" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["data", "tests.models.data_models:not_data"], "returned a int, not a Dataset or a DataLoader"),
    (["data", "tests.models.data_models:nothing_here"], "has no attribute 'nothing_here'"),
    (["data", "tests.models.data_models:odd_image_loader", "--samples", "0"], "--samples must be at least 1"),
])
def test_data_command_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ shapetrace run
SCRIPT = textwrap.dedent("""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Linear(4, 1)
    loader = DataLoader(TensorDataset(torch.randn(100, 4), torch.randn(100, 1)), batch_size=32)
    for x, y in loader:
        nn.functional.mse_loss(model(x), y).backward()
""")


@pytest.mark.slow
def test_run_reports_the_short_last_batch_the_model_saw(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, "-m", "shapetrace", "run", str(script)], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = " ".join(result.stdout.split())  # the table's width wraps long lines
    assert ("data: the DataLoader at " in report and "train.py:8 gives 100 samples in batches of 32: its "
            "last batch has 4 (100 = 3 × 32 + 4, drop_last=False), and Linear ran on it" in report)
    assert "with input (4, 4)" in report


@pytest.mark.slow
def test_run_explains_the_demos_collate_error():
    result = subprocess.run([sys.executable, "-m", "shapetrace", "run", "demos/data_pipeline_bug.py"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 1
    assert "image: dataset index 37 (batch position 5) is (1, 32, 32); the other 15 are (3, 32, 32)" in result.stderr
    fixed = subprocess.run([sys.executable, "-m", "shapetrace", "run", "demos/data_pipeline_bug.py",
                            "--fail-on", "warning", "--", "--fixed"], capture_output=True, text=True, timeout=300,
                           cwd=ROOT)
    assert fixed.returncode == 0, fixed.stderr


SEQ_FIRST_COLLATE = """\
import torch, torch.nn as nn, torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset


class Sequences(Dataset):
    def __init__(self):
        self.x, self.y = torch.randn(21, 7, 3), torch.randn(21, 1)

    def __len__(self):
        return 21

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def collate(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs, dim=1), torch.stack(ys)  # (T, B, F): seq-first


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(3, 12, 2), nn.Linear(12, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[-1])


model = Model()
for x, y in DataLoader(Sequences(), batch_size=7, collate_fn=collate):
    F.mse_loss(model(x), y).backward()
for x, y in DataLoader(TensorDataset(torch.randn(21, 7, 3), torch.randn(21, 1)), batch_size=7):
    F.mse_loss(model(x.permute(1, 0, 2)), y).backward()
"""


def test_a_batch_a_custom_collate_stacked_in_dim_1_is_not_taken_for_batch_first(tmp_path):
    """Only PyTorch's default_collate stacks the samples in dim 0: the tensors a custom
    collate made (seq-first, (T, B, F)) are not numbered as a loader's batch, so a correct
    seq-first LSTM with batch == sequence length gets no warning (it got ST001 when a
    default-collated loader of the same batch size ran in the same script)."""
    from tests.case_support import run_script

    script = tmp_path / "seq_first_collate.py"
    script.write_text(SEQ_FIRST_COLLATE)
    done = run_script(script)
    assert done.exit_code == 0, done.output
    assert [f for f in done.trace.findings if f.severity != "info"] == []


LOADER_BATCH_EQUALS_LENGTH = """
import sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class IntentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.gru = nn.GRU(8, 12, batch_first="--fixed" in sys.argv)
        self.out = nn.Linear(12, 4)

    def forward(self, tokens):
        h0 = torch.zeros(1, tokens.size(0), 12)
        _, h_n = self.gru(self.emb(tokens), h0)
        return self.out(h_n[-1])


model = IntentNet()
data = TensorDataset(torch.randint(0, 50, (30, 10)), torch.randint(0, 4, (30,)))
for x, y in DataLoader(data, batch_size=10):  # batch == sequence length == 10
    nn.functional.cross_entropy(model(x), y).backward()
"""


def test_a_loader_batch_read_as_time_is_an_error_whatever_the_code_reading_it_says(tmp_path):
    """Batch == sequence length, and the model input is the very tensor a DataLoader
    yielded (default_collate stacks samples in dim 0): a seq-first GRU steps through the
    batch. The code built for that layout reads the output its way too (an h_0 of
    tokens.size(0), a loss over h_n's rows): that is no evidence on the data, so ST001 is
    an error. With batch_first=True, the data decides: no finding, not even an info
    that the sizes cannot tell."""
    from tests.case_support import run_script

    script = tmp_path / "intent.py"
    script.write_text(LOADER_BATCH_EQUALS_LENGTH)
    done = run_script(script)
    found = [f for f in done.trace.findings if f.code == "ST001"]
    assert [f.severity for f in found] == ["error"], found
    message = found[0].message
    assert "is the very tensor the DataLoader" in message and "yielded, its dim 0 the batch" in message
    fixed = run_script(script, "--fixed")
    assert fixed.exit_code == 0, fixed.output
    assert [f for f in fixed.trace.findings if f.code == "ST001"] == []


PADDED_SEQ_FIRST = """
import sys
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader


def collate(batch):
    seqs = [torch.tensor(s) for s in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    return pad_sequence(seqs, batch_first="--fixed" in sys.argv), lengths


class Reviews(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 12, batch_first=True)
        self.fc = nn.Linear(12, 2)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.fc(h_n[-1])


torch.manual_seed(0)
sentences = [torch.randint(1, 50, (int(n),)).tolist() for n in torch.randint(3, 15, (16,))]
model = Reviews()
for tokens, lengths in DataLoader(sentences, batch_size=4, collate_fn=collate):
    model(tokens, lengths).sum().backward()
"""


def test_lengths_counting_the_other_axis_of_a_packed_batch_explain_the_rnns_error(tmp_path):
    """pad_sequence's default pads seq-first, (T, B): packed with batch_first=True, the 4
    lengths count dim 1, and the LSTM raises an error naming neither. ST001 at the
    pack_padded_sequence explains it; the collate padding batch-first is clean."""
    from tests.case_support import run_script

    script = tmp_path / "reviews.py"
    script.write_text(PADDED_SEQ_FIRST)
    done = run_script(script)
    assert done.exit_code == 1
    [found] = [f for f in done.trace.findings if f.code == "ST001"]
    assert "but lengths has 4 entries, the size of dim 1: the input is (time, batch, ...)" in found.message
    assert found.hint.startswith("pad the batch batch-first where it is made (pad_sequence(..., batch_first=True))")
    assert "explained by" in done.output and "ST001 batch-first-mismatch: pack_padded_sequence" in done.output
    fixed = run_script(script, "--fixed")
    assert fixed.exit_code == 0, fixed.output
    assert [f for f in fixed.trace.findings if f.severity != "info"] == []
