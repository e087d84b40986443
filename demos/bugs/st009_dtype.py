"""ST009 dtype-mismatch: NumPy's float64 into float32 weights.

The load series comes from NumPy, and ``torch.from_numpy`` keeps its
float64 dtype; the LSTM's weights are float32, so the first forward raises.

    shapetrace run demos/bugs/st009_dtype.py
"""

import numpy as np
import torch
from torch import nn


class Forecaster(nn.Module):
    def __init__(self, hidden_size=32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, 1)
        output, _ = self.lstm(x)
        return self.head(output[:, -1, :])


def main():
    hours = np.arange(24 * 10)
    load = 0.5 + 0.4 * np.sin(2 * np.pi * hours / 24)  # float64, as NumPy makes it
    windows = np.lib.stride_tricks.sliding_window_view(load, 24)[:16].copy()
    x = torch.from_numpy(windows).unsqueeze(-1)  # bug: stays float64; add .float()
    model = Forecaster()
    print(model(x).shape)


if __name__ == "__main__":
    main()
