"""ST013 variant: activity windows from a DataLoader, (batch, 16 steps, 9 channels), into a
batch_first GRU whose flag is right, read with the seq-first idiom ``output[-1]``: the last
sample of the batch at every step, (time, hidden), where the last step of every sample was
meant. Batch == window == 16, so the classifier's (16, 6) logits meet the (16,) labels and
nothing raises. The DataLoader yielded the very tensor the model gets, so its dim 0 is the
batch, as the flag says: the index is the bug (not ST001). The fix: ``output[:, -1]``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run, step


class HARNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(9, 64, num_layers=2, batch_first=True)
        self.classifier = nn.Linear(64, 6)

    def forward(self, x):  # (batch, time, channels)
        output, _ = self.gru(x)
        if self.fixed:
            last = output[:, -1]
        else:
            last = output[-1]  # culprit
        return self.classifier(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = HARNet(fixed)
    loader = DataLoader(TensorDataset(torch.randn(32, 16, 9), torch.randint(0, 6, (32,))), batch_size=16)

    def work():
        for x, y in loader:
            step(nn.functional.cross_entropy(model(x), y))

    return model, work


if __name__ == "__main__":
    run(make)
