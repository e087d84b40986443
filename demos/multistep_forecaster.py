"""A multivariate multi-step forecaster (多变量多步长): 7 features, next 4 hours.

Like the article, it flattens (B, T, H) to (B*T, H) for the Linear and
restores (B, T, 4) after it, then keeps the last step: (B, 4).

    shapetrace run demos/multistep_forecaster.py
"""

import torch
from torch import nn


class MultiStepLSTM(nn.Module):
    def __init__(self, input_size=7, hidden_size=64, num_layers=1, horizon=4):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, horizon)

    def forward(self, input_seq):
        batch_size, seq_len = input_seq.shape[0], input_seq.shape[1]  # (B, 24, 7)
        output, _ = self.lstm(input_seq)  # (B, 24, 64)
        output = output.reshape(batch_size * seq_len, self.hidden_size)  # (B * 24, 64)
        pred = self.linear(output)  # (B * 24, 4)
        pred = pred.view(batch_size, seq_len, -1)  # (B, 24, 4)
        return pred[:, -1, :]  # (B, 4)


def main():
    torch.manual_seed(0)
    model = MultiStepLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_function = nn.MSELoss()
    for step in range(20):
        x = torch.randn(8, 24, 7)
        y = x[:, -4:, 0]  # the next 4 hours' load: (8, 4)
        loss = loss_function(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            print(f"step {step:2d}  loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
