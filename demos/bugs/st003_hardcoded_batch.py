"""ST003 hardcoded-batch-size: the article's forecaster on a short last batch.

The article's model bakes ``self.batch_size`` into its h_0 and its views.
With 48 windows and batches of 5 the last batch holds 3 windows, and
``input_seq.view(self.batch_size, seq_len, 1)`` raises. shapetrace's note
names the baked-in size; traced on full batches only, it warns before.

    shapetrace run demos/bugs/st003_hardcoded_batch.py
"""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, output_size, batch_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_size = batch_size
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, input_seq):
        h_0 = torch.randn(self.num_layers, self.batch_size, self.hidden_size)
        c_0 = torch.randn(self.num_layers, self.batch_size, self.hidden_size)
        seq_len = input_seq.shape[1]
        input_seq = input_seq.view(self.batch_size, seq_len, 1)  # bug: fits batches of 5 only
        output, _ = self.lstm(input_seq, (h_0, c_0))
        output = output.contiguous().view(self.batch_size * seq_len, self.hidden_size)
        pred = self.linear(output)
        pred = pred.view(self.batch_size, seq_len, -1)
        return pred[:, -1, :]


def load_windows(n=48, seq_len=30):
    t = torch.arange(n + seq_len, dtype=torch.float32)
    load = 0.5 + 0.4 * torch.sin(2 * math.pi * t / 24)
    windows = load.unfold(0, seq_len + 1, 1)[:n]
    return windows[:, :seq_len], windows[:, seq_len:]  # (48, 30), (48, 1)


def main():
    torch.manual_seed(0)
    seq, label = load_windows()
    loader = DataLoader(TensorDataset(seq, label), batch_size=5)  # 9 full batches, then one of 3
    model = LSTM(input_size=1, hidden_size=16, num_layers=2, output_size=1, batch_size=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for input_seq, target in loader:
        loss = nn.functional.mse_loss(model(input_seq), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
