"""ST007 variant (https://github.com/bentrevett/pytorch-sentiment-analysis/issues/87): an
LSTM classifier over frozen contextual embeddings permutes them to seq-first,
``embedded.permute(1, 0, 2)``, and builds ``h_0``/``c_0`` as
``torch.zeros(1, self.batch_size, hidden)`` unless the caller passes a batch size. The
loader's last batch holds 4 of 20 sentences in batches of 8, and the LSTM raises
"Expected hidden[0] size (1, 4, 12), got [1, 8, 12]". Fix: size the state from the
input, ``input.size(1)`` after the permute."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

EMBED, HIDDEN, CLASSES = 16, 12, 4


class LSTMClassifier(nn.Module):
    def __init__(self, batch_size, fixed=False):
        super().__init__()
        self.batch_size, self.fixed = batch_size, fixed
        self.encoder = nn.Linear(EMBED, EMBED)  # stands for the frozen BERT
        self.lstm = nn.LSTM(EMBED, HIDDEN)
        self.label = nn.Linear(HIDDEN, CLASSES)

    def forward(self, input_sentence, batch_size=None):
        with torch.no_grad():
            embedded = self.encoder(input_sentence)
        input = embedded.permute(1, 0, 2)
        if batch_size is None:
            batch_size = input.size(1) if self.fixed else self.batch_size
        h_0 = torch.zeros(1, batch_size, HIDDEN)
        c_0 = torch.zeros(1, batch_size, HIDDEN)
        _, (h_n, _) = self.lstm(input, (h_0, c_0))  # culprit
        return self.label(h_n[-1])


def make(fixed=False):
    torch.manual_seed(0)
    model = LSTMClassifier(8, fixed)
    loader = DataLoader(TensorDataset(torch.randn(20, 10, EMBED), torch.randint(0, CLASSES, (20,))), batch_size=8)

    def work():
        for sentences, labels in loader:
            loss = nn.functional.cross_entropy(model(sentences), labels)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
