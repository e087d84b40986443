"""`shapetrace run script.py` gives the script what `python script.py` gives it.

Each test runs the same script under plain python and under the command (both
as `python -m shapetrace` and, where installed, the console script) and
compares what the script saw: sys.argv, sys.path[0], __main__, __file__,
warnings, pickling of classes defined in the script (DataLoader workers
started with spawn), the exit code, and which module a same-named file beside
the script gives an import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent('''
    """A script that prints what it sees of its interpreter."""
    import os, pickle, sys, warnings
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Rows(Dataset):
        def __len__(self):
            return 8
        def __getitem__(self, i):
            return torch.zeros(3)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 2)
        def forward(self, x):
            return self.fc(x)

    def main():
        print("SEEN argv", sys.argv)
        print("SEEN path0", sys.path[0])
        print("SEEN cwd on path", os.getcwd() in sys.path or "" in sys.path)
        print("SEEN file", __file__)
        print("SEEN main", __name__, __spec__, repr(__package__), type(__loader__).__name__, __doc__)
        print("SEEN main module", sys.modules["__main__"].__dict__ is globals())
        print("SEEN filters", warnings.filters[:8])
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn("deprecated here", DeprecationWarning)
        print("SEEN warned", [str(w.message) for w in caught])
        net = Net()
        print("SEEN pickled", type(pickle.loads(pickle.dumps(net))).__qualname__)
        context = sys.argv[1] if len(sys.argv) > 1 else None
        for batch in DataLoader(Rows(), batch_size=4, num_workers=2 if context else 0,
                                multiprocessing_context=context):
            net(batch)
        print("SEEN loader", context)

    if __name__ == "__main__":
        main()
        sys.exit(3)
''')


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", **extra}


def _seen(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("SEEN")]


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=300)


def _shapetrace_commands() -> list[list[str]]:
    commands = [[sys.executable, "-m", "shapetrace", "run"]]
    installed = shutil.which("shapetrace")
    if installed:
        commands.append([installed, "run"])
    return commands


@pytest.mark.parametrize("launcher", _shapetrace_commands(), ids=lambda c: os.path.basename(c[0]))
def test_the_script_sees_what_python_gives_it(tmp_path, launcher):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(PROBE)
    plain = _run([sys.executable, "project/train.py", "spawn"], tmp_path)
    assert plain.returncode == 3, plain.stderr
    traced = _run([*launcher, "project/train.py", "--", "spawn"], tmp_path)
    assert traced.returncode == 3, traced.stderr
    assert _seen(traced) == _seen(plain)
    assert "SEEN loader spawn" in _seen(traced)  # the Dataset class of __main__ was pickled to the workers
    assert "Net (root)" in traced.stdout and "Traceback" not in traced.stderr


def test_a_symlinked_script_gets_its_real_folder_as_python_gives_it(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    (tmp_path / "real" / "train.py").write_text(PROBE)
    (tmp_path / "real" / "helper.py").write_text("WHERE = 'real'\n")
    (tmp_path / "links" / "train.py").symlink_to(tmp_path / "real" / "train.py")
    plain = _run([sys.executable, "links/train.py"], tmp_path)
    traced = _run([sys.executable, "-m", "shapetrace", "run", "links/train.py"], tmp_path)
    assert (plain.returncode, traced.returncode) == (3, 3), traced.stderr
    assert _seen(traced) == _seen(plain)
    assert f"SEEN path0 {tmp_path / 'real'}" in _seen(traced)


def test_safe_path_adds_no_folder_as_python_does(tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "train.py").write_text(PROBE)
    plain = _run([sys.executable, "project/train.py"], tmp_path, PYTHONSAFEPATH="1")
    traced = _run([sys.executable, "-m", "shapetrace", "run", "project/train.py"], tmp_path, PYTHONSAFEPATH="1")
    assert (plain.returncode, traced.returncode) == (3, 3), traced.stderr
    assert _seen(traced) == _seen(plain)


USES_SHADOWS = textwrap.dedent("""
    import graphviz, rich, torch
    print("SEEN modules", rich.MINE, graphviz.MINE)
    torch.nn.Linear(2, 3)(torch.zeros(1, 2))
