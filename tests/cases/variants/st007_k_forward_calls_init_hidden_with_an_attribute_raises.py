"""ST007 variant: a text classifier's forward builds its LSTM state with
``self.init_hidden(self.batch_size)``, the size the model was built for; the DataLoader's
last batch holds 2 of 18, and the LSTM raises "Expected hidden[0] size (1, 2, 12), got
[1, 8, 12]". The op that made the state ran in ``init_hidden``'s body, which is right as
written; the line to change is forward's call. The fix: ``self.init_hidden(h.size(0))``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

VOCAB, EMB, HID, BATCH = 30, 10, 12, 8


class Classifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed, self.batch_size = fixed, BATCH
        self.embed = nn.Embedding(VOCAB, EMB)
        self.lstm = nn.LSTM(EMB, HID, batch_first=True)
        self.fc = nn.Linear(HID, 3)

    def init_hidden(self, batch_size):
        return (torch.zeros(1, batch_size, HID), torch.zeros(1, batch_size, HID))

    def state_for(self, h):  # the fixed version's: the batch read from the data
        return self.init_hidden(h.size(0))

    def forward(self, ids):
        h = self.embed(ids)
        if self.fixed:
            state = self.state_for(h)
        else:
            state = self.init_hidden(self.batch_size)
        _, (h_n, _) = self.lstm(h, state)  # culprit
        return self.fc(h_n[-1])


def make(fixed=False):
    torch.manual_seed(0)
    model = Classifier(fixed)
    loader = DataLoader(TensorDataset(torch.randint(0, VOCAB, (18, 6)), torch.randint(0, 3, (18,))), batch_size=BATCH)
    return model, epoch(model, loader, lambda ids, y: nn.functional.cross_entropy(model(ids), y))


if __name__ == "__main__":
    run(make)
