"""ST008 device-mismatch: an initial state made on the CPU.

The forecaster moves itself and its data to ``device``, but ``forward``
makes h_0 and c_0 with ``torch.zeros(...)``, which lands on the CPU. On a
GPU that raises; on a machine without one this demo uses the ``meta``
device (shapes without memory, as a dry run of a big model does), which
fails the same way.

    shapetrace run demos/bugs/st008_device.py
"""

import torch
from torch import nn

device = torch.device("cuda" if torch.cuda.is_available() else "meta")


class Forecaster(nn.Module):
    def __init__(self, n_features=3, hidden_size=32):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(n_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, features)
        h_0 = torch.zeros(1, x.size(0), self.hidden_size)  # bug: device=x.device is missing
        c_0 = torch.zeros(1, x.size(0), self.hidden_size)
        output, _ = self.lstm(x, (h_0, c_0))
        return self.head(output[:, -1, :])


def main():
    model = Forecaster().to(device)
    x = torch.randn(16, 24, 3).to(device)
    print(model(x).shape)


if __name__ == "__main__":
    main()
