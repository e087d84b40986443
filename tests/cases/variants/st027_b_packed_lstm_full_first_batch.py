"""ST027 variant: a review classifier trains an LSTM on packed reviews from a DataLoader whose
collate pads each batch to a fixed length of 12, and reads ``padded[:, -1]`` of
``pad_packed_sequence(..., total_length=12)``. The first batch holds full-length reviews only (the
dataset is sorted longest first), so its last column is right; every later batch has shorter
reviews, whose last column is zeros. ``shapetrace run`` records one pass per input shape: the
first, full batch stands for the ragged ones. The fix reads each review's last step,
``padded[torch.arange(padded.size(0)), lengths - 1]``."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.data import DataLoader
from variant_work import epoch, run

LENGTH = 12


class ReviewLSTM(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embedding = nn.Embedding(120, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 20, batch_first=True)
        self.fc = nn.Linear(20, 2)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        packed_out, _ = self.lstm(packed)
        padded, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=LENGTH)
        if self.fixed:
            review = padded[torch.arange(padded.size(0)), lengths - 1]
        else:
            review = padded[:, -1]  # culprit
        return self.fc(review)


def collate(samples):
    lengths = torch.tensor([len(tokens) for tokens, _ in samples])
    tokens = torch.zeros(len(samples), LENGTH, dtype=torch.long)
    for row, (sample, _) in enumerate(samples):
        tokens[row, : len(sample)] = sample
    return tokens, lengths, torch.tensor([label for _, label in samples])


def make(fixed=False):
    torch.manual_seed(0)
    lengths = [12] * 4 + torch.randint(3, 12, (12,)).tolist()  # longest first
    reviews = [(torch.randint(1, 120, (n,)), n % 2) for n in lengths]
    loader = DataLoader(reviews, batch_size=4, collate_fn=collate)
    model = ReviewLSTM(fixed)
    return model, epoch(model, loader, lambda tokens, lengths, labels: nn.functional.cross_entropy(
        model(tokens, lengths), labels))

if __name__ == "__main__":
    run(make)
