"""ST013 index-wrong-axis: the last hidden unit taken where the last time step was meant.

A GRU comment classifier (batch_first) reads ``output[:, :, -1]``: the last hidden
unit at every step, (batch, seq_len), not the last step (batch, hidden). It runs
because the padded length equals hidden_size, so the Linear(hidden, 1) accepts it.
(The line of https://github.com/scoutbee/pytorch-nlp-notebooks/issues/24.)

    shapetrace run demos/bugs/st013_index_wrong_axis.py
"""

import torch
from torch import nn

SEQ_LEN, HIDDEN = 32, 32


class CommentClassifier(nn.Module):
    def __init__(self, vocab=300):
        super().__init__()
        self.encoder = nn.Embedding(vocab, 20)
        self.gru = nn.GRU(20, HIDDEN, batch_first=True)
        self.decoder = nn.Linear(HIDDEN, 1)

    def forward(self, tokens):  # (batch, seq_len)
        output, _ = self.gru(self.encoder(tokens))
        return self.decoder(output[:, :, -1]).squeeze(1)  # bug: output[:, -1, :] was meant


def main():
    torch.manual_seed(0)
    tokens, labels = torch.randint(0, 300, (16, SEQ_LEN)), torch.randint(0, 2, (16,)).float()
    model = CommentClassifier()
    loss = nn.functional.binary_cross_entropy_with_logits(model(tokens), labels)
    loss.backward()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
