"""ST022: a skip connection joined to a map that downsampling rounded. A U-Net given
50 x 50 images pools 25 to 12 and comes back up to 24; torch.cat raises naming neither
the pooling nor the rule (inputs a multiple of 4). The finding names both, on the real
error and on a residual add after a strided convolution (25 -> 13 -> 26); its help,
applied, lets the model run at any size; correct encoder-decoders stay quiet."""

from __future__ import annotations

import inspect

import pytest
import torch

import shapetrace
from tests.models.skip_models import CroppedUNet, Hourglass, ResizedUNet, UNet


def _failed(model, x, error=RuntimeError):
    with pytest.raises(error) as raised, shapetrace.trace(model) as t:
        model(x)
    return t, "\n".join(getattr(raised.value, "__notes__", []))


def test_a_unet_at_an_odd_size_names_the_pooling_that_rounded():
    t, note = _failed(UNet(), torch.randn(2, 1, 50, 50))
    (found,) = [f for f in t.findings if f.code == "ST022"]
    assert found.severity == "error" and found.location.code.strip().startswith("d2 = self.dec2(torch.cat(")
    lines, start = inspect.getsourcelines(UNet.forward)
    pooled = start + next(i for i, line in enumerate(lines) if "self.pool(e2)" in line)
    assert found.message == (
        f"torch.cat at line {found.location.lineno} joins self.up2(b) (2, 16, 24, 24) with e2 (2, 16, 25, 25): "
        f"pool (MaxPool2d) at line {pooled} took 25 to 12 (25 is not a multiple of 2), and 12 scaled back up by 2 "
        "is 24; the model keeps its sizes only for inputs whose dim 2 is a multiple of 4, and this input is "
        "(2, 1, 50, 50)"
    )
    assert found.hint == (
        "resize the upsampled map to the skip's size: F.interpolate(self.up2(b), size=e2.shape[2:]), "
        "or pad the input to a multiple of 4 (50 to 52)"
    )
    assert "explained by:\n    ST022 skip-size-mismatch" in note


def test_a_residual_add_after_a_strided_convolution():
    t, _ = _failed(Hourglass(), torch.randn(2, 4, 25))
    (found,) = [f for f in t.findings if f.code == "ST022"]
    assert "the add at line" in found.message
    assert "joins self.up(y) (2, 8, 26) with skip (2, 8, 25): down (Conv1d) at line" in found.message
    assert "took 25 to 13 (25 is not a multiple of 2), and 13 scaled back up by 2 is 26" in found.message
    assert found.hint.startswith(
        "resize the upsampled map to the skip's size: F.interpolate(self.up(y), size=skip.shape[2:])"
    )


@pytest.mark.parametrize("size", [50, 51, 64, 37])
def test_the_help_applied_runs_at_any_size(size):
    model = ResizedUNet()
    with shapetrace.trace(model) as t:
        out = model(torch.randn(2, 1, size, size))
    assert out.shape == (2, 1, size, size) and t.findings == []


@pytest.mark.parametrize("model, size", [(UNet(), 64), (CroppedUNet(), 50), (Hourglass(), 24)])
def test_correct_encoder_decoders_are_quiet(model, size):
    x = torch.randn(2, 4, size) if isinstance(model, Hourglass) else torch.randn(2, 1, size, size)
    with shapetrace.trace(model) as t:
        model(x)
    assert t.findings == []


def test_a_join_that_fails_for_another_reason_is_not_blamed_on_downsampling():
    class Mismatched(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = torch.nn.MaxPool2d(2)

        def forward(self, x, y):
            return torch.cat([self.pool(x), y], dim=1)  # y was never pooled: 16 against 32

    model = Mismatched()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert "ST022" not in {f.code for f in t.findings}
