"""`shapetrace run` on scripts whose models run in child processes
(record/children.py, cli/child_report.py): pytorch/examples' mnist_hogwild
(`mp.Process` per worker, fork and spawn) and `torch.multiprocessing.spawn`.
Each child's run is reported after the script's, identical children once;
the script prints, exits and sees its children exit as under python."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import shapetrace
from tests.case_support import REAL_SCRIPTS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
HOGWILD = str(REAL_SCRIPTS / "mnist_hogwild_small.py")
SPAWN = str(REAL_SCRIPTS / "mp_spawn_small.py")


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # Without PYTHONUNBUFFERED (set on the CI machines): unbuffered, a print's text and its
    # newline reach the pipe in two writes, so two children's lines can interleave within a
    # line, under python as under shapetrace; block-buffered, ``print(..., flush=True)`` is one write.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    env.update({"PYTHONPATH": str(ROOT), "COLUMNS": "200", "OMP_NUM_THREADS": "1"})
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _plain(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, script, *args], cwd)


def _traced(script: str, cwd: Path, *args: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "shapetrace", "run", script, *options, "--", *args], cwd)


def _script_lines(result: subprocess.CompletedProcess) -> list[str]:
    """What the script printed: stdout up to shapetrace's first report. Children write
    to one pipe at once, so their lines interleave, even within a line (a log line's
    text and its newline may reach the pipe in two writes): the records are cut apart
    at each worker's log prefix (``0\tTrain Epoch``) and sorted."""
    text = result.stdout.split("\nshapetrace ")[0]
    lines = re.sub(r"(?<!\n)(\d\tTrain Epoch)", r"\n\1", text).splitlines()
    return sorted(line for line in lines if line.strip() and not line.startswith(("2 child", "child process")))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_hogwild_workers_training_is_reported_once_for_identical_workers(tmp_path, method):
    plain = _plain(HOGWILD, tmp_path, "--start-method", method)
    traced = _traced(HOGWILD, tmp_path, "--start-method", method)
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert "exit codes [0, 0]" in plain.stdout
    assert _script_lines(traced) == _script_lines(plain), (plain.stdout, traced.stdout)  # all trained, logged
    assert "Traceback" not in traced.stderr
    parent, children = traced.stdout.split("2 child processes ran train() with the same calls: ")
    assert "Process-1 (pid" in children.splitlines()[0] and "Process-2 (pid" in children.splitlines()[0]
    # The parent's test passes (batches of 32 and the last 8, reduction='sum'); the workers' training
    # passes (16 and the last 8): each folded into one row, the batch sizes in order (render/passes.py).
    assert "(32|8, 1, 28, 28)" in parent and "(16|8, 1, 28, 28)" not in parent
    here = "…/real_scripts/mnist_hogwild_small.py"
    rows = [" ".join(line.split()).replace(here, "") for line in children.splitlines()]
    # (the row stands for every training step of a worker: the script recorded one a batch size)
    assert any(re.match(r"Net \(root\) ×\d+ :78 \(16\|8, 1, 28, 28\) \(16\|8, 10\)", row) for row in rows), rows
    assert not any(row.startswith("Net (root) #2") for row in rows)
    assert any(row.startswith("└─ fc1: Linear :43 (16|8, 320) (16|8, 50)") for row in rows), rows
    assert any(row.startswith("nll_loss(T, T) :79 input (16|8, 10) ()") for row in rows), "\n".join(rows)
    assert traced.stdout.count("shapetrace Net:") == 2  # the parent's, then the workers' (once)


def test_spawned_children_with_a_shape_bug_are_explained_and_exit_as_under_python(tmp_path):
    plain = _plain(SPAWN, tmp_path, "6")
    traced = _traced(SPAWN, tmp_path, "6")
    assert plain.returncode == traced.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert "mat1 and mat2 shapes cannot be multiplied (16x8 and 6x1)" in last
    assert last in traced.stderr
    assert "no nn.Module ran in" in traced.stderr and "its child processes' traces follow" in traced.stderr
    assert "ran train()" in traced.stdout  # one section (torch stops the other child once one fails), or both
    report = " ".join(traced.stdout.split())
    assert "ST010 feature-mismatch: body.2 (Linear, in_features=6) at line 19 got (16, 8)" in report
    assert "help: build nn.Linear with in_features=8" in report
    assert "process raised RuntimeError (exit 1)" in report
    # The error text torch sends from the child carries shapetrace's note, as the script's own error would.
    child_error = traced.stderr.split("terminated with the following error:")[1]
    assert "shapetrace: raised by body.2 (Linear)" in child_error and "explained by:" in child_error
    assert "children.py" not in child_error  # the child's frames as under python


