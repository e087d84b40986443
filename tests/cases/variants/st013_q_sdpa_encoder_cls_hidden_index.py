"""ST013 variant: a text classifier over its own Hugging Face-style encoder (multi-head
attention through ``F.scaled_dot_product_attention``, no ``batch_first`` anywhere) pools the
[CLS] token as ``hidden[:, :, 0]``, hidden unit 0 of every token, where ``hidden[:, 0]``
(token 0) was meant. Tokens == hidden == 32, so the classifier's Linear(32, 2) takes the
(B, T) result silently."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import forward, run


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)

    def split(self, x):  # (B, T, hidden) -> (B, heads, T, head_dim)
        b, t, _ = x.shape
        return x.view(b, t, self.heads, -1).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        context = F.scaled_dot_product_attention(q, k, v)
        return self.dense(context.transpose(1, 2).reshape(x.shape))


class Layer(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.norm1 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x):
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.mlp(x))


class Classifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embeddings = nn.Embedding(100, 32)
        self.layers = nn.ModuleList([Layer(32, 4) for _ in range(2)])
        self.classifier = nn.Linear(32, 2)

    def forward(self, input_ids):  # (batch, 32 tokens)
        hidden = self.embeddings(input_ids)
        for layer in self.layers:
            hidden = layer(hidden)
        if self.fixed:
            pooled = hidden[:, 0]
        else:
            pooled = hidden[:, :, 0]  # culprit
        return self.classifier(pooled)


def make(fixed=False):
    torch.manual_seed(0)
    model = Classifier(fixed)
    return model, forward(model, torch.randint(0, 100, (4, 32)))


if __name__ == "__main__":
    run(make)
