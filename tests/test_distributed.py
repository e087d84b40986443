"""shapetrace under torch.distributed: ranks, collectives, --dist-check, rank diffs.

In-process tests use PyTorch's fake process group (a private testing API:
skipped where it is missing); the end-to-end ones run real gloo ranks under
``python -m torch.distributed.run`` on loopback, each with a timeout.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import shapetrace
from shapetrace.analyze.rank_diff import first_divergence
from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_DIFFERENCES
from shapetrace.record.distributed import RankInfo, rank_info
from tests.check_support import codes

ROOT = Path(__file__).resolve().parent.parent
ST020_DEMO = ROOT / "demos" / "bugs" / "st020_uneven_shard.py"
DIVERGENCES = ROOT / "tests" / "dist_scripts" / "divergences.py"
DDP_DEMO = ROOT / "demos" / "ddp_forecaster.py"

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is not available")


def line_of(path: Path, text: str) -> int:
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(lines) == 1, (path, text, lines)
    return lines[0]


# ------------------------------------------------------------ in process
@contextlib.contextmanager
def fake_world(rank: int, world_size: int = 2):
    """This process as rank ``rank`` of a fake group: collectives do nothing, shapes stay right."""
    fake_pg = pytest.importorskip("torch.testing._internal.distributed.fake_pg")
    dist.init_process_group("fake", store=fake_pg.FakeStore(), rank=rank, world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def gloo_world_of_one():
    """A real gloo group of one rank: DDP's reducer runs for real (the fake group cannot back it).

    Yields a list: a DDP model put in it is freed before the group is destroyed. A reducer
    freed after (the test's local, dropped when the test returns) destroys its gloo group
    with the store gone, and ``~ProcessGroupGloo`` waits forever on its threads: the hang
    seen twice under load."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    models: list = []
    try:
        yield models
    finally:
        models.clear()
        gc.collect()
        dist.destroy_process_group()


def sharded_encoder():
    sys.path.insert(0, str(ST020_DEMO.parent))
    try:
        from st020_uneven_shard import ShardedEncoder
    finally:
        sys.path.remove(str(ST020_DEMO.parent))
    torch.manual_seed(0)
    return ShardedEncoder()


def gather_pieces(model, x, rank, world=2):
    y = model(x, rank, world)
    gathered = [torch.empty_like(y) for _ in range(world)]
    dist.all_gather(gathered, y)  # the all_gather line
    return y


def rank_traces(x: torch.Tensor) -> list[shapetrace.Trace]:
    traces = []
    for rank in (0, 1):
        model = sharded_encoder()
        with fake_world(rank), shapetrace.trace() as t:
            gather_pieces(model, x, rank)
        traces.append(t)
    return traces


def test_rank_info_from_torchrun_variables(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_info() == RankInfo(1, 4, 1)
    monkeypatch.delenv("RANK")
    assert rank_info() is None


def test_a_missing_dist_dir_is_a_usage_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["run", "--dist-dir", str(tmp_path / "nowhere"), str(DIVERGENCES)]) == 2
    assert capsys.readouterr().err.strip().endswith(f"--dist-dir: no such directory: {tmp_path / 'nowhere'}")


def test_a_sigterm_inside_a_collective_keeps_it_in_the_rank_file(monkeypatch, tmp_path):
    # torchrun ends the other ranks with SIGTERM when one fails; a rank inside a collective
    # (gloo returns to Python only then) wrote it before running it, and the trace the
    # SIGTERM handler writes must still end with it (CI once saw torch.chunk last instead).
    from shapetrace.record import distributed
    from shapetrace.record.tracing import _TraceBlock

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("the handler is only installed over SIGTERM's default")
    on_disk = []
    monkeypatch.setattr(distributed.os, "kill", lambda pid, signum: on_disk.append(
        [c.type for c in shapetrace.load(tmp_path / "trace.rank0.json").calls if c.kind == "op"]))

    def killed_inside(tensor, *args, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # the handler runs here, inside the collective
        return None

    monkeypatch.setattr(dist, "all_reduce", killed_inside)
    with fake_world(0), _TraceBlock(None, True, (), dist_dir=str(tmp_path)):
        torch.chunk(torch.randn(2, 7), 2, dim=1)[0].sum()
        dist.all_reduce(torch.randn(3))
    assert on_disk == [["torch.randn", "torch.chunk", "Tensor.sum", "torch.randn", "dist.all_reduce"]]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_collectives_are_calls_at_the_users_line():
    class Sync(nn.Module):
        def forward(self, x):
            out = torch.empty(2 * x.shape[0], x.shape[1])
            dist.all_gather_into_tensor(out, x)
            dist.all_reduce(x)
            dist.barrier()
            return out

    with fake_world(1), shapetrace.trace() as t:
        Sync()(torch.randn(3, 4))
    assert t.meta["rank"] == 1 and t.meta["world_size"] == 2
    gather, reduce, barrier = [c for c in t.calls if c.type.startswith("dist.")]
    assert gather.type == "dist.all_gather_into_tensor" and gather.parent is t.root
    assert [m.shape for m in gather.inputs] == [(6, 4), (3, 4)]
    assert [m.shape for m in gather.outputs] == [(6, 4)]
    assert gather.kwargs["group"] == "WORLD" and gather.kwargs["group_size"] == 2
    assert gather.location.code == "dist.all_gather_into_tensor(out, x)"
    assert reduce.inputs[0].dtype == torch.float32 and reduce.inputs[0].device == "cpu"
    assert barrier.type == "dist.barrier" and barrier.inputs == ()


def test_functional_collectives_are_recorded():
    funcol = pytest.importorskip("torch.distributed._functional_collectives")
    with fake_world(0), shapetrace.trace() as t:
        funcol.all_gather_tensor(torch.randn(3, 4), 0, dist.group.WORLD).wait()
    (call,) = [c for c in t.calls if c.type.startswith("funcol.")]
    assert call.type == "funcol.all_gather_tensor" and call.outputs[0].shape == (6, 4)


def test_collectives_inside_ddp_are_not_the_users():
    from torch.nn.parallel import DistributedDataParallel

    with gloo_world_of_one() as models:
        models.append(DistributedDataParallel(nn.Linear(4, 2)))
        with shapetrace.trace() as t:
            models[0](torch.randn(3, 4)).sum().backward()
    assert not [c for c in t.calls if c.type.startswith("dist.")]


def test_first_divergence_names_the_chunk_each_rank_took():
    traces = rank_traces(torch.randn(2, 7, 16))
    divergence = first_divergence(traces)
    line = line_of(ST020_DEMO, "mine = torch.chunk(")
    assert divergence is not None and divergence.kind == "piece"
    assert re.fullmatch(rf"torch\.chunk at \S*st020_uneven_shard\.py:{line}: rank 0 \(2, 4, 16\), rank 1 \(2, 3, 16\)",
                        divergence.text())
    assert "pad" in divergence.hint


def test_ranks_that_agree_have_no_divergence():
    traces = rank_traces(torch.randn(2, 8, 16))
    assert first_divergence(traces) is None


def test_a_call_made_on_one_rank_only_is_the_divergence():
    traces = []
    for rank in (0, 1):
        with fake_world(rank), shapetrace.trace() as t:
            h = nn.Linear(8, 4)(torch.randn(4, 6, 8))
            if rank == 1:
                h = h.mean(dim=1)  # the branch
            dist.all_reduce(h)
        traces.append(t)
    divergence = first_divergence(traces)
    assert divergence is not None and divergence.kind == "missing"
    assert divergence.text().startswith("Tensor.mean at ")
    assert divergence.text().endswith(": rank 0 not called, rank 1 (4, 4)")


# ST020: triggered by an uneven split feeding a collective; its help, applied, silences it.
def test_st020_uneven_split_before_a_collective():
    model = sharded_encoder()
    with fake_world(0), shapetrace.trace() as t:
        gather_pieces(model, torch.randn(2, 7, 16), 0)
    (found,) = [f for f in t.findings if f.code == "ST020"]
    assert found.location.lineno == line_of(ST020_DEMO, "mine = torch.chunk(")
    assert "cuts dim 1 of (2, 7, 16) into pieces of 4, 3" in found.message
    assert "F.pad(x, (0, 0, 0, 1))" in found.hint
    fixed = F.pad(torch.randn(2, 7, 16), (0, 0, 0, 1))  # the help, applied
    with fake_world(0), shapetrace.trace() as t:
        gather_pieces(sharded_encoder(), fixed, 0)
    assert "ST020" not in codes(t)


def test_st020_not_for_an_uneven_split_that_reaches_no_collective():
    class Gates(nn.Module):
        def forward(self, x):
            a, b = torch.chunk(x, 2, dim=1)  # 4 + 3, on purpose
            return a.sum(1) + b.sum(1)

    with fake_world(0), shapetrace.trace() as t:
        y = Gates()(torch.randn(2, 7))
        dist.all_reduce(torch.ones(3))
    assert y.shape == (2,) and "ST020" not in codes(t)


def test_the_dtype_check_ignores_pytorchs_collective_debug_text():
    from shapetrace.core.records import Call
    from shapetrace.core.tensor_meta import TensorMeta

    # TORCH_DISTRIBUTED_DEBUG=DETAIL's message, as gloo raised it in the run
    detail = ("Detected mismatch between collectives on ranks. Rank 0 is running collective: "
              "CollectiveFingerPrint(SequenceNumber=1, OpType=ALLGATHER, TensorShape=[2, 4, 16], "
              "TensorDtypes=Float, TensorDeviceTypes=TensorOptions(dtype=float (default), device=cpu))")
    meta = TensorMeta("0", (2, 4, 16), torch.float32, "cpu", True, (64, 16, 1), False, 512)
    call = Call(0, "op", "all_gather", "dist.all_gather", (meta,), (), None, 0, 0, error=f"RuntimeError: {detail}")
    assert "ST009" not in codes(shapetrace.Trace([call]))


def test_ddp_trace_names_the_users_modules_and_changes_nothing():
    from torch.nn.parallel import DistributedDataParallel

    sys.path.insert(0, str(ROOT / "demos"))
    try:
        from lstm_forecaster import LSTM
    finally:
        sys.path.remove(str(ROOT / "demos"))
    results = []
    for traced in (False, True):
        with gloo_world_of_one() as models:
            torch.manual_seed(0)
            models.append(DistributedDataParallel(LSTM(1, 8, 2, 1, 5), bucket_cap_mb=0.001))
            model = models[0]
            x = torch.randn(5, 30)
            with shapetrace.trace() if traced else contextlib.nullcontext() as t:
                out = model(x)
                out.sum().backward()
            grads = [p.grad.clone() for p in model.parameters()]
            results.append((out.detach(), grads, model._get_ddp_logging_data().get("bucket_sizes"), t))
            del model, out  # the group's models go before it (gloo_world_of_one)
    (out0, grads0, buckets0, _), (out1, grads1, buckets1, t) = results
    assert torch.equal(out0, out1) and all(torch.equal(a, b) for a, b in zip(grads0, grads1))
    assert buckets0 == buckets1
    assert [c.name for c in t.modules[:4]] == ["", "module", "lstm", "linear"]
    assert t["lstm"].outputs[0].shape == (5, 30, 8)


def test_diff_of_rank_traces(tmp_path, capsys):
    for trace in rank_traces(torch.randn(2, 7, 16)):
        (tmp_path / f"trace.rank{trace.meta['rank']}.json").write_text(trace.to_json())
    assert main(["diff", str(tmp_path / "trace.rank*.json")]) == EXIT_DIFFERENCES
    out = capsys.readouterr().out
    assert "first divergence across ranks: torch.chunk at " in out and "rank 1 (2, 3, 16)" in out
    assert main(["diff", str(tmp_path / "nothing*.json")]) == 2


@pytest.mark.parametrize(("color", "environment", "coloured"), [
    ("always", {"NO_COLOR": "1"}, True), ("never", {"FORCE_COLOR": "1"}, False),
    ("auto", {"FORCE_COLOR": "1"}, True), ("auto", {"NO_COLOR": "1"}, False),
])
def test_diff_of_rank_traces_honours_color(tmp_path, capsys, monkeypatch, color, environment, coloured):
    """``--color`` decides over the environment, as for a diff of two traces; auto leaves it to
    NO_COLOR/FORCE_COLOR (capsys is no terminal)."""
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for trace in rank_traces(torch.randn(2, 7, 16)):
        (tmp_path / f"trace.rank{trace.meta['rank']}.json").write_text(trace.to_json())
    assert main(["diff", str(tmp_path / "trace.rank*.json"), "--color", color]) == EXIT_DIFFERENCES
    out = capsys.readouterr().out
    assert "first divergence across ranks" in out
    assert ("\x1b[" in out) is coloured


# ------------------------------------------------------------- torchrun
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A rank of an untraced gloo run has been seen to abort with this (std::terminate from a C++ thread,
# SIGABRT), once in hundreds of runs: PyTorch's teardown, not the script's nor shapetrace's.
GLOO_THREAD_ABORT = "terminate called without an active exception"


def torchrun(cwd: Path, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Two gloo ranks on loopback; a hung run fails the test instead of CI.

    A run that a rank ended with GLOO_THREAD_ABORT runs once more, with a warning in pytest's summary:
    an abort that comes back every time still fails the test.
    """
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                   "OMP_NUM_THREADS": "1", "SHAPETRACE_DIST_TIMEOUT": "60", **(env or {})}

    def launch() -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                   f"--master_port={free_port()}", *arguments]
        return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=240)

    run = launch()
    if run.returncode != 0 and GLOO_THREAD_ABORT in run.stderr:
        warnings.warn(f"a gloo rank aborted ({GLOO_THREAD_ABORT!r}); running {' '.join(arguments)} once more",
                      stacklevel=2)
        run = launch()
    return run


SCENARIOS = {  # name: (script, its arguments, first divergence as a pattern)
    "uneven_chunk": (ST020_DEMO, [], r"torch\.chunk at \S+:{chunk}: rank 0 \(2, 4, 16\), rank 1 \(2, 3, 16\)"),
    # the rank's slice of the data, outside the model, recorded as it made the pass's input (record/before_pass.py)
    "rank_batch": (DIVERGENCES, ["rank_batch"],
                   r"Tensor\.__getitem__ at \S+:{slice}: rank 0 \(4, 8\), rank 1 \(3, 8\)"),
    "branch": (DIVERGENCES, ["branch"], r"Tensor\.mean at \S+:{mean}: rank 0 not called, rank 1 \(4, 4\)"),
    "dtype": (DIVERGENCES, ["dtype"], r"Tensor\.to at \S+:{to}: rank 0 \(4, 4\) float32, rank 1 \(4, 4\) float64"),
    "transpose": (DIVERGENCES, ["transpose"], r"Tensor\.permute at \S+:{permute}: rank 0 \(3, 4\), rank 1 \(4, 3\)"),
}


def scenario_pattern(name: str) -> str:
    lines = {"chunk": line_of(ST020_DEMO, "mine = torch.chunk("),
             "slice": line_of(DIVERGENCES, "model, x = Head(), data[rank::world]"),
             "mean": line_of(DIVERGENCES, "h = h.mean("), "to": line_of(DIVERGENCES, "h = h.to("),
             "permute": line_of(DIVERGENCES, "h.permute(")}
    return SCENARIOS[name][2].format(**lines)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_dist_check_stops_every_rank_at_the_first_divergence(name, tmp_path, capsys):
    script, arguments, _ = SCENARIOS[name]
    pattern = scenario_pattern(name)
    run = torchrun(tmp_path, "-m", "shapetrace", "run", "--dist-check", str(script), "--", *arguments)
    assert run.returncode != 0
    for rank in (0, 1):  # every rank: a Python error at the collective, naming the first divergence
        assert re.search(rf"^\[rank {rank}\] shapetrace\.(errors\.)?CollectiveMismatchError: dist\.all_\w+ at ",
                         run.stderr, re.MULTILINE), run.stderr[-3000:]
        assert re.search(rf"^\[rank {rank}\] first divergence across ranks: {pattern}$", run.stderr,
                         re.MULTILINE), run.stderr[-3000:]
        saved = shapetrace.load(tmp_path / f"trace.rank{rank}.json")
        assert saved.meta["rank"] == rank and "CollectiveMismatchError" in str(saved.error)
        assert (tmp_path / f"trace.rank{rank}.txt").read_text().startswith(f"[rank {rank}] shapetrace")
    assert re.search(rf"^first divergence across ranks: {pattern}$", run.stdout, re.MULTILINE), run.stdout
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "trace.rank*.json")]) == EXIT_DIFFERENCES  # offline: the same place
    assert re.search(rf"^first divergence across ranks: {pattern}$", capsys.readouterr().out, re.MULTILINE)


@pytest.mark.slow
def test_a_rank_that_skips_the_collective_ends_the_others_wait(tmp_path):
    run = torchrun(tmp_path, "-m", "shapetrace", "run", "--dist-check", str(DIVERGENCES), "--", "skip")
    assert run.returncode != 0
    line = line_of(DIVERGENCES, "dist.all_reduce(out)")
    at = rf"dist\.all_reduce at \S+divergences\.py:{line}"
    for rank in (0, 1):
        assert re.search(rf"^\[rank {rank}\] shapetrace\.(errors\.)?CollectiveMismatchError: the ranks are at "
                         rf"different collectives: rank 0 calls {at}; rank 1 finished its script$",
                         run.stderr, re.MULTILINE), run.stderr[-3000:]
        assert re.search(rf"^\[rank {rank}\] first divergence across ranks: {at}: rank 0 \(4, 4\), rank 1 not called$",
                         run.stderr, re.MULTILINE), run.stderr[-3000:]


def test_the_fixed_script_passes_the_check(tmp_path):
    run = torchrun(tmp_path, "-m", "shapetrace", "run", "--dist-check", str(ST020_DEMO), "--", "--fixed")
    assert run.returncode == 0, run.stderr[-3000:]
    # The ranks share torchrun's stdout and print() writes its pieces one by one, so the two ranks'
    # lines can interleave ("gatheredgathered (2, 8, 16)..."): count the pieces, not whole lines.
    assert run.stdout.count("gathered") == 2 and run.stdout.count("(2, 8, 16)") >= 2
    assert "[rank 0] exit 0, 0 finding(s)" in run.stdout and "[rank 1] exit 0, 0 finding(s)" in run.stdout


@pytest.mark.slow
def test_without_the_check_an_aborted_rank_still_leaves_its_trace(tmp_path, capsys):
    run = torchrun(tmp_path, "-m", "shapetrace", "run", str(ST020_DEMO))
    assert run.returncode != 0  # gloo aborts a rank on the mismatched all_gather
    traces = [shapetrace.load(tmp_path / f"trace.rank{rank}.json") for rank in (0, 1)]
    for trace in traces:  # each written before the collective ran
        assert [c.type for c in trace.calls if c.kind == "op"][-1] == "dist.all_gather"
        assert "ST020" in codes(trace)
    assert main(["diff", str(tmp_path / "trace.rank0.json"), str(tmp_path / "trace.rank1.json")]) == EXIT_DIFFERENCES
    assert re.search(rf"^first divergence across ranks: {scenario_pattern('uneven_chunk')}$",
                     capsys.readouterr().out, re.MULTILINE)


@pytest.mark.slow
def test_pytorchs_detail_debug_gives_labelled_reports_and_no_false_dtype_finding(tmp_path):
    run = torchrun(tmp_path, "-m", "shapetrace", "run", str(ST020_DEMO), env={"TORCH_DISTRIBUTED_DEBUG": "DETAIL"})
    assert run.returncode != 0
    assert "TensorDtypes=Float" in run.stderr  # PyTorch's own message is there
    assert "ST009" not in run.stdout + run.stderr
    for rank in (0, 1):
        report = (tmp_path / f"trace.rank{rank}.txt").read_text()
        assert report.startswith(f"[rank {rank}] shapetrace") and "ST009" not in report


@pytest.mark.slow
def test_ddp_training_gives_the_same_losses_traced_and_untraced(tmp_path):
    plain = torchrun(tmp_path, str(DDP_DEMO), "--save", "plain.pt")
    assert plain.returncode == 0, plain.stderr[-3000:]
    traced = torchrun(tmp_path, "-m", "shapetrace", "run", "--dist-check", str(DDP_DEMO), "--", "--save", "traced.pt")
    assert traced.returncode == 0, traced.stderr[-3000:]
    before, after = (torch.load(tmp_path / name) for name in ("plain.pt", "traced.pt"))
    assert torch.equal(before["losses"], after["losses"])
    assert before["buckets"] == after["buckets"]
    assert all(torch.equal(before["state"][key], after["state"][key]) for key in before["state"])
    for rank in (0, 1):
        trace = shapetrace.load(tmp_path / f"trace.rank{rank}.json")
        # The article's model bakes its batch size in (ST003, a warning); nothing else.
        assert codes(trace) <= {"ST003"} and trace.error is None
        assert trace["lstm"].outputs[0].shape == (5, 30, 16)
    summary = [line for line in traced.stdout.splitlines() if line.startswith("[rank ")]
    assert any(line.startswith("[rank 1] exit 0") for line in summary)
    assert json.loads((tmp_path / "trace.rank1.json").read_text())["meta"]["world_size"] == 2


@pytest.mark.parametrize("wrap", ["FullyShardedDataParallel", "fully_shard"])
def test_fsdp_on_cpu_traces_without_changing_results(wrap):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(self.a(x).relu())

    def full(tensor):
        return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor

    with gloo_world_of_one():
        torch.manual_seed(0)
        model = Net()
        if wrap == "fully_shard":
            fsdp = pytest.importorskip("torch.distributed.fsdp")
            from torch.distributed.device_mesh import init_device_mesh

            mesh = init_device_mesh("cpu", (1,))
            fsdp.fully_shard(model.a, mesh=mesh)
            fsdp.fully_shard(model, mesh=mesh)
        else:
            from torch.distributed.fsdp import FullyShardedDataParallel
            from torch.distributed.fsdp.wrap import ModuleWrapPolicy

            model = FullyShardedDataParallel(model, device_id=torch.device("cpu"),
                                             auto_wrap_policy=ModuleWrapPolicy({nn.Linear}))
        x = torch.randn(3, 4)
        plain = model(x)
        plain.sum().backward()
        grads = [full(p.grad).clone() for p in model.parameters()]
        for p in model.parameters():
            p.grad = None
        with shapetrace.trace() as t:
            traced = model(x)
            traced.sum().backward()
        assert torch.equal(plain, traced)
        assert all(torch.equal(a, full(p.grad)) for a, p in zip(grads, model.parameters()))
    # fully_shard keeps the name (a, of type FSDPLinear); FSDP v1 wraps it (a, and a.module, the Linear)
    assert t["a"].outputs[0].shape == (3, 8)
    assert [c.name for c in t.modules if c.type.endswith("Linear")][:1] in (["a"], ["a.module"])
    assert not any("_fsdp_wrapped_module" in c.name for c in t.modules)
