"""``Trace.annotate``: the forward source with each line's shapes."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys

import pytest
import torch

import shapetrace
from demos import lstm_forecaster
from shapetrace.cli.app import main
from shapetrace.core.finding import Finding
from shapetrace.render.source.annotate import SourceNotFoundError
from tests.models.render_models import Broken, Headers, Loops, Stack, transformer
from tests.render_support import assert_golden, fixed_findings_at_repo, forecaster_trace, silence_checks, trace_of

OUR_COMMENT = re.compile(r" {2,}# [^#]+")

_fixed_findings = pytest.fixture(autouse=True)(fixed_findings_at_repo)
seed = pytest.fixture(name="seed")(forecaster_trace)


def line_ending(text: str, code: str) -> str:
    """What follows ``code`` on the one annotated line that holds it."""
    found = [line for line in text.splitlines() if code in line]
    assert len(found) == 1, found
    return found[0].split(code, 1)[1]


def our_comment(text: str, code: str) -> str:
    """The comment the annotation appended to the line holding ``code``."""
    rest = line_ending(text, code)
    match = re.search(r" {2,}# ([^#]+)$", rest)
    assert match, rest
    return match.group(1)


# ----------------------------------------------------------- the article
def test_seed_lines_carry_the_article_shapes(seed):
    text = seed.annotate()
    assert our_comment(text, "h_0 = torch.randn(") == "h_0 (5, 5, 64)"
    assert our_comment(text, "input_seq = input_seq.view(") == "(5, 30, 1)"
    assert our_comment(text, "output, _ = self.lstm(") == \
        "output (5, 30, 64) non-contig, h_n (5, 5, 64), c_n (5, 5, 64)"
    assert our_comment(text, "output = output.contiguous().view(") == "(150, 64)"
    assert our_comment(text, "pred = self.linear(output)") == "pred (150, 1)"
    assert our_comment(text, "pred = pred.view(") == "(5, 30, 1)"
    assert our_comment(text, "pred = pred[:, -1, :]") == "(5, 1) non-contig"


def test_lines_without_calls_get_no_comment(seed):
    text = seed.annotate()
    assert line_ending(text, "def forward(self, input_seq):") == ""
    assert line_ending(text, "return pred") == ""
    assert line_ending(text, "seq_len = input_seq.shape[1]") == "  # (5, 30)"  # the article's own comment


def test_annotation_leaves_the_code_as_written(seed):
    source, _ = inspect.getsourcelines(lstm_forecaster.LSTM.forward)
    annotated = seed.annotate().splitlines()
    assert annotated[0] == "# LSTM.forward (root) · demos/lstm_forecaster.py:31"
    body = annotated[1:]
    assert len(body) == len(source)
    stripped = []
    for line, original in zip(body, source):
        original = original.rstrip("\n")
        assert line.startswith(original)
        rest = line[len(original):]
        assert rest == "" or OUR_COMMENT.fullmatch(rest), rest
        stripped.append(original)
    assert "\n".join(stripped) == "".join(source).rstrip("\n")


def test_comments_share_a_column(seed):
    """Each comment starts two columns after the longest code line, or after
    column 88 (``MAX_COLUMN``) where lines are longer; longer lines get it two spaces on."""
    text = seed.annotate()
    for code in ("input_seq = input_seq.view(", "output, _ = self.lstm(", "pred = self.linear(output)",
                 "pred = pred.view(", "pred = pred[:, -1, :]"):
        line = next(line for line in text.splitlines() if code in line)
        assert line.rindex("# " + our_comment(text, code)) == 88 + 2
    long_line = next(line for line in text.splitlines() if "h_0 = torch.randn(" in line)
    assert long_line.endswith(").to(device)  # h_0 (5, 5, 64)")


def test_seed_golden(seed):
    assert_golden("forecaster_annotated.txt", seed.annotate() + "\n")


def test_verbose_shows_each_step(seed):
    text = seed.annotate(verbose=True)
    assert our_comment(text, "output = output.contiguous().view(") == "(5, 30, 64) -> contiguous -> view -> (150, 64)"
    assert our_comment(text, "pred = pred[:, -1, :]") == "(5, 30, 1) -> [:, -1, :] -> (5, 1) non-contig"
    assert our_comment(text, "h_0 = torch.randn(") == "randn -> (5, 5, 64) -> to -> h_0 (5, 5, 64)"


def test_rich_output_is_highlighted_and_the_plain_one_is_not(seed):
    from rich.syntax import Syntax

    plain = seed.annotate()
    assert "\x1b" not in plain
    highlighted = seed.annotate(rich=True)
    assert isinstance(highlighted, Syntax)
    assert highlighted.code == plain


# ----------------------------------------------------------------- loops
@pytest.fixture
def loops():
    return trace_of(Loops(), torch.randn(4, 2))


def test_a_line_in_a_loop_shows_its_shape_once_with_a_count(loops):
    assert our_comment(loops.annotate(), "x = self.fc(x)") == "(4, 2) ×7"


def test_a_loop_whose_shapes_change_counts_each_shape(loops):
    assert our_comment(loops.annotate(), "wide = torch.cat(") == "(4, 4) ×1; (4, 8) ×1"


def test_two_calls_of_one_op_on_a_line_are_one_run(loops):
    text = loops.annotate()
    assert our_comment(text, "flat = wide.view(2, 16).view(32)") == "flat (32,)"
    assert our_comment(loops.annotate(verbose=True), "flat = wide.view(2, 16).view(32)") == \
        "(4, 8) -> view -> (2, 16) -> view -> flat (32,)"


# ------------------------------------------------ submodules, statements
@pytest.fixture
def stack():
    return trace_of(Stack(), torch.randint(0, 10, (2, 3)))


def test_root_first_then_each_user_forward_once(stack):
    headers = [line for line in stack.annotate().splitlines() if line.startswith("# ") and "forward" in line]
    assert headers == ["# Stack.forward (root) · tests/models/render_models.py:57",
                       "# Block.forward (blocks.0-3, 4 calls) · tests/models/render_models.py:45"]


def test_a_forward_run_by_four_modules_counts_four(stack):
    assert our_comment(stack.annotate(), "return self.norm(x + self.fc(x).relu())") == "(2, 3, 8) ×4"
    assert our_comment(stack.annotate(), "x = block(x)") == "(2, 3, 8) ×4"


def test_a_multi_line_statement_is_annotated_on_its_last_line(stack):
    lines = stack.annotate().splitlines()
    start = lines.index("        x = self.embed(")
    assert lines[start + 1] == "            ids,"
    assert OUR_COMMENT.fullmatch(lines[start + 2][len("        )"):])
    assert lines[start + 2].endswith("# x (2, 3, 8)")


def test_a_compound_header_is_annotated_on_its_colon_line():
    text = trace_of(Headers(), torch.ones(6, 3)).annotate()
    assert our_comment(text, "x, 2):") == "0 (2, 3), 1 (2, 3), 2 (2, 3)"
    assert line_ending(text, "# the header's shapes go") == " on its ':' line, not on this comment"
    assert our_comment(text, "y = piece.relu()") == "y (2, 3) ×3"


def test_statements_sharing_a_line_share_its_comment():
    text = trace_of(Headers(), torch.ones(6, 3)).annotate()
    assert line_ending(text, "z = x * 2; w = z.view(-1)") .startswith("  # noqa: E702")
    assert our_comment(text, "z = x * 2; w = z.view(-1)") == "(18,)"


def test_a_failed_call_is_marked_on_its_line():
    model = Broken()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(4, 5))
    text = t.annotate()
    assert our_comment(text, "y = self.fc(x)") == "y (4, 5)"
    assert our_comment(text, "return y.view(3, 7)") == "✗ RuntimeError"


def test_findings_put_their_code_on_the_line(seed, monkeypatch):
    view = next(c for c in seed.ops if c.name == "view" and c.outputs[0].shape == (150, 64))
    finding = Finding("ST004", "non-contiguous-view", "warning", "view on a non-contiguous tensor",
                      location=view.location, call_id=view.id)
    silence_checks(monkeypatch, [finding])
    assert our_comment(seed.annotate(), "output = output.contiguous().view(") == "(150, 64)  [ST004]"


def test_builtin_modules_only_annotate_the_line_that_called_them():
    """A model of PyTorch's modules only has no forward of the user's: the user's line
    that called it is the source to annotate (a GAN of ``nn.Sequential`` in a script)."""
    t = trace_of(transformer(2), torch.randn(2, 10, 32))
    listing = str(t.annotate())
    header, line = listing.splitlines()
    assert header.startswith("# TransformerEncoder (root), called from your code · tests/render_support.py:")
    assert line.startswith("        model(*inputs)") and line.endswith("# (2, 10, 32)")
    # With that line's file gone too, there is nothing to annotate.
    document = json.loads(t.to_json())
    for call in document["calls"]:
        if call["location"]:
            call["location"][0] = "/elsewhere/model.py"
    with pytest.raises(SourceNotFoundError, match="no forward defined in user code"):
        shapetrace.load(json.dumps(document)).annotate()


# ------------------------------------------------------- loaded traces
def test_a_loaded_trace_annotates_like_the_live_one(seed):
    loaded = shapetrace.load(seed.to_json())
    assert loaded.annotate() == seed.annotate()
    assert loaded.annotate(verbose=True) == seed.annotate(verbose=True)


def _moved(trace: shapetrace.Trace, *, types: tuple[str, ...] | None = None) -> shapetrace.Trace:
    """The trace as if its forwards (those of ``types``; all by default) were
    defined in a file that is gone: recorded on another machine, say."""
    document = json.loads(trace.to_json())
    for call in document["calls"]:
        if call["defined_at"] and (types is None or call["type"] in types):
            call["defined_at"][0] = "/elsewhere/model.py"
    return shapetrace.load(json.dumps(document))


def test_missing_source_raises_a_clear_error(seed):
    with pytest.raises(SourceNotFoundError, match=r"/elsewhere/model\.py not found") as caught:
        _moved(seed).annotate()
    assert isinstance(caught.value, shapetrace.ShapetraceError)


def test_a_missing_submodule_source_is_said_in_its_place(stack):
    text = _moved(stack, types=("Block",)).annotate()
    assert "x = block(x)" in text  # the root's file is still there
    assert "# source not shown: source file /elsewhere/model.py not found" in text


def test_the_command_reports_missing_source_in_one_line(seed, tmp_path, capsys):
    saved = tmp_path / "trace.json"
    saved.write_text(_moved(seed).to_json())
    assert main(["show", str(saved), "--format", "source"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "/elsewhere/model.py not found" in err


def test_a_changed_file_is_noted(tmp_path):
    path = tmp_path / "changing_model.py"
    path.write_text("import torch\n\n\nclass M(torch.nn.Module):\n"
                    "    def forward(self, x):\n        y = x.view(2, 3)\n        return y\n")
    spec = importlib.util.spec_from_file_location("changing_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t = trace_of(module.M(), torch.randn(6))
    assert "changed since" not in t.annotate()
    assert our_comment(t.annotate(), "y = x.view(2, 3)") == "y (2, 3)"
    path.write_text(path.read_text().replace("y = x.view(2, 3)", "y = x.reshape(2, 3)"))
    assert "# note: the file changed since this trace was recorded" in t.annotate()
    sys.modules.pop("changing_model", None)


def test_the_command_writes_the_annotated_source(seed, tmp_path):
    saved = tmp_path / "trace.json"
    saved.write_text(seed.to_json())
    assert main(["show", str(saved), "--format", "source", "-o", str(tmp_path / "annotated.py")]) == 0
    assert (tmp_path / "annotated.py").read_text() == seed.annotate() + "\n"


class _PackedClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 24, batch_first=True, bidirectional=True)

    def forward(self, e, lengths, sorted_batch=False):
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            e, lengths, batch_first=True, enforce_sorted=sorted_batch
        )
        out, (h, c) = self.lstm(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return out, h, c


@pytest.mark.parametrize("sorted_batch", [False, True])
def test_packed_sequences_read_as_their_data_and_library_steps_as_one_call(sorted_batch):
    """``pack_padded_sequence`` and ``pad_packed_sequence`` run ops of PyTorch's at the
    user's line (an ``index_select`` that sorts the batch): one call of the user's, one
    comment (it read ``packed (6, 9, 16) ×1; packed[0] (34, 16), packed[1] (9,) ×1``).
    The LSTM's PackedSequence output is its data (it read ``out['data'] (34, 48),
    out['batch_sizes'] (9,), out['sorted_indices'] (6,), out['unsorted_indices'] (6,)``)."""
    lengths = torch.tensor([9, 8, 7, 5, 3, 2] if sorted_batch else [5, 9, 3, 7, 2, 8])
    model = _PackedClassifier()
    with shapetrace.trace(model) as t:
        model(torch.randn(6, 9, 16), lengths, sorted_batch)
    comments = {
        line.split("#")[0].strip(): line.split("#", 1)[1].strip()
        for line in str(t.annotate()).splitlines()[1:]
        if "  # " in line
    }
    assert comments[")"] == "packed[0] (34, 16), packed[1] (9,)"
    assert comments["out, (h, c) = self.lstm(packed)"] == "out packed (34, 48), h (2, 6, 24), c (2, 6, 24)"
    # Unsorted, the batch's order is restored by an index_select, the statement's last op.
    padded = "out (6, 9, 48) non-contig, (6,)" if sorted_batch else "(6, 9, 48)"
    assert comments["out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)"] == padded


class _Writes(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = torch.nn.GRUCell(3, 5)

    def forward(self, x):
        outputs = torch.zeros(x.size(0), x.size(1), 5)
        h = torch.zeros(x.size(1), 5)
        for t in range(x.size(0)):
            h = self.cell(x[t], h)
            outputs[t] = h
        outputs[outputs < 0] = 0.0
        return outputs


def test_a_write_into_a_tensor_shows_what_went_where():
    """``outputs[t] = h`` makes no tensor: its comment is the value written and the
    tensor written into (it read ``#  ×4``, a count of nothing)."""
    model = _Writes()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 2, 3))
    comments = {
        line.split("#")[0].strip(): line.split("#", 1)[1].strip()
        for line in str(t.annotate()).splitlines()[1:]
        if "  # " in line
    }
    assert comments["outputs[t] = h"] == "(2, 5) into (4, 2, 5) ×4"
    assert comments["outputs[outputs < 0] = 0.0"] == "into (4, 2, 5)"


class _TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(6, 8)
        self.label_head = torch.nn.Linear(8, 4)
        self.domain_head = torch.nn.Linear(8, 1)

    def forward(self, x):
        f = self.body(x)
        return self.label_head(f), self.domain_head(f).squeeze(1)


def test_a_return_of_a_tuple_shows_every_element():
    """``return a(f), b(f).squeeze(1)`` read ``# (12,)``, the last call's result only."""
    model = _TwoHeads()
    with shapetrace.trace(model) as t:
        for batch in (12, 12, 3):
            model(torch.randn(batch, 6))
    line = next(line for line in str(t.annotate()).splitlines() if "return self.label_head" in line)
    assert line.split("# ", 1)[1] == "(12|3, 4), (12|3,) ×3"
