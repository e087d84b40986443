"""pytorch/examples' word_language_model (main.py and model.py), re-written small with
a synthetic corpus: seq-first on purpose. ``batchify`` makes (T, B) columns, ``get_batch``
cuts ``source[i:i+seq_len]`` against ``source[i+1:i+1+seq_len].view(-1)`` (the last
window of each epoch is short), the hidden state is carried and detached
(``repackage_hidden``), the loss is NLL over rows merged with ``view(-1, ntoken)``;
train, then evaluate with another batch size."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.2):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt=7):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def main(rnn_type="LSTM", ntokens=40, batch_size=4, eval_batch_size=10, bptt=7, evaluate=True):
    torch.manual_seed(1111)
    corpus = torch.randint(0, ntokens, (167,))
    train_data = batchify(corpus, batch_size)  # (41, 4): the last window is 5 long
    val_data = batchify(corpus, eval_batch_size)  # (16, 10)
    model = RNNModel(rnn_type, ntokens, 16, 16, 2)
    criterion = nn.NLLLoss()
    lr = 20.0

    model.train()
    hidden = model.init_hidden(batch_size)
    for i in range(0, train_data.size(0) - 1, bptt):
        data, targets = get_batch(train_data, i, bptt)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)

    if not evaluate:
        return
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, val_data.size(0) - 1, bptt):
            data, targets = get_batch(val_data, i, bptt)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    print(f"valid ppl {math.exp(total_loss / (len(val_data) - 1)):.1f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "LSTM", evaluate="--train-only" not in sys.argv)
