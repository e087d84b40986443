"""ST006 variant (https://github.com/graykode/nlp-tutorial/issues/47): the nlp-tutorial
BiLSTM transposes its one-hot input to seq-first, gives the LSTM an explicit zero
state of (2, batch, hidden) and takes ``outputs = outputs[-1]`` before
``torch.mm(outputs, self.W) + self.b``. ``outputs[-1]`` is (batch, 2 * hidden), as the
report notes, and its backward half is the reverse LSTM after reading only the last
character. Nothing raises. Fix: ``torch.cat([h_n[-2], h_n[-1]], dim=1)``."""

import torch
from torch import nn
from variant_work import run

N_CLASS, N_HIDDEN, N_STEP = 26, 5, 9


class BiLSTM(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(input_size=N_CLASS, hidden_size=N_HIDDEN, bidirectional=True)
        self.W = nn.Parameter(torch.randn([N_HIDDEN * 2, N_CLASS]))
        self.b = nn.Parameter(torch.randn([N_CLASS]))

    def forward(self, X):  # (batch, n_step, n_class)
        input = X.transpose(0, 1)  # (n_step, batch, n_class)
        hidden_state = torch.zeros(1 * 2, len(X), N_HIDDEN)
        cell_state = torch.zeros(1 * 2, len(X), N_HIDDEN)
        outputs, (h_n, _) = self.lstm(input, (hidden_state, cell_state))
        if self.fixed:
            outputs = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            outputs = outputs[-1]  # culprit
        return torch.mm(outputs, self.W) + self.b


def make(fixed=False):
    torch.manual_seed(0)
    model = BiLSTM(fixed)
    X = torch.eye(N_CLASS)[torch.randint(0, N_CLASS, (6, N_STEP))]
    target = torch.randint(0, N_CLASS, (6,))

    def work():
        loss = nn.CrossEntropyLoss()(model(X), target)
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
