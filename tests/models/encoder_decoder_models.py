"""Transformer encoder/decoder models on batch-first token batches whose source and
target have one length, left seq-first: PyTorch runs them without a word (each sample
attends over the other samples at one position). ST001 must flag every layer whose
layout is wrong, the decoder's ``tgt`` included, and stay silent on the correct ones.

``make(name, fixed) -> (model, work)`` as the cases; ``fixed`` builds every layer with
``batch_first=True``, the only difference. As a script (``python encoder_decoder_models.py
NAME [--fixed]``) it runs one variant, for ``shapetrace run``.

``BUGGY``: nn.Transformer, and a TransformerEncoder with a TransformerDecoder, fed
``tgt[:, :-1]`` against ``tgt[:, 1:]`` (the shift is on the target only; the source
has no clue of its own). ``CORRECT``: the same models seq-first on purpose, fed ``(S, B)``
and ``(T, B)`` tokens cut along dim 0.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

VOCAB, EMB, HEADS, FF = 40, 16, 2, 32


class Translator(nn.Module):
    """nn.Transformer between two embeddings and a vocabulary head."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.transformer = nn.Transformer(EMB, HEADS, 1, 1, FF, dropout=0.0, batch_first=batch_first)
        self.out = nn.Linear(EMB, VOCAB)

    def forward(self, src, tgt):
        return self.out(self.transformer(self.emb(src), self.emb(tgt)))


class EncoderDecoder(nn.Module):
    """A TransformerEncoder whose output is a TransformerDecoder's memory."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        encoder_layer = nn.TransformerEncoderLayer(EMB, HEADS, FF, dropout=0.0, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(encoder_layer, 1, enable_nested_tensor=False)
        decoder_layer = nn.TransformerDecoderLayer(EMB, HEADS, FF, dropout=0.0, batch_first=batch_first)
        self.decoder = nn.TransformerDecoder(decoder_layer, 1)
        self.out = nn.Linear(EMB, VOCAB)

    def forward(self, src, tgt):
        memory = self.encoder(self.emb(src))
        return self.out(self.decoder(self.emb(tgt), memory))


MODELS = {"transformer": Translator, "encoder_decoder": EncoderDecoder}


def _tokens(*shape):
    return torch.randint(1, VOCAB, shape)


def batch_first_data(kind: str, fixed: bool, batch: int = 4, length: int = 6, passes: int = 2):
    """Batch-first (B, S) and (B, T + 1) tokens, S == T; the target shifted one step."""
    torch.manual_seed(0)
    model = MODELS[kind](fixed)

    def work():
        for _ in range(passes):
            src, tgt = _tokens(batch, length), _tokens(batch, length + 1)
            logits = model(src, tgt[:, :-1])
            F.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1)).backward()

    return model, work


def seq_first_data(kind: str, batch: int = 4, length: int = 6, passes: int = 2):
    """Seq-first on purpose: (S, B) and (T + 1, B) tokens, the target shifted along dim 0."""
    torch.manual_seed(0)
    model = MODELS[kind](False)

    def work():
        for _ in range(passes):
            src, tgt = _tokens(length, batch), _tokens(length + 1, batch)
            logits = model(src, tgt[:-1])
            F.cross_entropy(logits.reshape(-1, VOCAB), tgt[1:].reshape(-1)).backward()

    return model, work


VARIANTS = {
    "transformer_shifted_tgt": lambda fixed: batch_first_data("transformer", fixed),
    "encoder_decoder_shifted_tgt": lambda fixed: batch_first_data("encoder_decoder", fixed),
    "transformer_seq_first": lambda fixed: seq_first_data("transformer"),
    "encoder_decoder_seq_first": lambda fixed: seq_first_data("encoder_decoder"),
}
BUGGY = ["transformer_shifted_tgt", "encoder_decoder_shifted_tgt"]
CORRECT = ["transformer_seq_first", "encoder_decoder_seq_first"]


def make(name: str, fixed: bool = False):
    return VARIANTS[name](fixed)


if __name__ == "__main__":
    make(sys.argv[1], "--fixed" in sys.argv)[1]()
