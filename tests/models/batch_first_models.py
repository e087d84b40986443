"""RNN models with batch-first data, left seq-first (ST001), and their correct versions.

Each variant is a case-like ``make(name, fixed) -> (model, work)``: ``work()`` runs the
forward passes and the loss as a user's script does. As a script
(``python batch_first_models.py NAME [--fixed]``) it runs one variant, for ``shapetrace run``.

``BUGGY`` variants have a real clue in the trace (input and target cut one step apart
along the RNN's batch axis, the last step taken of the RNN's batch axis, a DataLoader whose
batch axis the RNN recurs over, a short last batch, the slicing of contiguous rows
outside the model, which ``shapetrace run`` records as it made the pass's inputs);
``SILENT`` ones have none: input and target drawn apart, a loss over (N, C, T) whose N
is the time axis is what a correct seq-first model handing cross_entropy
(T, C, B) shows too (rows merged with ``view(-1, vocab)`` say nothing either). ``CORRECT``
are seq-first on purpose (word_language_model).
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, EMB, HIDDEN = 50, 16, 20


class LanguageModel(nn.Module):
    def __init__(self, kind: str = "LSTM", batch_first: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.rnn = getattr(nn, kind)(EMB, HIDDEN, batch_first=batch_first)
        self.fc = nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        return self.fc(out)


class Classifier(nn.Module):
    """The last step of each sequence, as batch-first code takes it: ``out[:, -1]``."""

    def __init__(self, kind: str = "GRU", batch_first: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.rnn = getattr(nn, kind)(EMB, HIDDEN, batch_first=batch_first)
        self.fc = nn.Linear(HIDDEN, 3)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        return self.fc(out[:, -1])


def _tokens(*shape):
    return torch.randint(0, VOCAB, shape)


def lm_permuted_loss(fixed: bool, kind: str = "GRU", batch: int = 8, steps: int = 5, module: bool = False,
                     shifted: bool = True):
    """cross_entropy over (N, C, T): ``logits.permute(0, 2, 1)``; next-token targets
    (``seq[:, 1:]``), or, not ``shifted``, targets drawn apart from the input."""
    torch.manual_seed(0)
    model = LanguageModel(kind, fixed)

    def work():
        if shifted:
            seq = _tokens(batch, steps + 1)
            x, y = seq[:, :-1], seq[:, 1:]
        else:
            x, y = _tokens(batch, steps), _tokens(batch, steps)
        logits = model(x)
        if module:
            loss = nn.NLLLoss()(F.log_softmax(logits, -1).transpose(1, 2), y)
        else:
            loss = F.cross_entropy(logits.permute(0, 2, 1), y)
        loss.backward()

    return model, work


def lm_merged_loss(fixed: bool, kind: str = "LSTM", batch: int = 8, steps: int = 5, shifted: bool = True):
    """One pass, cross_entropy over (N*T, C): ``logits.view(-1, vocab)`` against
    ``target.view(-1)``; next-token targets, or, not ``shifted``, drawn apart."""
    torch.manual_seed(0)
    model = LanguageModel(kind, fixed)

    def work():
        if shifted:
            seq = _tokens(batch, steps + 1)
            x, y = seq[:, :-1], seq[:, 1:].contiguous()
        else:
            x, y = _tokens(batch, steps), _tokens(batch, steps)
        loss = nn.CrossEntropyLoss()(model(x).view(-1, VOCAB), y.view(-1))
        loss.backward()

    return model, work


def batchified_lm(fixed: bool, batch: int = 4, bptt: int = 6, narrow: bool = False):
    """word_language_model's loop on batch-first data: ``batchify`` to (B, N) without
    its ``.t()``, windows cut along dim 1 (``data[:, i:i+T]`` against ``data[:, i+1:i+1+T]``,
    or ``narrow``), the last one short; rows merged for the loss."""
    torch.manual_seed(0)
    model = LanguageModel("LSTM", fixed)
    data = _tokens(batch * 40 + 3)
    data = data[: data.size(0) // batch * batch].view(batch, -1)  # (B, N)

    def work():
        for i in range(0, data.size(1) - 1, bptt):
            length = min(bptt, data.size(1) - 1 - i)
            if narrow:
                x, y = data.narrow(1, i, length), data.narrow(1, i + 1, length)
            else:
                x, y = data[:, i:i + length], data[:, i + 1:i + 1 + length]
            logits = model(x)
            F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1)).backward()

    return model, work


class NextTokenWindows(torch.utils.data.Dataset):
    """Windows of a token stream, each as (input, target) = (w[:-1], w[1:])."""

    def __init__(self, stream, window: int) -> None:
        self.stream, self.window = stream, window

    def __len__(self) -> int:
        return len(self.stream) - self.window

    def __getitem__(self, i):
        w = self.stream[i:i + self.window + 1]
        return w[:-1], w[1:]


def dataset_pairs(fixed: bool, batch: int = 8, steps: int = 6):
    """A Dataset of (w[:-1], w[1:]) pairs collated by a DataLoader into (B, T) batches."""
    torch.manual_seed(0)
    model = LanguageModel("GRU", fixed)
    loader = DataLoader(NextTokenWindows(_tokens(60), steps), batch_size=batch)

    def work():
        for x, y in loader:
            F.cross_entropy(model(x).view(-1, VOCAB), y.reshape(-1)).backward()

    return model, work


def classifier(fixed: bool, kind: str = "GRU", batch: int = 8, steps: int = 5):
    torch.manual_seed(0)
    model = Classifier(kind, fixed)

    def work():
        x, y = _tokens(batch, steps), torch.randint(0, 3, (batch,))
        F.cross_entropy(model(x), y).backward()

    return model, work


def loader_lm(fixed: bool, kind: str = "LSTM", batch: int = 8, steps: int = 5, samples: int = 64,
              loss: str = "merged"):
    """A DataLoader of (batch, steps) token windows, one epoch."""
    torch.manual_seed(0)
    model = LanguageModel(kind, fixed)
    data = TensorDataset(_tokens(samples, steps), _tokens(samples, steps))

    def work():
        for x, y in DataLoader(data, batch_size=batch):
            logits = model(x)
            if loss == "merged":
                value = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
            else:
                value = logits.square().mean()
            value.backward()

    return model, work


def loader_seq_first(fixed: bool = True, collate: str = "transpose", batch: int = 8, steps: int = 5):
    """Correct: batch-first windows from a DataLoader made seq-first before a seq-first LSTM,
    by ``x.t()`` or by a ``pad_sequence`` collate ((T_max, B), as its default batch_first=False)."""
    torch.manual_seed(0)
    model = LanguageModel("LSTM", False)
    if collate == "transpose":
        loader = DataLoader(TensorDataset(_tokens(60, steps)), batch_size=batch)
    else:
        lengths = torch.randint(3, 12, (60,)).tolist()
        samples = [_tokens(n) for n in lengths]
        loader = DataLoader(samples, batch_size=batch, collate_fn=nn.utils.rnn.pad_sequence)

    def work():
        for x in loader:
            x = x[0].t() if collate == "transpose" else x
            model(x).square().mean().backward()

    return model, work


class LastStep(nn.Module):
    """Seq-first code after the RNN: ``out[-1]`` for the last step, or a transpose back to
    batch-first; the batch_first version needs neither."""

    def __init__(self, fixed: bool, follow_up: str) -> None:
        super().__init__()
        self.fixed, self.follow_up = fixed, follow_up
        self.emb = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.GRU(EMB, HIDDEN, batch_first=fixed)
        self.fc = nn.Linear(HIDDEN, 3)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        if self.follow_up == "index":
            return self.fc(out[:, -1] if self.fixed else out[-1])
        out = out if self.fixed else out.transpose(0, 1)
        return self.fc(out)


def loader_follow_up(fixed: bool, follow_up: str, batch: int = 8, steps: int = 5, samples: int = 60):
    torch.manual_seed(0)
    model = LastStep(fixed, follow_up)
    data = TensorDataset(_tokens(samples, steps))

    def work():
        for (x,) in DataLoader(data, batch_size=batch):
            model(x).square().mean().backward()

    return model, work


class WordLanguageModel(nn.Module):
    """pytorch/examples' word_language_model: seq-first on purpose, data batchified (T, B)."""

    def __init__(self, layers: int = 2) -> None:
        super().__init__()
        self.layers = layers
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, HIDDEN, layers)
        self.decoder = nn.Linear(HIDDEN, VOCAB)

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.encoder(input), hidden)
        decoded = self.decoder(output).view(-1, VOCAB)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz: int):
        return (torch.zeros(self.layers, bsz, HIDDEN), torch.zeros(self.layers, bsz, HIDDEN))


