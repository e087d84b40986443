"""ST001 variant (https://github.com/HHTseng/video-classification/issues/3, whose answer
is the diagnosis: the LSTM output is (batch, time, hidden) only with
``batch_first=True``): a CNN+LSTM video classifier encodes each frame, stacks the frame
features along dim 1 as (batch, time, features) and hands them to an LSTM left
seq-first. Its final state ``h_n[-1]`` is then one row per *frame index*, (time,
hidden): the classifier gives 6 rows for 4 clips and ``cross_entropy`` raises
"Expected input batch_size (6) to match target batch_size (4)", at the loss, far from
the layout. Fix: ``nn.LSTM(..., batch_first=True)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

FRAMES, FEATURES, HIDDEN, CLASSES = 6, 20, 12, 5


class CRNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(8, FEATURES))
        self.lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=2, batch_first=fixed)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, clips):  # (batch, time, 3, H, W)
        frames = torch.stack([self.cnn(clips[:, t]) for t in range(clips.size(1))], dim=1)
        _, (h_n, _) = self.lstm(frames)  # culprit
        return self.fc(h_n[-1])


def make(fixed=False):
    torch.manual_seed(0)
    model = CRNN(fixed)
    loader = DataLoader(TensorDataset(torch.randn(8, FRAMES, 3, 16, 16), torch.randint(0, CLASSES, (8,))),
                        batch_size=4)

    def work():
        for clips, labels in loader:
            loss = nn.functional.cross_entropy(model(clips), labels)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