def test_spawned_children_of_a_correct_script_are_traced_and_saved_with_o(tmp_path):
    plain = _plain(SPAWN, tmp_path)
    traced = _traced(SPAWN, tmp_path, options=("-o", "trace.json", "--fail-on", "warning"))
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert sorted(plain.stdout.splitlines()) == sorted(traced.stdout.splitlines())  # prints only: the report is a file
    assert not (tmp_path / "trace.json").exists()  # the script's process ran no model
    child = shapetrace.load(tmp_path / "trace.proc1.json")
    assert child.findings == []
    assert child.run_info["process"]["target"] == "train"
    assert [(c.name, c.inputs[0].shape, c.outputs[0].shape) for c in child.calls if c.kind == "module"] == [
        ("", (16, 4), (16, 1)),
        ("body", (16, 4), (16, 1)),
        ("body.0", (16, 4), (16, 8)),
        ("body.1", (16, 8), (16, 8)),
        ("body.2", (16, 8), (16, 1)),
    ]
    assert "wrote trace.proc1.json" in traced.stderr


CHILDREN = textwrap.dedent("""
    import os, sys
    import multiprocessing as mp
    import torch

    def step(code):
        torch.nn.Linear(3, 2)(torch.zeros(4, 3))
        print("child", code, flush=True)
        sys.exit(code)

    def vanish():
        torch.nn.Linear(3, 2)(torch.zeros(5, 3))
        os._exit(0)

    def square(n):
        return n * n

    if __name__ == "__main__":
        mp.set_start_method("fork")
        children = [mp.Process(target=step, args=(5,)), mp.Process(target=vanish)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        with mp.Pool(2) as pool:
            print("squares", pool.map(square, range(4)))
        print("exit codes", [child.exitcode for child in children])
""")


def test_children_exit_codes_and_pools_are_untouched_and_an_untraced_child_is_named(tmp_path):
    (tmp_path / "children.py").write_text(CHILDREN)
    plain = _plain("children.py", tmp_path)
    traced = _traced("children.py", tmp_path)
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert "exit codes [5, 0]" in plain.stdout and "squares [0, 1, 4, 9]" in plain.stdout
    assert _script_lines(traced) == _script_lines(plain)
    report = " ".join(traced.stdout.split())
    assert "child process Process-1 (pid" in report and "ran step():" in report
    assert "Linear (root) children.py:7 (4, 3) (4, 2)" in report and "process exited with 5" in report
    assert "(5, 3)" not in report  # the os._exit child wrote nothing...
    assert "1 child process(es) of children.py left no trace (Process-2)" in traced.stderr  # ...and is named
    assert "ForkPoolWorker" not in traced.stderr


FAILING_CHILD = textwrap.dedent("""
    import sys
    import multiprocessing as mp
    import torch

    def train(width):
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(width, 1))
        model(torch.zeros(16, 4))

    if __name__ == "__main__":
        mp.set_start_method(sys.argv[1])
        child = mp.Process(target=train, args=(6,))
        child.start()
        child.join()
        print("exit code", child.exitcode)
""")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_an_error_in_a_child_process_gets_shapetraces_note_where_multiprocessing_prints_it(tmp_path, method):
    (tmp_path / "failing.py").write_text(FAILING_CHILD)
    plain = _plain("failing.py", tmp_path, method)
    traced = _traced("failing.py", tmp_path, method)
    assert plain.returncode == traced.returncode == 0
    assert "exit code 1" in plain.stdout and "exit code 1" in traced.stdout
    child_error = traced.stderr.split("Process Process-1:")[1]
    # (torch's own frames differ: a module call with hooks runs through ``inner``)
    assert _outside_torch(child_error) == _outside_torch(plain.stderr)
    assert "shapetrace" not in " ".join(_outside_torch(child_error))
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied (16x8 and 6x1)" in child_error
    assert "shapetrace: raised by 1 (Linear)" in child_error
    assert "help: build nn.Linear with in_features=8" in child_error
    assert "process raised RuntimeError (exit 1)" in " ".join(traced.stdout.split())


def _outside_torch(stderr: str) -> list[str]:
    """The traceback's frames outside torch: multiprocessing's, the script's, and any other."""
    return [line for line in stderr.splitlines() if line.startswith("  File ") and "/torch/" not in line]
