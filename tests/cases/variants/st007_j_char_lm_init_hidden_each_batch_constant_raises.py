"""ST007 variant: a character LSTM language model whose training loop builds a fresh state
before every batch, but with the loader's batch size written in:
``hidden = model.init_hidden(BATCH_SIZE)``. 60 windows in batches of 16: the last holds 12,
and the LSTM raises "Expected hidden[0] size (2, 12, 32), got [2, 16, 32]". The state is not
carried (each batch gets its own); its size is fixed. The fix: ``init_hidden(x.size(0))``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

VOCAB, STEPS, EMB, HID, LAYERS, BATCH_SIZE = 20, 10, 16, 32, 2, 16


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, HID, LAYERS, batch_first=True)
        self.decoder = nn.Linear(HID, VOCAB)

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(LAYERS, bsz, HID), weight.new_zeros(LAYERS, bsz, HID))

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.emb(x), hidden)  # culprit
        return self.decoder(out), hidden


def make(fixed=False):
    torch.manual_seed(0)
    text = torch.randint(0, VOCAB, (60 * STEPS + 1,))
    windows, targets = text[:-1].view(60, STEPS), text[1:].view(60, STEPS)
    model = CharLM()

    def loss_of(x, y):
        if fixed:
            hidden = model.init_hidden(x.size(0))
        else:
            hidden = model.init_hidden(BATCH_SIZE)
        logits, _ = model(x, hidden)
        return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))

    return model, epoch(model, DataLoader(TensorDataset(windows, targets), batch_size=BATCH_SIZE), loss_of)


if __name__ == "__main__":
    run(make)
