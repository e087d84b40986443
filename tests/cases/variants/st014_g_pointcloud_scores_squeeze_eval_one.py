"""ST014 variant (https://github.com/tiangexiang/CurveNet/pull/25): a point-cloud network
scores its N points with a 1x1 ``Conv1d`` to (batch, 1, N) and calls ``.squeeze()`` to
get (batch, N) before picking the top-k start points. Evaluated with batch size 1 the
batch axis goes too, (N,), the top-k indices are (K,), and the expand that lines them up
with the features fails two lines later: "The expanded size of the tensor (16) must
match the existing size (8) at non-singleton dimension 1". Fix: ``.squeeze(1)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

POINTS, CHANNELS, K = 64, 16, 8


class StartPoints(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.features = nn.Sequential(nn.Conv1d(3, CHANNELS, 1), nn.ReLU())
        self.score = nn.Conv1d(CHANNELS, 1, 1)
        self.classifier = nn.Linear(CHANNELS, 4)

    def forward(self, points):  # (batch, 3, N)
        feats = self.features(points)
        if self.fixed:
            scores = self.score(feats).squeeze(1)
        else:
            scores = self.score(feats).squeeze()  # culprit
        start_index = torch.topk(scores, K, dim=-1).indices  # (batch, K)
        index = start_index.unsqueeze(1).expand(-1, CHANNELS, -1)
        picked = torch.gather(feats, 2, index)  # (batch, C, K)
        return self.classifier(picked.max(dim=-1).values)


def make(fixed=False):
    torch.manual_seed(0)
    model = StartPoints(fixed).eval()
    loader = DataLoader(TensorDataset(torch.randn(3, 3, POINTS), torch.randint(0, 4, (3,))), batch_size=1)

    def work():
        correct = 0
        with torch.no_grad():
            for points, label in loader:
                correct += int((model(points).argmax(-1) == label).sum())
        print(f"accuracy {correct / 3:.2f}")

    return model, work


if __name__ == "__main__":
    run(make)