def word_language_model(fixed: bool = True, bsz: int = 10, bptt: int = 7):
    """Its training loop: batchify, get_batch (the last chunk is short), repackage_hidden."""
    torch.manual_seed(0)
    model = WordLanguageModel()
    data = _tokens(bsz * 23 + 3)
    data = data[: data.size(0) // bsz * bsz].view(bsz, -1).t().contiguous()  # (T, B)

    def work():
        hidden = model.init_hidden(bsz)
        for i in range(0, data.size(0) - 1, bptt):
            length = min(bptt, len(data) - 1 - i)
            x, y = data[i:i + length], data[i + 1:i + 1 + length].reshape(-1)
            hidden = tuple(h.detach() for h in hidden)
            output, hidden = model(x, hidden)
            nn.NLLLoss()(output, y).backward()

    return model, work


def seq_first_lm(fixed: bool = True, batch: int = 8, steps: int = 5, loss: str = "merged", shifted: bool = False):
    """A seq-first LM on (T, B) tokens, its loss over rows merged, over (B, C, T) or (T, C, B);
    targets drawn apart, or ``shifted``: (T + 1, B) tokens cut into ``seq[:-1]`` and ``seq[1:]``."""
    torch.manual_seed(0)
    model = LanguageModel("LSTM", False)

    def work():
        if shifted:
            seq = _tokens(steps + 1, batch)
            x, y = seq[:-1], seq[1:]
        else:
            x, y = _tokens(steps, batch), _tokens(steps, batch)
        out = model(x)
        if loss == "merged":
            value = F.cross_entropy(out.view(-1, VOCAB), y.view(-1))
        elif loss == "batch_first":
            value = F.cross_entropy(out.permute(1, 2, 0), y.t())
        else:  # (T, C, B): N is time; a mean over every element, so the same loss
            value = F.cross_entropy(out.permute(0, 2, 1), y)
        value.backward()

    return model, work


VARIANTS = {
    "permuted_gru": lambda fixed: lm_permuted_loss(fixed),
    "permuted_unshifted": lambda fixed: lm_permuted_loss(fixed, shifted=False),
    "merged_unshifted": lambda fixed: lm_merged_loss(fixed, shifted=False),
    "batchified": lambda fixed: batchified_lm(fixed),
    "batchified_narrow": lambda fixed: batchified_lm(fixed, narrow=True),
    "dataset_pairs": lambda fixed: dataset_pairs(fixed),
    "permuted_nll_lstm": lambda fixed: lm_permuted_loss(fixed, "LSTM", 12, 7, module=True),
    "permuted_rnn_big": lambda fixed: lm_permuted_loss(fixed, "RNN", 32, 12),
    "classifier_gru": lambda fixed: classifier(fixed),
    "classifier_lstm": lambda fixed: classifier(fixed, "LSTM", 16, 10),
    "loader_short": lambda fixed: loader_lm(fixed, "GRU", samples=60, loss="mean"),
    "loader_full": lambda fixed: loader_lm(fixed, "LSTM", samples=64, loss="mean"),
    "loader_merged": lambda fixed: loader_lm(fixed, "LSTM", batch=16, steps=6, samples=64),
    "merged": lambda fixed: lm_merged_loss(fixed),
    "follow_up_index": lambda fixed: loader_follow_up(fixed, "index"),
    "follow_up_transpose": lambda fixed: loader_follow_up(fixed, "transpose"),
    "word_language_model": lambda fixed: word_language_model(),
    "loader_transposed": lambda fixed: loader_seq_first(collate="transpose"),
    "loader_pad_sequence": lambda fixed: loader_seq_first(collate="pad_sequence"),
    "seq_first_merged": lambda fixed: seq_first_lm(loss="merged"),
    "seq_first_batch_first_loss": lambda fixed: seq_first_lm(loss="batch_first"),
    "seq_first_time_as_n": lambda fixed: seq_first_lm(loss="time_as_n"),
    "seq_first_shifted": lambda fixed: seq_first_lm(loss="time_as_n", shifted=True),
}
# Caught through trace(model) and shapetrace run alike.
BUGGY = ["permuted_gru", "permuted_nll_lstm", "permuted_rnn_big", "classifier_gru", "classifier_lstm", "loader_short",
         "loader_full", "loader_merged", "follow_up_index", "follow_up_transpose", "merged", "dataset_pairs",
         "batchified", "batchified_narrow"]
SILENT = ["permuted_unshifted", "merged_unshifted"]
CORRECT = ["word_language_model", "seq_first_merged", "seq_first_batch_first_loss", "seq_first_time_as_n",
           "seq_first_shifted", "loader_transposed", "loader_pad_sequence"]


def make(name: str, fixed: bool = False):
    return VARIANTS[name](fixed)


if __name__ == "__main__":
    make(sys.argv[1], "--fixed" in sys.argv)[1]()
