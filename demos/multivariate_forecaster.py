"""A multivariate load forecaster (多变量时序负荷预测): 7 features, next hour.

input_seq (B, 24, 7) -> LSTM -> Linear on every step -> the last step (B, 1).

    shapetrace run demos/multivariate_forecaster.py
"""

import torch
from torch import nn


class MultivariateLSTM(nn.Module):
    def __init__(self, input_size=7, hidden_size=64, num_layers=2, output_size=1):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, input_seq):
        output, _ = self.lstm(input_seq)  # (B, 24, 64)
        pred = self.linear(output)  # (B, 24, 1)
        pred = pred[:, -1, :]  # (B, 1)
        return pred


def main():
    torch.manual_seed(0)
    model = MultivariateLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_function = nn.MSELoss()
    for step in range(20):
        x = torch.randn(16, 24, 7)
        y = x[:, -1, :1] * 0.5  # next hour's load follows the last one: (16, 1)
        loss = loss_function(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            print(f"step {step:2d}  loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
