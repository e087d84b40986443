"""ST003 variant (https://github.com/weka511/hpa-scc/issues/38): a 3-D conv classifier
flattens its features with ``x.view(-1, 4 * 8 * 2 * 6 * 6)``: the leading 4 is the
batch size, written into the feature count. A full batch of 4 becomes ONE row, the head
outputs (1, 5) and MSE against the (4, 5) targets broadcasts ("Using a target size
(torch.Size([4, 5])) that is different to the input size (torch.Size([1, 5]))", as in
the report); the short last batch of 2 then raises "shape '[-1, 2304]' is invalid for
input of size 1152". Diagnosis: the batch size baked into the view (the Linear was
sized to match). Fix: ``x.view(x.size(0), -1)`` and a Linear of the per-sample size."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

BATCH = 4


class Net(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2))
        self.fc = nn.Linear(8 * 2 * 6 * 6 if fixed else BATCH * 8 * 2 * 6 * 6, 5)

    def forward(self, x):  # (batch, 1, 4, 12, 12)
        x = self.conv(x)
        if self.fixed:
            x = x.view(x.size(0), -1)
        else:
            x = x.view(-1, 4 * 8 * 2 * 6 * 6)  # culprit
        return torch.sigmoid(self.fc(x))


def make(fixed=False):
    torch.manual_seed(0)
    model = Net(fixed)
    loader = DataLoader(TensorDataset(torch.randn(10, 1, 4, 12, 12), torch.rand(10, 5)), batch_size=BATCH)
    criterion = nn.MSELoss()

    def work():
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
