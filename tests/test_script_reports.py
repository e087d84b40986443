"""Reports of real training scripts: titled after the model (most parameters), not
the data transform that ran first; library lines relative to site-packages; the
console script run by path never taken for the user's line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.core.text import short_path
from shapetrace.render.report import summary_line

ROOT = Path(__file__).resolve().parent.parent


class Normalize(nn.Module):
    """Like torchvision.transforms.Normalize: an nn.Module with no parameters, per sample."""

    def forward(self, image):
        return (image - 0.5) / 0.25


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_a_script_report_is_titled_after_the_model_not_the_transform() -> None:
    normalize, net = Normalize(), Net()
    images = [torch.rand(3, 4) for _ in range(4)]
    with shapetrace.trace() as t:  # as `shapetrace run` does: every module
        batch = torch.stack([normalize(image) for image in images])
        net(batch)
    line = summary_line(t).plain
    # Under the API no DataLoader flags the transform: it makes Net's input, so Net's
    # section holds it (tests/test_script_sections.py: a script's loader transforms).
    assert line.startswith("shapetrace Net: "), line
    assert "39 parameters" in line


def test_library_lines_are_relative_to_site_packages() -> None:
    site = sysconfig.get_paths()["purelib"]
    assert short_path(os.path.join(site, "neuralforecast", "models", "lstm.py")) == os.path.join(
        "neuralforecast", "models", "lstm.py")
    assert short_path("/opt/elsewhere/x.py") == "/opt/elsewhere/x.py"
    assert short_path(os.path.join(os.getcwd(), "demos", "a.py")) == os.path.join("demos", "a.py")
    # a venv inside the project (.venv, or .ci/run's .ci/venv): the library's path, not the venv's
    venv_site = os.path.join(os.getcwd(), ".venv", "lib", "python3.11", "site-packages")
    assert short_path(os.path.join(venv_site, "torch", "nn", "modules", "rnn.py")) == os.path.join(
        "torch", "nn", "modules", "rnn.py")


@pytest.mark.slow
def test_the_console_script_run_by_path_is_not_the_users_line(tmp_path) -> None:
    installed = Path(sysconfig.get_paths()["scripts"]) / "shapetrace"
    if not installed.exists():
        pytest.skip("no installed console script")
    script = tmp_path / "venv" / "bin" / "shapetrace"  # a venv's script, not on PATH
    script.parent.mkdir(parents=True)
    shutil.copy(installed, script)
    done = subprocess.run([sys.executable, str(script), "run", "tests.models.factories:article_forecaster",
                           "--input", "5x30"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "LSTM (root)" in done.stdout, done.stderr[-2000:]
    assert "bin/shapetrace" not in done.stdout
