"""ST001 variant: a frame tagger's Conv1d front end gives (batch, channels, time); the code
permutes it to (time, batch, channels) "for the LSTM", permutes the output back, and tags each
frame. But the LSTM was built with ``batch_first=True``: it takes time as the batch and recurs
across the clips of the batch. Batch == frames == 12, and the permute back makes every shape
downstream right, so nothing raises. The kernel slides along the time axis, which reaches the
LSTM as the axis it takes as the batch. The fix: ``nn.LSTM(32, 24, batch_first=False)``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import train_step

MELS, TAGS, FRAMES, BATCH = 20, 5, 12, 12


class FrameTagger(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.front = nn.Sequential(nn.Conv1d(MELS, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU())
        self.lstm = nn.LSTM(32, 24, batch_first=not fixed)
        self.tags = nn.Linear(24, TAGS)

    def forward(self, mels):
        frames = self.front(mels).permute(2, 0, 1)
        out, _ = self.lstm(frames)  # culprit
        return self.tags(out.permute(1, 0, 2))


def make(fixed=False):
    torch.manual_seed(0)
    model = FrameTagger(fixed)
    mels, tags = torch.randn(BATCH, MELS, FRAMES), torch.randint(0, TAGS, (BATCH, FRAMES))
    return model, train_step(model, lambda logits, target: F.cross_entropy(logits.transpose(1, 2), target), mels,
                             tags)


if __name__ == "__main__":
    from variant_work import run

    run(make)
