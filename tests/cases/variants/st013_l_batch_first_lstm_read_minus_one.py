"""ST013 variant (https://github.com/HHTseng/video-classification/issues/3, the reading the
maintainer answers there: "since I used batch_first=True ... RNN_out[-1, :, :] is not
desired"): a CNN+LSTM video classifier built with ``batch_first=True`` reads the last
time step as ``RNN_out[-1, :, :]``, the seq-first spelling. On (batch, time, hidden)
that is the LAST CLIP at every time step, (time, hidden). With clips of 4 frames in
batches of 4 the classifier's 4 rows match the 4 labels and it trains on nonsense.
Fix: ``RNN_out[:, -1, :]``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

FRAMES, FEATURES, HIDDEN, CLASSES = 4, 16, 10, 6


class DecoderRNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.LSTM = nn.LSTM(FEATURES, HIDDEN, num_layers=2, batch_first=True)
        self.fc1 = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x_RNN):  # (batch, time, features)
        RNN_out, (h_n, h_c) = self.LSTM(x_RNN, None)
        if self.fixed:
            return self.fc1(RNN_out[:, -1, :])
        return self.fc1(RNN_out[-1, :, :])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = DecoderRNN(fixed)
    loader = DataLoader(TensorDataset(torch.randn(12, FRAMES, FEATURES), torch.randint(0, CLASSES, (12,))),
                        batch_size=4)

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
