"""Device and dtype recording on a real GPU.

Skipped where CUDA is not available (CI has no GPU); on a GPU machine run
``python -m pytest tests/test_cuda.py``. What the CPU cannot show: devices
recorded as ``cuda:0``, no host-device synchronisation while tracing
(``torch.cuda.set_sync_debug_mode("error")`` raises on any), results
bit-identical to the untraced run, autocast's dtypes, ST008 on a real
cpu/cuda mix and the command's ``--device cuda``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import shapetrace
from tests.models import buggy_models as buggy
from tests.models import core_models as zoo

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def no_sync() -> Iterator[None]:
    """Any host-device synchronisation in the block raises."""
    torch.cuda.synchronize()
    before = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(before)


class GpuForecaster(nn.Module):
    """The article's forecaster with its states made on the input's device
    (the article's ``torch.randn(...).to(device)`` is a host-to-device copy,
    a synchronisation of the model's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 64, num_layers=2, batch_first=True)
        self.linear = nn.Linear(64, 1)

    def forward(self, x):
        h_0 = torch.zeros(2, x.size(0), 64, device=x.device)
        c_0 = torch.zeros_like(h_0)
        output, _ = self.lstm(x.unsqueeze(-1), (h_0, c_0))
        pred = self.linear(output.contiguous().view(-1, 64))
        return pred.view(x.size(0), x.size(1), 1)[:, -1, :]


def test_a_gpu_forecaster_is_recorded_without_a_sync_and_unchanged():
    torch.manual_seed(0)
    model, x = GpuForecaster().cuda(), torch.randn(5, 30, device="cuda")
    with no_sync():
        plain = model(x)  # the model alone never synchronises: what follows is shapetrace's
    with no_sync():
        with shapetrace.trace(model) as t:
            traced = model(x)
        findings, table, document = t.findings, t.table(), t.to_json()  # reports read metadata only
    assert torch.equal(plain, traced)
    assert findings == [] and table is not None
    lstm = t["lstm"]
    assert [(m.shape, m.device, m.dtype) for m in lstm.inputs] == [
        ((5, 30, 1), "cuda:0", torch.float32), ((2, 5, 64), "cuda:0", torch.float32),
        ((2, 5, 64), "cuda:0", torch.float32)]
    assert (lstm.outputs[0].shape, lstm.outputs[0].device) == ((5, 30, 64), "cuda:0")
    assert {m.device for c in t.calls for m in c.inputs + c.outputs} == {"cuda:0"}
    assert [c.name for c in t.ops][:3] == ["zeros", "zeros_like", "unsqueeze"]
    assert json.loads(document)["calls"][0]["outputs"][0]["device"] == "cuda:0"


def test_the_article_forecaster_on_cuda_records_the_copy_to_the_device():
    model = zoo.article_model().cuda()  # the demo's module picks cuda for h_0 and c_0 itself
    with shapetrace.trace(model) as t:
        pred = model(torch.randn(5, 30, device="cuda"))
    assert pred.device.type == "cuda"
    copies = [c for c in t.ops if c.name == "to"]
    assert [(c.inputs[0].device, c.outputs[0].device, c.outputs[0].shape) for c in copies] == [
        ("cpu", "cuda:0", (5, 5, 64))] * 2
    assert (t["lstm"].outputs[0].shape, t["lstm"].outputs[0].device) == ((5, 30, 64), "cuda:0")
    assert (t["linear"].outputs[0].shape, t.root.outputs[0].shape) == ((150, 1), (5, 1))
    assert not [f for f in t.findings if f.code == "ST008"]


def test_autocast_half_precision_is_what_is_recorded():
    torch.manual_seed(0)
    model, x = GpuForecaster().cuda(), torch.randn(5, 30, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        plain = model(x)
        with shapetrace.trace(model) as t:
            traced = model(x)
    assert torch.equal(plain, traced) and traced.dtype == torch.float16
    linear = t["linear"]
    assert (linear.inputs[0].dtype, linear.outputs[0].dtype) == (torch.float16, torch.float16)
    assert t.root.inputs[0].dtype == torch.float32
    assert "float16" in t.to_json()


def test_a_cpu_tensor_mixed_into_cuda_data_is_st008():
    model, (x,) = buggy.mixed_devices()
    x = torch.randn(*x.shape, device="cuda")
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(x)
    (finding,) = [f for f in t.findings if f.code == "ST008"]
    assert "cpu" in finding.message and "cuda:0" in finding.message


def test_a_model_on_cuda_fed_cpu_data_is_st008():
    model = nn.Linear(4, 1).cuda()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
    (finding,) = [f for f in t.findings if f.code == "ST008"]
    assert "cuda" in finding.message and "cpu" in finding.message


def test_the_transformer_fast_path_is_kept_on_cuda():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True)
    model = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False).cuda().eval()
    x = torch.randn(8, 64, 256, device="cuda")
    with torch.inference_mode():
        plain = model(x)
        with shapetrace.trace(model) as t:
            traced = model(x)
    assert torch.equal(plain, traced)
    assert len(t.modules) == 5 and t.root.outputs[0].device == "cuda:0"


def test_the_command_runs_a_factory_on_cuda(tmp_path):
    out = tmp_path / "trace.json"
    result = subprocess.run([sys.executable, "-m", "shapetrace", "run", "tests.models.factories:article_forecaster",
                             "--input", "5x30", "--device", "cuda", "-o", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    calls = json.loads(out.read_text())["calls"]
    lstm = next(c for c in calls if c["name"] == "lstm")
    assert (lstm["outputs"][0]["shape"], lstm["outputs"][0]["device"]) == ([5, 30, 64], "cuda:0")
