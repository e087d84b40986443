"""The HTML report (issue 19 item 12): ``--format html`` / ``-o report.html`` /
``Trace.html()`` write one self-contained page. Its structure is read back with
the standard library's HTML parser; a real browser (headless Chromium) renders
it in the slow tests, skipped where Chromium is missing unless
SHAPETRACE_REQUIRE_CHROMIUM=1 (CI sets it)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.core.finding import Finding
from shapetrace.render.table import table_rows
from tests.models.graph_models import TimeSequence
from tests.models.render_models import Broken, Loops, forecaster
from tests.render_support import silence_checks, trace_of

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demos" / "lstm_forecaster.py"


VOID = {"meta", "br", "img", "link", "input", "hr", "col", "source"}
BLOCKS = {"p", "div", "section", "header", "nav", "h1", "h2", "h3", "pre", "tr", "br"}


class Page(HTMLParser):
    """What the tests read of a page: ids, links, resource references, rows, text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (href, the link's own text)
        self.resources: list[str] = []  # every src=, <link href=>, url() and @import
        self.rows: list[str] = []  # the call table's row ids
        self.tags: list[str] = []
        self.classes: dict[str, int] = {}
        self.text_parts: list[str] = []
        self.styles: list[str] = []
        self.row_links: dict[str, list[str]] = {}  # a table row's id -> the hrefs in it
        self.id_text: dict[str, str] = {}  # an element's id -> the text inside it
        self._open: list[str | None] = []  # the ids of the open elements
        self.svg_links: list[str] = []  # the hrefs inside the graph
        self._svg = 0
        self._row: str | None = None
        self._link: list[str] | None = None
        self._in_style = False
        self.feed(text)
        self.close()
        self.text = "".join(self.text_parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        if tag in BLOCKS:  # text of two blocks never runs together
            self.text_parts.append("\n")
        if "id" in values:
            assert values["id"] not in self.ids, f"duplicate id {values['id']}"
            self.ids.add(values["id"])
        for name in values.get("class", "").split():
            self.classes[name] = self.classes.get(name, 0) + 1
        if tag not in VOID:
            self._open.append(values.get("id"))
        if tag == "tr" and values.get("id", "").startswith("call-"):
            self.rows.append(values["id"])
            self._row = values["id"]
            self.row_links[self._row] = []
        self._svg += tag == "svg"
        if tag == "a" and "href" in values:
            self._link = [values["href"], ""]
            if self._svg:
                self.svg_links.append(values["href"])
            if self._row is not None:
                self.row_links[self._row].append(values["href"])
        for name in ("src", "srcset", "data", "poster", "xlink:href"):
            if name in values:
                self.resources.append(values[name])
        if tag == "link" and "href" in values:
            self.resources.append(values["href"])
        if "style" in values:
            self.styles.append(values["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._open:
            self._open.pop()
        if tag == "tr":
            self._row = None
        self._svg -= tag == "svg"
        if tag == "a" and self._link is not None:
            self.links.append((self._link[0], self._link[1]))
            self._link = None
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
            return
        self.text_parts.append(data)
        for element in self._open:
            if element is not None:
                self.id_text[element] = self.id_text.get(element, "") + data
        if self._link is not None:
            self._link[1] += data


def internal_targets(page: Page) -> list[str]:
    return [href[1:] for href, _ in page.links if href.startswith("#")]


def assert_self_contained(page: Page) -> None:
    assert "script" not in page.tags and "iframe" not in page.tags and "link" not in page.tags
    assert page.resources == [], page.resources
    for style in page.styles:
        assert "url(" not in style and "@import" not in style
    for href, _ in page.links:
        assert href.startswith("#"), f"a link leaves the page: {href}"
    missing = [target for target in internal_targets(page) if target not in page.ids]
    assert missing == [], f"links to anchors that do not exist: {missing}"


@pytest.fixture(scope="module")
def forecast() -> shapetrace.Trace:
    return trace_of(forecaster(), torch.randn(5, 30))


def test_every_call_row_links_to_its_source_line(forecast):
    page = Page(forecast.html(graph=False))
    rows = table_rows(forecast)
    assert page.rows == [f"call-{run[0].id}" for run in rows]
    assert_self_contained(page)
    # each row's first link is its Line cell: it goes to the line that made the call, in a listing
    for run in rows:
        location = run[0].location
        target = page.row_links[f"call-{run[0].id}"][0]
        assert target == f"#{target[1:]}" and target.endswith(f"-{location.lineno}")
        assert location.code in page.id_text[target[1:]]
    # the `lstm` row's line carries its shapes comment
    lstm = next(run[0] for run in rows if run[0].name == "lstm")
    line = page.row_links[f"call-{lstm.id}"][0][1:]
    assert "# output (5, 30, 64) non-contig, h_n (5, 5, 64)" in page.id_text[line]


def test_the_findings_are_there_linked_to_their_line_and_row(forecast):
    page = Page(forecast.html(graph=False))
    findings = forecast.findings
    assert [f.code for f in findings] == ["ST003"]
    finding = findings[0]
    for text in (finding.code, finding.name, finding.message, finding.hint, finding.location.code):
        assert text in page.text
    targets = internal_targets(page)
    assert "finding-1" in page.ids and f"call-{finding.call_id}" in targets
    # the finding's `--> file:line` link goes to the randn line of the listing, flagged there
    place = next(href for href, text in page.links if text.endswith(f":{finding.location.lineno}"))
    assert place[1:] in page.ids
    assert page.classes.get("flagged", 0) >= 2  # its table row and its source line
    # the [ST003] in the shapes comment and the code in the row's Findings cell link to the finding
    assert sum(1 for href, text in page.links if href == "#finding-1" and "ST003" in text) == 2


def test_a_clean_model_says_no_findings():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    page = Page(trace_of(model, torch.randn(2, 4)).html(graph=False))
    assert "No findings." in page.text and "finding-1" not in page.ids
    assert_self_contained(page)


def test_a_loop_stays_folded_as_in_the_terminal_table():
    model = TimeSequence().double()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 40, dtype=torch.float64), future=5)
    page = Page(t.html(graph=False))
    assert len(page.rows) == len(table_rows(t)) < 20  # 136 module calls, 14 rows
    assert "lstm1: LSTMCell ×40" in page.text and "LSTMCell #41-45 ×5" in page.text
    assert "# h_t (3, 51), c_t (3, 51) ×40" in page.text
    assert_self_contained(page)


def test_a_finding_on_a_later_step_of_a_loop_links_to_the_folded_row(monkeypatch):
    model = Loops()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 2))
    fifth = t.calls_of("fc")[4]
    finding = Finding("ST999", "made-up", "warning", "the fifth step", fifth.location, "", fifth.id)
    silence_checks(monkeypatch, [finding])
    page = Page(t.html(graph=False))
    first = t.calls_of("fc")[0]
    assert f"call-{fifth.id}" not in page.rows and f"call-{first.id}" in page.rows  # fc ×7 is one row
    assert "fc: Linear ×7" in page.id_text[f"call-{first.id}"] and "ST999" in page.id_text[f"call-{first.id}"]
    assert f"call-{first.id}" in internal_targets(page)  # "its row in the table"
    assert_self_contained(page)


