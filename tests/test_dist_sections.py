"""Under torchrun, each rank's report has the sections a single process gets
(issue 18): the model (DDP) with its loss, the DataLoader's transform folded
after it with how many times it ran on that rank, in the report and the graph;
and the ranks train exactly as untraced. Script: tests/dist_scripts/mnist_ddp.py
(mnist_small under DistributedDataParallel with a DistributedSampler)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import shapetrace
from shapetrace.render.report import summary_line
from shapetrace.render.sections import sections_data, split_sections
from tests.graph_check import check_graph
from tests.test_distributed import pytestmark as distributed_only
from tests.test_distributed import torchrun

SCRIPT = Path(__file__).resolve().parent / "dist_scripts" / "mnist_ddp.py"
pytestmark = [distributed_only, pytest.mark.slow]


def test_each_rank_has_the_model_then_its_folded_transform(tmp_path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "traced").mkdir()
    plain = torchrun(tmp_path, str(SCRIPT), "--save", "plain")
    assert plain.returncode == 0, plain.stderr[-3000:]
    traced = torchrun(tmp_path, "-m", "shapetrace", "run", str(SCRIPT), "--", "--save", "traced")
    assert traced.returncode == 0, traced.stderr[-3000:]
    for rank in (0, 1):
        before, after = (torch.load(tmp_path / kind / f"rank{rank}.pt") for kind in ("plain", "traced"))
        assert torch.equal(before["losses"], after["losses"])
        assert all(torch.equal(before["state"][key], after["state"][key]) for key in before["state"])

        trace = shapetrace.load(tmp_path / f"trace.rank{rank}.json")
        parts = split_sections(trace)
        # 20 images, 10 a rank, two epochs: Normalize ran 20 times on each rank (more than the 8 calls
        # a module's first passes record under torchrun).
        assert [(t.type, t.count) for t in parts.transforms] == [("Normalize", 20)]
        # Titled by the model DDP holds (mnist_small's Net), saying it is wrapped.
        assert [s.model.type for s in parts.models] == ["DistributedDataParallel"]
        assert [s.title for s in parts.models] == ["Net (in DistributedDataParallel)"]
        roots = parts.models[0].roots
        assert [c.type for c in roots] == ["DistributedDataParallel", "F.nll_loss"] * 6  # 3 batches an epoch
        assert [c.inputs[0].shape[0] for c in roots if c.kind == "module"] == [4, 4, 2] * 2
        first = summary_line(trace).plain
        assert first.startswith(
            f"[rank {rank}] shapetrace Net (in DistributedDataParallel) (also data transform Normalize ×20)")
        assert [(m["type"], m["wrapper"]) for m in sections_data(trace)["models"]] == [
            ("Net", "DistributedDataParallel")]
        assert "<title>shapetrace: Net (in DistributedDataParallel)</title>" in trace.html()
        graph = check_graph(trace, trace.graph().source, what=f"rank {rank}")
        assert "Normalize ×20 (data transform)" in graph.nodes.values()
        assert [label for name, label in graph.labels.items() if name.startswith("cluster_section_")] == [
            "Net (in DistributedDataParallel) · 9,802 params", "data transforms (in the DataLoader)"
        ]
