"""The exit codes: the README's table, ``--help`` and the code agree, and each
row is what the command really returns (issue 19, item 8). A finding at
``--fail-on`` exits 1, as the public contract (DESIGN.md) says; a traced script
that raised exits 1 as ``python`` does, so those two share the code and the
traceback on stderr tells them apart."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from shapetrace.cli import exit_codes
from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import (
    EXIT_DIFFERENCES,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RAISED,
    EXIT_USAGE,
)

ROOT = Path(__file__).resolve().parent.parent
ST001 = str(ROOT / "demos/bugs/st001_batch_first.py")  # runs, and has an error finding
# The forecaster with its batch size baked in, over 13 samples in batches of 5: the short
# last batch raises in PyTorch, and ST003 (a warning) names the cause.
RAISES_WITH_A_FINDING = (
    "import torch\n"
    "from torch.utils.data import DataLoader, TensorDataset\n"
    "from demos.lstm_forecaster import LSTM\n"
    "model = LSTM(1, 8, 1, 1, batch_size=5)\n"
    "for (x,) in DataLoader(TensorDataset(torch.randn(13, 30)), batch_size=5):\n"
    "    model(x)\n"
)


def readme_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\nExit codes (also in `shapetrace --help`)")[1]
    rows = re.findall(r"^\| (\w+) \| (.+) \|$", section.split("\n\n")[1], flags=re.M)
    return {code: meaning for code, meaning in rows if code != "code"}


def quiet_main(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(argv))


def script(tmp_path: Path, body: str, name: str = "train.py") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def test_the_readme_table_help_and_constants_agree(capsys):
    table = readme_table()
    constants = {name: value for name, value in vars(exit_codes).items()
                 if isinstance(value, int) and name.startswith("EXIT_")}
    assert EXIT_FINDINGS == EXIT_DIFFERENCES == EXIT_RAISED == 1  # the contract, diff(1) and python
    assert len({EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED}) == 4
    assert sorted(table) == sorted({str(v) for v in constants.values() if v != EXIT_INTERRUPTED} | {"N"})
    assert "raised" in table[str(EXIT_RAISED)] and "usage" in table[str(EXIT_USAGE)]
    assert "--fail-on" in table[str(EXIT_FINDINGS)] and "differ" in table[str(EXIT_DIFFERENCES)]
    assert "sys.exit(N)" in table["N"] and str(EXIT_INTERRUPTED) in table["N"]
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    listed = re.findall(r"^\s+(\d+|N)\s{2,}", help_text.split("exit codes:")[1], flags=re.M)
    assert listed == ["0", "1", "2", "70", "N"] == sorted(table, key=lambda c: (c == "N", c))
    assert "--fail-on" in help_text.split("exit codes:")[1] and "differ" in help_text.split("exit codes:")[1]


def test_run_findings_exit_1_and_a_clean_run_0(tmp_path):
    assert quiet_main("run", ST001, "--fail-on", "warning") == EXIT_FINDINGS
    assert quiet_main("run", ST001) == EXIT_OK  # --fail-on never by default
    assert quiet_main("run", ST001, "--fail-on", "warning", "--ignore", "ST001") == EXIT_OK
    saved = tmp_path / "t.json"
    assert quiet_main("run", ST001, "-o", str(saved)) == EXIT_OK
    assert quiet_main("show", str(saved), "--fail-on", "error") == EXIT_FINDINGS


def test_a_raising_script_exits_1_as_python_does_even_with_findings(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the script imports demos/
    monkeypatch.syspath_prepend(str(ROOT))
    path = script(tmp_path, RAISES_WITH_A_FINDING)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(err):
        assert main(["run", path, "--fail-on", "warning"]) == EXIT_RAISED
    assert "Traceback" in err.getvalue() and "ST003" in out.getvalue()


def test_the_scripts_own_exit_code_wins_over_findings_and_ctrl_c_is_130(tmp_path):
    ending = 'if __name__ == "__main__":\n    main()'
    own = script(tmp_path, Path(ST001).read_text().replace(ending, ending + "\n    raise SystemExit(5)"))
    assert "SystemExit(5)" in Path(own).read_text()
    assert quiet_main("run", own, "--fail-on", "warning") == 5
    interrupted = script(tmp_path, "import torch\ntorch.nn.Linear(4, 2)(torch.randn(3, 4))\nraise KeyboardInterrupt\n",
                         "interrupted.py")
    assert quiet_main("run", interrupted) == EXIT_INTERRUPTED


def test_diff_exits_1_when_traces_differ_and_usage_errors_exit_2(tmp_path):
    paths = []
    for width in (8, 16):
        path = tmp_path / f"w{width}.json"
        body = f"import torch\ntorch.nn.Sequential(torch.nn.Linear(4, {width}))(torch.randn(3, 4))\n"
        assert quiet_main("run", script(tmp_path, body, f"w{width}.py"), "-o", str(path)) == EXIT_OK
        paths.append(str(path))
    assert quiet_main("diff", paths[0], paths[0]) == EXIT_OK
    assert quiet_main("diff", *paths) == EXIT_DIFFERENCES
    (tmp_path / "bad.json").write_text("{")
    assert quiet_main("diff", paths[0], str(tmp_path / "bad.json")) == EXIT_USAGE
    assert quiet_main("run", str(tmp_path / "nowhere.py")) == EXIT_USAGE
    assert quiet_main("run", ST001, "--fail-on", "sometimes") == EXIT_USAGE