def test_a_call_that_raised_shows_its_error():
    model = Broken()
    with pytest.raises(RuntimeError, match="invalid for input of size 20"), shapetrace.trace(model) as t:
        model(torch.randn(4, 5))
    page = Page(t.html(graph=False))
    view = next(call for call in t.ops if call.name == "view")
    assert "✗ RuntimeError" in page.id_text[f"call-{view.id}"]
    assert "the traced block raised" in page.text
    assert "RuntimeError: shape '[3, 7]' is invalid for input of size 20" in page.text
    assert "# ✗ RuntimeError" in page.text  # the listing's comment on the failing line
    assert_self_contained(page)


TRICKY = '<u>&amp;"x"</u>'
TRICKY_MODEL = f"""
import torch
from torch import nn


class Tricky(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module({TRICKY!r}, nn.Linear(3, 2))

    def forward(self, x):
        return getattr(self, {TRICKY!r})(x).view(-1)  # a <u>comment</u> & more
"""


def test_names_and_paths_are_escaped(tmp_path):
    """A module named like markup, in a file under a folder named like markup."""
    folder = tmp_path / '<u a="1">&b'
    folder.mkdir()
    source = folder / "tricky.py"
    source.write_text(TRICKY_MODEL)
    spec = importlib.util.spec_from_file_location("tricky_html_model", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = Page(trace_of(module.Tricky(), torch.randn(2, 3)).html(graph=False))
    assert "u" not in page.tags  # no element from a name, a path or a comment
    assert f"{TRICKY}: Linear" in page.text and "# a <u>comment</u> & more" in page.text
    assert '<u a="1">&b' in page.text  # the folder, in the listing's header
    assert_self_contained(page)


@pytest.mark.requires_dot
def test_the_graph_is_inline_svg(forecast):
    page = Page(forecast.html())
    assert page.tags.count("svg") == 1 and "graph" in page.ids
    assert "needs Graphviz" not in page.text
    # the nodes of the lstm and linear calls link to their rows (the root is the cluster around them)
    assert {f"#call-{forecast[name].id}" for name in ("lstm", "linear")} <= set(page.svg_links)
    assert_self_contained(page)


def test_without_dot_one_line_says_the_graph_needs_graphviz(forecast, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    page = Page(forecast.html())
    assert "svg" not in page.tags
    notes = [line for line in page.text.splitlines() if "needs Graphviz" in line]
    assert notes == ["The graph needs Graphviz's dot program; install Graphviz for it: apt-get install graphviz, "
                     "or brew install graphviz."]
    assert page.rows and "finding-1" in page.ids  # the rest of the report is all there


def test_options_are_checked(forecast):
    with pytest.raises(shapetrace.ShapetraceError, match="depth"):
        forecast.html(depth=-1)
    page = Page(forecast.html(ops=False, depth=1, graph=False))
    assert len(page.rows) == 3 and "Showing module calls only, down to depth 1." in page.text


# ---------------------------------------------------------------- the command
def _command(*args: str, path: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "shapetrace", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """``shapetrace run demos/lstm_forecaster.py -o report.html``."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    return out, _command("run", str(DEMO), "-o", str(out))


@pytest.mark.slow
def test_run_o_report_html_writes_the_html_report(demo_report):
    out, done = demo_report
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = Page(text)
    assert len(page.rows) == 13 and "finding-1" in page.ids  # the terminal table's 13 rows: the forward and its loss
    assert f"wrote {out}: 4 module calls, 11 ops, 1 finding" in done.stderr
    # the script's own lines (`pred = model(input_seq)`) are listed, so its rows link somewhere too
    assert "pred = model(input_seq)" in page.text
    assert_self_contained(page)


@pytest.mark.slow
def test_format_html_on_stdout_keeps_the_script_prints_out(tmp_path):
    done = _command("run", str(DEMO), "--format", "html")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<!DOCTYPE html>") and done.stdout.rstrip().endswith("</html>")
    assert "step   0  loss" in done.stderr and "step   0" not in done.stdout


@pytest.mark.slow
def test_show_writes_a_saved_trace_as_html(tmp_path):
    saved = tmp_path / "trace.json"
    assert _command("run", str(DEMO), "-o", str(saved)).returncode == 0
    out = tmp_path / "trace.html"
    done = _command("show", str(saved), "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert len(page.rows) == 13 and "finding-1" in page.ids
    assert [f["code"] for f in json.loads(saved.read_text())["findings"]] == ["ST003"]


@pytest.mark.slow
def test_without_dot_the_command_still_writes_the_report_and_exits_0(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    out = tmp_path / "report.html"
    done = _command("run", str(DEMO), "-o", str(out), "--fail-on", "never", path=str(bare))
    assert done.returncode == 0, done.stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert "svg" not in page.tags and "The graph needs Graphviz's dot program" in page.text
    assert "the HTML report has no graph: Graphviz's dot program is missing" in done.stderr
    assert len(page.rows) == 13


TINY_SCRIPT = ("import sys\nimport torch\n\nmodel = torch.nn.Linear(2, 3)\n"
               "print(model(torch.randn(4, 2)).shape, sys.argv[1:])\n")


def _run_in_process(*args: str) -> int:
    import contextlib
    import io

    from shapetrace.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(args))


def test_the_header_names_the_command_that_made_it_escaped(tmp_path):
    """Under ``shapetrace run`` the header shows the command line, quoted as a shell
    would need it and escaped (script arguments are markup here); a saved trace keeps
    it (``run_info["command"]``), so ``show`` of it names the run that made it."""
    script = tmp_path / "tiny.py"
    script.write_text(TINY_SCRIPT)
    out, saved = tmp_path / "report.htm", tmp_path / "trace.json"
    assert _run_in_process("run", str(script), "-o", str(out), "--", "<i>&x", "a b") == 0
    assert _run_in_process("run", str(script), "-o", str(saved), "--", "<i>&x", "a b") == 0
    page = Page(out.read_text(encoding="utf-8"))  # .htm: the HTML report, as .html
    assert "i" not in page.tags and page.rows
    commands = [line for line in page.text.splitlines() if line.startswith("command: ")]
    assert commands == [f"command: shapetrace run {script} -o {out} -- '<i>&x' 'a b'"]
    assert_self_contained(page)
    assert shapetrace.load(saved).run_info["command"] == f"shapetrace run {script} -o {saved} -- '<i>&x' 'a b'"
    shown = tmp_path / "shown.html"
    assert _run_in_process("show", str(saved), "-o", str(shown)) == 0
    assert f"command: shapetrace run {script} -o {saved}" in Page(shown.read_text(encoding="utf-8")).text


def test_a_trace_made_in_python_has_no_command_line(forecast):
    assert "command: " not in Page(forecast.html(graph=False)).text


def test_htm_is_an_html_suffix(tmp_path):
    from shapetrace.cli.outputs import format_for_suffix, plan_outputs

    assert [format_for_suffix(name) for name in ("r.htm", "R.HTM", "r.html", "r.htm.json")] == [
        "html", "html", "html", "json"]
    assert plan_outputs(None, str(tmp_path / "report.htm")).outputs == (("html", str(tmp_path / "report.htm")),)
    assert plan_outputs(["html", "json"], str(tmp_path / "report.htm")).outputs == (
        ("html", str(tmp_path / "report.html")), ("json", str(tmp_path / "report.json")))


# ---------------------------------------------------------------- a real browser
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("SHAPETRACE_REQUIRE_CHROMIUM") == "1":
        pytest.fail("Chromium is missing and SHAPETRACE_REQUIRE_CHROMIUM=1 requires it (apt-get install chromium)")
    pytest.skip("needs Chromium (apt-get install chromium)")


def test_without_chromium_the_browser_tests_skip_unless_ci_requires_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    monkeypatch.delenv("SHAPETRACE_REQUIRE_CHROMIUM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs Chromium"):
        _chromium()
    monkeypatch.setenv("SHAPETRACE_REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception, match="SHAPETRACE_REQUIRE_CHROMIUM=1 requires it"):
        _chromium()


def browse(page: Path, work: Path) -> tuple[str, list[str], list[str]]:
    """Open ``page`` in headless Chromium: the DOM it built, the URLs the page asked
    the network for (from Chromium's net log, its own update checks left out) and
    the console messages it logged."""
    netlog = work / "netlog.json"
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    asked = [
        event["params"]["url"] for event in log["events"]
        if event["type"] == start and "file://" in event["params"].get("network_isolation_key", "")
    ]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, asked, console


@pytest.mark.slow
def test_the_browser_checks_can_fail(tmp_path):
    """The control: a page that loads from the net and logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.com/x.css">'
                   '</head><body><script>console.error("boom")</script></body></html>')
    _, asked, console = browse(bad, tmp_path)
    assert asked == ["https://cdn.example.com/x.css"]
    assert len(console) == 1 and '"boom"' in console[0]


@pytest.mark.slow
@pytest.mark.requires_dot
def test_a_browser_renders_the_report_offline_without_errors(demo_report, tmp_path):
    out, done = demo_report
    assert done.returncode == 0, done.stderr
    dom, asked, console = browse(out, tmp_path)
    assert asked == [] and console == []
    page = Page(dom)  # what the browser built, not what was written
    assert len(page.rows) == 13
    assert "finding-1" in page.ids and "hardcoded-batch-size" in page.text
    assert page.tags.count("svg") == 1 and page.tags.count("g") > 10  # the graph's groups of nodes and edges
    assert page.svg_links and set(page.svg_links) <= {f"#{row}" for row in page.rows}
    assert_self_contained(page)
