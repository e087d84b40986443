"""ST002 variant (https://github.com/Honee-W/CPTNN/issues/2, confirmed and fixed by the
author): a dual-path transformer for speech keeps its features as (batch, channels,
chunks, chunk_len) and builds the intra-chunk sequences with
``th.reshape(x.permute(0, 2, 1, 3), (-1, L, C))``: the permute gives (batch, chunks,
channels, chunk_len), and the reshape reads each (channels, chunk_len) block as
(chunk_len, channels) rows. Nothing raises; each "time step" holds one channel's
values at several positions. Fix: ``x.permute(0, 2, 3, 1)`` before the reshape."""

import torch as th
from torch import nn
from variant_work import backward, run

CHANNELS, CHUNKS, CHUNK_LEN = 8, 3, 5


class LocalTransformer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        layer = nn.TransformerEncoderLayer(CHANNELS, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.local = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

    def forward(self, x):  # (batch, channels, chunks, chunk_len)
        B, C, N, L = x.shape
        if self.fixed:
            local_feat = th.reshape(x.permute(0, 2, 3, 1), (-1, L, C))
        else:
            local_feat = th.reshape(x.permute(0, 2, 1, 3), (-1, L, C))  # culprit
        local_feat = self.local(local_feat)  # (batch * chunks, chunk_len, channels)
        return local_feat.reshape(B, N, L, C).permute(0, 3, 1, 2)


def make(fixed=False):
    th.manual_seed(0)
    model = LocalTransformer(fixed)
    return model, backward(model, th.randn(2, CHANNELS, CHUNKS, CHUNK_LEN))


if __name__ == "__main__":
    run(make)