""")


def test_files_beside_the_script_shadow_packages_as_under_python(tmp_path):
    # rich is imported by shapetrace before the script runs, graphviz by the
    # graph output after it: the script gets its own files, shapetrace the packages.
    # (From the folder above: `python -m shapetrace` run inside it would import its rich.py itself.)
    project = tmp_path / "project"
    project.mkdir()
    (project / "rich.py").write_text("MINE = 'my rich'\n")
    (project / "graphviz.py").write_text("MINE = 'my graphviz'\n")
    (project / "train.py").write_text(USES_SHADOWS)
    plain = _run([sys.executable, "project/train.py"], tmp_path)
    assert _seen(plain) == ["SEEN modules my rich my graphviz"], plain.stderr
    command = [sys.executable, "-m", "shapetrace", "run", "project/train.py", "-o", "graph.dot"]
    traced = _run(command, tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert _seen(traced) == _seen(plain)
    assert "Traceback" not in traced.stderr
    assert "digraph" in (tmp_path / "graph.dot").read_text()


LIBRARY = "import helper_pkg\nVALUE = helper_pkg.VALUE\n"


def test_a_library_broken_by_a_shadowing_file_fails_as_under_python(tmp_path):
    # As `import neuralforecast` with the user's attr.py beside the script:
    # python itself imports the user's file for the library; the user's error
    # keeps its type and frames, and no frame of shapetrace's shows.
    site = tmp_path / "site"
    site.mkdir()
    (site / "a_library.py").write_text(LIBRARY)
    (site / "helper_pkg.py").write_text("VALUE = 1\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "helper_pkg.py").write_text("raise ImportError('the user helper_pkg.py')\n")
    (project / "train.py").write_text("import torch\ntorch.nn.Linear(2, 3)(torch.zeros(1, 2))\nimport a_library\n")
    path = f"{ROOT}{os.pathsep}{site}"
    plain = _run([sys.executable, "project/train.py"], tmp_path, PYTHONPATH=path)
    traced = _run([sys.executable, "-m", "shapetrace", "run", "project/train.py"], tmp_path, PYTHONPATH=path)
    assert plain.returncode == traced.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert last == "ImportError: the user helper_pkg.py"
    assert last in traced.stderr
    frames = [line for line in traced.stderr.splitlines() if line.startswith('  File "')]
    assert frames == [line for line in plain.stderr.splitlines() if line.startswith('  File "')]
    assert "Linear (root)" in traced.stdout


def test_sys_exit_codes_and_messages_as_under_python(tmp_path):
    for code, shown in (("None", 0), ("'bye'", 1)):
        body = f"import sys, torch\ntorch.nn.Linear(2, 3)(torch.zeros(1, 2))\nsys.exit({code})\n"
        (tmp_path / "train.py").write_text(body)
        plain = _run([sys.executable, "train.py"], tmp_path)
        traced = _run([sys.executable, "-m", "shapetrace", "run", "train.py"], tmp_path)
        assert plain.returncode == traced.returncode == shown, (code, traced.stderr)
        assert plain.stderr in traced.stderr


def test_python_m_shapetrace_works_from_a_folder_whose_files_shadow_its_dependencies(tmp_path):
    # python -m puts the current folder first on sys.path: shapetrace's own
    # `import rich` got the user's rich.py ("'rich' is not a package").
    (tmp_path / "rich.py").write_text("MINE = 'my rich'\n")
    (tmp_path / "graphviz.py").write_text("MINE = 'my graphviz'\n")
    (tmp_path / "train.py").write_text(USES_SHADOWS)
    (tmp_path / "models.py").write_text("import rich, torch\n\ndef build():\n    return torch.nn.Linear(3, 2)\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "train.py").write_text(USES_SHADOWS)
    plain = _run([sys.executable, "train.py"], tmp_path)
    assert _seen(plain) == ["SEEN modules my rich my graphviz"], plain.stderr
    explained = _run([sys.executable, "-m", "shapetrace", "explain", "ST003"], tmp_path)
    assert explained.returncode == 0 and "ST003" in explained.stdout, explained.stderr
    traced = _run([sys.executable, "-m", "shapetrace", "run", "train.py", "-o", "graph.dot"], tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert _seen(traced) == _seen(plain) and "Traceback" not in traced.stderr
    assert "digraph" in (tmp_path / "graph.dot").read_text()
    as_module = _run([sys.executable, "-m", "shapetrace", "run", "-m", "pkg.train"], tmp_path)
    assert as_module.returncode == 0, as_module.stderr
    assert _seen(as_module) == _seen(plain) and "Linear (root)" in as_module.stdout
    factory = _run([sys.executable, "-m", "shapetrace", "run", "models:build", "--input", "4x3"], tmp_path)
    assert factory.returncode == 0 and "(4, 2)" in factory.stdout, factory.stderr


def test_python_m_shapetrace_keeps_a_pythonpath_entry_that_is_the_current_folder(tmp_path):
    # With the -m entry taken off, a PYTHONPATH entry equal to the current
    # folder comes first: it is the user's and stays, as under python.
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "train.py").write_text(PROBE)
    path = f"{tmp_path}{os.pathsep}{ROOT}"
    plain = _run([sys.executable, "project/train.py"], tmp_path, PYTHONPATH=path)
    traced = _run([sys.executable, "-m", "shapetrace", "run", "project/train.py"], tmp_path, PYTHONPATH=path)
    assert (plain.returncode, traced.returncode) == (3, 3), traced.stderr
    assert _seen(traced) == _seen(plain)


WARNS = textwrap.dedent('''
    import warnings
    import torch

    model = torch.nn.Linear(3, 1)
    out = model(torch.randn(4, 3)).sum()
    a = float(out)  # C++: a tensor requiring grad converted to a scalar
    b = float(out * 2)  # the same warning at another line
    y = out * 3
    g = y.grad  # C++: .grad of a non-leaf
    c = torch.tensor(out.detach())  # C++: copy construct from a tensor
    warnings.filterwarnings("ignore", message="To copy construct", module="__main__")
    d = torch.tensor(out.detach())  # filtered by this module's name: not shown
    for step in range(3):
        e = torch.tensor(out.detach() * step)  # filtered here too
    print("done")
''')


def _warning_lines(stderr: str) -> list[str]:
    """``warns.py:7: UserWarning`` for each warning shown."""
    return [os.path.basename(line.split(": ", 1)[0]) + ": " + line.split(": ", 2)[1]
            for line in stderr.splitlines() if "Warning: " in line]


def test_pytorchs_cpp_warnings_name_the_lines_python_names(tmp_path):
    """A warning PyTorch's C++ raises names the Python frame running when it fires: from
    ops the op mode does not record (``float(t)``, ``.grad``, ``torch.tensor(t)`` outside
    the model's forward) too, it is the user's line, so filters by module and the "once
    per location" registry work as untraced."""
    (tmp_path / "warns.py").write_text(WARNS)
    plain = _run([sys.executable, "-W", "default", "warns.py"], tmp_path)
    traced = _run([sys.executable, "-W", "default", "-m", "shapetrace", "run", "warns.py"], tmp_path)
    assert plain.returncode == traced.returncode == 0, traced.stderr
    # (PyTorch warns of a scalar conversion once a process, line 8's and 15's included)
    expected = [f"warns.py:{line}: UserWarning" for line in (7, 10, 11)]
    assert _warning_lines(plain.stderr) == expected, plain.stderr
    assert _warning_lines(traced.stderr) == expected, traced.stderr
