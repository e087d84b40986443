"""ST001 variant: a word-level language model (nn.LSTM, TBPTT) on batchify()'d data, batch_first=True.

The class of case01 (batch_first mismatch with a carried state; silent because
bptt == batch_size). The data pipeline is the classic word_language_model one: batchify
lays the corpus out as (n_steps, batch) columns and get_batch returns (bptt, batch)
chunks, i.e. SEQ-FIRST. The model was written with nn.LSTM(..., batch_first=True), so it
reads each chunk as (batch=bptt, seq=batch): the recurrence runs across the 16 parallel
streams at one time position, and the carried state (init_hidden(batch_size), then
repackaged) belongs to time positions, not to streams. It runs because bptt == 16 ==
batch_size and the corpus splits into whole chunks.

Fix: nn.LSTM(..., batch_first=False) (the default) for batchify's layout.
"""

import torch
from torch import nn
from variant_work import run

NTOKENS, EMB, HID, LAYERS = 80, 24, 40, 2
BATCH_SIZE, BPTT = 16, 16


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data[: nbatch * bsz]
    return data.view(bsz, -1).t().contiguous()  # (nbatch, bsz)


def get_batch(source, i):
    seq_len = min(BPTT, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


class RNNModel(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.encoder = nn.Embedding(NTOKENS, EMB)
        self.rnn = nn.LSTM(EMB, HID, LAYERS, dropout=0.2, batch_first=not fixed)
        self.decoder = nn.Linear(HID, NTOKENS)

    def forward(self, x, hidden):
        output, hidden = self.rnn(self.encoder(x), hidden)  # culprit
        return self.decoder(output), hidden

    def init_hidden(self, bsz):
        return torch.zeros(LAYERS, bsz, HID), torch.zeros(LAYERS, bsz, HID)


def make(fixed=False):
    torch.manual_seed(0)
    corpus = torch.randint(0, NTOKENS, (65 * BATCH_SIZE + 5,))
    train_data = batchify(corpus, BATCH_SIZE)  # (65, 16): 4 whole chunks of 16
    model = RNNModel(fixed)
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def work():
        for epoch in range(2):
            hidden = model.init_hidden(BATCH_SIZE)
            for i in range(0, train_data.size(0) - 1, BPTT):
                data, targets = get_batch(train_data, i)
                hidden = tuple(h.detach() for h in hidden)
                output, hidden = model(data, hidden)
                loss = criterion(output.view(-1, NTOKENS), targets)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
                opt.step()
            print(f"epoch {epoch} loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
