"""ST010 on data whose layout comes from the Dataset: channels-last images, windows
sliced features by time (``tests/cases/variants/st010_*``).

The layer gets the batch as loaded (the model's input, its dims untouched), so the
finding is put on the ``return`` of the user's ``Dataset.__getitem__`` (recorded by the
data hook as ``run_info["loaders"][i]["getitem"]``) and its help says what to return;
a channels-last batch is moved with ``permute(0, 3, 1, 2)``, not swapped by a
transpose that would also exchange height and width.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import shapetrace
from tests.case_support import VARIANTS, load_file, model_outputs, run_script, serious, traced_module
from tests.test_cases_axes import _same

pytestmark = pytest.mark.filterwarnings("ignore")

NAMES = {"st010_a_hwc_images_dataset_conv_raises": ("img", "img.permute(2, 0, 1)"),
         "st010_b_window_features_by_time_lstm_raises": ("window", "window.transpose(0, 1)")}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_the_help_applied_to_the_dataset_return_gives_the_fixed_model(name, tmp_path):
    t = traced_module(load_file(VARIANTS / f"{name}.py", f"layout_{name}"))
    found = [f for f in serious(t) if f.code == "ST010"]
    assert len(found) == 1 and t.error is not None
    sample, fixed = NAMES[name]
    match = re.match(r"return (\S+(?:\(.*?\))?) from (\w+)\.__getitem__", found[0].hint)
    assert match and match.group(1) == fixed, found[0].hint
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    line = found[0].location.lineno
    assert source[line - 1].strip().startswith(f"return {sample},"), source[line - 1]
    source[line - 1] = source[line - 1].replace(f"return {sample},", f"return {match.group(1)},")
    patched = tmp_path / f"helped_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    helped = load_file(patched, f"helped_{name}")
    got = model_outputs(helped)
    want = model_outputs(load_file(VARIANTS / f"{name}.py", f"fixed_{name}"), fixed=True)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        _same(a, b)
    again = traced_module(helped)
    assert again.error is None and serious(again) == []


def test_the_channels_last_note_names_the_dataset_line_and_the_permute():
    done = run_script(VARIANTS / "st010_a_hwc_images_dataset_conv_raises.py")
    assert done.exit_code == 1 and done.trace.error is not None
    explained = done.output.split("explained by:", 1)[1]
    assert "(8, 32, 32, 3): its dim 1 is 32, not 3; the batch is as Photos.__getitem__ makes its samples, at line 28" \
        in explained, explained
    assert "help: return img.permute(2, 0, 1) from Photos.__getitem__" in explained
    assert "or pass x.permute(0, 3, 1, 2)" in explained
    assert done.trace.run_info["loaders"][0]["getitem"].endswith("st010_a_hwc_images_dataset_conv_raises.py:24")


def test_a_channels_last_batch_inside_the_model_keeps_the_finding_on_the_layer():
    """No user Dataset (a tensor given to the model): the finding stays on the conv,
    and its help moves the channels with a permute."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with contextlib.suppress(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(2, 20, 16, 3))
    found = [f for f in t.findings if f.code == "ST010"]
    assert len(found) == 1
    assert found[0].hint == "the channels are in the last dim (channels-last data): pass x.permute(0, 3, 1, 2)"
    assert found[0].location.filename == __file__


class ChannelsFirst(Dataset):
    """Correct: the Dataset returns (C, H, W); the model permutes nothing."""

    def __init__(self, channels_last=False):
        self.images = np.random.default_rng(0).random((10, 12, 12, 3), dtype=np.float32)
        self.channels_last = channels_last

    def __len__(self):
        return 10

    def __getitem__(self, i):
        img = torch.from_numpy(self.images[i])
        return img if self.channels_last else img.permute(2, 0, 1)


class PermutesInForward(nn.Module):
    """Correct: a channels-last Dataset, and the model moves the channels itself."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x.permute(0, 3, 1, 2)).mean((2, 3))


@pytest.mark.parametrize("channels_last, model", [
    (False, nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())),
    (True, PermutesInForward()),
])
def test_datasets_whose_layout_the_model_reads_are_quiet(channels_last, model):
    loader = DataLoader(ChannelsFirst(channels_last), batch_size=4)
    with contextlib.redirect_stdout(io.StringIO()), shapetrace.trace(model) as t:
        for x in loader:
            model(x).sum().backward()
    assert t.error is None and serious(t) == []


class SquareImages(Dataset):
    """(3, 32, 32) images, right; the model's first conv is built for 32 channels."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.zeros(3, 32, 32)


def test_a_layer_built_for_a_size_that_two_dims_have_keeps_its_finding_on_the_layer():
    model = nn.Sequential(nn.Conv2d(32, 4, 3))
    with contextlib.suppress(RuntimeError), shapetrace.trace(model) as t:
        for x in DataLoader(SquareImages(), batch_size=4):
            model(x)
    [found] = [f for f in t.findings if f.code == "ST010"]
    assert found.location.filename == __file__ and "__getitem__" not in found.hint
