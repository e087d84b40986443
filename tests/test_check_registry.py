"""The findings catalogue's registration (``analyze/checks/__init__.py``) survives its
detector modules running twice, as they do after pytester's in-process runs: those drop
from ``sys.modules`` the modules first imported during the run (the detectors, loaded by
the run's first ``t.findings``) and keep the ones imported before (the package holding
the registry), so the next ``t.findings`` ran each detector module again and raised
"finding code ST001 registered twice". Another detector claiming a code still raises."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.analyze import checks
from shapetrace.analyze.checks import REGISTRY, load_detectors, register


@pytest.fixture
def detectors_dropped():
    """``sys.modules`` without the detector modules, as after an in-process pytest run;
    the modules and the registry as they were, afterwards."""
    load_detectors()
    prefix = f"{checks.__name__}."
    dropped = {name: module for name, module in sys.modules.items() if name.startswith(prefix)}
    registry = dict(REGISTRY)
    for name in dropped:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [name for name in sys.modules if name.startswith(prefix)]:
            del sys.modules[name]
        sys.modules.update(dropped)
        REGISTRY.clear()
        REGISTRY.update(registry)


def test_detector_modules_run_again_register_again(detectors_dropped):
    codes = sorted(REGISTRY)
    assert sorted(load_detectors()) == codes
    model = nn.LSTM(3, 8)
    with pytest.raises(RuntimeError, match="Expected hidden"), shapetrace.trace(model) as t:
        model(torch.randn(6, 9, 3), (torch.zeros(1, 6, 8), torch.zeros(1, 6, 8)))
    assert [f.code for f in t.findings] == ["ST001", "ST007"]


def test_another_detector_under_a_held_code_is_refused():
    load_detectors()
    with pytest.raises(RuntimeError, match="finding code ST001 registered twice"):
        register("ST001", "impostor", "error", "not ST001")(lambda trace: iter(()))
