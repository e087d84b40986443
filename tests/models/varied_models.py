"""Models for symbolic dimensions: each one's shapes follow the sizes differently."""

from __future__ import annotations

import torch
from torch import nn


class FixedArticleLSTM(nn.Module):
    """The article's forecaster with the batch size read from the input, hidden 16."""

    def __init__(self, hidden_size: int = 16, num_layers: int = 2) -> None:
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, input_seq):
        batch_size, seq_len = input_seq.shape[0], input_seq.shape[1]
        h_0 = torch.zeros(self.num_layers, batch_size, self.hidden_size)
        c_0 = torch.zeros(self.num_layers, batch_size, self.hidden_size)
        input_seq = input_seq.view(batch_size, seq_len, 1)
        output, _ = self.lstm(input_seq, (h_0, c_0))
        output = output.contiguous().view(batch_size * seq_len, self.hidden_size)
        pred = self.linear(output)
        pred = pred.view(batch_size, seq_len, -1)
        return pred[:, -1, :]


class ConvStack(nn.Module):
    """Two unpadded Conv1d layers: each takes 2 steps off the sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(7, 16, kernel_size=3)
        self.conv2 = nn.Conv1d(16, 16, kernel_size=3)
        self.head = nn.Linear(16, 1)

    def forward(self, x):  # (B, T, 7)
        x = self.conv2(torch.relu(self.conv1(x.transpose(1, 2))))  # (B, 16, T-4)
        return self.head(x.mean(-1))


class LengthBranch(nn.Module):
    """Data-dependent control flow: long sequences get an extra projection."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.extra = nn.Linear(4, 4)

    def forward(self, x):  # (B, T, 4)
        x = self.proj(x)
        if x.shape[1] > 16:
            x = self.extra(x)
        return x


class Flattened(nn.Module):
    """(B, T, F) flattened to (B, T*F): a product that is not the batch."""

    def __init__(self, steps: int = 6, features: int = 3) -> None:
        super().__init__()
        self.head = nn.Linear(steps * features, 2)

    def forward(self, x):
        return self.head(x.reshape(x.size(0), -1))
