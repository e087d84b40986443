"""Attention models with batch-first data, left seq-first (ST001), and correct ones.

``nn.MultiheadAttention``, ``nn.TransformerEncoder(Layer)``, ``nn.TransformerDecoder``
and ``nn.Transformer`` take ``batch_first`` (default False: ``(S, N, E)``). Each variant
is a case-like ``make(name, fixed) -> (model, work)``; ``fixed`` builds the layer with
``batch_first=True``, the only difference. As a script (``python
attention_layout_models.py NAME [--fixed]``) it runs one variant, for ``shapetrace run``.

``BUGGY`` variants have a clue in the trace (the DataLoader's batch axis, a short last
batch, a token-level loss whose N is the axis the layer attends over, a key padding
mask built from the batch-first tokens, the [CLS] position or a mean taken on the
layer's batch axis); ``RAISING`` ones make PyTorch raise (a padding mask, or src and
tgt of different lengths) and the note must name the layout. ``CORRECT`` are right in
either layout, dropout off so that outputs compare.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, EMB, HEADS, FF, CLASSES, PAD = 40, 16, 2, 32, 3, 0


class EncoderClassifier(nn.Module):
    """Tokens (B, T) -> TransformerEncoder -> a pooled vector per sample -> classes."""

    def __init__(self, batch_first: bool, pool: str = "cls") -> None:
        super().__init__()
        self.pool = pool
        self.emb = nn.Embedding(VOCAB, EMB)
        layer = nn.TransformerEncoderLayer(EMB, HEADS, FF, dropout=0.0, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(EMB, CLASSES)

    def forward(self, tokens):
        h = self.encoder(self.emb(tokens), src_key_padding_mask=tokens == PAD if self.pool == "mask" else None)
        pooled = h[:, 0] if self.pool in ("cls", "mask") else h.mean(dim=1)
        return self.head(pooled)


class AttentionPool(nn.Module):
    """One nn.MultiheadAttention over the tokens, keys masked at the padding."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.attn = nn.MultiheadAttention(EMB, HEADS, batch_first=batch_first)
        self.head = nn.Linear(EMB, CLASSES)

    def forward(self, tokens):
        x = self.emb(tokens)
        out, _ = self.attn(x, x, x, key_padding_mask=tokens == PAD)
        return self.head(out.mean(dim=1))


