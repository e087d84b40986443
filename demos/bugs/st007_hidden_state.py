"""ST007 hidden-state-mismatch: h_0 without a slot per direction.

A two-layer bidirectional GRU forecaster builds its initial state as
(num_layers, batch, hidden). A bidirectional GRU needs one slot per layer
and direction, (num_layers * 2, batch, hidden): PyTorch raises.

    shapetrace run demos/bugs/st007_hidden_state.py
"""

import torch
from torch import nn


class BiGRUForecaster(nn.Module):
    def __init__(self, n_features=4, hidden_size=32, num_layers=2):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.gru = nn.GRU(n_features, hidden_size, num_layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, features)
        h_0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)  # bug: num_layers * 2
        _, h_n = self.gru(x, h_0)
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=1))


def main():
    torch.manual_seed(0)
    x, y = torch.randn(16, 24, 4), torch.randn(16, 1)
    model = BiGRUForecaster()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
