"""ST001 variant: a character-level GRU trained on a Dataset whose items are
``(chunk[:-1], chunk[1:])`` pairs; the DataLoader stacks them batch-first, (16, 24),
and the GRU keeps batch_first=False. Nothing raises, the loss goes down a little and
sampling gives gibberish: the GRU carries its state across the 16 chunks of a batch.

Report class: a char-RNN whose samples come from a Dataset and DataLoader into an RNN
left seq-first (https://github.com/HarryVolek/PyTorch_Speaker_Verification/issues/47
asks the same of an LSTM fed (batch, seq_len, input_size)).
Fix: nn.GRU(..., batch_first=True)."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

CHARS, EMB, HIDDEN, CHUNK = 30, 12, 32, 24


class Chunks(Dataset):
    def __init__(self, text, length):
        self.text, self.length = text, length

    def __len__(self):
        return (len(self.text) - 1) // self.length

    def __getitem__(self, i):
        chunk = self.text[i * self.length:(i + 1) * self.length + 1]
        return chunk[:-1], chunk[1:]


class CharRNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embed = nn.Embedding(CHARS, EMB)
        self.gru = nn.GRU(EMB, HIDDEN, batch_first=fixed)
        self.out = nn.Linear(HIDDEN, CHARS)

    def forward(self, x):
        h, _ = self.gru(self.embed(x))  # culprit
        return self.out(h)


def make(fixed=False):
    torch.manual_seed(0)
    text = torch.randint(0, CHARS, (24 * 40 + 1,))
    loader = DataLoader(Chunks(text, CHUNK), batch_size=16, shuffle=True)
    model = CharRNN(fixed)

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x).reshape(-1, CHARS), y.reshape(-1))
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
