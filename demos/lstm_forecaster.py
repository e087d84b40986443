"""The article's LSTM -> Linear load forecaster, trained for a few steps.

Model and forward are the article's (section 案例), shape comments included:
the input is (batch_size, seq_len) = (5, 30), 30 past loads predict the next.
Plain PyTorch, no shapetrace import: run it with

    shapetrace run demos/lstm_forecaster.py
"""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, output_size, batch_size):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.output_size = output_size
        self.num_directions = 1  # 单向LSTM
        self.batch_size = batch_size
        self.lstm = nn.LSTM(self.input_size, self.hidden_size, self.num_layers, batch_first=True)
        self.linear = nn.Linear(self.hidden_size, self.output_size)

    def forward(self, input_seq):
        h_0 = torch.randn(self.num_directions * self.num_layers, self.batch_size, self.hidden_size).to(device)
        c_0 = torch.randn(self.num_directions * self.num_layers, self.batch_size, self.hidden_size).to(device)
        seq_len = input_seq.shape[1]  # (5, 30)
        # input(batch_size, seq_len, input_size)
        input_seq = input_seq.view(self.batch_size, seq_len, 1)  # (5, 30, 1)
        # output(batch_size, seq_len, num_directions * hidden_size)
        output, _ = self.lstm(input_seq, (h_0, c_0))  # output(5, 30, 64)
        output = output.contiguous().view(self.batch_size * seq_len, self.hidden_size)  # (5 * 30, 64)
        pred = self.linear(output)  # pred(150, 1)
        pred = pred.view(self.batch_size, seq_len, -1)  # (5, 30, 1)
        pred = pred[:, -1, :]  # (5, 1)
        return pred


def load_windows(hours=24 * 20, seq_len=30):
    """Synthetic hourly load: a daily cycle, a weekly cycle and noise, scaled to [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(hours, dtype=torch.float32)
    load = 0.6 + 0.25 * torch.sin(2 * math.pi * t / 24) + 0.1 * torch.sin(2 * math.pi * t / (24 * 7))
    load = load + 0.03 * torch.randn(hours, generator=generator)
    load = (load - load.min()) / (load.max() - load.min())
    windows = load.unfold(0, seq_len + 1, 1)  # (n, 31): 30 inputs, then the label
    return windows[:, :seq_len], windows[:, seq_len:]  # input_seq (n, 30), label (n, 1)


def main():
    torch.manual_seed(0)
    seq, label = load_windows()
    # The model bakes batch_size into its views, so every batch must be full.
    loader = DataLoader(TensorDataset(seq, label), batch_size=5, shuffle=True, drop_last=True)
    model = LSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5).to(device)
    loss_function = nn.MSELoss().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    for step, (input_seq, label) in enumerate(loader):
        input_seq, label = input_seq.to(device), label.to(device)
        pred = model(input_seq)
        loss = loss_function(pred, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
        if step == 40:
            break


if __name__ == "__main__":
    main()
