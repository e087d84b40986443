"""ST007 variant: a streaming tagger steps an ``nn.GRUCell`` over each batch, and the training
loop builds the state once per epoch, ``h = torch.zeros(BATCH, HID)``, carrying it across
batches (truncated BPTT). 45 samples in batches of 16: the last batch holds 13, and the cell
raises "Input batch size 13 doesn't match hidden0 batch size 16". The fix: a state per batch
from ``x.size(0)`` (or ``DataLoader(drop_last=True)``)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEAT, HID, TAGS, STEPS, BATCH = 8, 24, 5, 9, 16


class StreamTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(FEAT, HID)
        self.cell = nn.GRUCell(HID, HID)
        self.tag = nn.Linear(HID, TAGS)

    def forward(self, x, h):  # x (batch, steps, feat), h (batch, hid)
        outs = []
        for t in range(x.size(1)):
            h = self.cell(torch.relu(self.inp(x[:, t])), h)  # culprit
            outs.append(self.tag(h))
        return torch.stack(outs, dim=1), h


def make(fixed=False):
    torch.manual_seed(0)
    xs, ys = torch.randn(45, STEPS, FEAT), torch.randint(0, TAGS, (45, STEPS))
    loader = DataLoader(TensorDataset(xs, ys), batch_size=BATCH)
    model = StreamTagger()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work():
        h = torch.zeros(BATCH, HID)
        for x, y in loader:
            if fixed:
                h = torch.zeros(x.size(0), HID)
            scores, h = model(x, h.detach())
            loss = nn.functional.cross_entropy(scores.reshape(-1, TAGS), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.4f}")

    return model, work


if __name__ == "__main__":
    import sys

    make("--fixed" in sys.argv)[1]()
