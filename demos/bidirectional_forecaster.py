"""A bidirectional, multivariate, multi-step load forecaster.

From the article series (双向LSTM负荷预测): 7 features per hour (load, wind
speed, temperature, pressure, humidity, weather, holiday), 24 past hours,
the next 4 hours predicted. The head reads the final hidden state of each
direction (h_n), not output[:, -1, :], whose backward half has seen one step.

    shapetrace run demos/bidirectional_forecaster.py
"""

import torch
from torch import nn


class BiLSTM(nn.Module):
    def __init__(self, input_size=7, hidden_size=32, num_layers=2, output_size=4):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2  # 双向LSTM
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(self.num_directions * hidden_size, output_size)

    def forward(self, input_seq):
        batch_size = input_seq.size(0)  # input_seq (B, 24, 7)
        h_0 = input_seq.new_zeros(self.num_directions * self.num_layers, batch_size, self.hidden_size)
        c_0 = input_seq.new_zeros(self.num_directions * self.num_layers, batch_size, self.hidden_size)
        output, (h_n, c_n) = self.lstm(input_seq, (h_0, c_0))  # output (B, 24, 64)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1)  # forward and backward final states: (B, 64)
        pred = self.linear(last)  # (B, 4)
        return pred


def synthetic_batches(n_batches=20, batch_size=8, seq_len=24, n_features=7, horizon=4):
    generator = torch.Generator().manual_seed(0)
    for _ in range(n_batches):
        x = torch.randn(batch_size, seq_len, n_features, generator=generator)
        y = x[:, -horizon:, 0] * 0.5 + 0.1 * torch.randn(batch_size, horizon, generator=generator)
        yield x, y


def main():
    torch.manual_seed(0)
    model = BiLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_function = nn.MSELoss()
    for step, (x, y) in enumerate(synthetic_batches()):
        loss = loss_function(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            print(f"step {step:2d}  loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
