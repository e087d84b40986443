"""ST001 where a ``collate_fn`` of the user's own decides the layout: its
``pad_sequence`` (PyTorch's default ``batch_first=False``: (T, B, *)) feeding a
``batch_first=True`` LSTM, told under ``shapetrace run``, which records the collate's
ops as they make the pass's input (``record/before_pass.py``)."""

from __future__ import annotations

import contextlib
import io

import pytest

from shapetrace.record.script import run_script
from tests.case_support import serious

TAGGER = """\
import sys
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

FIXED = "--fixed" in sys.argv
torch.manual_seed(0)
data = [(torch.randint(1, 30, (n,)), torch.randint(0, 5, (n,))) for n in torch.randint(5, 12, (24,)).tolist()]


def collate(batch):
    words, tags = zip(*batch)
    return pad_sequence(words, batch_first=FIXED), pad_sequence(tags, batch_first=FIXED, padding_value=-100)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 16, batch_first=True)
        self.out = nn.Linear(16, 5)

    def forward(self, words):
        h, _ = self.lstm(self.emb(words))
        return self.out(h)


model = Tagger()
for words, tags in DataLoader(data, batch_size=8, collate_fn=collate):
    loss = nn.functional.cross_entropy(model(words).reshape(-1, 5), tags.reshape(-1))
    loss.backward()
print(f"loss {loss.item():.4f}")
"""


def _run(path, *arguments):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        done = run_script(str(path), list(arguments))
    return done, out.getvalue()


@pytest.mark.filterwarnings("ignore")
def test_a_collates_pad_sequence_left_seq_first_into_a_batch_first_lstm_is_st001(tmp_path):
    """The collate pads 8 sentences with ``pad_sequence`` and no ``batch_first``: (T, 8).
    The LSTM, built ``batch_first=True``, steps through the 8 sentences of each position.
    ST001 names the pad_sequence; its help (the LSTM built seq-first) applied gives the
    fixed version's loss, and the fixed version (``batch_first=True`` in the collate) is clean."""
    script = tmp_path / "tagger.py"
    script.write_text(TAGGER)
    done, _ = _run(script)
    [found] = [f for f in serious(done.trace) if f.code == "ST001"]
    assert "the collate_fn's pad_sequence at line 14 stacks 8 samples of a batch on dim 1" in found.message
    assert found.hint == "build it with nn.LSTM(..., batch_first=False)"
    fixed, fixed_out = _run(script, "--fixed")
    assert fixed.error is None and serious(fixed.trace) == []
    helped_script = tmp_path / "helped.py"
    helped_script.write_text(TAGGER.replace("nn.LSTM(16, 16, batch_first=True)", "nn.LSTM(16, 16, batch_first=False)"))
    helped, helped_out = _run(helped_script)
    assert helped.error is None and serious(helped.trace) == []
    assert helped_out == fixed_out  # the same pairs of scores and tags, the same loss