class CausalLM(nn.Module):
    """A language model from a TransformerEncoder, with a causal mask of ``tokens.size(1)``
    steps (PyTorch raises on the seq-first layer: the mask does not fit its 8 steps) or none."""

    def __init__(self, batch_first: bool, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.emb = nn.Embedding(VOCAB, EMB)
        layer = nn.TransformerEncoderLayer(EMB, HEADS, FF, dropout=0.0, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(EMB, VOCAB)

    def forward(self, tokens):
        causal = nn.Transformer.generate_square_subsequent_mask(tokens.size(1)) if self.causal else None
        return self.out(self.encoder(self.emb(tokens), mask=causal))


class Seq2Seq(nn.Module):
    """nn.Transformer on batch-first token batches (src (B, S), tgt (B, T))."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.transformer = nn.Transformer(EMB, HEADS, 1, 1, FF, dropout=0.0, batch_first=batch_first)
        self.out = nn.Linear(EMB, VOCAB)

    def forward(self, src, tgt):
        return self.out(self.transformer(self.emb(src), self.emb(tgt)))


def _tokens(*shape):
    return torch.randint(1, VOCAB, shape)


def _padded(batch: int, steps: int):
    tokens = _tokens(batch, steps)
    tokens[1:, -2:] = PAD  # every sample but the first ends in padding
    return tokens


def classifier_loader(fixed: bool, pool: str = "cls", batch: int = 8, steps: int = 5, samples: int = 60):
    """A DataLoader of (batch, steps) token windows, one epoch with a short last batch."""
    torch.manual_seed(0)
    model = EncoderClassifier(fixed, pool)
    data = TensorDataset(_tokens(samples, steps), torch.randint(0, CLASSES, (samples,)))

    def work():
        for x, y in DataLoader(data, batch_size=batch):
            F.cross_entropy(model(x), y).backward()

    return model, work


def classifier_one_pass(fixed: bool, pool: str = "mean", batch: int = 8, steps: int = 12):
    """One pass of random tokens, no DataLoader: the output, the pooling and the loss tell."""
    torch.manual_seed(0)
    model = EncoderClassifier(fixed, pool)

    def work():
        x, y = _padded(batch, steps), torch.randint(0, CLASSES, (batch,))
        nn.CrossEntropyLoss()(model(x), y).backward()

    return model, work


def attention_pool(fixed: bool, batch: int = 6, steps: int = 6):
    """nn.MultiheadAttention with a key padding mask built from the (B, T) tokens."""
    torch.manual_seed(0)
    model = AttentionPool(fixed)

    def work():
        x, y = _padded(batch, steps), torch.randint(0, CLASSES, (batch,))
        F.cross_entropy(model(x), y).backward()

    return model, work


def causal_lm(fixed: bool, batch: int = 8, steps: int = 6, samples: int = 44, causal: bool = False):
    """Next-token loss over (N, C, T): ``logits.transpose(1, 2)``; a loader with a short batch."""
    torch.manual_seed(0)
    model = CausalLM(fixed, causal)
    data = TensorDataset(_tokens(samples, steps + 1))

    def work():
        for (chunk,) in DataLoader(data, batch_size=batch):
            x, y = chunk[:, :-1], chunk[:, 1:]
            F.cross_entropy(model(x).transpose(1, 2), y).backward()

    return model, work


def seq2seq(fixed: bool, batch: int = 4, src_len: int = 7, tgt_len: int = 7, samples: int = 16):
    """nn.Transformer; src and tgt windows of one length from a DataLoader."""
    torch.manual_seed(0)
    model = Seq2Seq(fixed)
    data = TensorDataset(_tokens(samples, src_len), _tokens(samples, tgt_len + 1))

    def work():
        for src, tgt in DataLoader(data, batch_size=batch):
            logits = model(src, tgt[:, :-1])
            F.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1)).backward()

    return model, work


# ------------------------------------------------------------------ correct on purpose
class PositionalEncoding(nn.Module):
    """The PyTorch tutorial's (seq-first): ``pe`` is (max_len, 1, d_model); with
    ``batch_first``, a (1, max_len, d_model) table cut along dim 1."""

    def __init__(self, d_model: int, max_len: int = 64, batch_first: bool = False) -> None:
        super().__init__()
        self.batch_first = batch_first
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.transpose(0, 1) if batch_first else pe)

    def forward(self, x):
        if self.batch_first:  # (batch, seq_len, d_model)
            return x + self.pe[:, :x.size(1)]
        return x + self.pe[:x.size(0)]  # (seq_len, batch, d_model)


class PositionalClassifier(nn.Module):
    """Tokens (B, T), positions added, an encoder, the mean over dim 1 (batch-first). ``layer``
    and ``table`` are the layouts of the encoder and of the positional table; ``label``
    adds a per-sample class embedding (B, 1, E) too: a conditioning, no table."""

    def __init__(self, layer: bool, table: bool, label: bool = False) -> None:
        super().__init__()
        self.layer_first, self.label = layer, label
        self.emb = nn.Embedding(VOCAB, EMB)
        self.pos = PositionalEncoding(EMB, batch_first=table)
        self.label_emb = nn.Embedding(CLASSES, EMB)
        encoder_layer = nn.TransformerEncoderLayer(EMB, HEADS, FF, dropout=0.0, batch_first=layer)
        self.encoder = nn.TransformerEncoder(encoder_layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(EMB, CLASSES)

    def forward(self, tokens, labels):
        x = self.emb(tokens)
        if self.label:
            x = x + self.label_emb(labels).unsqueeze(1)
        h = self.encoder(self.pos(x))
        return self.head(h.mean(dim=1))


class TutorialLM(nn.Module):
    """pytorch/tutorials' transformer_tutorial: seq-first on purpose, data batchified (T, B)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.pos_encoder = PositionalEncoding(EMB)
        layer = nn.TransformerEncoderLayer(EMB, HEADS, FF, dropout=0.0)
        self.transformer_encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.linear = nn.Linear(EMB, VOCAB)

    def forward(self, src, src_mask=None):
        src = self.pos_encoder(self.emb(src) * math.sqrt(EMB))
        return self.linear(self.transformer_encoder(src, src_mask))


def tutorial_lm(fixed: bool = True, bsz: int = 6, bptt: int = 5):
    """Its training loop: batchify (T, B), get_batch (a short last chunk), a causal mask."""
    torch.manual_seed(0)
    model = TutorialLM()
    data = _tokens(bsz * 13 + 2)
    data = data[: data.size(0) // bsz * bsz].view(bsz, -1).t().contiguous()  # (T, B)

    def work():
        for i in range(0, data.size(0) - 1, bptt):
            length = min(bptt, len(data) - 1 - i)
            x, y = data[i:i + length], data[i + 1:i + 1 + length].reshape(-1)
            mask = nn.Transformer.generate_square_subsequent_mask(length)
            output = model(x, mask)
            F.cross_entropy(output.view(-1, VOCAB), y).backward()

    return model, work


class SeqFirstClassifier(nn.Module):
    """A seq-first encoder fed ``tokens.t()``: the [CLS] output is ``h[0]``, the mask (B, S)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        layer = nn.TransformerEncoderLayer(EMB, HEADS, FF, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(EMB, CLASSES)

    def forward(self, tokens):  # (B, T), as the DataLoader stacks them
        h = self.encoder(self.emb(tokens.t()), src_key_padding_mask=tokens == PAD)
        return self.head(h[0]) + self.head(h.mean(dim=0))


def seq_first_loader(fixed: bool = True, batch: int = 8, steps: int = 5, samples: int = 60):
    torch.manual_seed(0)
    model = SeqFirstClassifier()
    data = TensorDataset(_padded(samples, steps), torch.randint(0, CLASSES, (samples,)))

    def work():
        for x, y in DataLoader(data, batch_size=batch):
            F.cross_entropy(model(x), y).backward()

    return model, work


def seq_first_mha_equal_sizes(fixed: bool = True, size: int = 6):
    """nn.MultiheadAttention seq-first on (T, B, E) data with T == B, its mask (B, T) by ``.t()``."""
    torch.manual_seed(0)
    model = AttentionPoolSeqFirst()

    def work():
        tokens, y = _padded(size, size).t(), torch.randint(0, CLASSES, (size,))
        F.cross_entropy(model(tokens), y).backward()

    return model, work


class AttentionPoolSeqFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.attn = nn.MultiheadAttention(EMB, HEADS)
        self.head = nn.Linear(EMB, CLASSES)

    def forward(self, tokens):  # (T, B)
        x = self.emb(tokens)
        out, _ = self.attn(x, x, x, key_padding_mask=(tokens == PAD).t())
        return self.head(out[-1])


def transformer_both(fixed: bool = True, batch_first: bool = False, batch: int = 4, src_len: int = 9, tgt_len: int = 6):
    """nn.Transformer with every mask, in the layout its data has."""
    torch.manual_seed(0)
    model = Seq2Seq(batch_first)

    def work():
        for _ in range(2):
            src, tgt = _padded(batch, src_len), _padded(batch, tgt_len)
            causal = nn.Transformer.generate_square_subsequent_mask(tgt_len)
            s, t = model.emb(src), model.emb(tgt)
            if not batch_first:
                s, t = s.transpose(0, 1), t.transpose(0, 1)
            out = model.transformer(s, t, tgt_mask=causal, src_key_padding_mask=src == PAD,
                                    tgt_key_padding_mask=tgt == PAD, memory_key_padding_mask=src == PAD)
            out = out if batch_first else out.transpose(0, 1)
            F.cross_entropy(model.out(out).transpose(1, 2), tgt).backward()

    return model, work


def positional(fixed: bool, layer: bool, table: bool, label: bool = False, batch: int = 8, steps: int = 5,
               samples: int = 60):
    """A DataLoader of (batch, steps) windows into a PositionalClassifier; ``fixed`` makes
    both the encoder and the table batch-first."""
    torch.manual_seed(0)
    model = PositionalClassifier(layer or fixed, table or fixed, label)
    data = TensorDataset(_tokens(samples, steps), torch.randint(0, CLASSES, (samples,)))

    def work():
        for x, y in DataLoader(data, batch_size=batch):
            F.cross_entropy(model(x, y), y).backward()

    return model, work


VARIANTS = {
    "cls_loader": lambda fixed: classifier_loader(fixed),
    "mean_loader": lambda fixed: classifier_loader(fixed, "mean", 10, 7, 64),
    "mean_one_pass": lambda fixed: classifier_one_pass(fixed),
    "cls_mask_equal_sizes": lambda fixed: classifier_one_pass(fixed, "mask", 6, 6),
    "mha_mask_equal_sizes": lambda fixed: attention_pool(fixed),
    "causal_lm_loader": lambda fixed: causal_lm(fixed),
    "seq2seq_loader": lambda fixed: seq2seq(fixed),
    "cls_equal_sizes": lambda fixed: classifier_one_pass(fixed, "cls", 6, 6),
    # the tutorial's seq-first table and a seq-first encoder on batch-first data: ST001, the table moves too
    "positional_seq_first": lambda fixed: positional(fixed, layer=False, table=False),
    # PyTorch raises: the note names the layout
    "mha_mask_raises": lambda fixed: attention_pool(fixed, 8, 5),
    "cls_mask_raises": lambda fixed: classifier_one_pass(fixed, "mask", 8, 12),
    "causal_lm_raises": lambda fixed: causal_lm(fixed, causal=True),
    "seq2seq_lengths_raise": lambda fixed: seq2seq(fixed, src_len=9, tgt_len=6),
    # correct
    "tutorial_lm": lambda fixed: tutorial_lm(),
    "seq_first_loader": lambda fixed: seq_first_loader(),
    "seq_first_mha_equal_sizes": lambda fixed: seq_first_mha_equal_sizes(),
    "transformer_seq_first": lambda fixed: transformer_both(),
    "transformer_batch_first": lambda fixed: transformer_both(batch_first=True),
    "positional_batch_first": lambda fixed: positional(True, layer=True, table=True, label=True),
    "positional_label_only": lambda fixed: positional(True, layer=True, table=True, label=True, batch=6, steps=6),
    # the tutorial's table before a batch_first encoder: ST017 (with fixed, a batch-first table)
    "positional_table_on_batch": lambda fixed: positional(fixed, layer=True, table=False),
    "positional_table_on_batch_equal_sizes": lambda fixed: positional(fixed, layer=True, table=False, batch=6,
                                                                      steps=6),
}
BUGGY = ["cls_loader", "mean_loader", "mean_one_pass", "cls_mask_equal_sizes", "mha_mask_equal_sizes",
         "causal_lm_loader", "seq2seq_loader", "positional_seq_first"]
# Batch and time both 6, nothing but an index to go by: ST001 is info, ST013 names the index.
UNDECIDED = ["cls_equal_sizes"]
TABLE_ON_BATCH = ["positional_table_on_batch", "positional_table_on_batch_equal_sizes"]
RAISING = ["mha_mask_raises", "cls_mask_raises", "causal_lm_raises", "seq2seq_lengths_raise"]
CORRECT = ["tutorial_lm", "seq_first_loader", "seq_first_mha_equal_sizes", "transformer_seq_first",
           "transformer_batch_first", "positional_batch_first", "positional_label_only"]


def table_on_batch_example():
    """One pass: the tutorial's table before a batch_first encoder (ST017's trigger)."""
    torch.manual_seed(0)
    return PositionalClassifier(layer=True, table=False), (_tokens(8, 5), torch.zeros(8, dtype=torch.long))


def table_on_time_example():
    """The same with a batch-first table: no ST017."""
    torch.manual_seed(0)
    return PositionalClassifier(layer=True, table=True), (_tokens(8, 5), torch.zeros(8, dtype=torch.long))


class PaddedSelfAttention(nn.Module):
    """``nn.MultiheadAttention`` (batch_first) given a per-sample padding mask made 3-D
    per head, by ``repeat`` (head-major: ST025) or ``repeat_interleave`` (batch-major)."""

    def __init__(self, interleave: bool) -> None:
        super().__init__()
        self.interleave = interleave
        self.attn = nn.MultiheadAttention(EMB, HEADS, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[1])
        mask = (steps[None, None, :] >= lengths[:, None, None]).expand(-1, x.shape[1], -1)  # (B, L, S)
        per_head = mask.repeat_interleave(HEADS, dim=0) if self.interleave else mask.repeat(HEADS, 1, 1)
        return self.attn(x, x, x, attn_mask=per_head, need_weights=False)[0]


def mask_repeated_head_major():
    """A padding mask repeated head-major for MultiheadAttention: ST025's trigger."""
    torch.manual_seed(0)
    return PaddedSelfAttention(interleave=False), (torch.randn(3, 5, EMB), torch.tensor([5, 2, 4]))


def mask_repeated_batch_major():
    """The same mask repeated with repeat_interleave, as the layer reads it: no ST025."""
    torch.manual_seed(0)
    return PaddedSelfAttention(interleave=True), (torch.randn(3, 5, EMB), torch.tensor([5, 2, 4]))


class SplitHeadsAttention(nn.Module):
    """nanoGPT-style heads split off one projection, ``view(B, T, heads, head_dim)``, given
    to ``F.scaled_dot_product_attention`` transposed to (B, heads, T, head_dim) or not (ST026)."""

    def __init__(self, transposed: bool) -> None:
        super().__init__()
        self.transposed = transposed
        self.qkv = nn.Linear(EMB, 3 * EMB)
        self.proj = nn.Linear(EMB, EMB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, e = x.shape
        q, k, v = (part.view(b, t, HEADS, e // HEADS) for part in self.qkv(x).split(e, dim=2))
        if self.transposed:
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
            y = y.transpose(1, 2)
        else:
            y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.reshape(b, t, e))


def heads_not_transposed():
    """Heads left (B, T, heads, head_dim) for SDPA: ST026's trigger."""
    torch.manual_seed(0)
    return SplitHeadsAttention(transposed=False), (torch.randn(3, 5, EMB),)


def heads_transposed():
    """The same heads transposed to (B, heads, T, head_dim), as SDPA takes them: no ST026."""
    torch.manual_seed(0)
    return SplitHeadsAttention(transposed=True), (torch.randn(3, 5, EMB),)


class ExtendedMaskAttention(nn.Module):
    """BERT-style scores plus an extended padding mask, laid along the keys
    (``mask[:, None, None, :]``) or along the queries (``mask[:, None, :, None]``: ST028)."""

    def __init__(self, on_keys: bool) -> None:
        super().__init__()
        self.on_keys = on_keys
        self.qk = nn.Linear(EMB, 2 * EMB)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, e = x.shape
        q, k = (part.view(b, t, HEADS, e // HEADS).transpose(1, 2) for part in self.qk(x).chunk(2, dim=-1))
        extended = keep[:, None, None, :] if self.on_keys else keep[:, None, :, None]
        scores = q @ k.transpose(-2, -1) / math.sqrt(e // HEADS) + (1.0 - extended.float()) * -10000.0
        return F.softmax(scores, dim=-1)


def mask_on_queries():
    """A padding mask extended along the queries: ST028's trigger."""
    torch.manual_seed(0)
    keep = torch.arange(5)[None, :] < torch.tensor([5, 2, 4])[:, None]
    return ExtendedMaskAttention(on_keys=False), (torch.randn(3, 5, EMB), keep)


def mask_on_keys():
    """The same mask extended along the keys, as the softmax reads it: no ST028."""
    torch.manual_seed(0)
    keep = torch.arange(5)[None, :] < torch.tensor([5, 2, 4])[:, None]
    return ExtendedMaskAttention(on_keys=True), (torch.randn(3, 5, EMB), keep)


class SampleMaskAttention(nn.Module):
    """SDPA over (B, heads, L, S) with a per-sample padding mask made (B, 1, S), which
    broadcasting reads as (1, B, 1, S): along the heads (ST029); or (B, 1, 1, S)."""

    def __init__(self, on_samples: bool) -> None:
        super().__init__()
        self.on_samples = on_samples
        self.qkv = nn.Linear(EMB, 3 * EMB)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, e = x.shape
        q, k, v = (part.view(b, t, HEADS, e // HEADS).transpose(1, 2) for part in self.qkv(x).chunk(3, dim=-1))
        mask = keep[:, None, None, :] if self.on_samples else keep[:, None, :]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def mask_on_heads():
    """A (B, 1, S) mask with as many samples as heads: its samples lie along the heads (ST029)."""
    torch.manual_seed(0)
    keep = torch.arange(5)[None, :] < torch.tensor([5, 2])[:, None]
    return SampleMaskAttention(on_samples=False), (torch.randn(HEADS, 5, EMB), keep)


def mask_on_samples():
    """The same mask made (B, 1, 1, S): its samples on the scores' samples, no ST029."""
    torch.manual_seed(0)
    keep = torch.arange(5)[None, :] < torch.tensor([5, 2])[:, None]
    return SampleMaskAttention(on_samples=True), (torch.randn(HEADS, 5, EMB), keep)


def make(name: str, fixed: bool = False):
    return VARIANTS[name](fixed)


if __name__ == "__main__":
    make(sys.argv[1], "--fixed" in sys.argv)[1]()
