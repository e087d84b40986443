"""ST013 variant (https://github.com/andabi/voice-vector/issues/9, confirmed by the author:
"It should be ``out = out[..., -1, :]``"): a speaker-embedding network runs a batch_first
GRU over (n, t, features) frames and takes ``out = out[..., -1]`` as the "last time
step", which is the last hidden unit at every step, (n, t). No layer reads it as
features: it is L2-normalised into the embedding and compared across the batch with a
cosine similarity matrix (a GE2E-style loss), so nothing raises whatever t and the
hidden size are. Fix: ``out[..., -1, :]``."""

import torch
from torch import nn
from torch.nn import functional as F
from variant_work import run

MELS, HIDDEN, FRAMES, SPEAKERS, UTTERANCES = 20, 16, 30, 3, 4


class VoiceVector(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(MELS, HIDDEN, num_layers=2, batch_first=True)
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, mels):  # (n, t, mels)
        out, _ = self.gru(mels)  # (n, t, h)
        if self.fixed:
            out = out[..., -1, :]
        else:
            out = out[..., -1]  # culprit
        return F.normalize(out, dim=1)


def make(fixed=False):
    torch.manual_seed(0)
    model = VoiceVector(fixed)
    mels = torch.randn(SPEAKERS * UTTERANCES, FRAMES, MELS)
    speaker = torch.arange(SPEAKERS).repeat_interleave(UTTERANCES)

    def work():
        emb = model(mels)
        centroids = F.normalize(emb.view(SPEAKERS, UTTERANCES, -1).mean(1), dim=1)
        loss = F.cross_entropy(model.scale * emb @ centroids.T, speaker)
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
